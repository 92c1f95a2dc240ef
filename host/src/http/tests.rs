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
        registry: Arc::new(Registry::new(vec![model]).unwrap()),
        jobs: Arc::new(Jobs::new(JobLimits::default())),
        limits,
        access: Arc::new(Access::open()),
    }
}

/// Routes `req` as an admitted anonymous client would be.
async fn send<B: ReqBody>(req: Request<B>, shared: &Shared) -> Answer {
    let client = Client {
        name: "127.0.0.1".into(),
        authenticated: false,
    };
    route(req, shared, &client).await
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
