//! The GPU benchmark (issue #15): adapter, the host's cost per recorded
//! op, each op's throughput on the adapter (and, at the smaller sizes, in
//! the CPU reference), then a Kimodo-shaped denoiser forward and a DDIM
//! generation (`bench/kimodo_shaped.rs`). `scripts/gpu-bench.sh` runs it
//! (with PyTorch eager on the same architecture next to it).
//!
//! `cargo run --release -p motionmcp-gpu --example gpu-bench -- [--small |
//! --full | --smoke] [--steps N] [--host-only]`. Sizes: `--full` is issue
//! #15's (4096^3, Kimodo's 900-token linears, the published denoiser, 100
//! steps); `--small` lavapipe's (seconds per row); `--smoke` runs every row
//! once at toy sizes (CI runs it, so the bench cannot rot); without any, a
//! software adapter gets small and a GPU full.

#[path = "bench/kimodo_shaped.rs"]
mod kimodo_shaped;

use std::time::Instant;

use motionmcp_gpu::reference::{self as cpu, Array};
use motionmcp_gpu::{BinaryOp, DType, Gpu, GpuChoice, GpuOptions, Quota, Session, Tensor, UnaryOp};

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Size {
    Full,
    Small,
    Smoke,
}

impl Size {
    /// Timed repetitions of a row: `full` or `small`, and one at smoke
    /// size (the smoke run proves the row runs, not its speed).
    fn reps(self, full: usize, small: usize) -> usize {
        match self {
            Size::Full => full,
            Size::Small => small,
            Size::Smoke => 1,
        }
    }
}

/// Command-line choices (`--small`, `--full`, `--smoke`, `--steps N`,
/// `--host-only`).
struct Args {
    size: Option<Size>,
    steps: Option<usize>,
    host_only: bool,
}

impl Args {
    fn parse() -> Args {
        let mut a = Args {
            size: None,
            steps: None,
            host_only: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--small" => a.size = Some(Size::Small),
                "--full" => a.size = Some(Size::Full),
                "--smoke" => a.size = Some(Size::Smoke),
                "--host-only" => a.host_only = true,
                "--steps" => {
                    let n = args.next().and_then(|v| v.parse().ok());
                    a.steps = Some(n.unwrap_or_else(|| fail("--steps takes a number")));
                }
                other => fail(&format!("unknown argument {other}")),
            }
        }
        a
    }
}

fn fail(why: &str) -> ! {
    eprintln!("gpu-bench: {why}");
    std::process::exit(2);
}

fn main() {
    let args = Args::parse();
    let gpu = Gpu::open(GpuChoice::Auto).unwrap_or_else(|e| fail(&format!("no adapter: {e:#}")));
    gpu.warm_up();
    let software = gpu.describe().is_software();
    let size = args
        .size
        .unwrap_or(if software { Size::Small } else { Size::Full });
    let (full, smoke) = (size == Size::Full, size == Size::Smoke);
    println!("adapter: {}", gpu.describe());
    println!(
        "sizes: {}",
        match size {
            Size::Full => "full (issue #15's)",
            Size::Small => "small",
            Size::Smoke => "smoke (toy sizes, every row once)",
        }
    );
    let mut s = Session::new(gpu, Quota::new(u64::MAX));
    host_cost_per_op(&mut s);
    if args.host_only {
        return;
    }
    let mut rows = Vec::new();
    // The CPU reference is naive f64: only the smaller sizes are timed on it.
    let cpu_limit = if full { 3e8 } else { 3e7 };

    let squares: &[usize] = match size {
        Size::Full => &[256, 1024, 2048, 4096],
        Size::Small => &[128, 256, 512],
        Size::Smoke => &[64, 128],
    };
    for &n in squares {
        let (a, b) = (rand(&[n, n], 1), rand(&[n, n], 2));
        let (ta, tb) = (
            s.from_f32(&a.data, &a.shape).unwrap(),
            s.from_f32(&b.data, &b.shape).unwrap(),
        );
        let flops = 2.0 * (n * n * n) as f64;
        let reps = size.reps(20, 3);
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
    // Kimodo's linears: packed QKV, out projection, the feed-forward pair.
    let tokens = match size {
        Size::Full => 900,
        Size::Small => 32,
        Size::Smoke => 4,
    };
    for (inp, out) in [(1024, 3072), (1024, 1024), (1024, 2048), (2048, 1024)] {
        let (inp, out) = if smoke {
            (inp / 8, out / 8)
        } else {
            (inp, out)
        };
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
        let g = gpu_time(&mut s, size.reps(20, 2), |s| {
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
        let g = gpu_time(&mut s, size.reps(20, 2), |s| {
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

    matmul_kernels(&mut s, size, &mut rows);

    // Attention over frames: batch 3, 8 heads, 300 frames, head dim 128.
    let frames = match size {
        Size::Full => 300,
        Size::Small => 60,
        Size::Smoke => 16,
    };
    let shape = [3, 8, frames, 128];
    let (q, k, v) = (rand(&shape, 6), rand(&shape, 7), rand(&shape, 8));
    let (tq, tk, tv) = (
        s.from_f32(&q.data, &shape).unwrap(),
        s.from_f32(&k.data, &shape).unwrap(),
        s.from_f32(&v.data, &shape).unwrap(),
    );
    let flops = 4.0 * (3 * 8 * frames * frames * 128) as f64;
    let g = gpu_time(&mut s, size.reps(20, 2), |s| {
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
    let frames = match size {
        Size::Full => 352,
        Size::Small => 120,
        Size::Smoke => 24,
    };
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
    let g = gpu_time(&mut s, size.reps(20, 2), |s| {
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
    let n = match size {
        Size::Full => 900 * 4096,
        Size::Small => 96 * 1024,
        Size::Smoke => 4 * 1024,
    };
    let x = rand(&[n / 1024, 1024], 9);
    let tx = s.from_f32(&x.data, &x.shape).unwrap();
    let bytes = (n * 8) as f64;
    let reps = size.reps(50, 5);
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
    // Where the rows above reduced with subgroup operations (the adapter
    // line says), the same two with the workgroup-memory fallback.
    if s.gpu().describe().subgroups.is_some() {
        rows.extend(row_ops_without_subgroups(&x, reps));
    }

    print(&rows);
    let (shape, steps, reps) = match size {
        Size::Full => (
            kimodo_shaped::Shape::PUBLISHED,
            args.steps.unwrap_or(100),
            5,
        ),
        Size::Small => (kimodo_shaped::Shape::SMALL, args.steps.unwrap_or(2), 1),
        Size::Smoke => (kimodo_shaped::Shape::SMOKE, args.steps.unwrap_or(2), 1),
    };
    kimodo_shaped::run(&mut s, shape, steps, reps);
}

/// layer_norm and softmax on `x` as in the table above, on a second device
/// opened without subgroup operations: the fallback's cost next to the
/// subgroup kernels'.
fn row_ops_without_subgroups(x: &Array, reps: usize) -> Vec<Row> {
    let gpu = Gpu::open_with(GpuChoice::Auto, GpuOptions { subgroups: false })
        .unwrap_or_else(|e| fail(&format!("no adapter: {e:#}")));
    let mut s = Session::new(gpu, Quota::new(u64::MAX));
    let tx = s.from_f32(&x.data, &x.shape).unwrap();
    let layer_norm = gpu_time(&mut s, reps, |s| {
        s.layer_norm(&tx, None, None, 1e-5).unwrap()
    });
    let softmax = gpu_time(&mut s, reps, |s| s.softmax(&tx).unwrap());
    [("layer_norm", layer_norm), ("softmax", softmax)]
        .into_iter()
        .map(|(op, gpu_s)| Row {
            op: op.into(),
            size: format!("{}x{} no subgroups", x.shape[0], x.shape[1]),
            gpu_s,
            cpu_s: None,
            work: (x.data.len() * 8) as f64,
            unit: "GB/s",
        })
        .collect()
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

/// The matmul kernels (issue #15), each forced and as `Auto` picks: at
/// squares and at Kimodo's three linear shapes (QKV, FFN down, out
/// projection; 900 tokens at full size), then a linear with bias and GELU
/// fused into its epilogue against linear followed by `unary`.
fn matmul_kernels(s: &mut Session, size: Size, rows: &mut Vec<Row>) {
    use motionmcp_gpu::{Activation, MatmulKernel};
    let (squares, tokens, reps): (&[usize], usize, usize) = match size {
        Size::Full => (&[1024, 2048, 4096], 900, 10),
        Size::Small => (&[256, 512], 32, 1),
        Size::Smoke => (&[64], 4, 1),
    };
    let name = |kernel: MatmulKernel| match kernel {
        MatmulKernel::Auto => "auto",
        MatmulKernel::Tile64 => "64",
        MatmulKernel::Tile128 => "128",
        MatmulKernel::Tile64x128 => "64x128",
    };
    let mut flops_row = |op: String, size: String, gpu_s: f64, flops: f64| {
        rows.push(Row {
            op,
            size,
            gpu_s,
            cpu_s: None,
            work: flops,
            unit: "GFLOP/s",
        })
    };
    for &n in squares {
        let (ta, tb) = (
            s.random(&[n, n], 1, true).unwrap(),
            s.random(&[n, n], 2, true).unwrap(),
        );
        for kernel in MatmulKernel::ALL {
            s.set_matmul_kernel(kernel);
            let g = gpu_time(s, reps, |s| s.matmul(&ta, &tb).unwrap());
            let flops = 2.0 * (n * n * n) as f64;
            let what = format!("{n}x{n}x{n}");
            flops_row(format!("mm {}", name(kernel)), what, g, flops);
        }
    }
    let scale = if size == Size::Smoke { 8 } else { 1 };
    for (inp, out) in [(1024, 3072), (2048, 1024), (1024, 1024)] {
        let (inp, out) = (inp / scale, out / scale);
        let tx = s.random(&[tokens, inp], 3, true).unwrap();
        let tw = s.random(&[out, inp], 4, true).unwrap();
        let tb = s.random(&[out], 5, true).unwrap();
        for kernel in MatmulKernel::ALL {
            s.set_matmul_kernel(kernel);
            let g = gpu_time(s, reps, |s| s.linear(&tx, &tw, Some(&tb)).unwrap());
            let flops = 2.0 * (tokens * inp * out) as f64;
            let what = format!("{tokens}x{inp}->{out}");
            flops_row(format!("lin {}", name(kernel)), what, g, flops);
        }
    }
    s.set_matmul_kernel(MatmulKernel::Auto);
    // The feed-forward's first linear: bias + GELU in one pass, or two.
    let (inp, out) = (1024 / scale, 2048 / scale);
    let tx = s.random(&[tokens, inp], 6, true).unwrap();
    let tw = s.random(&[out, inp], 7, true).unwrap();
    let tb = s.random(&[out], 8, true).unwrap();
    let flops = 2.0 * (tokens * inp * out) as f64;
    let gelu = Some(Activation::Gelu);
    let g = gpu_time(s, reps, |s| {
        s.linear_fused(&tx, &tw, Some(&tb), gelu, None).unwrap()
    });
    let what = format!("{tokens}x{inp}->{out}");
    flops_row("lin+gelu".into(), format!("{what} fused"), g, flops);
    let g = gpu_time(s, reps, |s| {
        let y = s.linear(&tx, &tw, Some(&tb)).unwrap();
        let z = s.unary(&y, UnaryOp::Gelu).unwrap();
        s.release(y);
        z
    });
    flops_row("lin, gelu".into(), format!("{what} 2 ops"), g, flops);
}
