//! A Kimodo-shaped denoiser and DDIM generation on the tensor API, the
//! workload issue #15 measures against PyTorch eager. The architecture is
//! the published one (fact sheet §1.5-1.6), written a second time, op for
//! op, in `scripts/torch_bench.py`: change one, change the other.
//! Here the time MLP's SiLU, the out projection's and linear2's residual
//! adds and linear1's GELU run in the matmuls' epilogues
//! (`Session::linear_fused`, as components/kimodo does): the same maths as
//! PyTorch's separate ops, with fewer passes.
//!
//! One denoiser call runs two stages (root: 738 -> 5, body: 737 -> 364),
//! each: input projection; text tokens (50 x 4096 -> width); a time token
//! (sinusoid row -> Linear, SiLU, Linear); a heading token (2 -> width);
//! the 52 prefix tokens and T frame tokens plus the sinusoid table; `layers`
//! post-norm encoder layers (multi-head attention with a padded key mask,
//! out projection, add and LayerNorm, Linear-GELU-Linear, add and
//! LayerNorm); an output projection of the frame tokens. The body stage
//! reads the root stage's first 4 outputs where Kimodo puts its local-root
//! features (their conversion is a few elementwise ops, left out). Weights
//! are random (normal x 0.02): speed does not depend on them.
//!
//! A generation is `steps` DDIM updates of one sample with separated
//! guidance: three passes per step (batch 3), combined, then the update.

use std::time::Instant;

use motionmcp_gpu::{Activation, BinaryOp, Session, Tensor};

/// Text tokens (padded to 50) and the time and heading tokens.
const PREFIX: usize = 52;
const TEXT_TOKENS: usize = 50;
/// Features of a SOMA-30 frame.
const FEATURES: usize = 369;

#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub frames: usize,
    pub text_width: usize,
    /// Frames at the end of the clip that are padding (masked as keys).
    pub padding: usize,
}

impl Shape {
    pub const PUBLISHED: Shape = Shape {
        width: 1024,
        layers: 16,
        heads: 8,
        frames: 300,
        text_width: 4096,
        padding: 0,
    };

    /// Small enough for lavapipe in a CI run.
    pub const SMALL: Shape = Shape {
        width: 64,
        layers: 2,
        heads: 2,
        frames: 16,
        text_width: 64,
        padding: 2,
    };

    /// Every op once, in a CI run's seconds.
    pub const SMOKE: Shape = Shape {
        width: 32,
        layers: 1,
        heads: 2,
        frames: 8,
        text_width: 32,
        padding: 2,
    };

    fn tokens(&self) -> usize {
        PREFIX + self.frames
    }

    /// FLOPs of one denoiser call at batch `passes` (multiply-adds count
    /// two): the projections, text embedding and per layer the packed QKV,
    /// scores and weighted sum, out projection and feed-forward (2 x width).
    pub fn forward_flops(&self, passes: usize) -> f64 {
        let (n, w, t) = (self.tokens() as f64, self.width as f64, self.frames as f64);
        let layer = 2.0 * n * w * 3.0 * w + 4.0 * n * n * w + 2.0 * n * w * w + 8.0 * n * w * w;
        let stage = |inputs: f64, outputs: f64| {
            2.0 * t * inputs * w
                + 2.0 * TEXT_TOKENS as f64 * self.text_width as f64 * w
                + 4.0 * w * w
                + self.layers as f64 * layer
                + 2.0 * t * w * outputs
        };
        passes as f64 * (stage(738.0, 5.0) + stage(737.0, 364.0))
    }
}

struct Linear {
    weight: Tensor,
    bias: Tensor,
}

struct Layer {
    qkv: Linear,
    out: Linear,
    ff1: Linear,
    ff2: Linear,
    norm1: Linear,
    norm2: Linear,
}

struct Stage {
    input: Linear,
    text: Linear,
    time1: Linear,
    time2: Linear,
    heading: Linear,
    layers: Vec<Layer>,
    output: Linear,
}

pub struct Denoiser {
    shape: Shape,
    root: Stage,
    body: Stage,
    /// Sinusoid table rows 0..tokens, [tokens, width].
    positions: Tensor,
    /// Keep-mask over keys, [passes, 1, 1, tokens].
    keep: Tensor,
    text: Tensor,
    heading: Tensor,
    passes: usize,
}

fn linear(s: &mut Session, seed: &mut u64, out: usize, inp: usize) -> Linear {
    let mut random = |shape: &[usize], scale: f32| {
        *seed += 1;
        let t = s.random(shape, *seed, true).unwrap();
        s.scale(&t, scale, 0.0).unwrap()
    };
    Linear {
        weight: random(&[out, inp], 0.02),
        bias: random(&[out], 0.02),
    }
}

/// LayerNorm's affine pair, stored as a `Linear`'s two vectors.
fn norm(s: &mut Session, width: usize) -> Linear {
    Linear {
        weight: s.full(&[width], 1.0).unwrap(),
        bias: s.full(&[width], 0.0).unwrap(),
    }
}

fn stage(s: &mut Session, seed: &mut u64, shape: &Shape, inputs: usize, outputs: usize) -> Stage {
    let w = shape.width;
    Stage {
        input: linear(s, seed, w, inputs),
        text: linear(s, seed, w, shape.text_width),
        time1: linear(s, seed, w, w),
        time2: linear(s, seed, w, w),
        heading: linear(s, seed, w, 2),
        layers: (0..shape.layers)
            .map(|_| Layer {
                qkv: linear(s, seed, 3 * w, w),
                out: linear(s, seed, w, w),
                ff1: linear(s, seed, 2 * w, w),
                ff2: linear(s, seed, w, 2 * w),
                norm1: norm(s, w),
                norm2: norm(s, w),
            })
            .collect(),
        output: linear(s, seed, outputs, w),
    }
}

/// PE[p, 2i] = sin(p / 10000^(2i / width)), PE[p, 2i + 1] = cos(same),
/// for p in `rows`.
fn sinusoids(rows: std::ops::Range<usize>, width: usize) -> Vec<f32> {
    let mut table = Vec::with_capacity(rows.len() * width);
    for p in rows {
        for i in 0..width / 2 {
            let angle = p as f32 / 10000f32.powf(2.0 * i as f32 / width as f32);
            table.extend([angle.sin(), angle.cos()]);
        }
    }
    table
}

impl Denoiser {
    pub fn new(s: &mut Session, shape: Shape, passes: usize) -> Denoiser {
        let mut seed = 1000;
        let root = stage(s, &mut seed, &shape, 2 * FEATURES, 5);
        let body = stage(
            s,
            &mut seed,
            &shape,
            4 + (FEATURES - 5) + FEATURES,
            FEATURES - 5,
        );
        let n = shape.tokens();
        let positions = s
            .from_f32(&sinusoids(0..n, shape.width), &[n, shape.width])
            .unwrap();
        let valid = n - shape.padding;
        let keep: Vec<u32> = (0..passes * n).map(|j| (j % n < valid) as u32).collect();
        let keep = s.from_u32(&keep, &[passes, 1, 1, n]).unwrap();
        // One real text token, the rest zero padding (as Kimodo pads).
        let mut text = vec![0.0f32; passes * TEXT_TOKENS * shape.text_width];
        for (i, v) in text.iter_mut().enumerate() {
            if i % (TEXT_TOKENS * shape.text_width) < shape.text_width {
                *v = ((i % 97) as f32 / 97.0) - 0.5;
            }
        }
        let text = s
            .from_f32(&text, &[passes, TEXT_TOKENS, shape.text_width])
            .unwrap();
        let heading = s
            .from_f32(&[1.0, 0.0].repeat(passes), &[passes, 1, 2])
            .unwrap();
        Denoiser {
            shape,
            root,
            body,
            positions,
            keep,
            text,
            heading,
            passes,
        }
    }

    fn lin(s: &mut Session, x: &Tensor, l: &Linear) -> Tensor {
        s.linear(x, &l.weight, Some(&l.bias)).unwrap()
    }

    /// `activation(lin(x)) + residual` in the matmul's epilogue, as
    /// components/kimodo computes it: the same maths as PyTorch's separate
    /// ops, a pass over the output fewer for each.
    fn fused(
        s: &mut Session,
        x: &Tensor,
        l: &Linear,
        activation: Option<Activation>,
        residual: Option<&Tensor>,
    ) -> Tensor {
        s.linear_fused(x, &l.weight, Some(&l.bias), activation, residual)
            .unwrap()
    }

    /// One stage over `x` [passes, frames, inputs]; `time` is the sinusoid
    /// row of the step, [passes, 1, width].
    fn stage(&self, s: &mut Session, st: &Stage, x: &Tensor, time: &Tensor) -> Tensor {
        let Shape {
            width: w,
            heads: h,
            frames: t,
            ..
        } = self.shape;
        let (p, n) = (self.passes, self.shape.tokens());
        let m = Self::lin(s, x, &st.input);
        let e = Self::lin(s, &self.text, &st.text);
        let tau = Self::fused(s, time, &st.time1, Some(Activation::Silu), None);
        let tau = Self::lin(s, &tau, &st.time2);
        let head = Self::lin(s, &self.heading, &st.heading);
        let seq = s.concat(&[&e, &tau, &head, &m], 1).unwrap();
        let mut seq = s.binary(&seq, &self.positions, BinaryOp::Add).unwrap();
        let dims = |v: &[usize]| v.iter().map(|&d| d as i64).collect::<Vec<_>>();
        for layer in &st.layers {
            let qkv = Self::lin(s, &seq, &layer.qkv);
            let qkv = s.reshape(&qkv, &dims(&[p, n, 3, h, w / h])).unwrap();
            let qkv = s.permute(&qkv, &[2, 0, 3, 1, 4]).unwrap();
            let part = |s: &mut Session, i: u32| {
                let one = s.slice(&qkv, 0, i, i + 1).unwrap();
                s.reshape(&one, &dims(&[p, h, n, w / h])).unwrap()
            };
            let (q, k, v) = (part(s, 0), part(s, 1), part(s, 2));
            let a = s.attention(&q, &k, &v, Some(&self.keep), None).unwrap();
            let a = s.permute(&a, &[0, 2, 1, 3]).unwrap();
            let a = s.reshape(&a, &dims(&[p, n, w])).unwrap();
            let sum = Self::fused(s, &a, &layer.out, None, Some(&seq));
            let x1 = s
                .layer_norm(
                    &sum,
                    Some(&layer.norm1.weight),
                    Some(&layer.norm1.bias),
                    1e-5,
                )
                .unwrap();
            let f = Self::fused(s, &x1, &layer.ff1, Some(Activation::Gelu), None);
            let sum = Self::fused(s, &f, &layer.ff2, None, Some(&x1));
            seq = s
                .layer_norm(
                    &sum,
                    Some(&layer.norm2.weight),
                    Some(&layer.norm2.bias),
                    1e-5,
                )
                .unwrap();
        }
        let frames = s
            .slice(&seq, 1, PREFIX as u32, (PREFIX + t) as u32)
            .unwrap();
        Self::lin(s, &frames, &st.output)
    }

    /// The predicted clean motion for `x` [passes, frames, 369] at the
    /// sinusoid row `time` [passes, 1, width]: both stages.
    pub fn forward(&self, s: &mut Session, x: &Tensor, mask: &Tensor, time: &Tensor) -> Tensor {
        let root_in = s.concat(&[x, mask], 2).unwrap();
        let root = self.stage(s, &self.root, &root_in, time);
        let local = s.slice(&root, 2, 0, 4).unwrap();
        let body_x = s.slice(x, 2, 5, FEATURES as u32).unwrap();
        let body_in = s.concat(&[&local, &body_x, mask], 2).unwrap();
        let body = self.stage(s, &self.body, &body_in, time);
        s.concat(&[&root, &body], 2).unwrap()
    }

    /// The sinusoid row of DDIM step `index`, broadcast over the passes
    /// (one row computed: PyTorch indexes a table, and the bench should
    /// not charge this side for building one per step).
    fn time_row(&self, s: &mut Session, index: usize) -> Tensor {
        let w = self.shape.width;
        let row = sinusoids(index..index + 1, w);
        s.from_f32(&row.repeat(self.passes), &[self.passes, 1, w])
            .unwrap()
    }
}

/// Median seconds of `reps` calls of `f`, each read back from the GPU,
/// and the last call's values.
fn timed(
    s: &mut Session,
    reps: usize,
    mut f: impl FnMut(&mut Session) -> Tensor,
) -> (f64, Vec<f32>) {
    let warm = f(s);
    let mut values = s.read_f32(&warm).unwrap();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            let out = f(s);
            values = s.read_f32(&out).unwrap();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    (times[times.len() / 2], values)
}

/// Prints one forward's and one `steps`-step generation's wall time.
pub fn run(s: &mut Session, shape: Shape, steps: usize, reps: usize) {
    let passes = 3;
    let started = Instant::now();
    let model = Denoiser::new(s, shape, passes);
    s.finish().unwrap();
    let setup = started.elapsed().as_secs_f64();
    let t = shape.frames;
    let x = s.random(&[passes, t, FEATURES], 7, true).unwrap();
    let mask = s.full(&[passes, t, FEATURES], 0.0).unwrap();
    let time = model.time_row(s, 500);
    let (forward, _) = timed(s, reps, |s| model.forward(s, &x, &mask, &time));

    // DDIM (eta 0) on a linear-beta schedule respaced to `steps`; the
    // three passes share the sample (separated guidance: all conditions,
    // text only, none), combined with weights 2 and 2.
    let alphas: Vec<f64> = {
        let mut bar = 1.0;
        (0..1000)
            .map(|i| {
                bar *= 1.0 - (1e-4 + (0.02 - 1e-4) * i as f64 / 999.0);
                bar
            })
            .collect()
    };
    let (generation, sample) = timed(s, 1, |s| {
        let mut sample = s.random(&[1, t, FEATURES], 11, true).unwrap();
        for k in (0..steps).rev() {
            let index = k * 1000 / steps;
            let (ab, ab_prev) = (
                alphas[index],
                if k == 0 {
                    1.0
                } else {
                    alphas[(k - 1) * 1000 / steps]
                },
            );
            let time = model.time_row(s, index);
            let x = s.concat(&[&sample, &sample, &sample], 0).unwrap();
            let out = model.forward(s, &x, &mask, &time);
            let part = |s: &mut Session, i: u32| s.slice(&out, 0, i, i + 1).unwrap();
            let (full, text, none) = (part(s, 0), part(s, 1), part(s, 2));
            let d1 = s.binary(&full, &text, BinaryOp::Sub).unwrap();
            let d2 = s.binary(&text, &none, BinaryOp::Sub).unwrap();
            let guided = s.binary(&d1, &d2, BinaryOp::Add).unwrap();
            let guided = s.scale(&guided, 2.0, 0.0).unwrap();
            let x0 = s.binary(&none, &guided, BinaryOp::Add).unwrap();
            // eps = (x - sqrt(ab) x0) / sqrt(1 - ab);
            // x' = sqrt(ab') x0 + sqrt(1 - ab') eps.
            let (ra, rb) = (ab.sqrt(), (1.0 - ab).sqrt());
            let c = (1.0 - ab_prev).sqrt() / rb;
            let a = s.scale(&x0, (ab_prev.sqrt() - c * ra) as f32, 0.0).unwrap();
            let b = s.scale(&sample, c as f32, 0.0).unwrap();
            sample = s.binary(&a, &b, BinaryOp::Add).unwrap();
        }
        sample
    });
    // A broken kernel shows here as NaN or a blow-up long before it shows
    // in a rate; the bench fails rather than print a rate for garbage.
    let peak = sample.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if !peak.is_finite() || peak > 1e3 {
        eprintln!("gpu-bench: the generated sample is not finite or blew up (max |x| {peak})");
        std::process::exit(1);
    }
    let flops = shape.forward_flops(passes);
    println!();
    println!(
        "Kimodo-shaped denoiser on the tensor API (width {}, {} layers x 2 stages, {} heads, T = {}, {} tokens, batch {passes}: separated guidance), random weights",
        shape.width,
        shape.layers,
        shape.heads,
        shape.frames,
        shape.tokens()
    );
    println!("| what | wall (s) | GFLOP | GFLOP/s |");
    println!("|---|---|---|---|");
    println!("| weights to the adapter | {setup:.3} | - | - |");
    println!(
        "| one forward (both stages) | {forward:.4} | {:.1} | {:.1} |",
        flops / 1e9,
        flops / forward / 1e9
    );
    println!(
        "| generation, {steps} DDIM steps | {generation:.3} | {:.1} | {:.1} |",
        flops * steps as f64 / 1e9,
        flops * steps as f64 / generation / 1e9
    );
}
