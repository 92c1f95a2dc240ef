//! Access control through the real binary on loopback: bearer tokens (with
//! SIGHUP revocation and job isolation), per-client rate and concurrency
//! limits, and HTTPS with a test CA made here. Without the flags nothing
//! changes: the rest of the suite runs without them.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const ALICE: &str = "alice-5f1c9e2ab7d04c3e";
const BOB: &str = "bob-93d8a0c61e7f42b5";

fn unauthorized(a: &Answer) {
    a.error(401, "unauthorized");
    assert!(
        a.header("www-authenticate").unwrap().starts_with("Bearer"),
        "{:?}",
        a.header("www-authenticate")
    );
}

fn sighup(s: &Server) {
    Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
}

#[test]
fn tokens_guard_every_endpoint_but_the_probes_and_revocation_needs_no_restart() {
    let dir = tempdir::Dir::new("tokens");
    let file = write_tokens(&dir.0, &format!("alice:{ALICE}\nbob:{BOB}\n"));
    let s = Server::start_paths(
        &[component("null"), component("async-probe")],
        &["--auth-tokens", &file],
    );
    let body = valid().to_string();
    for (method, path, body) in [
        ("GET", "/capabilities", ""),
        ("POST", "/generate", body.as_str()),
        ("GET", "/generate/jobs/0123", ""),
        ("GET", "/nope", ""),
    ] {
        unauthorized(&call(&s, method, path, None, body));
        unauthorized(&call(&s, method, path, Some("not-a-token"), body));
    }
    assert_eq!(
        call(&s, "GET", "/capabilities", Some(ALICE), "").status,
        200
    );
    assert_eq!(call(&s, "POST", "/generate", Some(BOB), &body).status, 200);
    // The probes stay open.
    assert_eq!(s.get("/health").status, 200);
    // Tokens are never logged; the client's name is.
    let log = s.stderr();
    assert!(!log.contains(ALICE) && !log.contains(BOB));
    assert!(
        log.contains("client=alice") || log.contains("client=\"alice\""),
        "{log}"
    );

    // A job belongs to the client that made it: to another, it is unknown.
    let job = async_job(&s, ALICE);
    call(&s, "GET", &job, Some(BOB), "").error(404, "not_found");
    call(&s, "DELETE", &job, Some(BOB), "").error(404, "not_found");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = call(&s, "GET", &job, Some(ALICE), "");
        if a.status == 200 {
            break;
        }
        assert_eq!(a.status, 202);
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(call(&s, "DELETE", &job, Some(ALICE), "").status, 204);

    // SIGHUP: bob's token is revoked without a restart; a broken file
    // changes nothing.
    write_tokens(&dir.0, &format!("alice:{ALICE}\n"));
    sighup(&s);
    let deadline = Instant::now() + Duration::from_secs(5);
    while call(&s, "GET", "/capabilities", Some(BOB), "").status == 200 {
        assert!(Instant::now() < deadline, "bob's token still works");
        std::thread::sleep(Duration::from_millis(50));
    }
    unauthorized(&call(&s, "GET", "/capabilities", Some(BOB), ""));
    assert_eq!(
        call(&s, "GET", "/capabilities", Some(ALICE), "").status,
        200
    );
    write_tokens(&dir.0, "broken:\n");
    sighup(&s);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        call(&s, "GET", "/capabilities", Some(ALICE), "").status,
        200
    );
    assert!(s.stderr().contains("tokens not reloaded"));
}

/// Submits an async job as `token`; returns its location.
fn async_job(s: &Server, token: &str) -> String {
    let mut body = probe_request("slow 300");
    body["model"] = json!("async-probe");
    let a = call(s, "POST", "/generate", Some(token), &body.to_string());
    assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
    a.header("location").unwrap().to_owned()
}

#[test]
fn the_reference_clients_send_their_token_and_read_the_401() {
    let dir = tempdir::Dir::new("tokens-ref");
    let file = write_tokens(&dir.0, &format!("alice:{ALICE}\n"));
    let s = Server::start_paths(&[component("null")], &["--auth-tokens", &file]);
    run_reference_access(&s.url(), None);
}

fn run_reference_access(url: &str, ca: Option<&Path>) {
    let mut command = Command::new(venv_python());
    command
        .arg(repo_root().join("tests/python/reference_access.py"))
        .args([url, ALICE]);
    if let Some(ca) = ca {
        command.env("SSL_CERT_FILE", ca);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("reference access: all checks passed"),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_burst_past_the_rate_is_429_for_that_client_only_and_passes_after_the_wait() {
    let dir = tempdir::Dir::new("tokens-rate");
    let file = write_tokens(&dir.0, &format!("alice:{ALICE}\nbob:{BOB}\n"));
    let s = Server::start_paths(
        &[component("null")],
        &["--auth-tokens", &file, "--rate-limit", "3/s"],
    );
    // A bucket of 3 refilled one every 333 ms: a burst meets a 429 soon.
    let mut served = 0;
    let refused = loop {
        let a = call(&s, "GET", "/capabilities", Some(ALICE), "");
        if a.status == 429 {
            break a;
        }
        assert_eq!(a.status, 200);
        served += 1;
        assert!(served < 50, "no 429 after {served} requests");
    };
    assert!(served >= 3, "refused after {served}");
    let e = refused.error(429, "rate_limited");
    assert_mentions(&e, "alice");
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(wait >= 1, "{wait}");
    // The limit comes before anything else: an invalid body meets it too
    // (once the bucket is empty again) rather than its 422.
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) {
        statuses.push(call(&s, "POST", "/generate", Some(ALICE), "{").status);
        assert!(statuses.len() < 50, "{statuses:?}");
    }
    assert!(
        statuses.iter().all(|&c| c == 422 || c == 429),
        "{statuses:?}"
    );
    // Another client is not affected.
    assert_eq!(call(&s, "GET", "/capabilities", Some(BOB), "").status, 200);
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(
        call(&s, "GET", "/capabilities", Some(ALICE), "").status,
        200
    );
}

#[test]
fn a_deleted_job_keeps_its_generation_slot_until_its_guest_call_ends() {
    let dir = tempdir::Dir::new("tokens-slot");
    let file = write_tokens(&dir.0, &format!("alice:{ALICE}\n"));
    let s = Server::start_paths(
        &[component("async-probe")],
        &["--auth-tokens", &file, "--max-concurrent-per-client", "1"],
    );
    let mut body = probe_request("slow 1500");
    body["model"] = json!("async-probe");
    let body = body.to_string();
    let job = call(&s, "POST", "/generate", Some(ALICE), &body);
    assert_eq!(job.status, 202);
    let location = job.header("location").unwrap().to_owned();
    // Once the guest call has begun, the job is deleted.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(call(&s, "DELETE", &location, Some(ALICE), "").status, 204);
    // The guest is still running the deleted job: the slot is still taken.
    call(&s, "POST", "/generate", Some(ALICE), &body).error(429, "rate_limited");
    std::thread::sleep(Duration::from_millis(1800));
    assert_eq!(
        call(&s, "POST", "/generate", Some(ALICE), &body).status,
        202
    );
}

#[test]
fn generations_at_once_are_capped_per_client() {
    let s = Server::start_paths(
        &[component("probe"), component("null")],
        &["--max-concurrent-per-client", "1"],
    );
    // Without tokens the client is its address: one slow generation holds
    // its one slot...
    let addr = s.addr.clone();
    let slow = std::thread::spawn(move || {
        let body = probe_request("slow 1500").to_string();
        let mut c = TcpStream::connect(&addr).unwrap();
        write!(
            c,
            "POST /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut bytes = Vec::new();
        c.read_to_end(&mut bytes).unwrap();
        String::from_utf8_lossy(&bytes[..12]).into_owned()
    });
    std::thread::sleep(Duration::from_millis(500));
    let a = s.post(&valid());
    let e = a.error(429, "rate_limited");
    assert_eq!(e["details"]["max_concurrent"], 1);
    assert_eq!(a.header("retry-after"), Some("1"));
    // ...while reading is not a generation.
    assert_eq!(s.get("/capabilities").status, 200);
    assert_eq!(slow.join().unwrap(), "HTTP/1.1 200");
    assert_eq!(s.post(&valid()).status, 200);
}

/// A CA and a server certificate for 127.0.0.1, in `dir`: (ca, cert, key).
fn test_pki(dir: &Path) -> (std::path::PathBuf, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "motionmcp test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    (
        paths.0,
        paths.1.to_str().unwrap().to_owned(),
        paths.2.to_str().unwrap().to_owned(),
    )
}

#[test]
fn https_with_a_test_ca_and_plain_http_to_it_fails_cleanly() {
    let dir = tempdir::Dir::new("tls");
    let (ca, cert, key) = test_pki(&dir.0);
    let file = write_tokens(&dir.0, &format!("alice:{ALICE}\n"));
    let s = Server::start_paths(
        &[component("null")],
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--auth-tokens",
            &file,
        ],
    );
    let url = format!("https://{}", s.addr);
    // curl trusting only the test CA.
    let out = Command::new("curl")
        .args(["-sS", "--cacert", ca.to_str().unwrap()])
        .args(["-H", &format!("Authorization: Bearer {ALICE}")])
        .arg(format!("{url}/capabilities"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let caps: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(caps["models"][0]["id"], "null");
    // Plain HTTP to the TLS port: no HTTP answer, the connection closes,
    // and the server goes on serving.
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut bytes = Vec::new();
    let _ = c.read_to_end(&mut bytes);
    assert!(
        !bytes.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
    // The reference clients over HTTPS, trusting the test CA.
    run_reference_access(&url, Some(&ca));
}
