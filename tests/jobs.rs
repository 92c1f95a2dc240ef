//! Async jobs (mmcp.md §10.1, decisions.md D10) through the real binary: a
//! model that advertises `supports_async` answers `202` with a job to poll;
//! polls answer `202` while it runs, then its glTF (JSON or GLB) or its error
//! envelope; `DELETE` forgets it; finished jobs expire after the retention
//! time, and the job table is bounded. Every test runs twice: with jobs in
//! the server's memory (the default) and in Redis (`--job-store redis://`,
//! a throwaway Debian `redis-server` per test).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::services::Redis;
use support::*;

/// Where the server under test keeps its jobs.
enum Store {
    Memory,
    Redis(Redis),
}

impl Store {
    fn serve(&self, models: &[&str], extra: &[&str]) -> Server {
        let paths: Vec<PathBuf> = models.iter().map(|m| component(m)).collect();
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if let Store::Redis(redis) = self {
            args.extend(["--job-store".into(), redis.url()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start_paths(&paths, &args)
    }
}

/// Each named test, once per store: `memory::name` and `redis::name`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[test] fn $name() { super::$name(&super::Store::Memory) })*
        }
        mod redis {
            $(#[test] fn $name() { super::$name(&super::Store::Redis(super::Redis::start())) })*
        }
    };
}

on_both_stores!(
    d10_an_async_model_answers_202_and_the_job_is_polled_to_its_gltf,
    d10_validation_is_immediate_and_a_failed_job_keeps_its_envelope,
    d10_a_deleted_job_is_gone_and_the_model_serves_on,
    d10_unknown_jobs_and_other_methods,
    d10_the_job_table_is_bounded_and_finished_jobs_expire,
    d10_each_client_sees_only_its_own_jobs_and_holds_at_most_its_share,
);

fn async_request(prompt: &str) -> Value {
    let mut body = probe_request(prompt);
    body["model"] = json!("async-probe");
    body
}

/// The job path from a `202`, after checking the `202`'s shape.
fn accepted(a: &Answer) -> String {
    assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("retry-after"), Some("1"));
    let location = a.header("location").expect("Location").to_owned();
    let body = a.json();
    let id = body["job_id"].as_str().unwrap();
    assert_eq!(location, format!("/generate/jobs/{id}"));
    assert_eq!(a.header("x-job-id"), Some(id));
    location
}

fn get_accepting(s: &Server, path: &str, accept: &str) -> Answer {
    s.raw(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// Polls until the job is no longer running.
fn wait(s: &Server, location: &str) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = s.get(location);
        if a.status != 202 {
            return a;
        }
        accepted(&a);
        assert!(Instant::now() < deadline, "job never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn d10_an_async_model_answers_202_and_the_job_is_polled_to_its_gltf(store: &Store) {
    let s = store.serve(&["async-probe", "null"], &[]);
    let caps = s.get("/capabilities").json();
    assert_eq!(caps["models"][0]["supports_async"], true);
    assert_eq!(caps["models"][1]["supports_async"], false);

    let a = s.post(&async_request("slow 400"));
    let location = accepted(&a);
    let submitted = a.json()["submitted_at"].as_str().unwrap().to_owned();
    assert!(
        submitted.len() == 20 && submitted.ends_with('Z') && submitted.as_bytes()[10] == b'T',
        "not RFC 3339: {submitted}"
    );
    // Still running right after submission.
    accepted(&s.get(&location));

    let done = wait(&s, &location);
    assert_eq!(done.status, 200);
    assert_eq!(done.header("content-type"), Some("model/gltf+json"));
    let doc = done.json();
    assert_eq!(doc["extensions"]["MMCP_motion"]["model"], "async-probe");
    // The answer stays for later polls, in either format.
    assert_eq!(s.get(&location).body, done.body);
    let glb = get_accepting(&s, &location, "model/gltf-binary");
    assert_eq!(glb.status, 200);
    assert_eq!(glb.header("content-type"), Some("model/gltf-binary"));
    assert_eq!(&glb.body[..4], b"glTF");

    // C9: a model without supports_async never answers 202.
    assert_eq!(s.post(&valid()).status, 200);
}

fn d10_validation_is_immediate_and_a_failed_job_keeps_its_envelope(store: &Store) {
    let s = store.serve(&["async-probe"], &[]);
    let mut bad = async_request("walk");
    bad["constraints"] = json!([{"type": "effector_target", "joint": "Tail", "frames": [0], "positions": [[0, 0, 0]]}]);
    s.post(&bad).error(400, "unknown_joint");
    s.post(&json!({"protocol_version": "1.4"}))
        .error(422, "schema_validation");

    let location = accepted(&s.post(&async_request("raise invalid_options")));
    let error = wait(&s, &location).error(400, "invalid_options");
    assert_mentions(&error, "raised by the async probe");
    let location = accepted(&s.post(&async_request("raise model_unavailable")));
    let failed = wait(&s, &location);
    failed.error(503, "model_unavailable");
    assert_eq!(failed.header("retry-after"), Some("1"));
}

fn d10_a_deleted_job_is_gone_and_the_model_serves_on(store: &Store) {
    let s = store.serve(&["async-probe"], &[]);
    let location = accepted(&s.post(&async_request("slow 1500")));
    let deleted = s.request("DELETE", &location, b"");
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    s.get(&location).error(404, "not_found");
    s.request("DELETE", &location, b"").error(404, "not_found");
    // The cancelled call's instance comes back; new jobs complete.
    let location = accepted(&s.post(&async_request("walk")));
    assert_eq!(wait(&s, &location).status, 200);
}

fn d10_unknown_jobs_and_other_methods(store: &Store) {
    let s = store.serve(&["async-probe"], &[]);
    let error = s.get("/generate/jobs/nope").error(404, "not_found");
    assert_eq!(error["details"]["job_id"], "nope");
    let a = s.request("PUT", "/generate/jobs/nope", b"");
    a.error(405, "method_not_allowed");
    assert_eq!(a.header("allow"), Some("GET, DELETE"));
}

fn d10_the_job_table_is_bounded_and_finished_jobs_expire(store: &Store) {
    let s = store.serve(
        &["async-probe"],
        &["--max-jobs", "2", "--job-retention", "1"],
    );
    let first = accepted(&s.post(&async_request("slow 300")));
    let second = accepted(&s.post(&async_request("slow 300")));
    let full = s.post(&async_request("walk"));
    let error = full.error(503, "resource_exhausted");
    assert_eq!(error["details"]["max_jobs"], 2);
    assert_eq!(full.header("retry-after"), Some("1"));
    assert_eq!(wait(&s, &first).status, 200);
    assert_eq!(wait(&s, &second).status, 200);
    // Past the retention time the answers are gone and the table has room.
    std::thread::sleep(Duration::from_millis(1300));
    s.get(&first).error(404, "not_found");
    let third = accepted(&s.post(&async_request("walk")));
    assert_eq!(wait(&s, &third).status, 200);
}

fn d10_each_client_sees_only_its_own_jobs_and_holds_at_most_its_share(store: &Store) {
    const ALICE: &str = "alice-5f1c9e2ab7d04c3e";
    const BOB: &str = "bob-93d8a0c61e7f42b5";
    let dir = tempdir::Dir::new("tokens-jobs");
    let file = write_tokens(&dir.0, &format!("alice:{ALICE}\nbob:{BOB}\n"));
    let s = store.serve(
        &["async-probe"],
        &["--auth-tokens", &file, "--max-jobs-per-client", "2"],
    );
    let body = async_request("slow 300").to_string();
    let submit = |token| call(&s, "POST", "/generate", Some(token), &body);
    let job = accepted(&submit(ALICE));
    // To another client the job is unknown: it can neither read nor delete it.
    call(&s, "GET", &job, Some(BOB), "").error(404, "not_found");
    call(&s, "DELETE", &job, Some(BOB), "").error(404, "not_found");
    accepted(&submit(ALICE));
    // Finished or not, jobs count until fetched or deleted: alice is at her
    // most...
    let a = submit(ALICE);
    let e = a.error(503, "resource_exhausted");
    assert_eq!(e["details"]["max_jobs_per_client"], 2);
    assert_mentions(&e, "alice");
    // ...and bob is not affected.
    accepted(&submit(BOB));
    // Alice's own job finishes for her, and a delete gives her room again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while call(&s, "GET", &job, Some(ALICE), "").status == 202 {
        assert!(Instant::now() < deadline, "alice's job never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(call(&s, "GET", &job, Some(ALICE), "").status, 200);
    assert_eq!(call(&s, "DELETE", &job, Some(ALICE), "").status, 204);
    accepted(&submit(ALICE));
}

#[test]
fn redis_keeps_finished_jobs_across_a_restart_until_their_retention_ends() {
    let store = Store::Redis(Redis::start());
    let flags = ["--job-retention", "3"];
    let s = store.serve(&["async-probe"], &flags);
    let location = accepted(&s.post(&async_request("walk")));
    let done = wait(&s, &location);
    assert_eq!(done.status, 200);
    s.terminate();
    // A new process (a restarted replica) answers from the store.
    let s = store.serve(&["async-probe"], &flags);
    assert_eq!(s.get(&location).body, done.body);
    let Store::Redis(redis) = &store else {
        unreachable!()
    };
    let id = location.rsplit('/').next().unwrap();
    let key = format!("mmcp:job:{id}");
    assert_eq!(redis.command(&["EXISTS", &key]), ":1\r\n");
    // The retention is the key's expiry: Redis forgets it by itself.
    let deadline = Instant::now() + Duration::from_secs(6);
    while redis.command(&["EXISTS", &key]) != ":0\r\n" {
        assert!(Instant::now() < deadline, "the job's key never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.get(&location).error(404, "not_found");
}

#[test]
fn redis_unreachable_refuses_the_start_and_a_lost_redis_answers_a_retryable_503() {
    // Nothing listens on the port: the server does not start, and says why.
    let out = std::process::Command::new(host_binary())
        .arg("serve")
        .arg(component("async-probe"))
        .args(["--addr", "127.0.0.1:0", "--job-store"])
        .arg(format!("redis://127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach the job store"), "{stderr}");

    // Redis gone after the start: job requests get a retryable envelope
    // naming the store; plain generations are unaffected.
    let store = Store::Redis(Redis::start());
    let s = store.serve(&["async-probe", "null"], &[]);
    let location = accepted(&s.post(&async_request("walk")));
    drop(store);
    let a = s.get(&location);
    let error = a.error(503, "model_unavailable");
    assert_mentions(&error, "job store");
    assert_eq!(a.header("retry-after"), Some("1"));
    s.post(&async_request("walk"))
        .error(503, "model_unavailable");
    assert_eq!(s.post(&valid()).status, 200);
}
