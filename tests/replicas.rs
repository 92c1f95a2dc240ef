//! Several replicas as one service (issue #20): two `motionmcp-host`
//! processes sharing a Redis job store (`--job-store redis://`), alone or
//! behind haproxy. A job submitted to one replica is polled and deleted
//! through the other; a replica killed with `kill -9` fails its jobs within
//! the lease; the table bound holds across replicas; and a minute of mixed
//! load through the balancer survives a rolling restart of one replica.

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::services::{Haproxy, Redis};
use support::*;

/// The lease replicas hold on their jobs in these tests (seconds).
const LEASE: f64 = 2.0;

fn replica_args(redis: &Redis, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["--job-store".into(), redis.url()];
    if !extra.contains(&"--job-lease") {
        args.extend(["--job-lease".into(), LEASE.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn models() -> Vec<PathBuf> {
    vec![component("async-probe"), component("null")]
}

/// A replica on `port` (a free one when 0), ready.
fn replica(redis: &Redis, port: u16, extra: &[&str]) -> Server {
    let args = replica_args(redis, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let port = if port == 0 { free_port() } else { port };
    let s = Server::start_unready_on(port, &models(), &args);
    s.wait_ready(Duration::from_secs(60));
    s
}

fn port(s: &Server) -> u16 {
    s.addr.rsplit(':').next().unwrap().parse().unwrap()
}

fn async_request(prompt: &str) -> Value {
    let mut body = probe_request(prompt);
    body["model"] = json!("async-probe");
    body
}

/// The job path of a `202`.
fn location(a: &Answer) -> String {
    assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
    a.header("location").expect("Location").to_owned()
}

#[test]
fn a_job_submitted_through_one_replica_is_polled_and_deleted_through_the_other() {
    let redis = Redis::start();
    let a = replica(&redis, 0, &["--max-jobs", "3"]);
    let b = replica(&redis, 0, &["--max-jobs", "3"]);

    // Submitted to a, watched from b: its progress, then its answer.
    let job = location(&a.post(&async_request("steps 8 250")));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen_progress = false;
    let done = loop {
        let poll = b.get(&job);
        if poll.status != 202 {
            break poll;
        }
        seen_progress |= poll.json()["progress"]["done"].as_u64() > Some(0);
        assert!(Instant::now() < deadline, "job never finished");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    assert!(seen_progress, "b never saw the progress a's job reported");
    assert_eq!(
        done.json()["extensions"]["MMCP_motion"]["model"],
        "async-probe"
    );
    assert_eq!(a.get(&job).body, done.body);
    // GLB from either replica.
    let glb = b.raw(
        format!("GET {job} HTTP/1.1\r\nHost: x\r\nAccept: model/gltf-binary\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(&glb.body[..4], b"glTF");

    // Deleted through a while b runs it: gone for both, and b stops it
    // at its next renewal.
    let running = location(&b.post(&async_request("steps 40 250")));
    assert_eq!(a.request("DELETE", &running, b"").status, 204);
    a.get(&running).error(404, "not_found");
    b.get(&running).error(404, "not_found");
    let deadline = Instant::now() + Duration::from_secs_f64(LEASE + 2.0);
    while !b
        .stderr()
        .contains("job deleted through another replica; stopped")
    {
        assert!(
            Instant::now() < deadline,
            "b kept running the deleted job:\n{}",
            b.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // --max-jobs bounds the jobs of all replicas together.
    location(&a.post(&async_request("slow 2000")));
    location(&b.post(&async_request("slow 2000")));
    let full = a.post(&async_request("walk"));
    assert_eq!(
        full.error(503, "resource_exhausted")["details"]["max_jobs"],
        3
    );
    b.post(&async_request("walk"))
        .error(503, "resource_exhausted");
    // A delete anywhere frees room everywhere.
    assert_eq!(b.request("DELETE", &job, b"").status, 204);
    location(&a.post(&async_request("walk")));
}

#[test]
fn a_killed_replica_s_job_fails_within_the_lease() {
    let redis = Redis::start();
    let a = replica(&redis, 0, &[]);
    let b = replica(&redis, 0, &[]);
    let job = location(&a.post(&async_request("steps 40 250")));
    // Running, seen from b.
    assert_eq!(b.get(&job).status, 202);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &a.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let at = Instant::now();
    let failed = b.wait_job(&job, Duration::from_secs_f64(LEASE + 5.0));
    let took = at.elapsed();
    assert!(
        took <= Duration::from_secs_f64(LEASE + 1.0),
        "the lost job was reported after {took:?}, more than the lease ({LEASE} s) + 1 s"
    );
    let error = failed.error(500, "internal_error");
    assert_mentions(&error, "was lost before the job finished");
    assert_eq!(error["details"]["job_id"], job.rsplit('/').next().unwrap());
    // The failure is the job's answer from now on; b serves on.
    assert_eq!(b.get(&job).body, failed.body);
    let next = location(&b.post(&async_request("walk")));
    assert_eq!(b.wait_job(&next, Duration::from_secs(30)).status, 200);
}

#[test]
fn a_draining_replica_finishes_its_jobs_before_it_exits() {
    let redis = Redis::start();
    let a = replica(&redis, 0, &[]);
    let b = replica(&redis, 0, &[]);
    let job = location(&a.post(&async_request("steps 6 250")));
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(30)).success());
    let done = b.get(&job);
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));

    // One that outlasts the grace period fails at once, retryably, instead
    // of when its lease would have lapsed.
    let c = replica(&redis, 0, &["--shutdown-grace", "0.5", "--job-lease", "30"]);
    let job = location(&c.post(&async_request("steps 40 250")));
    c.sigterm();
    assert!(c.wait_exit(Duration::from_secs(30)).success());
    let cut = b.get(&job);
    let error = cut.error(503, "model_unavailable");
    assert_mentions(&error, "shut down before the job finished");
}

/// What the load's clients saw: every answer must be the protocol's.
#[derive(Default)]
struct Tally {
    generated: usize,
    jobs_done: Vec<(String, Vec<u8>)>,
    jobs_deleted: usize,
    envelopes: Vec<String>,
    broken: Vec<String>,
}

/// Sends one request through the balancer; an answer that is not HTTP, not
/// a success and not an MMCP envelope is a lost request.
fn through(
    balancer: &str,
    method: &str,
    path: &str,
    body: &[u8],
    tally: &Mutex<Tally>,
) -> Option<Answer> {
    match try_request(balancer, method, path, body) {
        Ok(a) if a.status < 300 => Some(a),
        Ok(a) => {
            let envelope: Option<Value> = serde_json::from_slice(&a.body).ok();
            match envelope.as_ref().and_then(|e| e["error"]["code"].as_str()) {
                Some(code) => tally
                    .lock()
                    .unwrap()
                    .envelopes
                    .push(format!("{} {code}", a.status)),
                None => tally.lock().unwrap().broken.push(format!(
                    "{method} {path}: {} {}",
                    a.status,
                    String::from_utf8_lossy(&a.body)
                )),
            }
            None
        }
        Err(e) => {
            tally
                .lock()
                .unwrap()
                .broken
                .push(format!("{method} {path}: {e}"));
            None
        }
    }
}

/// One client: alternately a plain generation and an async job polled to
/// its end (every fifth one deleted while it runs), until `stop`.
fn client(n: usize, balancer: String, stop: Arc<AtomicBool>, tally: Arc<Mutex<Tally>>) {
    let plain = valid().to_string();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        if i % 2 == 0 {
            if through(&balancer, "POST", "/generate", plain.as_bytes(), &tally).is_some() {
                tally.lock().unwrap().generated += 1;
            }
            continue;
        }
        let body = async_request(&format!("steps 4 {}", 50 + 25 * (n % 4))).to_string();
        let Some(a) = through(&balancer, "POST", "/generate", body.as_bytes(), &tally) else {
            continue;
        };
        let job = a.header("location").unwrap_or_default().to_owned();
        if i % 5 == 0 {
            if through(&balancer, "DELETE", &job, b"", &tally).is_some() {
                tally.lock().unwrap().jobs_deleted += 1;
            }
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match through(&balancer, "GET", &job, b"", &tally) {
                Some(a) if a.status == 200 => {
                    tally.lock().unwrap().jobs_done.push((job.clone(), a.body));
                    break;
                }
                Some(_) => std::thread::sleep(Duration::from_millis(50)),
                None => break,
            }
        }
    }
}

#[test]
fn a_minute_of_mixed_load_through_the_balancer_survives_a_rolling_restart() {
    let seconds: u64 = std::env::var("MMCP_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let redis = Redis::start();
    let a = replica(&redis, 0, &[]);
    let b = replica(&redis, 0, &[]);
    let (a_port, b_port) = (port(&a), port(&b));
    let balancer = Haproxy::start(&[a_port, b_port]);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let (addr, stop, tally) =
                (balancer.addr.clone(), Arc::clone(&stop), Arc::clone(&tally));
            std::thread::spawn(move || client(n, addr, stop, tally))
        })
        .collect();

    // Midway, replica a is restarted as a rollout would: SIGTERM (it
    // drains), then a new process on the same port.
    std::thread::sleep(Duration::from_secs(seconds / 2));
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(40)).success());
    let _a = replica(&redis, a_port, &[]);
    std::thread::sleep(Duration::from_secs(seconds - seconds / 2));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("a client thread panicked");
    }

    let tally = tally.lock().unwrap();
    assert!(
        tally.broken.is_empty(),
        "{} requests lost without an envelope: {:#?}",
        tally.broken.len(),
        tally.broken
    );
    assert!(
        tally.generated >= 10 && tally.jobs_done.len() >= 10,
        "too little load went through"
    );
    // Only retryable refusals (a draining replica's) are expected.
    for e in &tally.envelopes {
        assert!(e.starts_with("503 "), "unexpected refusal under load: {e}");
    }
    // No finished job was lost: each still answers, the same, from either
    // replica.
    for (job, body) in &tally.jobs_done {
        let again = try_request(&balancer.addr, "GET", job, b"").expect("the balancer answers");
        assert_eq!(
            again.status,
            200,
            "finished job {job} lost: {}",
            String::from_utf8_lossy(&again.body)
        );
        assert_eq!(&again.body, body);
    }
    eprintln!(
        "mixed load for {seconds} s: {} generations, {} jobs done, {} deleted, {} retryable refusals",
        tally.generated,
        tally.jobs_done.len(),
        tally.jobs_deleted,
        tally.envelopes.len()
    );
    drop(b);
}
