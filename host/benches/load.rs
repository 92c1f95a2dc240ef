//! Saturation load against MMCP servers, side by side.
//!
//! `cargo bench -p motionmcp-host --bench load -- [--seconds S] [--connections C]
//!  [--frames T] label=http://host:port[@pid] ...`
//!
//! Each target gets C keep-alive connections that POST the same null-model
//! request (T frames at 30 fps: 300 = a 10-second clip) back to back for S
//! seconds after a short warm-up. Prints one row per target: requests/s,
//! p50/p99 latency, errors, and the server's resident memory (start, end,
//! peak) when a pid is given; then each target's throughput and p99 against
//! the first one's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::body;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Target {
    label: String,
    addr: String,
    pid: Option<u32>,
}

struct Row {
    label: String,
    requests: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// Non-200 answers by status.
    statuses: std::collections::BTreeMap<u16, u64>,
    rss_mib: Option<(f64, f64, f64)>,
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// One request/answer on a keep-alive connection; returns the status.
async fn exchange(stream: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<u16> {
    stream.get_mut().write_all(request).await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            )
        })?;
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line).await?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(status)
}

async fn run(target: &Target, body: &[u8], connections: usize, seconds: f64) -> Row {
    let request = {
        let mut r = format!(
            "POST /generate HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            target.addr,
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        Arc::new(r)
    };
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let statuses = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (request, latencies, errors) = (request.clone(), latencies.clone(), errors.clone());
        let statuses = statuses.clone();
        let (recording, stop, addr) = (recording.clone(), stop.clone(), target.addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut conn: Option<BufReader<TcpStream>> = None;
            while !stop.load(Ordering::Relaxed) {
                if conn.is_none() {
                    match TcpStream::connect(&addr).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            conn = Some(BufReader::new(s));
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                }
                let started = Instant::now();
                let outcome = exchange(conn.as_mut().unwrap(), &request).await;
                let ms = started.elapsed().as_secs_f64() * 1e3;
                let counted = recording.load(Ordering::Relaxed);
                match outcome {
                    Ok(200) if counted => mine.push(ms),
                    Ok(200) => {}
                    Ok(status) => {
                        if counted {
                            errors.fetch_add(1, Ordering::Relaxed);
                            *statuses.lock().unwrap().entry(status).or_default() += 1;
                        }
                    }
                    Err(_) => {
                        if counted {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        conn = None;
                    }
                }
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    // Warm-up, then the measured window with memory samples every second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    recording.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut rss: Vec<f64> = target.pid.and_then(rss_mib).into_iter().collect();
    while started.elapsed().as_secs_f64() < seconds {
        tokio::time::sleep(Duration::from_secs(1).min(Duration::from_secs_f64(seconds))).await;
        rss.extend(target.pid.and_then(rss_mib));
    }
    recording.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let mut l = std::mem::take(&mut *latencies.lock().unwrap());
    let statuses = std::mem::take(&mut *statuses.lock().unwrap());
    l.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if l.is_empty() {
            f64::NAN
        } else {
            l[((l.len() - 1) as f64 * p).round() as usize]
        }
    };
    Row {
        label: target.label.clone(),
        requests: l.len() as u64,
        seconds: elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
        statuses,
        rss_mib: (!rss.is_empty()).then(|| {
            (
                rss[0],
                *rss.last().unwrap(),
                rss.iter().copied().fold(f64::MIN, f64::max),
            )
        }),
    }
}

fn main() {
    let mut seconds = 60.0;
    let mut connections = 32;
    let mut frames = 300;
    let mut targets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--seconds S")
            }
            "--connections" => {
                connections = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--connections C")
            }
            "--frames" => {
                frames = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--frames T")
            }
            "--bench" => {}
            spec => {
                let (label, rest) = spec
                    .split_once('=')
                    .expect("targets are label=http://host:port[@pid]");
                let rest = rest.trim_start_matches("http://");
                let (addr, pid) = match rest.split_once('@') {
                    Some((a, p)) => (a, p.parse().ok()),
                    None => (rest, None),
                };
                targets.push(Target {
                    label: label.into(),
                    addr: addr.trim_end_matches('/').into(),
                    pid,
                });
            }
        }
    }
    if targets.is_empty() {
        eprintln!("usage: load [--seconds S] [--connections C] [--frames T] label=http://host:port[@pid] ...");
        return;
    }
    let body = body(frames);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "load: {connections} connections, {seconds} s per target, POST /generate null model, {frames} frames ({} bytes)",
        body.len()
    );
    println!(
        "{:<12} {:>9} {:>10} {:>9} {:>9} {:>7} {:>24}",
        "target", "requests", "req/s", "p50 ms", "p99 ms", "errors", "RSS MiB start/end/peak"
    );
    let mut rows = Vec::new();
    for target in &targets {
        let row = runtime.block_on(run(target, &body, connections, seconds));
        let rss = row
            .rss_mib
            .map_or("-".to_string(), |(a, b, c)| format!("{a:.0}/{b:.0}/{c:.0}"));
        println!(
            "{:<12} {:>9} {:>10.1} {:>9.2} {:>9.2} {:>7} {:>24}",
            row.label,
            row.requests,
            row.requests as f64 / row.seconds,
            row.p50_ms,
            row.p99_ms,
            row.errors,
            rss
        );
        if !row.statuses.is_empty() {
            println!("{:<12} non-200 answers by status: {:?}", "", row.statuses);
        }
        rows.push(row);
    }
    if let Some((first, rest)) = rows.split_first() {
        for r in rest {
            println!(
                "{} vs {}: throughput x{:.1}, p99 1/{:.1}",
                first.label,
                r.label,
                (first.requests as f64 / first.seconds) / (r.requests as f64 / r.seconds).max(1e-9),
                r.p99_ms / first.p99_ms
            );
        }
    }
}
