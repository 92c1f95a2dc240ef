//! Tensor API throughput: each op on the GPU adapter and in the CPU
//! reference, then one Kimodo-shaped denoiser step (d 1024, 8 heads, GELU
//! feed-forward 4096, 300 frames, batch 3 for separated guidance).
//!
//! `cargo bench -p motionmcp-gpu --bench tensor` prints a table (and first,
//! the host's cost per recorded op). On a
//! software adapter (lavapipe) the sizes shrink and the step runs one block
//! (extrapolated to 32 blocks); `TENSOR_BENCH_FULL=1` forces full sizes.

use std::time::Instant;

use motionmcp_gpu::reference::{self as cpu, Array};
use motionmcp_gpu::{BinaryOp, DType, Gpu, GpuChoice, Quota, Session, Tensor, UnaryOp};

/// Median seconds of `reps` runs of `f`, after one warm-up run.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[t.len() / 2]
}

/// Seconds per run of `op`, recorded `reps` times back to back and synced
/// once (how a sampling loop uses the GPU).
fn gpu_time(s: &mut Session, reps: usize, mut op: impl FnMut(&mut Session) -> Tensor) -> f64 {
    let warm = op(s);
    s.finish().unwrap();
    s.release(warm);
    let start = Instant::now();
    for _ in 0..reps {
        let t = op(s);
        s.release(t);
    }
    s.finish().unwrap();
    start.elapsed().as_secs_f64() / reps as f64
}

fn rand(shape: &[usize], seed: u64) -> Array {
    Array::new(cpu::rand(shape.iter().product(), seed), shape)
}

struct Row {
    op: String,
    size: String,
    gpu_s: f64,
    cpu_s: Option<f64>,
    /// FLOPs (rate in GFLOP/s) or bytes moved (rate in GB/s).
    work: f64,
    unit: &'static str,
}

fn print(rows: &[Row]) {
    println!(
        "{:<12} {:<22} {:>11} {:>12} {:>11} {:>12}",
        "op", "size", "gpu ms", "gpu rate", "cpu ms", "cpu rate"
    );
    for r in rows {
        let rate = |s: f64| format!("{:.2} {}", r.work / s / 1e9, r.unit);
        let (cpu_ms, cpu_rate) = match r.cpu_s {
            Some(s) => (format!("{:.3}", s * 1e3), rate(s)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<12} {:<22} {:>11.3} {:>12} {:>11} {:>12}",
            r.op,
            r.size,
            r.gpu_s * 1e3,
            rate(r.gpu_s),
            cpu_ms,
            cpu_rate
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let gpu = Gpu::open(GpuChoice::Auto).expect("a GPU adapter");
    gpu.warm_up();
    let software = gpu.describe().is_software();
    let full = std::env::var("TENSOR_BENCH_FULL").is_ok_and(|v| v == "1") || !software;
    println!("adapter: {}", gpu.describe());
    let mut s = Session::new(gpu, Quota::new(u64::MAX));
    host_cost_per_op(&mut s);
    if std::env::var("TENSOR_BENCH_HOST_ONLY").is_ok_and(|v| v == "1") {
        return;
    }
    let mut rows = Vec::new();
    // The CPU reference is naive f64: only the smaller sizes are timed on it.
    let cpu_limit = 3e8;

    let squares: &[usize] = if full {
        &[256, 1024, 2048, 4096]
    } else {
        &[128, 256, 512]
    };
    for &n in squares {
        let (a, b) = (rand(&[n, n], 1), rand(&[n, n], 2));
        let (ta, tb) = (
            s.from_f32(&a.data, &a.shape).unwrap(),
            s.from_f32(&b.data, &b.shape).unwrap(),
        );
        let flops = 2.0 * (n * n * n) as f64;
        let reps = if full { 20 } else { 3 };
        let g = gpu_time(&mut s, reps, |s| s.matmul(&ta, &tb).unwrap());
        let c = (flops < cpu_limit).then(|| time(1, || drop(cpu::matmul(&a, &b))));
        rows.push(Row {
            op: "matmul".into(),
            size: format!("{n}x{n}x{n}"),
            gpu_s: g,
            cpu_s: c,
            work: flops,
            unit: "GFLOP/s",
        });
    }

    // nn.Linear at the denoiser's widths: 900 tokens (300 frames x 3).
    let tokens = if full { 900 } else { 96 };
    for (inp, out) in [(1024, 3072), (1024, 4096), (4096, 1024)] {
        let (x, w, b) = (
            rand(&[tokens, inp], 3),
            rand(&[out, inp], 4),
            rand(&[out], 5),
        );
        let (tx, tw, tbias) = (
            s.from_f32(&x.data, &x.shape).unwrap(),
            s.from_f32(&w.data, &w.shape).unwrap(),
            s.from_f32(&b.data, &b.shape).unwrap(),
        );
        let flops = 2.0 * (tokens * inp * out) as f64;
        let g = gpu_time(&mut s, if full { 20 } else { 2 }, |s| {
            s.linear(&tx, &tw, Some(&tbias)).unwrap()
        });
        let c = (flops < cpu_limit).then(|| time(1, || drop(cpu::linear(&x, &w, Some(&b)))));
        rows.push(Row {
            op: "linear".into(),
            size: format!("{tokens}x{inp}->{out}"),
            gpu_s: g,
            cpu_s: c,
            work: flops,
            unit: "GFLOP/s",
        });
        // The same with the weights stored as f16 (half the bytes to read).
        let (hw, hb) = (
            s.cast(&tw, DType::F16).unwrap(),
            s.cast(&tbias, DType::F16).unwrap(),
        );
        let g = gpu_time(&mut s, if full { 20 } else { 2 }, |s| {
            s.linear(&tx, &hw, Some(&hb)).unwrap()
        });
        rows.push(Row {
            op: "linear f16 w".into(),
            size: format!("{tokens}x{inp}->{out}"),
            gpu_s: g,
            cpu_s: None,
            work: flops,
            unit: "GFLOP/s",
        });
    }

    // Attention over frames: batch 3, 8 heads, 300 frames, head dim 128.
    let frames = if full { 300 } else { 60 };
    let shape = [3, 8, frames, 128];
    let (q, k, v) = (rand(&shape, 6), rand(&shape, 7), rand(&shape, 8));
    let (tq, tk, tv) = (
        s.from_f32(&q.data, &shape).unwrap(),
        s.from_f32(&k.data, &shape).unwrap(),
        s.from_f32(&v.data, &shape).unwrap(),
    );
    let flops = 4.0 * (3 * 8 * frames * frames * 128) as f64;
    let g = gpu_time(&mut s, if full { 20 } else { 2 }, |s| {
        s.attention(&tq, &tk, &tv, None, None).unwrap()
    });
    let c = (flops < cpu_limit).then(|| time(1, || drop(cpu::attention(&q, &k, &v, None, None))));
    rows.push(Row {
        op: "attention".into(),
        size: format!("3x8x{frames}x128"),
        gpu_s: g,
        cpu_s: c,
        work: flops,
        unit: "GFLOP/s",
    });

    // Kimodo's attention shape (52 prefix tokens + 300 frames) with the
    // padded key mask issue #15 names: a [3, 1, 1, 352] keep-mask over the
    // keys (the last eighth is padding), default scale. (The "attention"
    // rows above are the unmasked call.)
    let frames = if full { 352 } else { 120 };
    let shape = [3, 8, frames, 128];
    let (q, k, v) = (rand(&shape, 16), rand(&shape, 17), rand(&shape, 18));
    let (tq, tk, tv) = (
        s.from_f32(&q.data, &shape).unwrap(),
        s.from_f32(&k.data, &shape).unwrap(),
        s.from_f32(&v.data, &shape).unwrap(),
    );
    let valid = frames - frames / 8;
    let keep: Vec<bool> = (0..3 * frames).map(|j| j % frames < valid).collect();
    let bits: Vec<u32> = keep.iter().map(|&k| k as u32).collect();
    let tm = s.from_u32(&bits, &[3, 1, 1, frames]).unwrap();
    let flops = 4.0 * (3 * 8 * frames * frames * 128) as f64;
    let g = gpu_time(&mut s, if full { 20 } else { 2 }, |s| {
        s.attention(&tq, &tk, &tv, Some(&tm), None).unwrap()
    });
    let c = (flops < cpu_limit).then(|| {
        time(1, || {
            let mask = cpu::Mask::Keep(&keep, &[3, 1, 1, frames]);
            drop(cpu::attention(&q, &k, &v, Some(mask), None))
        })
    });
    rows.push(Row {
        op: "attention km".into(),
        size: format!("3x8x{frames}x128 mask"),
        gpu_s: g,
        cpu_s: c,
        work: flops,
        unit: "GFLOP/s",
    });

    // Memory-bound ops, in GB/s of tensor traffic.
    let n = if full { 900 * 4096 } else { 96 * 1024 };
    let x = rand(&[n / 1024, 1024], 9);
    let tx = s.from_f32(&x.data, &x.shape).unwrap();
    let bytes = (n * 8) as f64;
    let reps = if full { 50 } else { 5 };
    let g = gpu_time(&mut s, reps, |s| s.unary(&tx, UnaryOp::Gelu).unwrap());
    let c = time(1, || drop(cpu::unary(&x, UnaryOp::Gelu)));
    rows.push(Row {
        op: "gelu".into(),
        size: format!("{n}"),
        gpu_s: g,
        cpu_s: Some(c),
        work: bytes,
        unit: "GB/s",
    });
    let g = gpu_time(&mut s, reps, |s| s.binary(&tx, &tx, BinaryOp::Add).unwrap());
    let c = time(1, || drop(cpu::binary(&x, &x, BinaryOp::Add)));
    rows.push(Row {
        op: "add".into(),
        size: format!("{n}"),
        gpu_s: g,
        cpu_s: Some(c),
        work: bytes * 1.5,
        unit: "GB/s",
    });
    let g = gpu_time(&mut s, reps, |s| {
        s.layer_norm(&tx, None, None, 1e-5).unwrap()
    });
    let c = time(1, || drop(cpu::layer_norm(&x, None, None, 1e-5)));
    rows.push(Row {
        op: "layer_norm".into(),
        size: format!("{}x1024", n / 1024),
        gpu_s: g,
        cpu_s: Some(c),
        work: bytes,
        unit: "GB/s",
    });
    let g = gpu_time(&mut s, reps, |s| s.softmax(&tx).unwrap());
    let c = time(1, || drop(cpu::softmax(&x)));
    rows.push(Row {
        op: "softmax".into(),
        size: format!("{}x1024", n / 1024),
        gpu_s: g,
        cpu_s: Some(c),
        work: bytes,
        unit: "GB/s",
    });

    print(&rows);
    kimodo_step(&mut s, full);
}

/// The host's cost of recording one op (validation, buffers, parameters,
/// bind group, encoding), with 4-element tensors so the GPU does nothing:
/// median microseconds per op over rounds of 200 ops of each kind (fewer
/// than a submission holds, so no round waits for the GPU; each round is
/// then submitted and finished outside the timing).
fn host_cost_per_op(s: &mut Session) {
    const OPS: usize = 200;
    let a = s.full(&[4], 1.0).unwrap();
    let b = s.full(&[4], 2.0).unwrap();
    println!("host cost per recorded op (4-element tensors, {OPS} ops a round, median of 20):");
    type Op = fn(&mut Session, &Tensor, &Tensor) -> Tensor;
    let kinds: [(&str, Op); 3] = [
        ("add", |s, a, b| s.binary(a, b, BinaryOp::Add).unwrap()),
        ("exp", |s, a, _| s.unary(a, UnaryOp::Exp).unwrap()),
        ("matmul 2x2", |s, a, b| {
            let (x, y) = (
                s.reshape(a, &[2, 2]).unwrap(),
                s.reshape(b, &[2, 2]).unwrap(),
            );
            s.matmul(&x, &y).unwrap()
        }),
    ];
    for (name, op) in kinds {
        let mut rounds: Vec<f64> = (0..21)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..OPS {
                    let t = op(s, &a, &b);
                    s.release(t);
                }
                let recorded = start.elapsed().as_secs_f64();
                s.finish().unwrap();
                recorded
            })
            .skip(1)
            .collect();
        rounds.sort_by(|x, y| x.partial_cmp(y).unwrap());
        println!(
            "  {:<12} {:>8.2} us/op",
            name,
            rounds[10] / OPS as f64 * 1e6
        );
    }
    s.release(a);
    s.release(b);
}

/// One denoiser step at Kimodo's shapes: 2 stages x 16 pre-norm blocks over
/// 300 frame tokens, batch 3, plus the input and output projections.
fn kimodo_step(s: &mut Session, full: bool) {
    let (batch, frames, d, heads, ff) = (3usize, 300usize, 1024usize, 8usize, 4096usize);
    let blocks_total = 32;
    let blocks = if full { blocks_total } else { 1 };
    let w = |s: &mut Session, shape: &[usize], seed| {
        let t = s.random(shape, seed, true).unwrap();
        s.scale(&t, 0.02, 0.0).unwrap()
    };
    let params: Vec<[Tensor; 8]> = (0..blocks as u64)
        .map(|i| {
            [
                w(s, &[3 * d, d], 10 * i),
                w(s, &[3 * d], 10 * i + 1),
                w(s, &[d, d], 10 * i + 2),
                w(s, &[d], 10 * i + 3),
                w(s, &[ff, d], 10 * i + 4),
                w(s, &[ff], 10 * i + 5),
                w(s, &[d, ff], 10 * i + 6),
                w(s, &[d], 10 * i + 7),
            ]
        })
        .collect();
    let x = s.random(&[batch, frames, d], 99, true).unwrap();
    let step = |s: &mut Session| -> Tensor {
        let mut h = x.clone();
        for p in &params {
            let n = s.layer_norm(&h, None, None, 1e-5).unwrap();
            let qkv = s.linear(&n, &p[0], Some(&p[1])).unwrap();
            let qkv = s
                .reshape(
                    &qkv,
                    &[
                        batch as i64,
                        frames as i64,
                        3,
                        heads as i64,
                        (d / heads) as i64,
                    ],
                )
                .unwrap();
            let qkv = s.permute(&qkv, &[2, 0, 3, 1, 4]).unwrap();
            let part = |s: &mut Session, i| {
                let one = s.slice(&qkv, 0, i, i + 1).unwrap();
                s.reshape(
                    &one,
                    &[
                        batch as i64,
                        heads as i64,
                        frames as i64,
                        (d / heads) as i64,
                    ],
                )
                .unwrap()
            };
            let (q, k, v) = (part(s, 0), part(s, 1), part(s, 2));
            let a = s.attention(&q, &k, &v, None, None).unwrap();
            let a = s.permute(&a, &[0, 2, 1, 3]).unwrap();
            let a = s
                .reshape(&a, &[batch as i64, frames as i64, d as i64])
                .unwrap();
            let a = s.linear(&a, &p[2], Some(&p[3])).unwrap();
            let h1 = s.binary(&h, &a, BinaryOp::Add).unwrap();
            let f = s.layer_norm(&h1, None, None, 1e-5).unwrap();
            let f = s.linear(&f, &p[4], Some(&p[5])).unwrap();
            let f = s.unary(&f, UnaryOp::Gelu).unwrap();
            let f = s.linear(&f, &p[6], Some(&p[7])).unwrap();
            h = s.binary(&h1, &f, BinaryOp::Add).unwrap();
        }
        h
    };
    let reps = if full { 5 } else { 1 };
    let secs = gpu_time(s, reps, step);
    let per_block = secs / blocks as f64;
    let step_s = per_block * blocks_total as f64;
    let flops_block = 2.0 * (batch * frames) as f64 * (d * 3 * d + d * d + 2 * d * ff) as f64
        + 4.0 * (batch * heads * frames * frames * (d / heads)) as f64;
    println!();
    println!(
        "kimodo step (batch {batch}, {frames} frames, d {d}, {heads} heads, ff {ff}, {blocks_total} blocks{}):",
        if full { "" } else { "; 1 block timed, x32" }
    );
    println!(
        "  {:.1} ms per step, {:.1} GFLOP/s; 100 DDIM steps: {:.2} s",
        step_s * 1e3,
        flops_block / per_block / 1e9,
        step_s * 100.0
    );
}
