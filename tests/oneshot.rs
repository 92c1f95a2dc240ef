//! Progress reports (wit/progress.wit, decisions.md D13) and the one-shot
//! commands: `motionmcp-host generate` and `motionmcp-host capabilities`,
//! through the real binary. Progress is checked from every guest SDK (Rust,
//! Python, JavaScript), in async job polls and on the command line; the
//! command line's answers are read by the reference SDK's own parser and its
//! refusals compared with the server's envelopes.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// `motionmcp-host generate ARGS` (stdin from `stdin`), with the shared
/// compiled-component cache.
fn generate(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(host_binary())
        .arg("generate")
        .args(args)
        .arg("--cache-dir")
        .arg(shared_cache())
        .env("WGPU_BACKEND", "vulkan")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `progress D/T` lines a run printed, in order.
fn progress_lines(out: &Output) -> Vec<(u32, u32)> {
    stderr(out)
        .lines()
        .filter_map(|l| l.strip_prefix("progress "))
        .map(|l| {
            let (d, t) = l.split_once('/').unwrap();
            (d.parse().unwrap(), t.parse().unwrap())
        })
        .collect()
}

fn async_request(prompt: &str) -> Value {
    let mut body = probe_request(prompt);
    body["model"] = json!("async-probe");
    body
}

#[test]
fn d13_polls_of_a_running_job_report_increasing_progress() {
    let s = Server::start(&["async-probe"]);
    let submitted = s.post(&async_request("steps 8 250"));
    assert_eq!(submitted.status, 202);
    let location = submitted.header("location").unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let done = loop {
        let a = s.get(&location);
        if a.status != 202 {
            break a;
        }
        let body = a.json();
        assert_eq!(body["status"], "running");
        if let Some(p) = body.get("progress") {
            let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["done", "total"], "{p}");
            seen.push((p["done"].as_u64().unwrap(), p["total"].as_u64().unwrap()));
        }
        assert!(Instant::now() < deadline, "the job never finished");
        std::thread::sleep(Duration::from_millis(40));
    };
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    assert!(seen.iter().all(|&(d, t)| t == 8 && d <= 8), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress went backwards: {seen:?}"
    );
    let distinct = seen
        .iter()
        .map(|p| p.0)
        .collect::<std::collections::BTreeSet<_>>();
    assert!(
        distinct.len() >= 3,
        "too few distinct reports seen: {seen:?}"
    );
}

#[test]
fn generate_writes_a_glb_the_reference_parser_reads() {
    let dir = tempdir::Dir::new("oneshot-glb");
    let glb = dir.0.join("walk.glb");
    // Two one-second segments, two samples, seed 7.
    let walk = |to: &Path| {
        generate(
            &[
                path(&component("humanoid")),
                "--prompt",
                "walk forward",
                "--prompt",
                "turn left",
                "--seconds",
                "1",
                "--seed",
                "7",
                "--samples",
                "2",
                "-o",
                path(to),
            ],
            b"",
        )
    };
    let out = walk(&glb);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = r#"
import json, sys
from motionmcp.client.glb import glb_to_gltf
from motionmcp.client import gltf_parser
doc = glb_to_gltf(open(sys.argv[1], "rb").read())
samples = gltf_parser.parse_gltf_samples(doc)
print(json.dumps({"samples": len(samples), "frames": [s["num_frames"] for s in samples],
                  "fps": samples[0]["fps"], "model": doc["extensions"]["MMCP_motion"]["model"]}))
"#;
    let parsed = Command::new(venv_python())
        .args(["-c", script, path(&glb)])
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let summary: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    // Two one-second segments at the humanoid's 30 fps; two samples.
    assert_eq!(
        summary,
        json!({"samples": 2, "frames": [60, 60], "fps": 30.0, "model": "humanoid"})
    );

    // The same request and seed give the same bytes; JSON goes to stdout.
    let again = dir.0.join("again.glb");
    let out = walk(&again);
    assert!(out.status.success());
    assert_eq!(std::fs::read(&glb).unwrap(), std::fs::read(&again).unwrap());
    let out = generate(
        &[
            path(&component("humanoid")),
            "--prompt",
            "walk",
            "--seconds",
            "0.5",
            "-o",
            "-",
        ],
        b"",
    );
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["asset"]["version"], "2.0");
    assert_eq!(
        doc["extensions"]["MMCP_motion"]["samples"][0]["num_frames"],
        15
    );
}

#[test]
fn generate_refuses_as_the_server_does() {
    let s = Server::start(&["null"]);
    let mut long = valid();
    long["segments"][0]["duration_frames"] = json!(100_000);
    let mut samples = valid();
    samples["options"] = json!({"num_samples": 40});
    let cases = [
        (long, 400, "invalid_options"),
        (samples, 422, "schema_validation"),
        (with(json!({"model": "nobody"})), 400, "unknown_model"),
        (
            with(json!({"protocol_version": "2.0"})),
            400,
            "version_unsupported",
        ),
    ];
    for (body, status, code) in cases {
        let served = s.post(&body).error(status, code);
        let out = generate(
            &[path(&component("null")), "--request", "-", "-o", "-"],
            body.to_string().as_bytes(),
        );
        assert_eq!(out.status.code(), Some(1), "{body}");
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        let first = format!(
            "error: {status} {code}: {}",
            served["message"].as_str().unwrap()
        );
        assert!(err.contains(&first), "{first:?} not in {err}");
        if served["details"].as_object().is_some_and(|d| !d.is_empty()) {
            assert!(
                err.contains(&format!("details: {}", served["details"])),
                "{err}"
            );
        }
    }
    // A body that is not JSON is refused as the server refuses it; one with
    // a byte-order mark is read as the server reads it.
    let served = s
        .request("POST", "/generate", b"{")
        .error(422, "schema_validation");
    let out = generate(
        &[path(&component("null")), "--request", "-", "-o", "-"],
        b"{",
    );
    assert_eq!(out.status.code(), Some(1));
    let first = format!(
        "error: 422 schema_validation: {}",
        served["message"].as_str().unwrap()
    );
    assert!(stderr(&out).contains(&first), "{}", stderr(&out));
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend(valid().to_string().as_bytes());
    assert_eq!(s.request("POST", "/generate", &bom).status, 200);
    let out = generate(
        &[path(&component("null")), "--request", "-", "-o", "-"],
        &bom,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A batch body is for a server.
    let batch = json!({"protocol_version": "1.4", "requests": [valid()]});
    let out = generate(
        &[path(&component("null")), "--request", "-", "-o", "-"],
        batch.to_string().as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("batch"), "{}", stderr(&out));
    // Flags that do not fit.
    let out = generate(
        &[
            path(&component("null")),
            "--prompt",
            "a",
            "--prompt",
            "b",
            "--prompt",
            "c",
            "--seconds",
            "1",
            "--seconds",
            "2",
            "-o",
            "-",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("2 --seconds for 3 --prompt"),
        "{}",
        stderr(&out)
    );
    let out = generate(&[path(&component("null")), "-o", "-"], b"");
    assert!(stderr(&out).contains("--prompt TEXT"), "{}", stderr(&out));
}

#[test]
fn generate_shows_progress_from_every_sdk() {
    // Rust: the async probe reports each of its steps as it finishes.
    let out = generate(
        &[
            path(&component("async-probe")),
            "--prompt",
            "steps 5 300",
            "-o",
            "-",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = progress_lines(&out);
    assert_eq!(lines.last(), Some(&(5, 5)), "{lines:?}");
    assert!(lines.len() >= 3, "the bar saw too few steps: {lines:?}");
    assert!(lines.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 == 5));
    // Python and JavaScript: the SDKs' wrappers reach the host.
    for probe in ["probe-py", "probe-js"] {
        let out = generate(
            &[path(&component(probe)), "--prompt", "progress 3", "-o", "-"],
            b"",
        );
        assert!(out.status.success(), "{probe}: {}", stderr(&out));
        assert_eq!(progress_lines(&out).last(), Some(&(3, 3)), "{probe}");
    }
    // A model that reports nothing shows no bar.
    let out = generate(
        &[path(&component("null")), "--prompt", "walk", "-o", "-"],
        b"",
    );
    assert!(progress_lines(&out).is_empty());
    // --prompt and --request together are a usage error (clap's status 2).
    let out = generate(
        &[
            path(&component("null")),
            "--prompt",
            "walk",
            "--request",
            "-",
            "-o",
            "-",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn capabilities_prints_what_the_server_advertises() {
    let out = Command::new(host_binary())
        .args(["capabilities", path(&component("humanoid")), "--cache-dir"])
        .arg(shared_cache())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = Server::start(&["humanoid"]);
    assert_eq!(printed, s.get("/capabilities").json());
}
