//! The network and the sampler, written against `motionmcp_guest::tensor`.

use motionmcp_guest::tensor::{Dtype, Tensor, TensorError, UnaryOp};
use motionmcp_guest::GuidanceType;

/// One pre-norm transformer block's weights.
struct Block {
    ln1: (Tensor, Tensor),
    qkv: (Tensor, Tensor),
    out: (Tensor, Tensor),
    ln2: (Tensor, Tensor),
    ff1: (Tensor, Tensor),
    ff2: (Tensor, Tensor),
}

pub struct Denoiser {
    d: usize,
    heads: usize,
    features: usize,
    in_proj: (Tensor, Tensor),
    time1: (Tensor, Tensor),
    time2: (Tensor, Tensor),
    text: Tensor,
    /// The timestep embedding's frequencies, [d / 2]: fixed, so made once.
    freqs: Tensor,
    blocks: Vec<Block>,
    ln_f: (Tensor, Tensor),
    out_proj: (Tensor, Tensor),
}

/// Diffusion steps of the training schedule that DDIM subsamples.
const TRAIN_STEPS: f32 = 1000.0;

/// Cosine schedule: the signal fraction left at step t.
fn alpha_bar(t: f32) -> f32 {
    let s = 0.008;
    let f = ((t / TRAIN_STEPS + s) / (1.0 + s) * std::f32::consts::FRAC_PI_2).cos();
    (f * f).clamp(1e-5, 0.9999)
}

fn pair(file: &str, name: &str) -> Result<(Tensor, Tensor), TensorError> {
    Ok((
        Tensor::load(file, &format!("{name}.weight"))?,
        Tensor::load(file, &format!("{name}.bias"))?,
    ))
}

/// A norm's affine pair, in f32 whatever the file stores: the norm kernels
/// take f32 (the `linear` weights may stay f16/bf16).
fn norm(file: &str, name: &str) -> Result<(Tensor, Tensor), TensorError> {
    let (w, b) = pair(file, name)?;
    Ok((w.cast(Dtype::F32)?, b.cast(Dtype::F32)?))
}

fn dim(t: &Tensor, axis: usize) -> usize {
    t.shape()[axis]
}

impl Denoiser {
    pub fn load(file: &str, features: usize) -> Result<Denoiser, TensorError> {
        let names = Tensor::names_in(file)?;
        let layers = (0..)
            .take_while(|i| names.contains(&format!("blocks.{i}.ln1.weight")))
            .count();
        let heads = Tensor::load(file, "config.heads")?.to_u32()?[0] as usize;
        let in_proj = pair(file, "in_proj")?;
        let d = dim(&in_proj.0, 0);
        if dim(&in_proj.0, 1) != features || heads == 0 || !d.is_multiple_of(heads) {
            return Err(TensorError::Shape(format!(
                "in_proj must be [d, {features}] with d divisible by {heads} heads"
            )));
        }
        let blocks = (0..layers)
            .map(|i| {
                let p = |n: &str| pair(file, &format!("blocks.{i}.{n}"));
                Ok(Block {
                    ln1: norm(file, &format!("blocks.{i}.ln1"))?,
                    qkv: p("qkv")?,
                    out: p("out")?,
                    ln2: norm(file, &format!("blocks.{i}.ln2"))?,
                    ff1: p("ff1")?,
                    ff2: p("ff2")?,
                })
            })
            .collect::<Result<_, TensorError>>()?;
        Ok(Denoiser {
            d,
            heads,
            features,
            in_proj,
            time1: pair(file, "time.0")?,
            time2: pair(file, "time.2")?,
            text: Tensor::load(file, "text.weight")?.cast(Dtype::F32)?,
            freqs: Tensor::arange(0.0, 1.0, d / 2)?
                .scale(-(10000f32.ln()) / (d / 2) as f32, 0.0)?
                .exp()?,
            blocks,
            ln_f: norm(file, "ln_f")?,
            out_proj: pair(file, "out_proj")?,
        })
    }

    /// [1, 1, d] sinusoidal embedding of step `t` through the time MLP.
    fn time_embedding(&self, t: f32) -> Result<Tensor, TensorError> {
        let freqs = (&self.freqs * t)?;
        let e =
            Tensor::concat(&[&freqs.sin()?, &freqs.cos()?], 0)?.reshape(&[1, 1, self.d as i32])?;
        e.linear_fused(
            &self.time1.0,
            Some(&self.time1.1),
            Some(UnaryOp::Silu),
            None,
        )?
        .linear(&self.time2.0, Some(&self.time2.1))
    }

    /// [1, 1, d]: the mean byte embedding of the prompt (zeros when empty).
    fn text_embedding(&self, prompt: &str) -> Result<Tensor, TensorError> {
        let bytes: Vec<u32> = prompt.bytes().map(u32::from).collect();
        if bytes.is_empty() {
            return Tensor::zeros(&[1, 1, self.d]);
        }
        let idx = Tensor::from_u32(&bytes, &[bytes.len()])?;
        self.text
            .index_select(0, &idx)?
            .mean(0, true)?
            .reshape(&[1, 1, self.d as i32])
    }

    fn block(&self, x: &Tensor, p: &Block) -> Result<Tensor, TensorError> {
        let (b, n, d) = (dim(x, 0) as i32, dim(x, 1) as i32, self.d as i32);
        let heads = self.heads as i32;
        let h = x.layer_norm(Some(&p.ln1.0), Some(&p.ln1.1), 1e-5)?;
        let qkv = h
            .linear(&p.qkv.0, Some(&p.qkv.1))?
            .reshape(&[b, n, 3, heads, d / heads])?
            .permute(&[2, 0, 3, 1, 4])?;
        let (q, k, v) = (qkv.select(0, 0)?, qkv.select(0, 1)?, qkv.select(0, 2)?);
        // The GELU and both residual adds happen in the matmuls' epilogues
        // (`linear_fused`), each saving a pass over the activations.
        let x = Tensor::attention(&q, &k, &v, None, None)?
            .permute(&[0, 2, 1, 3])?
            .reshape(&[b, n, d])?
            .linear_fused(&p.out.0, Some(&p.out.1), None, Some(x))?;
        let f = x
            .layer_norm(Some(&p.ln2.0), Some(&p.ln2.1), 1e-5)?
            .linear_fused(&p.ff1.0, Some(&p.ff1.1), Some(UnaryOp::Gelu), None)?;
        f.linear_fused(&p.ff2.0, Some(&p.ff2.1), None, Some(&x))
    }

    /// Predicted noise for x [b, frames, features] under conditions [b, 1, d].
    fn eps(&self, x: &Tensor, t: f32, cond: &Tensor) -> Result<Tensor, TensorError> {
        let h = x.linear(&self.in_proj.0, Some(&self.in_proj.1))?;
        let h = (&(&h + &self.time_embedding(t)?)? + cond)?;
        let mut h = h;
        for block in &self.blocks {
            h = self.block(&h, block)?;
        }
        h.layer_norm(Some(&self.ln_f.0), Some(&self.ln_f.1), 1e-5)?
            .linear(&self.out_proj.0, Some(&self.out_proj.1))
    }

    /// One motion: DDIM from seeded noise, guidance batched in one pass
    /// (nocfg: 1 row; regular: text and unconditional; separated: text,
    /// unconditional and half-strength text, weighted separately).
    /// `guidance` is the mode and its weights; `on_step` runs as each
    /// step's work is queued.
    pub fn sample(
        &self,
        frames: usize,
        prompt: &str,
        (guidance, weights): (GuidanceType, &[f32]),
        steps: usize,
        seed: u64,
        on_step: &mut dyn FnMut(),
    ) -> Result<Tensor, TensorError> {
        let text = self.text_embedding(prompt)?;
        let none = Tensor::zeros(&[1, 1, self.d])?;
        let conds: Vec<Tensor> = match guidance {
            GuidanceType::Nocfg => vec![text],
            GuidanceType::Regular => vec![text, none],
            GuidanceType::Separated => {
                let half = text.scale(0.5, 0.0)?;
                vec![text, none, half]
            }
        };
        let rows = conds.len();
        let cond = Tensor::concat(&conds.iter().collect::<Vec<_>>(), 0)?;
        let mut x = Tensor::randn(&[1, frames, self.features], seed)?;
        let mut x0 = None;
        for i in 0..steps {
            let t = TRAIN_STEPS - 1.0 - i as f32 * TRAIN_STEPS / steps as f32;
            let t_prev = t - TRAIN_STEPS / steps as f32;
            let (ab, ab_prev) = (
                alpha_bar(t),
                if t_prev < 0.0 { 1.0 } else { alpha_bar(t_prev) },
            );
            let batch = Tensor::concat(&vec![&x; rows], 0)?;
            let e = self.eps(&batch, t, &cond)?;
            let eps = match rows {
                1 => e,
                // uncond + sum of w_r (row_r - uncond), rows 0 and 2.
                _ => {
                    let uncond = e.slice(0, 1, 2)?;
                    let mut eps = None;
                    for (r, w) in [0, 2].into_iter().take(rows - 1).zip(weights) {
                        let delta = (&(&e.slice(0, r, r + 1)? - &uncond)? * *w)?;
                        eps = Some((eps.as_ref().unwrap_or(&uncond) + &delta)?);
                    }
                    eps.unwrap_or(uncond)
                }
            };
            // x0 = (x - sqrt(1 - ab) eps) / sqrt(ab), kept in range.
            let scaled = (&x * (1.0 / ab.sqrt()))?;
            let pred = (&scaled - &(&eps * ((1.0 - ab).sqrt() / ab.sqrt()))?)?.clamp(-3.0, 3.0)?;
            x = (&(&pred * ab_prev.sqrt())? + &(&eps * (1.0 - ab_prev).sqrt())?)?;
            x0 = Some(pred);
            on_step();
        }
        // `steps` is at least 1 (the caller's max(1)).
        x0.unwrap_or(x)
            .reshape(&[frames as i32, self.features as i32])
    }
}
