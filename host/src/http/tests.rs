//! The router in-process: requests built in memory, answers read back, no
//! socket (the real-binary tests in `tests/` cover what crosses the process
//! boundary). Serves the null component from `target/components`, which
//! `make test` builds first.

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use serde_json::json;

use super::*;
use crate::jobs::JobLimits;
use crate::runtime::{ComponentCache, Limits, Runtime};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A router over the null model, with `limits`.
async fn router(limits: HttpLimits) -> Shared {
    let cache = ComponentCache::new(Some(repo().join("target/test-cache")));
    let runtime = Runtime::new(cache, Limits::default(), 1).unwrap();
    let null = repo().join("target/components/null.wasm");
    let model = runtime
        .load(&null)
        .await
        .unwrap_or_else(|e| panic!("{} (run `make components` first): {e:#}", null.display()));
    Shared {
        life: Arc::new(Lifecycle::ready_with(Arc::new(
            Registry::new(vec![model]).unwrap(),
        ))),
        jobs: Arc::new(Jobs::in_memory(JobLimits::default())),
        limits,
        access: Arc::new(Access::open()),
        metrics: Arc::clone(runtime.metrics()),
        metrics_public: false,
    }
}

/// Routes `req` as an admitted anonymous client would be.
async fn send<B: ReqBody>(req: Request<B>, shared: &Shared) -> Answer {
    let client = Client {
        name: "127.0.0.1".into(),
        authenticated: false,
    };
    route(req, shared, &client, &mut Observed::default()).await
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Full<Bytes>> {
    let mut r = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

async fn read(answer: Answer) -> (StatusCode, hyper::HeaderMap, Bytes) {
    let (parts, body) = answer.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn valid() -> String {
    json!({
        "protocol_version": "1.4",
        "model": "null",
        "skeleton": {"joints": [
            {"name": "Hips", "parent": null, "rest_translation": [0, 0.95, 0], "rest_rotation": [0, 0, 0, 1]},
            {"name": "Spine", "parent": "Hips", "rest_translation": [0, 0.5, 0], "rest_rotation": [0, 0, 0, 1]},
            {"name": "Head", "parent": "Spine", "rest_translation": [0, 0.3, 0], "rest_rotation": [0, 0, 0, 1]},
            {"name": "LeftFoot", "parent": "Hips", "rest_translation": [0.1, -0.95, 0], "rest_rotation": [0, 0, 0, 1]},
            {"name": "RightFoot", "parent": "Hips", "rest_translation": [-0.1, -0.95, 0], "rest_rotation": [0, 0, 0, 1]}
        ]},
        "segments": [{"type": "text", "prompt": "walk", "duration_frames": 3}],
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_statuses_and_headers() {
    let shared = router(HttpLimits::default()).await;
    let (status, _, body) = read(send(request("GET", "/nope", &[], ""), &shared).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["code"],
        "not_found"
    );

    let (status, headers, _) = read(send(request("POST", "/health", &[], ""), &shared).await).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET");

    let (status, headers, _) =
        read(send(request("GET", "/generate/", &[], ""), &shared).await).await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(headers["location"], "/generate");

    let (status, _, body) = read(send(request("GET", "/health", &[], ""), &shared).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"status": "ok", "models": ["null"]})
    );

    let (status, headers, _) =
        read(send(request("DELETE", "/generate/jobs/abc", &[], ""), &shared).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers.get("allow").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_quality_values_choose_the_format() {
    let shared = router(HttpLimits::default()).await;
    let body = valid();
    for (accept, expected) in [
        ("model/gltf-binary", GLTF_BINARY),
        ("model/gltf-binary;q=0", GLTF_JSON),
        ("model/gltf-binary; q=0.000", GLTF_JSON),
        ("model/gltf-binary;q=0.5, model/gltf+json", GLTF_JSON),
        (
            "model/gltf+json;q=0.2, model/gltf-binary;q=0.9",
            GLTF_BINARY,
        ),
        ("model/*;q=0.1, model/gltf-binary", GLTF_BINARY),
        ("MODEL/GLTF-BINARY", GLTF_BINARY),
        ("model/gltf-binary;q=2", GLTF_JSON),
        ("model/gltf-binary, */*", GLTF_BINARY),
        ("model/gltf-binary, application/json", GLTF_BINARY),
        ("model/gltf+json, model/gltf-binary", GLTF_BINARY),
        ("model/*", GLTF_JSON),
        ("*/*", GLTF_JSON),
        ("", GLTF_JSON),
    ] {
        let req = request("POST", "/generate", &[("accept", accept)], &body);
        let (status, headers, _) = read(send(req, &shared).await).await;
        assert_eq!(status, StatusCode::OK, "{accept}");
        assert_eq!(headers["content-type"], expected, "Accept: {accept}");
    }
}

/// A body whose bytes never come.
struct Stalled;

impl Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_meets_the_body_deadline() {
    let limits = HttpLimits {
        body_timeout: Duration::from_millis(300),
        ..HttpLimits::default()
    };
    let shared = router(limits).await;
    let req = Request::builder()
        .method("POST")
        .uri("/generate")
        .header("content-length", "100")
        .body(Stalled)
        .unwrap();
    let started = Instant::now();
    let (status, headers, body) = read(send(req, &shared).await).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(headers["retry-after"], "1");
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(envelope["error"]["code"], "timeout");
    assert_eq!(envelope["error"]["details"]["body_timeout_seconds"], 0.3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_page_is_served_with_validators_and_a_policy() {
    let shared = router(HttpLimits::default()).await;
    let (status, headers, body) = read(send(request("GET", "/", &[], ""), &shared).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .contains("/viewer/viewer.js"));
    let csp = headers[hyper::header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("connect-src 'self'"));
    let etag = headers[hyper::header::ETAG].to_str().unwrap().to_owned();
    // Revalidation: unchanged is 304 with no body; another tag is the file.
    let (status, _, body) = read(
        send(
            request("GET", "/", &[("if-none-match", &etag)], ""),
            &shared,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let (status, _, body) = read(
        send(
            request("GET", "/", &[("if-none-match", "\"other\"")], ""),
            &shared,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.is_empty());
    // Modules with a JavaScript type (browsers refuse others), HEAD too.
    for path in [
        "/viewer/viewer.js",
        "/viewer/three.module.js",
        "/viewer/three.core.js",
        "/viewer/OrbitControls.js",
    ] {
        let (status, headers, _) = read(send(request("HEAD", path, &[], ""), &shared).await).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
    }
    // Other methods, and names the page does not have.
    let (status, headers, _) = read(send(request("POST", "/", &[], ""), &shared).await).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[ALLOW], "GET, HEAD");
    let (status, _, _) = read(send(request("GET", "/viewer/x.js", &[], ""), &shared).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Serves `req` through the whole request path (access, route, metrics),
/// from a loopback peer.
async fn serve(req: Request<Full<Bytes>>, shared: &Shared) -> (StatusCode, Value) {
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let (status, _, body) = read(serve_request(req, shared, peer).await).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics_once_ready() {
    let shared = router(HttpLimits::default()).await;
    let (status, body) = serve(request("GET", "/livez", &[], ""), &shared).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "alive"})));
    let (status, body) = serve(request("GET", "/readyz", &[], ""), &shared).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"status": "ready", "models": ["null"]})
        )
    );
    let (status, _) = serve(request("POST", "/readyz", &[], ""), &shared).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // A 200, a 400 for null, a batch, and a model no one loaded.
    assert_eq!(
        serve(request("POST", "/generate", &[], &valid()), &shared)
            .await
            .0,
        StatusCode::OK
    );
    let mut old = serde_json::from_str::<Value>(&valid()).unwrap();
    old["protocol_version"] = json!("2.0");
    let (status, _) = serve(request("POST", "/generate", &[], &old.to_string()), &shared).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut item = serde_json::from_str::<Value>(&valid()).unwrap();
    item.as_object_mut().unwrap().remove("protocol_version");
    let batch = json!({"protocol_version": "1.4", "requests": [item]});
    let (status, _) = serve(
        request("POST", "/generate", &[], &batch.to_string()),
        &shared,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut stranger = serde_json::from_str::<Value>(&valid()).unwrap();
    stranger["model"] = json!("stranger");
    let (status, _) = serve(
        request("POST", "/generate", &[], &stranger.to_string()),
        &shared,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let answer = serve_request(
        request("GET", "/metrics", &[], ""),
        &shared,
        "127.0.0.1:40000".parse().unwrap(),
    )
    .await;
    let (status, headers, body) = read(answer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], crate::metrics::CONTENT_TYPE);
    let text = String::from_utf8(body.to_vec()).unwrap();
    for line in [
        r#"motionmcp_requests_total{model="null",endpoint="generate",status="200"} 1"#,
        r#"motionmcp_requests_total{model="null",endpoint="generate",status="400"} 1"#,
        r#"motionmcp_requests_total{model="null",endpoint="batch",status="200"} 1"#,
        r#"motionmcp_requests_total{model="",endpoint="generate",status="400"} 1"#,
        r#"motionmcp_requests_total{model="",endpoint="readyz",status="405"} 1"#,
        // The 200 and the batch item reached the backbone; the 400s did not.
        r#"motionmcp_generation_duration_seconds_count{model="null"} 2"#,
        r#"motionmcp_instances_alive{model="null"} 1"#,
        r#"motionmcp_requests_waiting{model="null"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }
    assert!(!text.contains("stranger"), "{text}");
}

/// The null model's router before its models are ready.
async fn starting_router() -> Shared {
    let mut shared = router(HttpLimits::default()).await;
    shared.life = Arc::new(Lifecycle::starting());
    shared
        .life
        .loading("loading null.wasm (0 of 1 models ready)");
    shared
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_models_are_ready_only_probes_and_metrics_answer() {
    let shared = starting_router().await;
    let (status, _) = serve(request("GET", "/livez", &[], ""), &shared).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = serve(request("GET", "/readyz", &[], ""), &shared).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"status": "starting", "reason": "loading null.wasm (0 of 1 models ready)"})
    );
    for (method, path, body) in [
        ("POST", "/generate", valid()),
        ("GET", "/health", String::new()),
        ("GET", "/capabilities", String::new()),
        ("GET", "/generate/jobs/abc", String::new()),
        ("GET", "/", String::new()),
    ] {
        let (status, envelope) = serve(request(method, path, &[], &body), &shared).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(envelope["error"]["code"], "model_unavailable", "{path}");
        let message = envelope["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("starting") && message.contains("null.wasm"),
            "{message}"
        );
    }
    let (status, headers, _) = read(
        serve_request(
            request("GET", "/metrics", &[], ""),
            &shared,
            "127.0.0.1:1".parse().unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], crate::metrics::CONTENT_TYPE);
    // Ready: the same router serves.
    let models = router(HttpLimits::default())
        .await
        .life
        .models()
        .cloned()
        .unwrap();
    shared.life.ready(models);
    assert_eq!(
        serve(request("GET", "/readyz", &[], ""), &shared).await.0,
        StatusCode::OK
    );
    assert_eq!(
        serve(request("POST", "/generate", &[], &valid()), &shared)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_refuses_new_generations_and_answers_the_rest() {
    let shared = router(HttpLimits::default()).await;
    shared.life.drain();
    let (status, body) = serve(request("GET", "/readyz", &[], ""), &shared).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "draining");
    assert_eq!(
        serve(request("GET", "/livez", &[], ""), &shared).await.0,
        StatusCode::OK
    );
    let (status, envelope) = serve(request("POST", "/generate", &[], &valid()), &shared).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(envelope["error"]["code"], "model_unavailable");
    assert_eq!(envelope["error"]["details"]["status"], "draining");
    // What costs no generation still answers: health, capabilities, polls.
    assert_eq!(
        serve(request("GET", "/health", &[], ""), &shared).await.0,
        StatusCode::OK
    );
    assert_eq!(
        serve(request("GET", "/capabilities", &[], ""), &shared)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        serve(request("GET", "/generate/jobs/abc", &[], ""), &shared)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_access_rules() {
    let mut shared = router(HttpLimits::default()).await;
    let tokens = crate::access::tokens::Tokens::load(None, Some("ops:t0ken".into())).unwrap();
    shared.access = Arc::new(Access {
        tokens: Some(tokens),
        limiter: crate::access::rate::Limiter::new(None, None),
    });
    let (status, _) = serve(request("GET", "/metrics", &[], ""), &shared).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let bearer = [("authorization", "Bearer t0ken")];
    let answer = serve_request(
        request("GET", "/metrics", &bearer, ""),
        &shared,
        "127.0.0.1:1".parse().unwrap(),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
    // Probes are open.
    assert_eq!(
        serve(request("GET", "/readyz", &[], ""), &shared).await.0,
        StatusCode::OK
    );
    assert_eq!(
        serve(request("GET", "/livez", &[], ""), &shared).await.0,
        StatusCode::OK
    );
    shared.metrics_public = true;
    let answer = serve_request(
        request("GET", "/metrics", &[], ""),
        &shared,
        "127.0.0.1:1".parse().unwrap(),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        serve(request("GET", "/capabilities", &[], ""), &shared)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_label_is_a_loaded_model_or_none() {
    let shared = router(HttpLimits::default()).await;
    let registry = shared.life.models().unwrap();
    let item = |model: &str| json!({"model": model});
    assert_eq!(
        requested_model(&item("null"), registry).as_deref(),
        Some("null")
    );
    assert_eq!(requested_model(&item("other"), registry), None);
    assert_eq!(requested_model(&json!({"model": 3}), registry), None);
    let batch = |items: Vec<Value>| json!({"requests": items});
    assert_eq!(
        requested_model(&batch(vec![item("null"), item("null")]), registry).as_deref(),
        Some("null")
    );
    assert_eq!(
        requested_model(&batch(vec![item("null"), item("x")]), registry),
        None
    );
    assert_eq!(requested_model(&batch(vec![]), registry), None);
    assert_eq!(requested_model(&json!({"requests": 5}), registry), None);
}
