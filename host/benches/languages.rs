//! The null backbone in each guest language, side by side: how long its
//! component takes to compile (cold, and loaded from the cache on a restart),
//! to instantiate and set up, and how fast the real server answers a
//! 10-second (300-frame) /generate with it.
//!
//! `cargo bench -p motionmcp-host --bench languages -- [--requests N]`
//! (components come from `scripts/build-components.sh`; run it first).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

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

struct Served(Child, String);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(wasm: &Path, cache: &Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_motionmcp-host"))
        .arg("serve")
        .arg(wasm)
        .args(["--addr", "127.0.0.1:0", "--cache-dir"])
        .arg(cache)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit('/').next().unwrap().to_owned();
    Served(child, addr)
}

/// Milliseconds per request, one keep-alive connection, after a warm-up.
fn latencies(addr: &str, body: &[u8], requests: usize) -> Vec<f64> {
    let mut stream = BufReader::new(TcpStream::connect(addr).unwrap());
    let mut request = format!(
        "POST /generate HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let mut out = Vec::with_capacity(requests);
    for i in 0..requests + 10 {
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
        if i >= 10 {
            out.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    out
}

fn main() {
    let mut requests = 200;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--requests" {
            requests = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--requests N");
        }
    }
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
