//! Kimodo as a component (issue #16): one generation at the published size
//! on random weights, through the real server.
//!
//! `cargo bench -p motionmcp-host --bench kimodo -- [--steps K] [--frames T]
//!  [--samples B] [--guidance separated|regular|nocfg] [--width W] [--layers L]
//!  [--heads H] [--weights DIR]`
//!
//! Defaults: the published architecture (width 1024, 16 layers per stage,
//! 8 heads, feed-forward 2048), T = 300 (a 10-second clip), separated
//! guidance, one step (enough to print on lavapipe; `--steps 100` is the
//! real workload). The checkpoint folder is written once by the NumPy
//! reference's `kimodo.weights` (published names and layout, 1.13 GB at the
//! published size) under `target/kimodo-bench/`. Prints the server's set-up
//! time (weights to the adapter), the generation's wall time, seconds per
//! step, the step's FLOPs (counted from the architecture) and the achieved
//! GFLOP/s, and the 100-step generation that rate implies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod common;

use common::served::serve_with;
use serde_json::{json, Value};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

struct Config {
    steps: usize,
    frames: usize,
    samples: usize,
    guidance: String,
    width: usize,
    layers: usize,
    heads: usize,
    weights: Option<PathBuf>,
}

impl Config {
    fn parse() -> Config {
        let mut c = Config {
            steps: 1,
            frames: 300,
            samples: 1,
            guidance: "separated".into(),
            width: 1024,
            layers: 16,
            heads: 8,
            weights: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
            let number = |v: String| v.parse::<usize>().expect("a number");
            match arg.as_str() {
                "--steps" => c.steps = number(value()),
                "--frames" => c.frames = number(value()),
                "--samples" => c.samples = number(value()),
                "--guidance" => c.guidance = value(),
                "--width" => c.width = number(value()),
                "--layers" => c.layers = number(value()),
                "--heads" => c.heads = number(value()),
                "--weights" => c.weights = Some(value().into()),
                _ => {} // cargo's own (--bench)
            }
        }
        c.passes(); // an unknown guidance fails here, not after a generation
        c
    }

    fn passes(&self) -> usize {
        match self.guidance.as_str() {
            "nocfg" => 1,
            "regular" => 2,
            "separated" => 3,
            other => panic!("unknown guidance {other}"),
        }
    }

    /// FLOPs of one sampling step (multiply-adds count two): every pass of
    /// every sample through both stages. Per stage and row, with N = 52 + T
    /// tokens: the motion input and output projections, and per layer the
    /// packed QKV, the attention scores and their weighted sum (4·N²·W),
    /// the output projection and the feed-forward. The time MLP and the one
    /// text token are a few MFLOP and left out.
    fn step_flops(&self) -> f64 {
        let (t, w, ff) = (
            self.frames as f64,
            self.width as f64,
            2.0 * self.width as f64,
        );
        let n = t + 52.0;
        let layer = 2.0 * n * w * 3.0 * w + 4.0 * n * n * w + 2.0 * n * w * w + 4.0 * n * w * ff;
        let stage = |inputs: f64, outputs: f64| {
            2.0 * t * inputs * w + self.layers as f64 * layer + 2.0 * t * w * outputs
        };
        let rows = (self.samples * self.passes()) as f64;
        rows * (stage(738.0, 5.0) + stage(737.0, 364.0))
    }
}

/// The random checkpoint folder for this size, written once.
fn weights(c: &Config) -> PathBuf {
    if let Some(dir) = &c.weights {
        return dir.clone();
    }
    let dir = repo_root().join(format!(
        "target/kimodo-bench/w{}-l{}-h{}",
        c.width, c.layers, c.heads
    ));
    if !dir.join("model.safetensors").exists() {
        let python = repo_root().join("target/reference-venv/bin/python");
        assert!(
            python.exists(),
            "{} missing: run the tests once (they create it)",
            python.display()
        );
        eprintln!("writing a random checkpoint to {}", dir.display());
        let status = Command::new(python)
            .args(["-m", "kimodo.weights"])
            .arg(&dir)
            .args(["--width", &c.width.to_string()])
            .args(["--layers", &c.layers.to_string()])
            .args(["--heads", &c.heads.to_string()])
            .args(["--seed", "1"])
            .current_dir(repo_root().join("tests/python"))
            .status()
            .unwrap();
        assert!(status.success(), "kimodo.weights failed");
    }
    dir
}

/// One HTTP exchange on a fresh connection: (status, body).
fn exchange(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let status = String::from_utf8_lossy(&answer[9..12]).parse().unwrap();
    (status, answer[split + 4..].to_vec())
}

fn main() {
    let c = Config::parse();
    let wasm = repo_root().join("target/components/kimodo.wasm");
    assert!(
        wasm.exists(),
        "{} missing: run scripts/build-components.sh",
        wasm.display()
    );
    let folder = weights(&c);
    let cache = std::env::temp_dir().join(format!("mmcp-kimodo-bench-{}", std::process::id()));
    let started = Instant::now();
    let served = serve_with(
        &wasm,
        &cache,
        // A bench measures: no deadline, and no limit on one dispatch's
        // estimated time (a published-size matmul is ~19 s on lavapipe).
        &[
            "--weights",
            folder.to_str().unwrap(),
            "--timeout",
            "86400",
            "--gpu-max-dispatch-ms",
            "3600000",
        ],
    );
    let setup = started.elapsed().as_secs_f64();
    let (status, caps) = exchange(&served.1, "GET", "/capabilities", b"");
    assert_eq!(status, 200);
    let caps: Value = serde_json::from_slice(&caps).unwrap();
    let guidance = match c.guidance.as_str() {
        "nocfg" => json!({"type": "nocfg", "weight": []}),
        "regular" => json!({"type": "regular", "weight": [2.0]}),
        _ => json!({"type": "separated", "weight": [2.0, 2.0]}),
    };
    let request = json!({
        "protocol_version": "1.4",
        "model": "kimodo-soma-rp",
        "skeleton": caps["models"][0]["canonical_skeleton"],
        "segments": [{"type": "text", "prompt": "walk forward", "duration_frames": c.frames}],
        "options": {"seed": 1, "diffusion_steps": c.steps, "num_samples": c.samples,
                    "guidance": guidance, "post_processing": false},
    });
    let started = Instant::now();
    let (status, body) = exchange(
        &served.1,
        "POST",
        "/generate",
        &serde_json::to_vec(&request).unwrap(),
    );
    // Kimodo is an async model: a 202 names the job to poll.
    let (status, body) = if status == 202 {
        let answer: Value = serde_json::from_slice(&body).unwrap();
        let job = format!("/generate/jobs/{}", answer["job_id"].as_str().unwrap());
        loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let (status, body) = exchange(&served.1, "GET", &job, b"");
            if status != 202 {
                break (status, body);
            }
        }
    } else {
        (status, body)
    };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let per_step = seconds / c.steps as f64;
    let flops = c.step_flops();
    println!(
        "Kimodo, random weights: width {}, {} layers x 2 stages, {} heads, T = {}, {} sample(s), {} guidance ({} passes), {} step(s)",
        c.width, c.layers, c.heads, c.frames, c.samples, c.guidance, c.passes(), c.steps
    );
    println!(
        "| set-up (s) | generation (s) | s / step | GFLOP / step | GFLOP/s | 100 steps at this rate (s) |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {setup:.1} | {seconds:.2} | {per_step:.3} | {:.1} | {:.2} | {:.1} |",
        flops / 1e9,
        flops / per_step / 1e9,
        per_step * 100.0
    );
    let _ = std::fs::remove_dir_all(&cache);
}
