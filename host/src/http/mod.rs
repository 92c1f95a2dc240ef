//! HTTP/1.1 on hyper + tokio: routing, responses and the accept loop.

mod body;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::batch;
use crate::error::{ApiError, ErrorCode};
use crate::generate;
use crate::gltf;
use crate::jobs::{JobLimits, Jobs, Poll, POLL_AFTER_SECONDS};
use crate::registry::Registry;
use crate::validate;

type Answer = Response<Full<Bytes>>;

/// P5, exposed for the fuzz harness: strict JSON decoding of a body.
pub fn decode_body(bytes: &[u8]) -> Result<Value, ApiError> {
    body::decode(bytes)
}

const JSON: &str = "application/json";
const GLTF_JSON: &str = "model/gltf+json";
const GLTF_BINARY: &str = "model/gltf-binary";

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("static content type"),
    );
    r
}

fn json(status: StatusCode, value: &Value) -> Answer {
    respond(
        status,
        JSON,
        serde_json::to_vec(value).expect("JSON values serialise"),
    )
}

/// The envelope with the code's status; retryable codes carry `Retry-After`.
pub fn error(e: &ApiError) -> Answer {
    let mut r = json(e.code.status(), &e.envelope());
    if e.code.retryable() {
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

fn method_not_allowed(allow: &'static str) -> Answer {
    let mut r = error(&ApiError::new(
        ErrorCode::MethodNotAllowed,
        "Method Not Allowed",
    ));
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// What every request handler shares.
struct Shared {
    registry: Arc<Registry>,
    jobs: Arc<Jobs>,
}

const JOBS_PREFIX: &str = "/generate/jobs/";

async fn route(req: Request<Incoming>, shared: &Shared) -> Answer {
    let registry = &shared.registry;
    if let Some(id) = req.uri().path().strip_prefix(JOBS_PREFIX) {
        return job(&req, id, &shared.jobs);
    }
    match (req.uri().path(), req.method()) {
        ("/capabilities", &Method::GET) => {
            let mut r = Response::new(Full::new(registry.capabilities_json().await));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            r
        }
        ("/capabilities", _) => method_not_allowed("GET"),
        ("/generate", &Method::POST) => match post_generate(req, shared).await {
            Ok(Generated::Single(doc, format)) => gltf_answer(doc, format),
            Ok(Generated::Batch(results)) => json(StatusCode::OK, &results),
            Ok(Generated::Accepted(job)) => accepted(&job.id, Some(&job.submitted_at)),
            Err(e) => error(&e),
        },
        ("/generate", _) => method_not_allowed("POST"),
        ("/health", &Method::GET) => json(StatusCode::OK, &health(registry)),
        ("/health", _) => method_not_allowed("GET"),
        // The reference redirects a trailing slash to the route without it.
        (path @ ("/capabilities/" | "/generate/" | "/health/"), _) => {
            let mut r = respond(StatusCode::TEMPORARY_REDIRECT, JSON, Vec::new());
            let target = path.trim_end_matches('/');
            r.headers_mut().insert(
                hyper::header::LOCATION,
                HeaderValue::from_str(target).expect("static path"),
            );
            r
        }
        _ => error(&ApiError::new(ErrorCode::NotFound, "Not Found")),
    }
}

/// How a single answer is written (mmcp.md §10.2).
enum Format {
    /// `model/gltf+json`, always available.
    Json,
    /// `model/gltf-binary`, when the request's `Accept` asks for it.
    Binary,
}

/// `200` with the document in the format the client accepts.
fn gltf_answer(doc: gltf::Document, format: Format) -> Answer {
    match format {
        Format::Json => respond(
            StatusCode::OK,
            GLTF_JSON,
            serde_json::to_vec(&doc.into_json()).expect("documents serialise"),
        ),
        Format::Binary => respond(StatusCode::OK, GLTF_BINARY, doc.into_glb()),
    }
}

impl Format {
    fn from_accept(headers: &hyper::HeaderMap) -> Format {
        let wants_glb = headers
            .get_all(hyper::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let refused = parts.clone().skip(1).any(|p| p.replace(' ', "") == "q=0");
                parts
                    .next()
                    .is_some_and(|m| m.eq_ignore_ascii_case(GLTF_BINARY))
                    && !refused
            });
        if wants_glb {
            Format::Binary
        } else {
            Format::Json
        }
    }
}

enum Generated {
    /// A glTF document in the format the client accepts.
    Single(gltf::Document, Format),
    /// A job for a model that advertises `supports_async`.
    Accepted(crate::jobs::Submitted),
    /// `{"results": [...]}` (`application/json`).
    Batch(Value),
}

/// `GET /health` (mmcp.md §10.3): liveness and the hosted models. No
/// `retargeting` key: none of the hosted models retargets on the server.
/// When a model runs on the GPU, `gpu` names the adapter and each GPU
/// model's memory in use against its quota.
fn health(registry: &Registry) -> Value {
    let models: Vec<&str> = registry.iter().map(|m| m.id()).collect();
    let mut health = serde_json::json!({"status": "ok", "models": models});
    let mut memory = serde_json::Map::new();
    for model in registry.iter() {
        if let Some((adapter, used, limit)) = model.gpu_status() {
            if health.get("gpu").is_none() {
                health["gpu"] = adapter;
            }
            memory.insert(
                model.id().to_owned(),
                serde_json::json!({"used_bytes": used, "limit_bytes": limit}),
            );
        }
    }
    if let Some(gpu) = health.get_mut("gpu") {
        gpu["memory"] = Value::Object(memory);
    }
    health
}

async fn post_generate(req: Request<Incoming>, shared: &Shared) -> Result<Generated, ApiError> {
    let registry = &shared.registry;
    let (parts, incoming) = req.into_parts();
    let format = Format::from_accept(&parts.headers);
    let bytes = body::read_capped(&parts.headers, incoming, registry.global_body_cap()).await?;
    let value = body::decode(&bytes)?;
    if batch::is_batch(&value) {
        return batch::run(&value, registry).await.map(Generated::Batch);
    }
    // Validation answers at once, async model or not.
    let valid = validate::single(&value, bytes.len(), registry.as_ref())?;
    if valid.spec.supports_async {
        return shared
            .jobs
            .submit(valid, registry.clone())
            .map(Generated::Accepted);
    }
    let doc = generate::run(&valid, registry).await?;
    Ok(Generated::Single(doc, format))
}

/// `202 Accepted` for a job: where to poll and when.
fn accepted(id: &str, submitted_at: Option<&str>) -> Answer {
    let mut body = serde_json::json!({"job_id": id, "status": "running"});
    if let Some(at) = submitted_at {
        body["submitted_at"] = at.into();
    }
    let mut r = json(StatusCode::ACCEPTED, &body);
    let headers = r.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("{JOBS_PREFIX}{id}")) {
        headers.insert(hyper::header::LOCATION, location);
    }
    headers.insert(RETRY_AFTER, HeaderValue::from(POLL_AFTER_SECONDS));
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert("x-job-id", value);
    }
    r
}

/// `GET` polls a job, `DELETE` cancels it (mmcp.md §10.1).
fn job(req: &Request<Incoming>, id: &str, jobs: &Jobs) -> Answer {
    let unknown = || {
        error(
            &ApiError::new(
                ErrorCode::NotFound,
                format!("job {id} is unknown, deleted or expired"),
            )
            .with_details(serde_json::json!({"job_id": id})),
        )
    };
    match *req.method() {
        Method::GET => match jobs.poll(id) {
            Some(Poll::Running) => accepted(id, None),
            Some(Poll::Done(doc)) => gltf_answer(doc, Format::from_accept(req.headers())),
            Some(Poll::Failed(e)) => error(&e),
            None => unknown(),
        },
        Method::DELETE => {
            if jobs.cancel(id) {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            } else {
                unknown()
            }
        }
        _ => method_not_allowed("GET, DELETE"),
    }
}

/// Serves one request with a span and an `X-Request-ID`.
async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Answer, Infallible> {
    let id = format!("req-{:x}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed));
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        status = tracing::field::Empty,
        ms = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let mut answer = route(req, &shared).await;
        if let Ok(value) = HeaderValue::from_str(&id) {
            answer.headers_mut().insert("x-request-id", value);
        }
        let span = tracing::Span::current();
        span.record("status", answer.status().as_u16());
        span.record("ms", started.elapsed().as_secs_f64() * 1e3);
        tracing::info!("answered");
        Ok(answer)
    }
    .instrument(span)
    .await
}

/// Accepts connections until `shutdown` resolves, then lets in-flight
/// requests finish (up to a grace period).
pub async fn serve(
    listener: TcpListener,
    registry: Arc<Registry>,
    jobs: JobLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        registry,
        jobs: Arc::new(Jobs::new(jobs)),
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer): (_, SocketAddr) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let shared = shared.clone();
                let service = service_fn(move |req| handle(req, shared.clone()));
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing the remaining connections");
    }
    Ok(())
}
