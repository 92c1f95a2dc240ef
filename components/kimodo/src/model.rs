//! The two-stage denoiser (fact sheet §1.5-1.6) and the sampler (§2.1-2.3)
//! on the host's GPU tensor API. Nothing is read back inside a step: the
//! root-to-local-root conversion between the stages is tensor ops too.

use motionmcp_guest::tensor::{BinaryOp, Dtype, Tensor, TensorError, UnaryOp};

use crate::cpu::{self, GLOBAL_ROOT_DIM, MOTION_DIM};

/// The weights file and the prefix of its tensor names, as published.
pub const MODEL_FILE: &str = "model.safetensors";
pub const PREFIX: &str = "denoiser.backbone.";
/// Prefix tokens: 50 text tokens, the time token, the heading token.
const TEXT_TOKENS: usize = 50;

type Pair = (Tensor, Option<Tensor>);

struct Layer {
    in_proj: Pair,
    out_proj: Pair,
    linear1: Pair,
    linear2: Pair,
    norm1: (Tensor, Tensor),
    norm2: (Tensor, Tensor),
}

/// One `TransformerEncoderBlock` (root_model or body_model).
pub struct Stage {
    input: Pair,
    text: Pair,
    /// `embed_text.bias` as f32 [1, 1, W]: the 49 padding tokens.
    text_bias: Tensor,
    time0: Pair,
    time2: Pair,
    heading: Pair,
    output: Pair,
    layers: Vec<Layer>,
}

fn load(name: &str) -> Result<Tensor, TensorError> {
    Tensor::load(MODEL_FILE, &format!("{PREFIX}{name}"))
}

fn pair(name: &str) -> Result<Pair, TensorError> {
    Ok((
        load(&format!("{name}.weight"))?,
        Some(load(&format!("{name}.bias"))?),
    ))
}

fn f32_pair(name: &str) -> Result<(Tensor, Tensor), TensorError> {
    Ok((
        load(&format!("{name}.weight"))?.cast(Dtype::F32)?,
        load(&format!("{name}.bias"))?.cast(Dtype::F32)?,
    ))
}

fn lin(x: &Tensor, p: &Pair) -> Result<Tensor, TensorError> {
    x.linear(&p.0, p.1.as_ref())
}

/// `activation(x @ W^T + b) + residual` in one kernel.
fn fused(
    x: &Tensor,
    p: &Pair,
    activation: Option<UnaryOp>,
    residual: Option<&Tensor>,
) -> Result<Tensor, TensorError> {
    x.linear_fused(&p.0, p.1.as_ref(), activation, residual)
}

impl Stage {
    fn load(stage: &str, layers: usize) -> Result<Stage, TensorError> {
        let p = |n: &str| format!("{stage}.{n}");
        let width = load(&p("input_linear.weight"))?.shape()[0];
        Ok(Stage {
            input: pair(&p("input_linear"))?,
            text: pair(&p("embed_text"))?,
            text_bias: load(&p("embed_text.bias"))?.cast(Dtype::F32)?.reshape(&[
                1,
                1,
                width as i32,
            ])?,
            time0: pair(&p("embed_timestep.time_embed.0"))?,
            time2: pair(&p("embed_timestep.time_embed.2"))?,
            heading: pair(&p("linear_first_heading_angle"))?,
            output: pair(&p("output_linear"))?,
            layers: (0..layers)
                .map(|i| {
                    let l = |n: &str| p(&format!("seqTransEncoder.layers.{i}.{n}"));
                    Ok(Layer {
                        in_proj: (
                            load(&l("self_attn.in_proj_weight"))?,
                            Some(load(&l("self_attn.in_proj_bias"))?),
                        ),
                        out_proj: pair(&l("self_attn.out_proj"))?,
                        linear1: pair(&l("linear1"))?,
                        linear2: pair(&l("linear2"))?,
                        norm1: f32_pair(&l("norm1"))?,
                        norm2: f32_pair(&l("norm2"))?,
                    })
                })
                .collect::<Result<_, TensorError>>()?,
        })
    }
}

/// Hyper-parameters read from the checkpoint.
pub struct Dims {
    pub width: usize,
    pub heads: usize,
}

/// Normalisation statistics (§1.4), f32, with the scale sqrt(std² + 1e-5)
/// precomputed the way the reference computes it.
pub struct Stats {
    /// global_root ++ body (369).
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub local_mean: Vec<f32>,
    pub local_scale: Vec<f32>,
}

pub fn norm_scale(std: &[f32]) -> Vec<f32> {
    std.iter().map(|&s| (s * s + 1e-5f32).sqrt()).collect()
}

pub struct Model {
    pub dims: Dims,
    pub stats: Stats,
    root: Stage,
    body: Stage,
    /// [1, 5] global-root stats and [1, 4] local-root stats on the GPU.
    g_mean: Tensor,
    g_scale: Tensor,
    l_mean: Tensor,
    l_scale: Tensor,
}

/// Per-request conditioning of one stage: the 50 text tokens and the
/// heading token of every pass, positional encoding included.
struct StagePrefix {
    text: Tensor,
    heading: Tensor,
}

/// What stays fixed across the steps of one sampling loop.
pub struct Conditioning {
    /// Batch rows of one forward: passes × samples.
    rows: usize,
    frames: usize,
    root: StagePrefix,
    body: StagePrefix,
    /// PE rows 50 (time token) and 52 .. 52 + T (motion), [1, 1, W] and [1, T, W].
    pe_time: Tensor,
    pe_motion: Tensor,
    /// [rows, T, 369] masks of every pass (zeros without constraints).
    mask: Tensor,
    /// [rows, T, 369] normalised observations; `None` without constraints.
    observed: Option<Tensor>,
}

/// Guidance: the passes stacked on the batch axis and their combination.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Guidance {
    Nocfg,
    Regular(f32),
    Separated(f32, f32),
}

impl Guidance {
    fn passes(self) -> usize {
        match self {
            Guidance::Nocfg => 1,
            Guidance::Regular(_) => 2,
            Guidance::Separated(..) => 3,
        }
    }

    /// Per pass: (text on, constraints on), in the batch order of §2.3.
    fn pass_flags(self) -> &'static [(bool, bool)] {
        match self {
            Guidance::Nocfg => &[(true, true)],
            Guidance::Regular(_) => &[(true, true), (false, false)],
            Guidance::Separated(..) => &[(true, false), (false, true), (false, false)],
        }
    }
}

fn tile(t: &Tensor, times: usize) -> Result<Tensor, TensorError> {
    if times == 1 {
        return t.reshape(&t.shape().iter().map(|&d| d as i32).collect::<Vec<_>>());
    }
    Tensor::concat(&vec![t; times], 0)
}

impl Model {
    pub fn load(heads: Option<usize>, stats: Stats) -> Result<Model, TensorError> {
        let names = Tensor::names_in(MODEL_FILE)?;
        let width = load("root_model.input_linear.weight")?.shape()[0];
        let layers = (0..)
            .take_while(|i| {
                names.contains(&format!(
                    "{PREFIX}root_model.seqTransEncoder.layers.{i}.norm1.weight"
                ))
            })
            .count();
        let heads = heads.unwrap_or((width / 128).max(1));
        if heads == 0 || width % heads != 0 {
            return Err(TensorError::Shape(format!(
                "width {width} is not a multiple of {heads} heads"
            )));
        }
        let root = Stage::load("root_model", layers)?;
        let body = Stage::load("body_model", layers)?;
        let expect = |p: &Pair, shape: [usize; 2], what: &str| {
            if p.0.shape() != shape {
                Err(TensorError::Shape(format!(
                    "{what}.weight is {:?}; a SOMA-30 Kimodo has {shape:?}",
                    p.0.shape()
                )))
            } else {
                Ok(())
            }
        };
        expect(
            &root.input,
            [width, 2 * MOTION_DIM],
            "root_model.input_linear",
        )?;
        expect(&body.input, [width, 737], "body_model.input_linear")?;
        expect(
            &root.output,
            [GLOBAL_ROOT_DIM, width],
            "root_model.output_linear",
        )?;
        expect(
            &body.output,
            [cpu::BODY_DIM, width],
            "body_model.output_linear",
        )?;
        let row = |v: &[f32]| Tensor::from_vec(v, &[1, v.len()]);
        Ok(Model {
            g_mean: row(&stats.mean[..GLOBAL_ROOT_DIM])?,
            g_scale: row(&stats.scale[..GLOBAL_ROOT_DIM])?,
            l_mean: row(&stats.local_mean)?,
            l_scale: row(&stats.local_scale)?,
            dims: Dims { width, heads },
            stats,
            root,
            body,
        })
    }

    fn pe(&self, start: usize, count: usize) -> Result<Tensor, TensorError> {
        let w = self.dims.width;
        Tensor::from_vec(&cpu::pe_rows(w, start, count), &[1, count, w])
    }

    fn stage_prefix(
        &self,
        stage: &Stage,
        text: &Tensor,
        headings: &Tensor,
        guidance: Guidance,
        samples: usize,
    ) -> Result<StagePrefix, TensorError> {
        let w = self.dims.width;
        // Token 0: the embedding of the text pass's vector, or the bias
        // alone (a zero vector) in the passes without text; 1..50: the bias.
        let with_text = (&lin(text, &stage.text)? + &self.pe(0, 1)?)?; // [B, 1, W]
        let without = (&stage.text_bias + &self.pe(0, 1)?)?; // [1, 1, W]
        let without = tile(&without, samples)?;
        let pad = (&stage.text_bias + &self.pe(1, TEXT_TOKENS - 1)?)?; // [1, 49, W]
        let firsts: Vec<&Tensor> = guidance
            .pass_flags()
            .iter()
            .map(|&(t, _)| if t { &with_text } else { &without })
            .collect();
        let first = Tensor::concat(&firsts, 0)?;
        let rows = first.shape()[0];
        let text = Tensor::concat(&[&first, &tile(&pad, rows)?], 1)?;
        let heading = (&lin(headings, &stage.heading)? + &self.pe(TEXT_TOKENS + 1, 1)?)?;
        let heading = tile(&heading, guidance.passes())?;
        debug_assert_eq!(text.shape(), [rows, TEXT_TOKENS, w]);
        Ok(StagePrefix { text, heading })
    }

    /// Fixed inputs of one sampling loop. `text` [B, 1, 4096] (the text
    /// pass's vectors), `headings` [B] radians, `cond` the normalised
    /// (observed, mask) [B, T, 369] when there are constraints.
    pub fn condition(
        &self,
        text: &Tensor,
        headings: &[f32],
        frames: usize,
        guidance: Guidance,
        cond: Option<(&Tensor, &Tensor)>,
    ) -> Result<Conditioning, TensorError> {
        let samples = headings.len();
        let hc: Vec<f32> = headings.iter().flat_map(|&h| [h.cos(), h.sin()]).collect();
        let hc = Tensor::from_vec(&hc, &[samples, 1, 2])?;
        let rows = samples * guidance.passes();
        let (mask, observed) = match cond {
            None => (Tensor::zeros(&[rows, frames, MOTION_DIM])?, None),
            Some((observed, mask)) => {
                let zeros = Tensor::zeros(&mask.shape())?;
                let masks: Vec<&Tensor> = guidance
                    .pass_flags()
                    .iter()
                    .map(|&(_, c)| if c { mask } else { &zeros })
                    .collect();
                (
                    Tensor::concat(&masks, 0)?,
                    Some(tile(observed, guidance.passes())?),
                )
            }
        };
        Ok(Conditioning {
            rows,
            frames,
            root: self.stage_prefix(&self.root, text, &hc, guidance, samples)?,
            body: self.stage_prefix(&self.body, text, &hc, guidance, samples)?,
            pe_time: self.pe(TEXT_TOKENS, 1)?,
            pe_motion: self.pe(TEXT_TOKENS + 2, frames)?,
            mask,
            observed,
        })
    }

    /// One post-norm encoder layer over s [rows, N, W].
    fn layer(&self, s: &Tensor, l: &Layer) -> Result<Tensor, TensorError> {
        let sh = s.shape();
        let (b, n, w) = (sh[0] as i32, sh[1] as i32, sh[2] as i32);
        let h = self.dims.heads as i32;
        let qkv = lin(s, &l.in_proj)?
            .reshape(&[b, n, 3, h, w / h])?
            .permute(&[2, 0, 3, 1, 4])?;
        let (q, k, v) = (qkv.select(0, 0)?, qkv.select(0, 1)?, qkv.select(0, 2)?);
        let a = Tensor::attention(&q, &k, &v, None, None)?
            .permute(&[0, 2, 1, 3])?
            .reshape(&[b, n, w])?;
        // The residual adds and the GELU ride in the matmuls' epilogues
        // (`linear_fused`): three elementwise passes over the activations
        // fewer per layer, the same sums.
        let s = fused(&a, &l.out_proj, None, Some(s))?.layer_norm(
            Some(&l.norm1.0),
            Some(&l.norm1.1),
            1e-5,
        )?;
        let f = fused(&s, &l.linear1, Some(UnaryOp::Gelu), None)?;
        fused(&f, &l.linear2, None, Some(&s))?.layer_norm(Some(&l.norm2.0), Some(&l.norm2.1), 1e-5)
    }

    /// One stage: x [rows, T, in] at training step `t` -> [rows, T, out].
    /// Every frame is valid (all samples of a loop have the same length),
    /// so no key is masked.
    fn stage(
        &self,
        stage: &Stage,
        prefix: &StagePrefix,
        c: &Conditioning,
        x: &Tensor,
        t: usize,
    ) -> Result<Tensor, TensorError> {
        let w = self.dims.width;
        let pe_t = Tensor::from_vec(&cpu::pe_rows(w, t, 1), &[1, 1, w])?;
        let tau = lin(
            &fused(&pe_t, &stage.time0, Some(UnaryOp::Silu), None)?,
            &stage.time2,
        )?;
        let tau = tile(&(&tau + &c.pe_time)?, c.rows)?;
        let m = (&lin(x, &stage.input)? + &c.pe_motion)?;
        let mut s = Tensor::concat(&[&prefix.text, &tau, &prefix.heading, &m], 1)?;
        for l in &stage.layers {
            s = self.layer(&s, l)?;
        }
        let start = TEXT_TOKENS + 2;
        lin(&s.slice(1, start, start + c.frames)?, &stage.output)
    }

    /// Normalised global root [rows, T, 5] -> normalised local root
    /// [rows, T, 4] (§1.6 step 3), all frames valid.
    fn local_root(&self, root: &Tensor) -> Result<Tensor, TensorError> {
        let t = root.shape()[1];
        let r = (&(root * &self.g_scale)? + &self.g_mean)?;
        let ch = |i: usize| r.slice(2, i, i + 1);
        let theta = ch(4)?.binary(BinaryOp::Atan2, &ch(3)?)?;
        let (c, s) = (theta.cos()?, theta.sin()?);
        let (x, z) = (ch(0)?, ch(2)?);
        let (rate, vx, vz) = if t > 1 {
            let next = |v: &Tensor| v.slice(1, 1, t);
            let prev = |v: &Tensor| v.slice(1, 0, t - 1);
            let sd = (&(&next(&s)? * &prev(&c)?)? - &(&next(&c)? * &prev(&s)?)?)?;
            let cd = (&(&next(&c)? * &prev(&c)?)? + &(&next(&s)? * &prev(&s)?)?)?;
            let rate = sd.binary(BinaryOp::Atan2, &cd)?.scale(30.0, 0.0)?;
            let vx = (&next(&x)? - &prev(&x)?)?.scale(30.0, 0.0)?;
            let vz = (&next(&z)? - &prev(&z)?)?.scale(30.0, 0.0)?;
            // The last frame copies the one before it.
            let last = |v: Tensor| -> Result<Tensor, TensorError> {
                Tensor::concat(&[&v, &v.slice(1, t - 2, t - 1)?], 1)
            };
            (last(rate)?, last(vx)?, last(vz)?)
        } else {
            let z0 = Tensor::zeros(&x.shape())?;
            (z0.scale(1.0, 0.0)?, z0.scale(1.0, 0.0)?, z0)
        };
        let local = Tensor::concat(&[&rate, &vx, &vz, &ch(1)?], 2)?;
        &(&local - &self.l_mean)? / &self.l_scale
    }

    /// One two-stage denoiser call on x_t [rows, T, 369] -> x̂0.
    fn denoise(&self, c: &Conditioning, x_t: &Tensor, t: usize) -> Result<Tensor, TensorError> {
        // x̃ = x_t (1 - mask) + observed mask; x_t itself without constraints.
        let mask = &c.mask;
        let overwritten;
        let xt = match &c.observed {
            None => x_t,
            Some(observed) => {
                let keep = mask.scale(-1.0, 1.0)?;
                overwritten = (&(x_t * &keep)? + &(observed * mask)?)?;
                &overwritten
            }
        };
        let root_in = Tensor::concat(&[xt, mask], 2)?;
        let root = self.stage(&self.root, &c.root, c, &root_in, t)?;
        let local = self.local_root(&root)?;
        let body_in = Tensor::concat(
            &[&local, &xt.slice(2, GLOBAL_ROOT_DIM, MOTION_DIM)?, mask],
            2,
        )?;
        let body = self.stage(&self.body, &c.body, c, &body_in, t)?;
        Tensor::concat(&[&root, &body], 2)
    }

    /// One guided x̂0 for x [B, T, 369]: the passes as one batch.
    fn guided(
        &self,
        c: &Conditioning,
        x: &Tensor,
        t: usize,
        guidance: Guidance,
    ) -> Result<Tensor, TensorError> {
        let b = x.shape()[0];
        let out = self.denoise(c, &tile(x, guidance.passes())?, t)?;
        let part = |i: usize| out.slice(0, i * b, (i + 1) * b);
        match guidance {
            Guidance::Nocfg => Ok(out),
            Guidance::Regular(w) => {
                let (cn, u) = (part(0)?, part(1)?);
                &u + &(&cn - &u)?.scale(w, 0.0)?
            }
            Guidance::Separated(wt, wc) => {
                let (tx, cn, u) = (part(0)?, part(1)?, part(2)?);
                let a = (&u + &(&tx - &u)?.scale(wt, 0.0)?)?;
                &a + &(&cn - &u)?.scale(wc, 0.0)?
            }
        }
    }

    /// The whole DDIM loop (η = 0) from `noise` [B, T, 369] (normalised
    /// space); `on_step` runs once each step is recorded. Returns x̂0 of
    /// the last step, still on the GPU.
    pub fn sample(
        &self,
        c: &Conditioning,
        noise: Tensor,
        steps: usize,
        guidance: Guidance,
        on_step: &mut dyn FnMut(),
    ) -> Result<Tensor, TensorError> {
        let sch = cpu::respaced(steps);
        let mut x = noise;
        for k in (0..steps).rev() {
            let x0 = self.guided(c, &x, sch.timesteps[k], guidance)?;
            let div = Tensor::full(&[1], sch.sqrt_recipm1[k])?;
            let eps = (&(&x.scale(sch.sqrt_recip[k], 0.0)? - &x0)? / &div)?;
            let ap = sch.alphas_cumprod_prev[k];
            x = (&x0.scale(ap.sqrt(), 0.0)? + &eps.scale((1.0f32 - ap).sqrt(), 0.0)?)?;
            on_step();
        }
        Ok(x)
    }
}
