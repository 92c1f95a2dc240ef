//! HTTP/1.1 on hyper + tokio: routing, responses and the accept loop.

mod body;
pub mod conn;
mod probes;
pub mod status;
#[cfg(test)]
mod tests;
mod viewer;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use crate::access::tls::Tls;
use crate::access::{Access, Client, Denied};
use crate::batch;
use crate::error::{ApiError, ErrorCode};
use crate::generate;
use crate::gltf;
use crate::jobs::{Jobs, Poll, POLL_AFTER_SECONDS};
use crate::metrics::{Endpoint, Metrics};
use crate::registry::Registry;
use crate::runtime::Hold;
use crate::validate;
pub use conn::HttpLimits;
use conn::{Backoff, ConnectionCap, RateLimitedLog};
pub use probes::{Lifecycle, Readiness};

type Answer = Response<Full<Bytes>>;

/// P5, exposed for the fuzz harness: strict JSON decoding of a body.
pub fn decode_body(bytes: &[u8]) -> Result<Value, ApiError> {
    body::decode(bytes)
}

const JSON: &str = "application/json";
const GLTF_JSON: &str = "model/gltf+json";
const GLTF_BINARY: &str = "model/gltf-binary";

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

fn json(status: StatusCode, value: &impl Serialize) -> Answer {
    respond(
        status,
        JSON,
        serde_json::to_vec(value).expect("wire documents serialise"),
    )
}

/// The envelope with the code's status; retryable codes carry `Retry-After`.
pub fn error(e: &ApiError) -> Answer {
    let mut r = json(status::of(e.code), &e.envelope());
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
    /// Starting, ready (with the models) or draining.
    life: Arc<Lifecycle>,
    jobs: Arc<Jobs>,
    limits: HttpLimits,
    access: Arc<Access>,
    metrics: Arc<Metrics>,
    /// `/metrics` without a token or a rate limit (`--metrics-public`).
    metrics_public: bool,
}

impl Shared {
    /// Paths that answer without a token or a rate limit: the probes, the
    /// viewer's files (the page's API calls carry the token), and
    /// `/metrics` when the operator made it public (it shows the model ids
    /// and the load, so by default it is guarded like the API).
    fn is_public(&self, path: &str) -> bool {
        matches!(path, "/health" | "/health/" | "/livez" | "/readyz")
            || (self.metrics_public && path == "/metrics")
            || viewer::is_page(path)
    }
}

/// What the router learned about a request, for its `/metrics` labels.
#[derive(Debug, Default)]
struct Observed {
    /// The loaded model it was for: never a name a client made up.
    model: Option<String>,
    /// A batch body.
    batch: bool,
}

/// The `endpoint` label of a request: a fixed set, never the path itself.
fn endpoint(path: &str, seen: &Observed) -> Endpoint {
    match path {
        "/generate" if seen.batch => Endpoint::Batch,
        "/generate" => Endpoint::Generate,
        "/capabilities" => Endpoint::Capabilities,
        "/health" => Endpoint::Health,
        "/livez" => Endpoint::Livez,
        "/readyz" => Endpoint::Readyz,
        "/metrics" => Endpoint::Metrics,
        path if path.starts_with(JOBS_PREFIX) => Endpoint::Job,
        path if viewer::is_page(path) => Endpoint::Viewer,
        _ => Endpoint::Other,
    }
}

/// The loaded model a decoded `/generate` body is for: a single request's
/// `model`, or the one model every item of a batch names; `None` when it
/// names none that is loaded (the label never carries a client's text).
fn requested_model(body: &Value, registry: &Registry) -> Option<String> {
    let loaded = |v: &Value| {
        v.get("model")
            .and_then(Value::as_str)
            .and_then(|name| registry.get(name))
            .map(|m| m.id().to_owned())
    };
    if !batch::is_batch(body) {
        return loaded(body);
    }
    let items = body.get("requests")?.as_array()?;
    let first = loaded(items.first()?)?;
    items
        .iter()
        .all(|item| loaded(item).as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// A refused client's answer: the envelope, and the challenge or the wait.
fn denied(d: &Denied) -> Answer {
    let mut r = error(&d.error);
    if let Some(challenge) = d.challenge {
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    if let Some(seconds) = d.retry_after {
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    r
}

const JOBS_PREFIX: &str = "/generate/jobs/";

/// A request body the router can read: hyper's `Incoming` from a socket,
/// or any in-memory body in tests.
pub trait ReqBody:
    hyper::body::Body<Data = Bytes, Error: std::fmt::Display> + Unpin + Send
{
}
impl<B: hyper::body::Body<Data = Bytes, Error: std::fmt::Display> + Unpin + Send> ReqBody for B {}

async fn route<B: ReqBody>(
    req: Request<B>,
    shared: &Shared,
    client: &Client,
    seen: &mut Observed,
) -> Answer {
    let path = req.uri().path();
    if matches!(path, "/livez" | "/readyz" | "/metrics") {
        if req.method() != Method::GET {
            return method_not_allowed("GET");
        }
        return match path {
            "/livez" => json(StatusCode::OK, &serde_json::json!({"status": "alive"})),
            "/readyz" => readyz(&shared.life),
            _ => metrics(shared),
        };
    }
    // Everything else needs the models.
    let Some(registry) = shared.life.models() else {
        return error(&starting(&shared.life));
    };
    if let Some(id) = req.uri().path().strip_prefix(JOBS_PREFIX) {
        return job(&req, id, &shared.jobs, client).await;
    }
    match (req.uri().path(), req.method()) {
        ("/capabilities", &Method::GET) => {
            let mut r = Response::new(Full::new(registry.capabilities_json().await));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            r
        }
        ("/capabilities", _) => method_not_allowed("GET"),
        ("/generate", &Method::POST) => {
            match post_generate(req, registry, shared, client, seen).await {
                Ok(Generated::Single(doc, format)) => gltf_answer(doc, format).await,
                Ok(Generated::Batch(results)) => json(StatusCode::OK, &results),
                Ok(Generated::Accepted(job)) => accepted(&job.id, Some(&job.submitted_at), None),
                Err(Refused::Api(e)) => error(&e),
                Err(Refused::Access(d)) => denied(&d),
            }
        }
        ("/generate", _) => method_not_allowed("POST"),
        ("/health", &Method::GET) => json(StatusCode::OK, &health(registry)),
        ("/health", _) => method_not_allowed("GET"),
        (path, &Method::GET | &Method::HEAD) if viewer::is_page(path) => page(path, req.headers()),
        (path, _) if viewer::is_page(path) => method_not_allowed("GET, HEAD"),
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

/// `/readyz`: 200 once every model is ready, else 503 saying why.
fn readyz(life: &Lifecycle) -> Answer {
    let readiness = life.readiness();
    let status = match readiness {
        Readiness::Ready { .. } => StatusCode::OK,
        Readiness::Starting { .. } | Readiness::Draining { .. } => StatusCode::SERVICE_UNAVAILABLE,
    };
    json(status, &readiness)
}

/// `503 model_unavailable` for a request that came before the models.
fn starting(life: &Lifecycle) -> ApiError {
    let what = life.starting_reason().unwrap_or_default();
    ApiError::new(
        ErrorCode::ModelUnavailable,
        format!("the server is starting and its models are not ready yet ({what}); retry shortly"),
    )
    .with_details(serde_json::json!({"status": "starting"}))
}

/// `GET /metrics`: the Prometheus text format.
fn metrics(shared: &Shared) -> Answer {
    let models = shared.life.models().map(AsRef::as_ref);
    match shared.metrics.render(models, shared.jobs.counts()) {
        Ok(text) => respond(
            StatusCode::OK,
            crate::metrics::CONTENT_TYPE,
            text.into_bytes(),
        ),
        Err(e) => error(&ApiError::internal(format!(
            "the metrics could not be written: {e}"
        ))),
    }
}

/// One of the viewer's files. `no-cache` with an ETag: a browser
/// revalidates (`304` while unchanged), so an upgraded server never runs
/// with an old page.
fn page(path: &str, request: &hyper::HeaderMap) -> Answer {
    let (Some(asset), Some(etag)) = (viewer::asset(path), viewer::etag(path)) else {
        return error(&ApiError::new(ErrorCode::NotFound, "Not Found"));
    };
    let fresh = request
        .get_all(hyper::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let mut r = if fresh {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Full::new(Bytes::from_static(asset.bytes)));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        r
    };
    let headers = r.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(hyper::header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&viewer::CSP) {
        headers.insert(hyper::header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    headers.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// How a single answer is written (mmcp.md §10.2).
enum Format {
    /// `model/gltf+json`, always available.
    Json,
    /// `model/gltf-binary`, when the request's `Accept` asks for it.
    Binary,
}

/// `200` with the document in the format the client accepts. Serialising
/// (base64 of the buffer included) takes tens of milliseconds for a long
/// multi-sample answer: it runs on the blocking pool, not on the workers
/// that accept connections.
async fn gltf_answer(doc: gltf::Document, format: Format) -> Answer {
    let written = tokio::task::spawn_blocking(move || match format {
        Format::Json => (
            GLTF_JSON,
            serde_json::to_vec(&doc.into_json()).expect("documents serialise"),
        ),
        Format::Binary => (GLTF_BINARY, doc.into_glb()),
    })
    .await;
    match written {
        Ok((content_type, body)) => respond(StatusCode::OK, content_type, body),
        Err(e) => error(&ApiError::internal(format!(
            "encoding the answer did not complete: {e}"
        ))),
    }
}

impl Format {
    /// GLB when the client's `Accept` (RFC 9110 §12.5.1) names
    /// `model/gltf-binary` with a quality above zero and no lower than the
    /// JSON answer's (`model/gltf+json` or `application/json`, or the
    /// wildcards that cover them); JSON otherwise, the protocol's default.
    fn from_accept(headers: &hyper::HeaderMap) -> Format {
        let ranges: Vec<(String, f32)> = headers
            .get_all(hyper::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(media_range)
            .collect();
        let quality = |media: &str| -> f32 {
            // The most specific range that matches decides (RFC 9110).
            let (kind, _) = media.split_once('/').unwrap_or((media, ""));
            let wildcard = format!("{kind}/*");
            [media, wildcard.as_str(), "*/*"]
                .iter()
                .find_map(|want| {
                    ranges
                        .iter()
                        .find(|(range, _)| range == want)
                        .map(|&(_, q)| q)
                })
                .unwrap_or(0.0)
        };
        let glb = quality(GLTF_BINARY);
        let json = quality(GLTF_JSON).max(quality(JSON));
        // GLB only when named (a wildcard alone keeps the default), and not
        // ranked below the JSON answer: `model/gltf-binary, */*` is GLB.
        let named = ranges.iter().any(|(range, _)| range == GLTF_BINARY);
        if named && glb > 0.0 && glb >= json {
            Format::Binary
        } else {
            Format::Json
        }
    }
}

/// One `Accept` item as (lower-case media range, quality); a malformed
/// quality counts as 0 (the item is ignored).
fn media_range(item: &str) -> Option<(String, f32)> {
    let mut parts = item.split(';').map(str::trim);
    let range = parts.next().filter(|r| !r.is_empty())?.to_ascii_lowercase();
    let mut q = 1.0;
    for param in parts {
        if let Some((name, value)) = param.split_once('=') {
            if name.trim().eq_ignore_ascii_case("q") {
                q = value
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))
                    .unwrap_or(0.0);
            }
        }
    }
    Some((range, q))
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
#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    models: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gpu: Option<GpuHealth<'a>>,
}

#[derive(Serialize)]
struct GpuHealth<'a> {
    adapter: String,
    backend: String,
    device_type: String,
    driver: String,
    /// Model id → its GPU memory, in registration order.
    #[serde(serialize_with = "in_order")]
    memory: Vec<(&'a str, GpuMemory)>,
}

#[derive(Serialize)]
struct GpuMemory {
    used_bytes: u64,
    limit_bytes: u64,
}

/// Pairs as a JSON object, keeping their order.
fn in_order<S: serde::Serializer, V: Serialize>(
    pairs: &[(&str, V)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

fn health(registry: &Registry) -> Health<'_> {
    let mut gpu: Option<GpuHealth> = None;
    for model in registry.iter() {
        if let Some((adapter, used, limit)) = model.gpu_status() {
            let entry = gpu.get_or_insert_with(|| GpuHealth {
                adapter: adapter.adapter,
                backend: adapter.backend,
                device_type: adapter.device_type,
                driver: adapter.driver,
                memory: Vec::new(),
            });
            entry.memory.push((
                model.id(),
                GpuMemory {
                    used_bytes: used,
                    limit_bytes: limit,
                },
            ));
        }
    }
    Health {
        status: "ok",
        models: registry.iter().map(|m| m.id()).collect(),
        gpu,
    }
}

/// A job's `202` body (mmcp.md §10.1).
#[derive(Serialize)]
struct JobAccepted<'a> {
    job_id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    submitted_at: Option<&'a str>,
    /// D13: the backbone's latest report, once it made one.
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<JobProgress>,
}

#[derive(Serialize)]
struct JobProgress {
    done: u32,
    total: u32,
}

/// Why `POST /generate` gave no answer: the protocol's refusal, or the
/// client's limits.
enum Refused {
    Api(ApiError),
    Access(Box<Denied>),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Refused {
        Refused::Api(e)
    }
}

async fn post_generate<B: ReqBody>(
    req: Request<B>,
    registry: &Arc<Registry>,
    shared: &Shared,
    client: &Client,
    seen: &mut Observed,
) -> Result<Generated, Refused> {
    // Draining: the requests in flight finish, new work goes elsewhere
    // (a retryable 503: a balancer or client retries on another replica).
    if shared.life.draining() {
        return Err(Refused::Api(
            ApiError::new(
                ErrorCode::ModelUnavailable,
                "the server is shutting down and accepts no new generation; retry on another replica",
            )
            .with_details(serde_json::json!({"status": "draining"})),
        ));
    }
    // Held until the answer is made (or the async job has finished); taken
    // before the body is read, so a refused client costs nothing more.
    let slot = shared.access.generation(client).map_err(Refused::Access)?;
    let (parts, incoming) = req.into_parts();
    let format = Format::from_accept(&parts.headers);
    let bytes = body::read_capped(
        &parts.headers,
        incoming,
        registry.global_body_cap(),
        shared.limits.body_timeout,
    )
    .await?;
    let value = body::decode(&bytes)?;
    seen.model = requested_model(&value, registry);
    seen.batch = batch::is_batch(&value);
    // The slot lives until the last guest call made for this request ends
    // (not when the client leaves or deletes its job).
    let hold: Hold = Some(Arc::new(slot));
    if batch::is_batch(&value) {
        return Ok(batch::run(&value, registry, hold)
            .await
            .map(Generated::Batch)?);
    }
    // Validation answers at once, async model or not.
    let mut valid = validate::single(&value, bytes.len(), registry.as_ref())?;
    valid.hold = hold;
    if valid.spec.supports_async {
        let owner = client.owner().map(str::to_owned);
        return Ok(shared
            .jobs
            .submit(valid, owner)
            .await
            .map(Generated::Accepted)?);
    }
    let doc = generate::run(&valid).await?;
    Ok(Generated::Single(doc, format))
}

/// `202 Accepted` for a job: where to poll and when, and how far it has
/// got when its backbone reports progress.
fn accepted(id: &str, submitted_at: Option<&str>, progress: Option<(u32, u32)>) -> Answer {
    let body = JobAccepted {
        job_id: id,
        status: "running",
        submitted_at,
        progress: progress.map(|(done, total)| JobProgress { done, total }),
    };
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
async fn job<B>(req: &Request<B>, id: &str, jobs: &Jobs, client: &Client) -> Answer {
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
        Method::GET => match jobs.poll(id, client.owner()).await {
            Ok(Some(Poll::Running(progress))) => accepted(id, None, progress),
            Ok(Some(Poll::Done(doc))) => gltf_answer(doc, Format::from_accept(req.headers())).await,
            Ok(Some(Poll::Failed(e))) | Err(e) => error(&e),
            Ok(None) => unknown(),
        },
        Method::DELETE => match jobs.cancel(id, client.owner()).await {
            Ok(true) => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            }
            Ok(false) => unknown(),
            Err(e) => error(&e),
        },
        _ => method_not_allowed("GET, DELETE"),
    }
}

/// Health probes as they are; anything else once its client is admitted.
async fn admitted<B: ReqBody>(
    req: Request<B>,
    shared: &Shared,
    peer: SocketAddr,
    seen: &mut Observed,
) -> Answer {
    let client = if shared.is_public(req.uri().path()) {
        Client {
            name: "probe".into(),
            authenticated: false,
        }
    } else {
        match shared.access.admit(req.headers(), peer.ip()) {
            Ok(client) => client,
            Err(d) => return denied(&d),
        }
    };
    tracing::Span::current().record("client", client.name.as_str());
    route(req, shared, &client, seen).await
}

/// hyper's entry point: one request from a connection.
async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
) -> Result<Answer, Infallible> {
    Ok(serve_request(req, &shared, peer).await)
}

/// Serves one request with a span and an `X-Request-ID`, and counts it in
/// `/metrics`.
async fn serve_request<B: ReqBody>(req: Request<B>, shared: &Shared, peer: SocketAddr) -> Answer {
    let id = format!("req-{:x}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed));
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        client = tracing::field::Empty,
        status = tracing::field::Empty,
        ms = tracing::field::Empty,
    );
    let path = req.uri().path().to_owned();
    async move {
        let started = Instant::now();
        let mut seen = Observed::default();
        let mut answer = admitted(req, shared, peer, &mut seen).await;
        if let Ok(value) = HeaderValue::from_str(&id) {
            answer.headers_mut().insert("x-request-id", value);
        }
        let span = tracing::Span::current();
        span.record("status", answer.status().as_u16());
        let took = started.elapsed();
        span.record("ms", took.as_secs_f64() * 1e3);
        shared.metrics.request(
            seen.model.as_deref(),
            endpoint(&path, &seen),
            answer.status().as_u16(),
            took,
        );
        tracing::info!("answered");
        answer
    }
    .instrument(span)
    .await
}

/// What a server is configured with besides its models.
pub struct Config {
    /// Async jobs, in the store they were given.
    pub jobs: Arc<Jobs>,
    /// Deadlines, the connection cap, the shutdown grace.
    pub limits: HttpLimits,
    /// Tokens and per-client limits.
    pub access: Arc<Access>,
    /// HTTPS when set.
    pub tls: Option<Arc<Tls>>,
    /// What `/metrics` shows (the runtime's, which the models record into).
    pub metrics: Arc<Metrics>,
    /// `/metrics` without a token or rate limit (`--metrics-public`).
    pub metrics_public: bool,
}

/// Accepts connections and serves `life`'s models (answering the probes,
/// `/metrics` and `503` for the rest until they are ready) until `shutdown`
/// resolves; then drains: `/readyz` answers 503 at once, the requests in
/// flight finish (up to the grace period), and connections that open
/// meanwhile are still answered, one request each, so probes see the
/// drain (a new generation is refused with a retryable 503).
///
/// Connections beyond the cap are closed as soon as accepted; `accept`
/// failures from exhaustion back off instead of spinning; both are logged
/// at most once per 10 s. With TLS, each connection's handshake runs in its
/// own task, under the header deadline.
pub async fn serve(
    listener: TcpListener,
    life: Arc<Lifecycle>,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let Config {
        jobs,
        limits,
        access,
        tls,
        metrics,
        metrics_public,
    } = config;
    let grace = limits.shutdown_grace;
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // hyper's clock for the header deadline starts when the connection opens
    // and again after each answer, so it also closes idle keep-alives.
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connections = Connections {
        http1,
        tls,
        handshake_deadline: limits.header_timeout,
        shared: Arc::new(Shared {
            life: Arc::clone(&life),
            jobs,
            limits: limits.clone(),
            access,
            metrics,
            metrics_public,
        }),
    };
    let mut acceptor = Acceptor::new(listener, ConnectionCap::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            next = acceptor.next() => {
                let (stream, peer, permit) = next;
                tokio::spawn(connections.serve(stream, peer, permit, Some(graceful.watcher())));
            }
            _ = &mut shutdown => break,
        }
    }
    life.drain();
    tracing::info!(
        open = acceptor.cap.open(),
        grace_s = grace.as_secs_f64(),
        "shutting down: not ready; waiting for in-flight requests"
    );
    let deadline = tokio::time::Instant::now() + grace;
    // The connections open now finish the request they are serving and
    // close; idle ones close at once.
    let in_flight = graceful.shutdown();
    tokio::pin!(in_flight);
    let mut late = tokio::task::JoinSet::new();
    let finished = loop {
        tokio::select! {
            _ = &mut in_flight => break true,
            _ = tokio::time::sleep_until(deadline) => break false,
            next = acceptor.next() => {
                let (stream, peer, permit) = next;
                late.spawn(connections.serve(stream, peer, permit, None));
            }
            // Reaps finished late connections so the set stays small.
            Some(_) = late.join_next(), if !late.is_empty() => {}
        }
    };
    drop(acceptor);
    if finished {
        // Late connections answer probes and polls (a generation is
        // refused): a moment is enough, and a client that sends nothing
        // must not hold the exit until its header deadline.
        let until = deadline.min(tokio::time::Instant::now() + LATE_GRACE);
        let _ = tokio::time::timeout_at(until, async { while late.join_next().await.is_some() {} })
            .await;
    } else {
        tracing::warn!("grace period over; closing the remaining connections");
    }
    Ok(())
}

/// How long connections opened during the drain may still take once the
/// requests in flight at the signal are done.
const LATE_GRACE: Duration = Duration::from_secs(1);

/// The listening socket, with the connection cap and the back-off on
/// exhaustion.
struct Acceptor {
    listener: TcpListener,
    cap: ConnectionCap,
    backoff: Backoff,
    refused_log: RateLimitedLog,
    failed_log: RateLimitedLog,
}

impl Acceptor {
    fn new(listener: TcpListener, cap: ConnectionCap) -> Acceptor {
        Acceptor {
            listener,
            cap,
            backoff: Backoff::new(),
            refused_log: RateLimitedLog::new(LOG_PERIOD),
            failed_log: RateLimitedLog::new(LOG_PERIOD),
        }
    }

    /// The next connection under the cap, with its permit. Cancel-safe
    /// (used in `select!`): nothing is lost when it is dropped while waiting.
    async fn next(&mut self) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(pair) => {
                    self.backoff.reset();
                    pair
                }
                // One connection's failure (reset before it was accepted):
                // nothing to wait for.
                Err(e) if !conn::exhausted(&e) => {
                    tracing::debug!(error = %e, "accept failed for one connection");
                    continue;
                }
                Err(e) => {
                    let pause = self.backoff.fail();
                    if let Some(count) = self.failed_log.hit() {
                        tracing::warn!(error = %e, count, pause_ms = pause.as_millis() as u64, "accept failed; backing off");
                    }
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            let Some(permit) = self.cap.admit() else {
                drop(stream);
                if let Some(count) = self.refused_log.hit() {
                    tracing::warn!(
                        max_connections = self.cap.max(),
                        count,
                        "connection cap reached; closing new connections"
                    );
                }
                continue;
            };
            return (stream, peer, permit);
        }
    }
}

/// How a connection is served.
struct Connections {
    http1: hyper::server::conn::http1::Builder,
    tls: Option<Arc<Tls>>,
    handshake_deadline: Duration,
    shared: Arc<Shared>,
}

impl Connections {
    /// Serves one connection, holding its permit until it closes. With a
    /// graceful-shutdown `watcher` it serves requests until shutdown; without
    /// one (opened while draining) it serves one request and closes.
    fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
        watcher: Option<hyper_util::server::graceful::Watcher>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let mut http1 = self.http1.clone();
        if watcher.is_none() {
            http1.keep_alive(false);
        }
        let tls = self.tls.as_ref().map(|t| t.acceptor());
        let handshake_deadline = self.handshake_deadline;
        async move {
            let _permit = permit;
            match tls {
                None => serve_io(http1, stream, shared, peer, watcher).await,
                Some(acceptor) => {
                    // The handshake has the header deadline too: a client
                    // that never finishes it is let go.
                    match tokio::time::timeout(handshake_deadline, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_io(http1, stream, shared, peer, watcher).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake ran past the header deadline")
                        }
                    }
                }
            }
        }
    }
}

/// HTTP/1.1 on one connection's byte stream, plain or TLS.
async fn serve_io<I>(
    http1: hyper::server::conn::http1::Builder,
    io: I,
    shared: Arc<Shared>,
    peer: SocketAddr,
    watcher: Option<hyper_util::server::graceful::Watcher>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, shared.clone(), peer));
    let connection = http1.serve_connection(TokioIo::new(io), service);
    let ended = match watcher {
        Some(watcher) => watcher.watch(connection).await,
        None => connection.await,
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// How often a repeated connection-level warning may be written.
const LOG_PERIOD: Duration = Duration::from_secs(10);
