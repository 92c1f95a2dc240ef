//! A hostile or buggy backbone costs one request, never the server: every
//! hostile behaviour gets the right envelope, and a normal request to the
//! null model right after succeeds. Limits are set small by flags.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

fn probe(prompt: &str) -> Value {
    probe_request(prompt)
}

fn start(extra: &[&str]) -> Server {
    Server::start_paths(&[component("probe"), component("null")], extra)
}

/// The hostile request gets `status`/`code`; then the null model and the
/// probe itself still answer.
fn survives(s: &Server, prompt: &str, status: u16, code: &str) -> Value {
    let e = s.post(&probe(prompt)).error(status, code);
    assert_eq!(s.post(&valid()).status, 200, "null model after {prompt}");
    assert_eq!(s.post(&probe("fine")).status, 200, "probe after {prompt}");
    e
}

#[test]
fn endless_loop_is_a_504_at_the_deadline() {
    let s = start(&["--timeout", "1"]);
    let started = Instant::now();
    let e = survives(&s, "loop", 504, "timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(e["details"], json!({"deadline_seconds": 1.0}));
}

#[test]
fn memory_bomb_is_a_503_with_retry_after() {
    let s = start(&["--memory-mb", "64"]);
    let a = s.post(&probe("membomb"));
    a.error(503, "resource_exhausted");
    assert_eq!(a.header("retry-after"), Some("1"));
    survives(&s, "membomb", 503, "resource_exhausted");
}

#[test]
fn trap_is_a_500_naming_the_panic() {
    let s = start(&[]);
    let e = survives(&s, "panic", 500, "internal_error");
    assert_mentions(&e, "probe was asked to panic");
}

#[test]
fn stack_overflow_is_a_500_naming_it() {
    let s = start(&[]);
    let e = survives(&s, "stack", 500, "internal_error");
    assert_mentions(&e, "stack overflow");
}

/// The probe's `capabilities`, as the host sees it on `/capabilities`.
fn advertised(s: &Server) -> Value {
    let caps = s.get("/capabilities");
    assert_eq!(caps.status, 200);
    caps.json()["models"][0].clone()
}

#[test]
fn a_capabilities_call_that_never_returns_costs_its_instance_only() {
    let s = start(&["--instances", "1"]);
    assert_eq!(s.post(&probe("spec-loop")).status, 200);
    // Asked, the instance loops past the 2 s deadline and is dropped; the
    // last spec read is served.
    let started = Instant::now();
    let model = advertised(&s);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        (&model["id"], &model["fps"]),
        (&json!("probe"), &json!(30.0))
    );
    let failed = |s: &Server| s.stderr().matches("capabilities failed").count();
    assert_eq!(failed(&s), 1, "{}", s.stderr());
    assert!(
        s.stderr().contains("past its 2.000s deadline"),
        "{}",
        s.stderr()
    );
    // No instance is idle now: the last spec again, without asking anyone.
    assert_eq!(advertised(&s)["id"], "probe");
    assert_eq!(failed(&s), 1);
    // A fresh instance serves, and answers its first `capabilities`.
    assert_eq!(s.post(&probe("fine")).status, 200);
    assert_eq!(advertised(&s)["native_clip_seconds"], 1.0);
}

#[test]
fn a_spec_that_turns_invalid_or_renames_the_model_is_not_taken() {
    let s = start(&["--instances", "1"]);
    for prompt in ["spec-invalid", "spec-rename"] {
        assert_eq!(s.post(&probe(prompt)).status, 200);
        let model = advertised(&s);
        assert_eq!(
            (&model["id"], &model["fps"]),
            (&json!("probe"), &json!(30.0))
        );
        assert_eq!(s.post(&probe("fine")).status, 200, "probe after {prompt}");
    }
    let log = s.stderr();
    assert!(log.contains("described an invalid model"), "{log}");
    assert!(log.contains("renamed itself"), "{log}");
}

#[test]
fn malformed_results_are_500s() {
    let s = start(&[]);
    for (prompt, needle) in [
        ("short", "rotations"),
        ("nan", "non-finite"),
        ("rename", "joint_names"),
    ] {
        let e = survives(&s, prompt, 500, "internal_error");
        assert_mentions(&e, needle);
    }
}

#[test]
fn a_huge_result_is_a_500_and_memory_comes_back() {
    // Refused while being lifted, before the host holds a copy of it.
    let s = start(&["--max-result-mb", "64"]);
    let e = survives(&s, "huge 300", 500, "internal_error");
    assert_mentions(&e, "larger than the 64 MiB limit");
    // Over the array cap but within the lifting slack: caught after lifting.
    let e = survives(&s, "huge 70", 500, "internal_error");
    assert_mentions(&e, "larger than the 64 MiB limit");
    // Under the cap, the same backbone answers.
    assert_eq!(s.post(&probe("huge 1")).status, 200);
}

#[test]
fn a_panic_in_setup_refuses_to_start_with_the_reason() {
    let stderr = refused(&[component("setup-panic")]);
    assert!(stderr.contains("setup of"), "{stderr}");
    assert!(stderr.contains("weights.bin is corrupt"), "{stderr}");
}

#[test]
fn an_import_the_host_does_not_provide_is_refused_at_load() {
    let stderr = refused(&[component("bad-import")]);
    assert!(
        stderr.contains("imports something this host does not provide"),
        "{stderr}"
    );
    assert!(stderr.contains("evil:net/socket"), "{stderr}");
}

#[test]
fn four_instances_run_four_slow_requests_at_once_and_the_fifth_queues() {
    let s = start(&["--instances", "4", "--queue", "4"]);
    // Warm all four instances so instantiation does not blur the timing.
    let warm: Vec<_> = (0..4)
        .map(|_| {
            let addr = s.addr.clone();
            std::thread::spawn(move || post_to(&addr, &probe("slow 200")))
        })
        .collect();
    for h in warm {
        assert_eq!(h.join().unwrap().0, 200);
    }
    let started = Instant::now();
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let addr = s.addr.clone();
            std::thread::spawn(move || {
                let (status, _) = post_to(&addr, &probe("slow 1000"));
                (status, Instant::now())
            })
        })
        .collect();
    let mut ends: Vec<Duration> = handles
        .into_iter()
        .map(|h| {
            let (status, end) = h.join().unwrap();
            assert_eq!(status, 200);
            end - started
        })
        .collect();
    ends.sort();
    // Four overlap (all done around 1 s, far below 4 s serialised)...
    assert!(ends[3] < Duration::from_millis(2500), "{ends:?}");
    // ...and the fifth waited for one of them (about 2 s).
    assert!(ends[4] >= Duration::from_millis(1900), "{ends:?}");
}

#[test]
fn a_full_queue_is_a_503_with_retry_after() {
    let s = start(&["--instances", "1", "--queue", "1"]);
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let addr = s.addr.clone();
            let h = std::thread::spawn(move || post_to(&addr, &probe("slow 3000")).0);
            std::thread::sleep(Duration::from_millis(500));
            h
        })
        .collect();
    let a = s.post(&probe("fine"));
    a.error(503, "resource_exhausted");
    assert_eq!(a.header("retry-after"), Some("1"));
    // Another model is not affected by the probe's queue.
    assert_eq!(s.post(&valid()).status, 200);
    for h in busy {
        assert_eq!(h.join().unwrap(), 200);
    }
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let s = start(&[]);
    let addr = s.addr.clone();
    let inflight = std::thread::spawn(move || post_to(&addr, &probe("slow 2500")));
    std::thread::sleep(Duration::from_millis(1000));
    let status = s.terminate();
    let (code, _) = inflight.join().unwrap();
    assert_eq!(code, 200);
    assert!(status.success(), "{status:?}");
}

/// A POST from another thread (the shared server handle stays on the test thread).
fn post_to(addr: &str, body: &Value) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let status = String::from_utf8_lossy(&bytes[9..12]).parse().unwrap();
    (status, bytes)
}

fn note(s: &Server, prompt: &str) -> String {
    let doc = s.post(&probe(prompt)).json();
    doc["extensions"]["MMCP_motion"]["notes"][0]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_backbone_sees_no_files_and_no_environment() {
    let s = start(&[]);
    for path in [
        "/etc/passwd",
        "/proc/self/environ",
        "./Cargo.toml",
        "/weights/w.txt",
    ] {
        let said = note(&s, &format!("read {path}"));
        assert!(said.starts_with("error:"), "{path}: {said}");
    }
    assert_eq!(note(&s, "env"), "");
}

#[test]
fn weights_grant_one_directory_read_only() {
    let dir = std::env::temp_dir().join(format!("mmcp-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("w.txt"), "layer0 0.5\n").unwrap();
    let s = start(&["--weights", dir.to_str().unwrap()]);
    assert_eq!(note(&s, "read /weights/w.txt"), "ok: layer0 0.5");
    assert!(note(&s, "read /etc/passwd").starts_with("error:"));
    assert!(note(&s, "read /weights/../../etc/passwd").starts_with("error:"));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_model_whose_setup_fails_after_a_trap_is_unavailable_until_it_recovers() {
    let dir = std::env::temp_dir().join(format!("mmcp-recover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = start(&["--weights", dir.to_str().unwrap(), "--instances", "1"]);
    assert_eq!(s.post(&probe("fine")).status, 200);
    // From now on a fresh instance's setup fails...
    std::fs::write(dir.join("fail-setup"), "").unwrap();
    s.post(&probe("panic")).error(500, "internal_error");
    let a = s.post(&probe("fine"));
    let e = a.error(503, "model_unavailable");
    assert_mentions(&e, "fail-setup exists");
    assert_eq!(a.header("retry-after"), Some("1"));
    // ...other models are unaffected...
    assert_eq!(s.post(&valid()).status, 200);
    // ...and once setup can succeed again, so does the model.
    std::fs::remove_file(dir.join("fail-setup")).unwrap();
    assert_eq!(s.post(&probe("fine")).status, 200);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
