"""The network and the sampler, written against ``motionmcp_guest.Tensor``:
the Rust denoiser's ``model.rs`` op for op, so the same request and seed give
the same motion bit for bit (the ops run on the same host kernels; the
scalar schedule is computed in f32 as Rust does, see ``f32math``)."""

import math

from f32math import cosf, f32, sqrtf
from motionmcp_guest import ShapeError, Tensor

# Diffusion steps of the training schedule that DDIM subsamples.
TRAIN_STEPS = 1000.0

_S = f32(0.008)
_ONE_PLUS_S = f32(1.0 + _S)
_HALF_PI = f32(math.pi / 2)
_AB_MIN, _AB_MAX = f32(1e-5), f32(0.9999)


def alpha_bar(t):
    """Cosine schedule: the signal fraction left at step ``t`` (f32)."""
    f = cosf(f32(f32(f32(f32(t / TRAIN_STEPS) + _S) / _ONE_PLUS_S) * _HALF_PI))
    return min(max(f32(f * f), _AB_MIN), _AB_MAX)


def pair(file, name):
    return Tensor.load(file, f"{name}.weight"), Tensor.load(file, f"{name}.bias")


def norm(file, name):
    """A norm's affine pair in f32 whatever the file stores: the norm kernels
    take f32 (the ``linear`` weights may stay f16/bf16)."""
    w, b = pair(file, name)
    return w.cast("f32"), b.cast("f32")


class Block:
    """One pre-norm transformer block's weights."""

    def __init__(self, file, i):
        p = f"blocks.{i}"
        self.ln1 = norm(file, f"{p}.ln1")
        self.qkv = pair(file, f"{p}.qkv")
        self.out = pair(file, f"{p}.out")
        self.ln2 = norm(file, f"{p}.ln2")
        self.ff1 = pair(file, f"{p}.ff1")
        self.ff2 = pair(file, f"{p}.ff2")


class Denoiser:
    def __init__(self, file, features):
        names = set(Tensor.names(file))
        layers = 0
        while f"blocks.{layers}.ln1.weight" in names:
            layers += 1
        heads = Tensor.load(file, "config.heads").item()
        self.in_proj = pair(file, "in_proj")
        d, inputs = self.in_proj[0].shape
        if inputs != features or heads == 0 or d % heads:
            raise ShapeError(f"in_proj must be [d, {features}] with d divisible by {heads} heads")
        self.blocks = [Block(file, i) for i in range(layers)]
        self.d, self.heads, self.features = d, heads, features
        self.time1 = pair(file, "time.0")
        self.time2 = pair(file, "time.2")
        self.text = Tensor.load(file, "text.weight").cast("f32")
        # The timestep embedding's frequencies, [d / 2]: fixed, so made once.
        step = f32(-f32(math.log(10000.0)) / (d // 2))
        self.freqs = Tensor.arange(0.0, 1.0, d // 2).scale(step, 0.0).exp()
        self.ln_f = norm(file, "ln_f")
        self.out_proj = pair(file, "out_proj")

    def time_embedding(self, t):
        """[1, 1, d] sinusoidal embedding of step ``t`` through the time MLP."""
        freqs = self.freqs * t
        e = Tensor.concat([freqs.sin(), freqs.cos()], 0).reshape(1, 1, self.d)
        return e.linear(*self.time1, activation="silu").linear(*self.time2)

    def text_embedding(self, prompt):
        """[1, 1, d]: the mean byte embedding of the prompt (zeros when empty)."""
        data = list(prompt.encode())
        if not data:
            return Tensor.zeros([1, 1, self.d])
        idx = Tensor.from_u32(data, [len(data)])
        return self.text.index_select(0, idx).mean(0, keep_dim=True).reshape(1, 1, self.d)

    def block(self, x, p):
        b, n, d = x.shape[0], x.shape[1], self.d
        h = x.layer_norm(*p.ln1, 1e-5)
        qkv = h.linear(*p.qkv).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2)
        # The GELU and both residual adds happen in the matmuls' epilogues.
        a = Tensor.attention(q, k, v).permute(0, 2, 1, 3).reshape(b, n, d)
        x = a.linear(*p.out, residual=x)
        f = x.layer_norm(*p.ln2, 1e-5).linear(*p.ff1, activation="gelu")
        return f.linear(*p.ff2, residual=x)

    def eps(self, x, t, cond):
        """Predicted noise for x [b, frames, features] under conditions [b, 1, d]."""
        h = x.linear(*self.in_proj)
        h = (h + self.time_embedding(t)) + cond
        for block in self.blocks:
            h = self.block(h, block)
        return h.layer_norm(*self.ln_f, 1e-5).linear(*self.out_proj)

    def sample(self, frames, prompt, guidance, weights, steps, seed, on_step):
        """One motion, [frames, features]: DDIM from seeded noise, guidance
        batched in one pass (nocfg: 1 row; regular: text and unconditional;
        separated: text, unconditional and half-strength text, weighted
        separately). ``weights`` are f32 values; ``on_step`` runs as each
        step's work is queued."""
        text = self.text_embedding(prompt)
        none = Tensor.zeros([1, 1, self.d])
        if guidance == "nocfg":
            conds = [text]
        elif guidance == "regular":
            conds = [text, none]
        else:
            conds = [text, none, text.scale(0.5, 0.0)]
        rows = len(conds)
        cond = Tensor.concat(conds, 0)
        x = Tensor.randn([1, frames, self.features], seed)
        x0 = None
        # The step times in f32, as `i as f32 * TRAIN_STEPS / steps as f32`.
        n = f32(steps)
        delta_t = f32(TRAIN_STEPS / n)
        for i in range(steps):
            t = f32(f32(TRAIN_STEPS - 1.0) - f32(f32(f32(i) * TRAIN_STEPS) / n))
            t_prev = f32(t - delta_t)
            ab = alpha_bar(t)
            ab_prev = 1.0 if t_prev < 0.0 else alpha_bar(t_prev)
            e = self.eps(Tensor.concat([x] * rows, 0), t, cond)
            if rows == 1:
                eps = e
            else:
                # uncond + sum of w_r (row_r - uncond), rows 0 and 2.
                uncond = e.slice(0, 1, 2)
                eps = None
                for r, w in zip([0, 2][: rows - 1], weights):
                    delta = (e.slice(0, r, r + 1) - uncond) * w
                    eps = (uncond if eps is None else eps) + delta
                if eps is None:
                    eps = uncond
            # x0 = (x - sqrt(1 - ab) eps) / sqrt(ab), kept in range.
            root_ab = sqrtf(ab)
            scaled = x * f32(1.0 / root_ab)
            pred = (scaled - eps * f32(sqrtf(f32(1.0 - ab)) / root_ab)).clamp(-3.0, 3.0)
            x = pred * sqrtf(ab_prev) + eps * sqrtf(f32(1.0 - ab_prev))
            x0 = pred
            on_step()
        return (x if x0 is None else x0).reshape(frames, self.features)
