//! `/metrics`, `/livez` and `/readyz` on the real binary: the exposition
//! passes `promtool check metrics` (Debian's `prometheus` package), its
//! counters, histograms and gauges follow the requests made, `/readyz` is
//! 503 while the models load and while draining after SIGTERM (the request
//! in flight still finishing), `/livez` 200 throughout.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{component, probe_request, valid, with, Answer, Server};

// ---- reading an exposition ----------------------------------------------------

/// One sample: its name, its labels and its value.
type Sample = (String, Vec<(String, String)>, f64);

/// One scrape: every sample.
struct Scrape {
    text: String,
    samples: Vec<Sample>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| sample(line).unwrap_or_else(|| panic!("unreadable sample {line:?}")))
            .collect();
        Scrape {
            text: text.to_owned(),
            samples,
        }
    }

    /// The value of the sample with exactly these labels (in any order).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| *v)
    }

    /// As [`Scrape::get`], 0 when the series does not exist yet.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

/// `name{k="v",...} value` or `name value`.
fn sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Some((series.to_owned(), Vec::new(), value));
    };
    let mut labels = Vec::new();
    let mut rest = rest.strip_suffix('}')?;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut text = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => text.push('\n'),
                    c => text.push(c),
                },
                (i, '"') => break i,
                (_, c) => text.push(c),
            }
        };
        labels.push((key.to_owned(), text));
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some((name.to_owned(), labels, value))
}

/// Passes the exposition through `promtool check metrics`, which fails on
/// malformed text and lints names, types, units and help strings.
fn promtool_check(text: &str) {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let mut child = match Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot run {promtool} ({e}): install Debian's `prometheus` package \
             (scripts/setup.sh does when run as root), or point PROMTOOL at promtool"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- the exposition:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scrape(s: &Server) -> Scrape {
    let answer = s.get("/metrics");
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(answer.body).unwrap();
    Scrape::parse(&text)
}

/// Scrapes until `ok` holds (at most `within`); returns that scrape.
fn scrape_until(s: &Server, within: Duration, ok: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + within;
    loop {
        let now = scrape(s);
        if ok(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "not seen within {within:?}:\n{}",
            now.text
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- helpers ------------------------------------------------------------------

/// A request from another thread, with a read deadline.
fn post_in_background(addr: &str, body: &Value) -> JoinHandle<u16> {
    let (addr, body) = (addr.to_owned(), body.to_string());
    std::thread::spawn(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "POST /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(bytes.get(9..12).unwrap_or_default())
            .parse()
            .unwrap_or(0)
    })
}

fn sha256(path: &PathBuf) -> String {
    let digest = Sha256::digest(std::fs::read(path).unwrap());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `/readyz`, or `None` when the server closed the connection unanswered.
fn readyz_or_closed(s: &Server) -> Option<(u16, Value)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&s.addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..split]);
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, serde_json::from_slice(&bytes[split + 4..]).ok()?))
}

fn readyz(s: &Server) -> (u16, Value) {
    let answer = s.get("/readyz");
    (answer.status, answer.json())
}

fn requests(s: &Scrape, model: &str, endpoint: &str, status: &str) -> f64 {
    s.value(
        "motionmcp_requests_total",
        &[("model", model), ("endpoint", endpoint), ("status", status)],
    )
}

// ---- the tests ----------------------------------------------------------------

#[test]
fn counters_and_histograms_follow_the_requests_and_promtool_accepts_them() {
    let s = Server::start_paths(
        &[component("null"), component("probe")],
        &["--timeout", "2"],
    );
    let before = scrape(&s);
    promtool_check(&before.text);
    let m = |name: &str, model: &str| before.value(name, &[("model", model)]);
    assert_eq!(m("motionmcp_instances_alive", "null"), 1.0);
    assert_eq!(m("motionmcp_requests_waiting", "null"), 0.0);
    assert_eq!(m("motionmcp_requests_running", "probe"), 0.0);
    // Build and model info: the version, each model with its component's digest.
    assert_eq!(
        before.get(
            "motionmcp_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0),
        "{}",
        before.text
    );
    for name in ["null", "probe"] {
        let digest = sha256(&component(name));
        assert_eq!(
            before.get(
                "motionmcp_model_info",
                &[("model", name), ("digest", &digest)]
            ),
            Some(1.0),
            "{}",
            before.text
        );
    }

    // A 200 and a 400 for null; a request for a model nobody loaded; a
    // probe that panics (its instance is dropped) and one that loops past
    // the deadline.
    assert_eq!(s.post(&valid()).status, 200);
    s.post(&with(json!({"protocol_version": "2.0"})))
        .error(400, "version_unsupported");
    s.post(&with(json!({"model": "made-up-by-a-client"})))
        .error(400, "unknown_model");
    s.post(&probe_request("panic")).error(500, "internal_error");
    s.post(&probe_request("loop")).error(504, "timeout");
    assert_eq!(s.get("/health").status, 200);
    assert_eq!(s.get("/no-such-path").status, 404);

    let after = scrape(&s);
    promtool_check(&after.text);
    let delta = |model: &str, endpoint: &str, status: &str| {
        requests(&after, model, endpoint, status) - requests(&before, model, endpoint, status)
    };
    assert_eq!(delta("null", "generate", "200"), 1.0, "{}", after.text);
    assert_eq!(delta("null", "generate", "400"), 1.0, "{}", after.text);
    assert_eq!(delta("", "generate", "400"), 1.0, "{}", after.text);
    assert_eq!(delta("probe", "generate", "500"), 1.0, "{}", after.text);
    assert_eq!(delta("probe", "generate", "504"), 1.0, "{}", after.text);
    assert_eq!(delta("", "health", "200"), 1.0, "{}", after.text);
    assert_eq!(delta("", "other", "404"), 1.0, "{}", after.text);
    // Neither a client's model name nor a raw path becomes a label.
    assert!(!after.text.contains("made-up-by-a-client"));
    assert!(!after.text.contains("no-such-path"));

    // The generation histogram counts the calls that reached the backbone:
    // null's 200 (not its 400, refused before), the probe's two.
    let count = |s: &Scrape, name: &str, model: &str| s.value(name, &[("model", model)]);
    let generations =
        |s: &Scrape, model| count(s, "motionmcp_generation_duration_seconds_count", model);
    assert_eq!(
        generations(&after, "null") - generations(&before, "null"),
        1.0
    );
    assert_eq!(
        generations(&after, "probe") - generations(&before, "probe"),
        2.0
    );
    // The loop ran to the 2 s deadline: its time is in the sum and in the
    // buckets above 1 s only.
    let probe_sum = count(&after, "motionmcp_generation_duration_seconds_sum", "probe");
    assert!(probe_sum >= 1.9, "{}", after.text);
    let bucket = |le: &str| {
        after.value(
            "motionmcp_generation_duration_seconds_bucket",
            &[("model", "probe"), ("le", le)],
        )
    };
    assert_eq!(bucket("1"), 1.0, "{}", after.text);
    assert_eq!(bucket("2.5"), 2.0, "{}", after.text);
    assert_eq!(bucket("+Inf"), 2.0, "{}", after.text);
    // Each of the three got an instance at once.
    let waits = |s: &Scrape, model| count(s, "motionmcp_queue_wait_seconds_count", model);
    assert_eq!(waits(&after, "probe") - waits(&before, "probe"), 2.0);
    assert_eq!(waits(&after, "null") - waits(&before, "null"), 1.0);
    // The request durations by model and endpoint.
    assert!(
        after.value(
            "motionmcp_request_duration_seconds_count",
            &[("model", "probe"), ("endpoint", "generate")]
        ) >= 2.0
    );

    // Failures by cause; the probe's broken instances were dropped.
    let failures = |cause| {
        after.value(
            "motionmcp_instance_failures_total",
            &[("model", "probe"), ("cause", cause)],
        )
    };
    assert_eq!(failures("trap"), 1.0, "{}", after.text);
    assert_eq!(failures("timeout"), 1.0, "{}", after.text);
    assert_eq!(failures("memory"), 0.0, "{}", after.text);
    assert_eq!(count(&after, "motionmcp_instances_alive", "probe"), 0.0);
    // The next request starts a fresh instance.
    assert_eq!(s.post(&probe_request("fine")).status, 200);
    assert_eq!(
        scrape(&s).value("motionmcp_instances_alive", &[("model", "probe")]),
        1.0
    );
}

#[test]
fn requests_waiting_and_running_show_the_load() {
    let s = Server::start_paths(&[component("probe")], &["--instances", "1", "--queue", "8"]);
    let busy: Vec<_> = (0..3)
        .map(|_| post_in_background(&s.addr, &probe_request("slow 1500")))
        .collect();
    // One runs on the only instance, two wait for it: what an autoscaler reads.
    let seen = scrape_until(&s, Duration::from_secs(10), |now| {
        now.value("motionmcp_requests_running", &[("model", "probe")]) == 1.0
            && now.value("motionmcp_requests_waiting", &[("model", "probe")]) == 2.0
    });
    promtool_check(&seen.text);
    for h in busy {
        assert_eq!(h.join().unwrap(), 200);
    }
    let after = scrape(&s);
    assert_eq!(
        after.value("motionmcp_requests_waiting", &[("model", "probe")]),
        0.0
    );
    assert_eq!(
        after.value("motionmcp_requests_running", &[("model", "probe")]),
        0.0
    );
    // Three waits: none, about 1.5 s and about 3 s.
    let waits = |what: &str| after.value(what, &[("model", "probe")]);
    assert_eq!(waits("motionmcp_queue_wait_seconds_count"), 3.0);
    assert!(
        waits("motionmcp_queue_wait_seconds_sum") > 3.5,
        "{}",
        after.text
    );
}

#[test]
fn async_jobs_are_counted_by_state() {
    // Enough instances that the quick jobs never wait behind the slow one.
    let s = Server::start_paths(&[component("async-probe")], &["--instances", "3"]);
    let job = |prompt: &str| {
        let mut body = probe_request(prompt);
        body["model"] = json!("async-probe");
        let answer: Answer = s.post(&body);
        assert_eq!(
            answer.status,
            202,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
    };
    job("slow 1500");
    job("raise invalid_options");
    job("fine");
    let state = |now: &Scrape, state| now.value("motionmcp_jobs", &[("state", state)]);
    let during = scrape_until(&s, Duration::from_secs(10), |now| {
        state(now, "done") == 1.0 && state(now, "failed") == 1.0
    });
    assert_eq!(state(&during, "running"), 1.0, "{}", during.text);
    let done = scrape_until(&s, Duration::from_secs(10), |now| {
        state(now, "running") == 0.0
    });
    assert_eq!(state(&done, "done"), 2.0, "{}", done.text);
    assert_eq!(state(&done, "failed"), 1.0, "{}", done.text);
    // The 202s are counted under the model.
    assert_eq!(requests(&done, "async-probe", "generate", "202"), 3.0);
    promtool_check(&done.text);
}

#[test]
fn gpu_memory_and_quota_per_model() {
    let s = Server::start_paths(&[component("tensor-probe")], &["--gpu-memory-mb", "64"]);
    let now = scrape(&s);
    promtool_check(&now.text);
    assert_eq!(
        now.get(
            "motionmcp_gpu_memory_quota_bytes",
            &[("model", "tensor-probe")]
        ),
        Some((64u64 << 20) as f64),
        "{}",
        now.text
    );
    let used = now
        .get(
            "motionmcp_gpu_memory_used_bytes",
            &[("model", "tensor-probe")],
        )
        .expect("GPU memory in use");
    assert!(used < (64u64 << 20) as f64, "{}", now.text);
}

#[test]
fn metrics_need_a_token_unless_made_public() {
    let dir = support::tempdir::Dir::new("metrics-tokens");
    let tokens = dir.0.join("tokens");
    std::fs::write(&tokens, "ops:s3cret-metrics-token\n").unwrap();
    let file = tokens.to_str().unwrap();
    let get = |s: &Server, path: &str, token: Option<&str>| {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        s.raw(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n").as_bytes(),
        )
    };

    let guarded = Server::start_paths(&[component("null")], &["--auth-tokens", file]);
    get(&guarded, "/metrics", None).error(401, "unauthorized");
    get(&guarded, "/metrics", Some("wrong")).error(401, "unauthorized");
    let scraped = get(&guarded, "/metrics", Some("s3cret-metrics-token"));
    assert_eq!(scraped.status, 200);
    // The probes stay open, as /health is.
    assert_eq!(get(&guarded, "/livez", None).status, 200);
    assert_eq!(get(&guarded, "/readyz", None).status, 200);
    drop(guarded);

    let public = Server::start_paths(
        &[component("null")],
        &["--auth-tokens", file, "--metrics-public"],
    );
    let scraped = get(&public, "/metrics", None);
    assert_eq!(scraped.status, 200);
    promtool_check(&String::from_utf8(scraped.body).unwrap());
    // Only /metrics: the API still needs its token.
    get(&public, "/capabilities", None).error(401, "unauthorized");
}

#[test]
fn readyz_is_503_until_every_model_is_set_up() {
    // slow-setup's setup takes 2 s; the port opens before it runs.
    let s = Server::start_unready(&[component("slow-setup"), component("null")], &[]);
    assert_eq!(s.get("/livez").status, 200);
    let (status, body) = readyz(&s);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "starting", "{body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("slow-setup.wasm"), "{body}");
    // Everything that needs a model says the server is starting.
    let error = s.post(&valid()).error(503, "model_unavailable");
    support::assert_mentions(&error, "starting");
    s.get("/health").error(503, "model_unavailable");
    s.get("/capabilities").error(503, "model_unavailable");
    // /metrics already answers: the build, no model yet.
    let early = scrape(&s);
    promtool_check(&early.text);
    assert!(early.text.contains("motionmcp_build_info"));
    assert!(
        !early.text.contains("model=\"slow-setup\""),
        "{}",
        early.text
    );

    s.wait_ready(Duration::from_secs(60));
    let (_, body) = readyz(&s);
    assert_eq!(
        body,
        json!({"status": "ready", "models": ["slow-setup", "null"]})
    );
    assert_eq!(s.post(&valid()).status, 200);
    assert_eq!(s.get("/livez").status, 200);
    // The probes during start-up were counted under their endpoints.
    let now = scrape(&s);
    assert!(requests(&now, "", "readyz", "503") >= 1.0, "{}", now.text);
    assert!(requests(&now, "", "generate", "503") >= 1.0, "{}", now.text);
}

#[test]
fn sigterm_during_start_up_exits_cleanly() {
    let s = Server::start_unready(&[component("slow-setup")], &[]);
    assert_eq!(readyz(&s).0, 503);
    s.sigterm();
    // Exits without waiting for the setup still running.
    let status = s.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[test]
fn draining_answers_readyz_503_while_the_request_in_flight_finishes() {
    let s = Server::start_paths(
        &[component("probe"), component("null")],
        &["--shutdown-grace", "20"],
    );
    assert_eq!(readyz(&s).0, 200);
    let inflight = post_in_background(&s.addr, &probe_request("slow 3000"));
    scrape_until(&s, Duration::from_secs(10), |now| {
        now.value("motionmcp_requests_running", &[("model", "probe")]) == 1.0
    });
    s.sigterm();
    // Not ready as soon as the signal is handled (a few milliseconds).
    let deadline = Instant::now() + Duration::from_secs(2);
    let body = loop {
        // A connection accepted just as draining starts may be closed
        // unanswered (hyper's graceful shutdown drops connections that have
        // sent nothing yet): ask again.
        let Some((status, body)) = readyz_or_closed(&s) else {
            assert!(Instant::now() < deadline, "readyz unanswered after SIGTERM");
            continue;
        };
        if status == 503 {
            break body;
        }
        assert_eq!(status, 200, "{body}");
        assert!(Instant::now() < deadline, "readyz still 200 after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(body["status"], "draining", "{body}");
    assert!(
        !inflight.is_finished(),
        "the slow request ended before the check"
    );
    // Alive, and new work goes elsewhere: a retryable 503 envelope.
    assert_eq!(s.get("/livez").status, 200);
    let refused = s.post(&valid());
    let error = refused.error(503, "model_unavailable");
    support::assert_mentions(&error, "shutting down");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        scrape(&s).value("motionmcp_requests_running", &[("model", "probe")]),
        1.0
    );
    // The request in flight completes, then the process exits.
    assert_eq!(inflight.join().unwrap(), 200);
    let status = s.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
}
