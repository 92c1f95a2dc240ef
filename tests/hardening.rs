//! The server under abuse, as an attacker on loopback would try it: slow
//! clients, too many connections, descriptor exhaustion, and backbones that
//! abuse the GPU. Each must cost the abuser's own connection or request,
//! never the server or other clients. Every loop here is bounded in count
//! and time.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// Opens `n` connections that each send part of a request's headers and
/// then nothing.
fn half_open(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"POST /generate HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect()
}

/// Whether the server has closed `c` (or does so within `wait`).
fn closed_within(c: &mut TcpStream, wait: Duration) -> bool {
    c.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn log_lines(s: &Server, needle: &str) -> usize {
    s.stderr().lines().filter(|l| l.contains(needle)).count()
}

/// Parses a whole HTTP answer read to the end: (status, JSON body).
fn answer_of(bytes: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(bytes);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn slow_clients_are_cut_off_at_the_header_deadline_and_honest_ones_served() {
    let s = Server::start_paths(&[component("null")], &["--header-timeout", "1"]);
    let before = s.stderr().lines().count();
    let started = Instant::now();
    let mut held = half_open(&s.addr, 200);
    // Meanwhile honest clients are served.
    for _ in 0..5 {
        assert_eq!(s.post(&valid()).status, 200);
    }
    for c in &mut held {
        assert!(
            closed_within(c, Duration::from_secs(4)),
            "a connection that sent half its headers was still open after {:?}",
            started.elapsed()
        );
    }
    // One deadline (1 s), not one per connection in turn.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.post(&valid()).status, 200);
    // The abuse did not write a line per connection.
    let grown = s.stderr().lines().count() - before;
    assert!(grown < 40, "the log grew by {grown} lines");
}

#[test]
fn a_slow_but_steady_body_succeeds_and_a_stalled_one_is_refused() {
    let s = Server::start_paths(
        &[component("null")],
        &["--header-timeout", "1", "--body-timeout", "3"],
    );
    let body = valid().to_string();
    let head = format!(
        "POST /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // Ten pieces over two seconds: longer than the header deadline, within
    // the body's.
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    for piece in body.as_bytes().chunks(body.len().div_ceil(10)) {
        std::thread::sleep(Duration::from_millis(200));
        c.write_all(piece).unwrap();
    }
    let mut bytes = Vec::new();
    c.read_to_end(&mut bytes).unwrap();
    assert_eq!(answer_of(&bytes).0, 200);

    // Half the body, then nothing: the body deadline answers.
    let started = Instant::now();
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut bytes = Vec::new();
    let _ = c.read_to_end(&mut bytes);
    let (status, envelope) = answer_of(&bytes);
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(envelope["error"]["code"], "timeout");
    assert!(envelope["error"]["message"]
        .as_str()
        .unwrap()
        .contains("body deadline"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let s = Server::start_paths(&[component("null")], &["--header-timeout", "1"]);
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut bytes = Vec::new();
    // Keep-alive: the answer comes, then the connection stays idle until
    // the server closes it.
    c.read_to_end(&mut bytes).unwrap();
    assert!(bytes.starts_with(b"HTTP/1.1 200"));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "idle for {took:?}");
}

#[test]
fn connections_past_the_cap_are_closed_at_once_and_logged_once() {
    let s = Server::start_paths(
        &[component("null")],
        &["--max-connections", "8", "--header-timeout", "2"],
    );
    let _held = half_open(&s.addr, 8);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let mut extra = half_open(&s.addr, 30);
    for c in &mut extra {
        assert!(closed_within(c, Duration::from_millis(1500)));
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // Once the held ones pass their header deadline, honest clients get in.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(s.post(&valid()).status, 200);
    let warnings = log_lines(&s, "connection cap reached");
    assert!((1..=2).contains(&warnings), "{warnings} warnings");
}

/// The CPU seconds a process has used (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at state.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[test]
fn descriptor_exhaustion_backs_off_and_recovers() {
    // A descriptor limit below the connection cap, so `accept` itself fails.
    let s = Server::start_wrapped(
        &["bash", "-c", "ulimit -n 96 && exec \"$@\"", "host"],
        &[component("null")],
        &["--max-connections", "1000", "--header-timeout", "30"],
    );
    assert_eq!(s.post(&valid()).status, 200);
    let attack = half_open(&s.addr, 150);
    std::thread::sleep(Duration::from_millis(500));
    let cpu = cpu_seconds(s.pid());
    std::thread::sleep(Duration::from_secs(3));
    let spent = cpu_seconds(s.pid()) - cpu;
    // A hot accept loop would use both cores for the whole 3 s.
    assert!(spent < 0.5, "the server used {spent:.2} s of CPU in 3 s");
    let failures = log_lines(&s, "accept failed");
    assert!((1..=3).contains(&failures), "{failures} accept warnings");
    drop(attack);
    // Honest clients are served once the attacker lets go (the back-off
    // is at most a second).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = TcpStream::connect(&s.addr).is_ok() && s.post(&valid()).status == 200;
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "not served after the attack");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A request for the `gpu-hog` component with this prompt.
fn hog(prompt: &str) -> Value {
    json!({
        "protocol_version": "1.4",
        "model": "gpu-hog",
        "skeleton": {"joints": [
            {"name": "Hips", "parent": null, "rest_translation": [0, 0.95, 0], "rest_rotation": [0, 0, 0, 1]}
        ]},
        "segments": [{"type": "text", "prompt": prompt, "duration_frames": 3}],
    })
}

fn tensor_probe(prompt: &str) -> Value {
    let mut body = hog(prompt);
    body["model"] = "tensor-probe".into();
    body
}

/// A POST from another thread: (status, envelope, seconds taken).
fn timed_post(addr: &str, body: &Value) -> (u16, Value, f64) {
    let started = Instant::now();
    let body = body.to_string();
    let mut c = TcpStream::connect(addr).unwrap();
    write!(
        c,
        "POST /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut bytes = Vec::new();
    c.read_to_end(&mut bytes).unwrap();
    let (status, value) = answer_of(&bytes);
    (status, value, started.elapsed().as_secs_f64())
}

fn message(envelope: &Value) -> &str {
    envelope["error"]["message"].as_str().unwrap_or("")
}

#[test]
fn hostile_gpu_work_costs_one_request_and_never_starves_another_model() {
    let deadline = 3.0;
    let s = Server::start_paths(
        &[component("gpu-hog"), component("tensor-probe")],
        &[
            "--timeout",
            "3",
            "--instances",
            "1",
            "--shutdown-grace",
            "2",
        ],
    );
    assert_eq!(s.post(&hog("small")).status, 200);

    // A chain of matmuls far longer than the deadline: 504 at the deadline,
    // and another model's small request made meanwhile is answered.
    let addr = s.addr.clone();
    let chain = std::thread::spawn(move || timed_post(&addr, &hog("chain 100000")));
    std::thread::sleep(Duration::from_millis(1000));
    let (status, values, took) = timed_post(&s.addr, &tensor_probe("values"));
    assert_eq!(status, 400, "{values}");
    assert!(values["error"]["details"]["values"].is_array(), "{values}");
    assert!(
        took < 2.5,
        "the other model waited {took:.2} s behind the hog"
    );
    let (status, envelope, took) = chain.join().unwrap();
    assert_eq!(status, 504, "{envelope}");
    assert_eq!(envelope["error"]["code"], "timeout");
    assert!(took < deadline + 1.0, "answered after {took:.2} s");

    // Single dispatches too long to queue are refused before they are.
    for (prompt, cause) in [("huge-matmul", "dispatch"), ("attention", "dispatch")] {
        let (status, envelope, took) = timed_post(&s.addr, &hog(prompt));
        assert!(
            status == 503 || status == 504,
            "{prompt}: {status} {envelope}"
        );
        assert!(message(&envelope).contains(cause), "{prompt}: {envelope}");
        assert!(
            took < deadline + 1.0,
            "{prompt}: answered after {took:.2} s"
        );
    }

    // A giant concat (200,000 handles lent in one call) traps inside the
    // host call: the message names the cause, not the wasm backtrace.
    let (status, envelope, _) = timed_post(&s.addr, &hog("concat"));
    assert_eq!(status, 500, "{envelope}");
    assert!(
        message(&envelope).contains("handle limit exceeded"),
        "{envelope}"
    );
    assert!(!message(&envelope).contains("backtrace"), "{envelope}");

    // Up to 4,096 parts, concat refuses with a typed error of its own.
    let (status, envelope, _) = timed_post(&s.addr, &hog("concat 5000"));
    assert_eq!(status, 500, "{envelope}");
    assert!(
        message(&envelope).contains("concat takes 4096 tensors at most"),
        "{envelope}"
    );

    // The hog's instance was replaced; the model serves again, and its GPU
    // memory is all given back once a request is done.
    assert_eq!(s.post(&hog("small")).status, 200);
    let health = s.get("/health").json();
    assert_eq!(
        health["gpu"]["memory"]["gpu-hog"]["used_bytes"], 0,
        "{health}"
    );

    // Shutdown does not wait for the GPU: a chain in flight, then SIGTERM.
    let addr = s.addr.clone();
    let _inflight = std::thread::spawn(move || timed_post(&addr, &hog("chain 100000")));
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
}

#[test]
fn a_dispatch_that_would_outlast_the_deadline_is_refused_up_front() {
    // No one-dispatch cap to speak of: the deadline alone refuses it.
    let s = Server::start_paths(
        &[component("gpu-hog")],
        &["--timeout", "3", "--gpu-max-dispatch-ms", "3600000"],
    );
    let (status, envelope, took) = timed_post(&s.addr, &hog("huge-matmul"));
    assert_eq!(status, 504, "{envelope}");
    let cause = envelope["error"]["details"]["cause"].as_str().unwrap_or("");
    assert!(
        cause.contains("dispatch") && cause.contains("left"),
        "{envelope}"
    );
    assert!(took < 2.0, "answered after {took:.2} s");
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib << 10
}

#[test]
fn a_handle_flood_is_refused_and_its_memory_returns() {
    let s = Server::start_paths(
        &[component("gpu-hog")],
        &["--timeout", "60", "--instances", "1"],
    );
    assert_eq!(s.post(&hog("small")).status, 200);
    let before = rss_bytes(s.pid());
    let a = s.post(&hog("handles"));
    let e = a.error(503, "resource_exhausted");
    assert_mentions(&e, "tensor handles");
    let peak = rss_bytes(s.pid());
    // Twice, to see that memory is given back rather than accumulating.
    s.post(&hog("handles")).error(503, "resource_exhausted");
    let after = rss_bytes(s.pid());
    let grown = after.saturating_sub(before) >> 20;
    println!(
        "RSS: {} MiB before, {} MiB after one flood, {} MiB after two",
        before >> 20,
        peak >> 20,
        after >> 20
    );
    assert!(grown < 256, "resident memory grew by {grown} MiB");
    assert!(after < peak + (64 << 20), "the second flood kept growing");
    assert_eq!(s.post(&hog("small")).status, 200);
}
