// The network and the sampler of components/denoiser/src/model.rs, op for
// op, on the SDK's Tensor: the same GPU kernels in the same order on the
// same inputs, so the same bits. Scalars the Rust code computes in f32 (the
// noise schedule, the step's coefficients) are rounded to f32 after every
// operation here (`f`), and its f32 cos is musl's (f32.js).

import { ShapeError, Tensor } from "../../guest-sdk/js/src/gpu.js";

import { cosf } from "./f32.js";

const f = Math.fround;

/** Diffusion steps of the training schedule that DDIM subsamples. */
const TRAIN_STEPS = 1000;

/** Cosine schedule: the signal fraction left at step t (an f32). */
function alphaBar(t) {
  const s = f(0.008);
  const c = cosf(f(f(f(f(t / TRAIN_STEPS) + s) / f(1 + s)) * f(Math.PI / 2)));
  return Math.min(Math.max(f(c * c), f(1e-5)), f(0.9999));
}

const pair = (file, name) => [Tensor.load(file, `${name}.weight`), Tensor.load(file, `${name}.bias`)];

/**
 * A norm's affine pair, in f32 whatever the file stores: the norm kernels
 * take f32 (the `linear` weights may stay f16/bf16).
 */
function norm(file, name) {
  const [w, b] = pair(file, name);
  return [w.cast("f32"), b.cast("f32")];
}

export class Denoiser {
  /**
   * Loads `file`, for frames of `features` floats. Called from `setup`,
   * outside any request: the tensors it returns live as long as the model,
   * and the tidy frees the rest (the loaded originals of the cast norms).
   */
  static load(file, features) {
    const parts = Tensor.tidy(() => {
      const names = Tensor.names(file);
      let layers = 0;
      while (names.includes(`blocks.${layers}.ln1.weight`)) layers++;
      const heads = Tensor.load(file, "config.heads").toUint32Array()[0];
      const inProj = pair(file, "in_proj");
      const [d, inputs] = inProj[0].shape;
      if (inputs !== features || heads === 0 || d % heads !== 0) {
        throw new ShapeError(`in_proj must be [d, ${features}] with d divisible by ${heads} heads`);
      }
      const blocks = [];
      for (let i = 0; i < layers; i++) {
        const p = (n) => pair(file, `blocks.${i}.${n}`);
        blocks.push({
          ln1: norm(file, `blocks.${i}.ln1`),
          qkv: p("qkv"),
          out: p("out"),
          ln2: norm(file, `blocks.${i}.ln2`),
          ff1: p("ff1"),
          ff2: p("ff2"),
        });
      }
      const half = Math.floor(d / 2);
      return {
        d,
        heads,
        features,
        inProj,
        time1: pair(file, "time.0"),
        time2: pair(file, "time.2"),
        text: Tensor.load(file, "text.weight").cast("f32"),
        // The timestep embedding's frequencies, [d / 2]: fixed, so made once.
        freqs: Tensor.arange(0, 1, half)
          .scale(f(-f(Math.log(10000)) / half), 0)
          .exp(),
        blocks,
        lnF: norm(file, "ln_f"),
        outProj: pair(file, "out_proj"),
      };
    });
    return new Denoiser(parts);
  }

  constructor(parts) {
    Object.assign(this, parts);
  }

  /** [1, 1, d] sinusoidal embedding of step `t` through the time MLP. */
  timeEmbedding(t) {
    const freqs = this.freqs.mul(t);
    const e = Tensor.concat([freqs.sin(), freqs.cos()], 0).reshape([1, 1, this.d]);
    return e.linear(...this.time1, { activation: "silu" }).linear(...this.time2);
  }

  /** [1, 1, d]: the mean byte embedding of the prompt (zeros when empty). */
  textEmbedding(prompt) {
    const bytes = new TextEncoder().encode(prompt);
    if (bytes.length === 0) return Tensor.zeros([1, 1, this.d]);
    const idx = Tensor.fromU32(Uint32Array.from(bytes), [bytes.length]);
    return this.text.indexSelect(0, idx).mean(0, true).reshape([1, 1, this.d]);
  }

  block(x, p) {
    const [b, n] = x.shape;
    const { d, heads } = this;
    const h = x.layerNorm(...p.ln1, 1e-5);
    const qkv = h
      .linear(...p.qkv)
      .reshape([b, n, 3, heads, d / heads])
      .permute([2, 0, 3, 1, 4]);
    const [q, k, v] = [qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2)];
    // The GELU and both residual adds happen in the matmuls' epilogues.
    const y = Tensor.attention(q, k, v)
      .permute([0, 2, 1, 3])
      .reshape([b, n, d])
      .linear(...p.out, { residual: x });
    const ff = y.layerNorm(...p.ln2, 1e-5).linear(...p.ff1, { activation: "gelu" });
    return ff.linear(...p.ff2, { residual: y });
  }

  /** Predicted noise for x [b, frames, features] under conditions [b, 1, d]. */
  eps(x, t, cond) {
    let h = x.linear(...this.inProj).add(this.timeEmbedding(t)).add(cond);
    for (const block of this.blocks) h = this.block(h, block);
    return h.layerNorm(...this.lnF, 1e-5).linear(...this.outProj);
  }

  /**
   * One motion: DDIM from seeded noise, guidance batched in one pass (nocfg:
   * 1 row; regular: text and unconditional; separated: text, unconditional
   * and half-strength text, weighted separately). `guidance` is the mode
   * ("nocfg", "regular", "separated") and `weights` its weights; `onStep`
   * runs as each step's work is queued. Returns [frames, features].
   */
  sample(frames, prompt, guidance, weights, steps, seed, onStep) {
    const text = this.textEmbedding(prompt);
    const none = Tensor.zeros([1, 1, this.d]);
    const conds = { nocfg: [text], regular: [text, none], separated: [text, none, text.scale(0.5, 0)] }[guidance];
    const rows = conds.length;
    const cond = Tensor.concat(conds, 0);
    let x = Tensor.randn([1, frames, this.features], seed);
    let x0 = null;
    for (let i = 0; i < steps; i++) {
      const t = f(f(TRAIN_STEPS - 1) - f(f(i * TRAIN_STEPS) / steps));
      const tPrev = f(t - f(TRAIN_STEPS / steps));
      const [ab, abPrev] = [alphaBar(t), tPrev < 0 ? 1 : alphaBar(tPrev)];
      // A step's temporaries are freed as it ends, as the Rust ones drop.
      const next = Tensor.tidy(() => {
        const e = this.eps(Tensor.concat(new Array(rows).fill(x), 0), t, cond);
        let eps = e;
        if (rows > 1) {
          // uncond + sum of w_r (row_r - uncond), rows 0 and 2.
          const uncond = e.slice(0, 1, 2);
          eps = null;
          const picked = [0, 2].slice(0, rows - 1);
          for (let j = 0; j < Math.min(picked.length, weights.length); j++) {
            const r = picked[j];
            const delta = e.slice(0, r, r + 1).sub(uncond).mul(weights[j]);
            eps = (eps ?? uncond).add(delta);
          }
          eps ??= uncond;
        }
        // x0 = (x - sqrt(1 - ab) eps) / sqrt(ab), kept in range.
        const sqrtAb = f(Math.sqrt(ab));
        const scaled = x.mul(f(1 / sqrtAb));
        const pred = scaled.sub(eps.mul(f(f(Math.sqrt(f(1 - ab))) / sqrtAb))).clamp(-3, 3);
        const xNext = pred.mul(f(Math.sqrt(abPrev))).add(eps.mul(f(Math.sqrt(f(1 - abPrev)))));
        return { x: xNext, x0: pred };
      });
      x.dispose();
      x0?.dispose();
      ({ x, x0 } = next);
      onStep();
    }
    // `steps` is at least 1 (the caller's max(1)).
    return (x0 ?? x).reshape([frames, this.features]);
  }
}
