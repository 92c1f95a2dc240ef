//! Each guest language side by side. First the null backbone: how long its
//! component takes to compile (cold, and loaded from the cache on a restart),
//! to instantiate and set up, and how fast the real server answers a
//! 10-second (300-frame) /generate with it. Then the GPU tensor API: the
//! cost of one tiny op called from each language (the tensor probes' `bench
//! <n>`: n chained adds of 2x2 tensors, timed against `bench 0`), and one
//! generation of the demo denoiser written in each language.
//!
//! `cargo bench -p motionmcp-host --bench languages -- [--requests N] [--ops N]`
//! (components come from `scripts/build-components.sh`; run it first).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

mod common;
#[path = "../../tests/support/denoiser_weights.rs"]
mod denoiser_weights;

use common::served::{serve_with, Served};
use motionmcp_host::runtime::{ComponentCache, Limits, LoadReport, Origin, Runtime};

const NULLS: [(&str, &str); 3] = [
    ("Rust", "null"),
    ("Python", "null-py"),
    ("JavaScript", "null-js"),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Loads `wasm` in a fresh runtime over `cache`.
fn load(cache: &Path, wasm: &Path) -> LoadReport {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let runtime = Runtime::new(
            ComponentCache::new(Some(cache.to_owned())),
            Limits::default(),
            1,
        )
        .unwrap();
        runtime.load(wasm).await.unwrap().load_report()
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn serve(wasm: &Path, cache: &Path) -> Served {
    serve_with(wasm, cache, &[])
}

/// Milliseconds per request, one keep-alive connection, after a warm-up.
fn latencies(addr: &str, body: &[u8], requests: usize) -> Vec<f64> {
    timed(addr, body, 10, requests)
}

/// Milliseconds of each of `requests` POSTs of `body` after `warmup` more.
fn timed(addr: &str, body: &[u8], warmup: usize, requests: usize) -> Vec<f64> {
    let mut stream = BufReader::new(TcpStream::connect(addr).unwrap());
    let mut request = format!(
        "POST /generate HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let mut out = Vec::with_capacity(requests);
    for i in 0..requests + warmup {
        let started = Instant::now();
        stream.get_mut().write_all(&request).unwrap();
        let mut length = 0;
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        assert!(line.contains(" 200 "), "{line}");
        loop {
            line.clear();
            stream.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut answer = vec![0; length];
        stream.read_exact(&mut answer).unwrap();
        if i >= warmup {
            out.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    out
}

fn main() {
    let mut requests = 200;
    let mut ops = 2000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok());
        match arg.as_str() {
            "--requests" => requests = value().expect("--requests N"),
            "--ops" => ops = value().expect("--ops N"),
            _ => {}
        }
    }
    nulls(requests);
    tensors(ops);
}

fn component(name: &str) -> PathBuf {
    let wasm = repo_root()
        .join("target/components")
        .join(format!("{name}.wasm"));
    assert!(
        wasm.exists(),
        "{} missing: run scripts/build-components.sh",
        wasm.display()
    );
    wasm
}

/// A request body for `model` (one-joint or the null skeleton) with one
/// text segment.
fn request(model: &str, prompt: &str, frames: u32, options: serde_json::Value) -> Vec<u8> {
    let skeleton = if model.starts_with("tensor-probe") {
        serde_json::json!({"joints": [{"name": "Hips", "parent": null, "rest_translation": [0, 0.95, 0], "rest_rotation": [0, 0, 0, 1]}]})
    } else {
        let joint = |name: &str, parent: serde_json::Value, t: [f64; 3]| serde_json::json!({"name": name, "parent": parent, "rest_translation": t, "rest_rotation": [0, 0, 0, 1]});
        serde_json::json!({"joints": [
            joint("Hips", serde_json::Value::Null, [0.0, 0.95, 0.0]),
            joint("Spine", "Hips".into(), [0.0, 0.5, 0.0]),
            joint("Head", "Spine".into(), [0.0, 0.3, 0.0]),
            joint("LeftFoot", "Hips".into(), [0.1, -0.95, 0.0]),
            joint("RightFoot", "Hips".into(), [-0.1, -0.95, 0.0]),
        ]})
    };
    serde_json::to_vec(&serde_json::json!({
        "protocol_version": "1.4",
        "model": model,
        "skeleton": skeleton,
        "segments": [{"type": "text", "prompt": prompt, "duration_frames": frames}],
        "options": options,
    }))
    .unwrap()
}

/// The tensor API from each language: microseconds per tiny op, and one
/// denoiser generation (2 s at 30 fps, 10 DDIM steps, regular guidance).
fn tensors(ops: usize) {
    let weights = std::env::temp_dir().join(format!("mmcp-bench-weights-{}", std::process::id()));
    std::fs::create_dir_all(&weights).unwrap();
    denoiser_weights::write_weights(&weights, 1, denoiser_weights::Dtype::F32);
    let grant = weights.to_str().unwrap().to_owned();
    println!();
    println!("GPU tensor API by language: one call that records no GPU work (reshape; {} calls), one tiny op run on the adapter (2x2 add; {ops} ops), each the median of 5 requests less a request of none; one denoiser generation (60 frames, 10 steps; median of 3)", ops * 10);
    println!(
        "{:<11} {:>12} {:>12} {:>16}",
        "language", "us per call", "us per op", "denoiser ms"
    );
    let rows = [
        ("Rust", "tensor-probe", "denoiser", "tiny-denoiser"),
        (
            "Python",
            "tensor-probe-py",
            "denoiser-py",
            "tiny-denoiser-py",
        ),
        (
            "JavaScript",
            "tensor-probe-js",
            "denoiser-js",
            "tiny-denoiser-js",
        ),
    ];
    for (language, probe, denoiser, id) in rows {
        let cache = std::env::temp_dir().join(format!("mmcp-bench-{probe}-{}", std::process::id()));
        let served = serve(&component(probe), &cache);
        let none = median(timed(
            &served.1,
            &request(probe, "bench 0", 2, serde_json::json!({})),
            3,
            5,
        ));
        let many = median(timed(
            &served.1,
            &request(probe, &format!("bench {ops}"), 2, serde_json::json!({})),
            1,
            5,
        ));
        let per_op_us = (many - none) * 1e3 / ops as f64;
        let calls = median(timed(
            &served.1,
            &request(
                probe,
                &format!("bench-call {}", ops * 10),
                2,
                serde_json::json!({}),
            ),
            1,
            5,
        ));
        let per_call_us = (calls - none) * 1e3 / (ops * 10) as f64;
        drop(served);
        let served = serve_with(
            &component(denoiser),
            &cache,
            &["--weights", &grant, "--timeout", "600"],
        );
        let body = request(
            id,
            "a person walks",
            60,
            serde_json::json!({"seed": 1, "diffusion_steps": 10}),
        );
        let generation = median(timed(&served.1, &body, 1, 3));
        drop(served);
        println!("{language:<11} {per_call_us:>12.2} {per_op_us:>12.2} {generation:>16.1}");
        let _ = std::fs::remove_dir_all(&cache);
    }
    let _ = std::fs::remove_dir_all(&weights);
}

/// The null backbones: compile, instantiate, set up, serve.
fn nulls(requests: usize) {
    let body = common::body(300);
    println!("null backbone by language: compile, instantiate, and POST /generate of 300 frames ({requests} requests, one connection)");
    println!(
        "{:<11} {:>9} {:>11} {:>11} {:>13} {:>9} {:>11} {:>11}",
        "language",
        "wasm MiB",
        "cold ms",
        "cached ms",
        "instantiate",
        "setup ms",
        "p50 ms",
        "p99 ms"
    );
    for (language, name) in NULLS {
        let wasm = repo_root()
            .join("target/components")
            .join(format!("{name}.wasm"));
        assert!(
            wasm.exists(),
            "{} missing: run scripts/build-components.sh",
            wasm.display()
        );
        let cache = std::env::temp_dir().join(format!("mmcp-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let cold = load(&cache, &wasm);
        assert_eq!(cold.origin, Origin::Compiled);
        let warm: Vec<LoadReport> = (0..5).map(|_| load(&cache, &wasm)).collect();
        assert!(warm.iter().all(|r| r.origin == Origin::Cache));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let cached = median(warm.iter().map(|r| ms(r.compile)).collect());
        let instantiate = median(warm.iter().map(|r| ms(r.instantiate)).collect());
        let setup = median(warm.iter().map(|r| ms(r.setup)).collect());
        let served = serve(&wasm, &cache);
        let mut lat = latencies(&served.1, &body, requests);
        drop(served);
        lat.sort_by(f64::total_cmp);
        let size = std::fs::metadata(&wasm).unwrap().len() as f64 / (1 << 20) as f64;
        println!(
            "{language:<11} {size:>9.1} {:>11.0} {cached:>11.1} {instantiate:>10.2} ms {setup:>9.2} {:>11.3} {:>11.3}",
            ms(cold.compile),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        );
        let _ = std::fs::remove_dir_all(&cache);
    }
}
