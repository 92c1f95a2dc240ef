"""The two-stage denoiser, op by op (fact sheet sections 1.5 and 1.6), in float32.

Precision: every tensor is float32 and every matmul is a float32 matmul (numpy/BLAS sgemm;
accumulation order is BLAS's). Three places go through float64 and round back to float32,
each to get a correctly rounded float32 result of a float32 input rather than numpy's
own float32 approximation: the sinusoid table (sin/cos of the float32 product p * div),
erf inside GELU, and nothing else in the forward. LayerNorm, softmax and the local-root
conversion are float32 throughout.
"""

import math

import numpy as np

from .weights import BODY_DIM, GLOBAL_ROOT_DIM, LLM_DIM, MOTION_DIM

F32 = np.float32
PE_ROWS = 5000
_erf = np.vectorize(math.erf, otypes=[np.float64])


def sinusoid_table(width, rows=PE_ROWS):
    """PE[p, 2i] = sin(p * 10000^(-2i/width)), PE[p, 2i+1] = cos(same), float32 (section 1.5).
    The divisor is 10000 to a power (float32), the product p * div is a float32 product."""
    div = np.power(10000.0, -np.arange(0, width, 2, dtype=np.float64) / width).astype(F32)
    arg = np.arange(rows, dtype=F32)[:, None] * div[None, :]            # float32 product
    pe = np.zeros((rows, width), dtype=F32)
    pe[:, 0::2] = np.sin(arg.astype(np.float64)).astype(F32)
    pe[:, 1::2] = np.cos(arg.astype(np.float64)).astype(F32)
    return pe


def linear(x, w, b):
    """y = x W^T + b, PyTorch Linear layout W [out, in]."""
    return (x @ w.T + b).astype(F32)


def gelu(x):
    """Exact GELU: 0.5 x (1 + erf(x / sqrt 2)); erf evaluated in float64 on the float32 input."""
    e = _erf(x.astype(np.float64) / math.sqrt(2.0)).astype(F32)
    return (F32(0.5) * x * (F32(1.0) + e)).astype(F32)


def silu(x):
    return (x / (F32(1.0) + np.exp(-x))).astype(F32)


def layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True, dtype=F32)
    d = x - mu
    var = (d * d).mean(axis=-1, keepdims=True, dtype=F32)
    return (d / np.sqrt(var + F32(eps)) * g + b).astype(F32)


def attention(s, p, heads, key_valid):
    """Multi-head self-attention with PyTorch's packed in_proj (Q, K, V row blocks, heads are
    contiguous slices). key_valid [B, N] bool: False keys get -inf before the softmax."""
    B, N, W = s.shape
    hd = W // heads
    qkv = linear(s, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"])
    q, k, v = qkv[..., :W], qkv[..., W:2 * W], qkv[..., 2 * W:]
    q = q.reshape(B, N, heads, hd).transpose(0, 2, 1, 3)
    k = k.reshape(B, N, heads, hd).transpose(0, 2, 1, 3)
    v = v.reshape(B, N, heads, hd).transpose(0, 2, 1, 3)
    scores = (q * F32(1.0 / math.sqrt(hd))) @ k.transpose(0, 1, 3, 2)     # [B, H, N, N]
    scores = np.where(key_valid[:, None, None, :], scores, F32(-np.inf))
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    a = e / e.sum(axis=-1, keepdims=True, dtype=F32)
    o = (a @ v).transpose(0, 2, 1, 3).reshape(B, N, W).astype(F32)
    return linear(o, p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"])


def encoder_layer(s, p, heads, key_valid):
    """Post-norm TransformerEncoderLayer (dropout off): LN(s + MHA(s)), LN(s + FF(s))."""
    s = layer_norm(s + attention(s, p, heads, key_valid), p["norm1.weight"], p["norm1.bias"])
    f = linear(gelu(linear(s, p["linear1.weight"], p["linear1.bias"])), p["linear2.weight"], p["linear2.bias"])
    return layer_norm(s + f, p["norm2.weight"], p["norm2.bias"])


class Stage:
    """One TransformerEncoderBlock (root_model or body_model)."""

    def __init__(self, tensors, heads, num_text_tokens=50, pe=None):
        self.p = tensors
        self.heads = heads
        self.num_text_tokens = num_text_tokens
        self.width = tensors["input_linear.weight"].shape[0]
        self.layers = len({k.split(".")[2] for k in tensors if k.startswith("seqTransEncoder.layers.")})
        self.pe = sinusoid_table(self.width) if pe is None else pe
        self._layer_params = [
            {k[len(f"seqTransEncoder.layers.{i}."):]: v for k, v in tensors.items()
             if k.startswith(f"seqTransEncoder.layers.{i}.")}
            for i in range(self.layers)]

    def prefix(self, text, t, heading):
        """The 52 prefix tokens (before positional encoding): 50 text tokens (zero-padded
        text through embed_text), time token, heading token. Returns [B, 52, W]."""
        p = self.p
        B, Lt, _ = text.shape
        if Lt > self.num_text_tokens:
            raise ValueError("more text tokens than num_text_tokens_override")
        padded = np.zeros((B, self.num_text_tokens, LLM_DIM), dtype=F32)
        padded[:, :Lt] = text
        e = linear(padded, p["embed_text.weight"], p["embed_text.bias"])                   # [B, 50, W]
        tau = self.pe[np.asarray(t, dtype=np.int64)]                                       # [B, W]
        tau = linear(silu(linear(tau, p["embed_timestep.time_embed.0.weight"], p["embed_timestep.time_embed.0.bias"])),
                     p["embed_timestep.time_embed.2.weight"], p["embed_timestep.time_embed.2.bias"])
        phi = np.asarray(heading, dtype=F32)
        hc = np.stack([np.cos(phi), np.sin(phi)], axis=-1).astype(F32)                     # [B, 2]
        h = linear(hc, p["linear_first_heading_angle.weight"], p["linear_first_heading_angle.bias"])
        return np.concatenate([e, tau[:, None], h[:, None]], axis=1)

    def __call__(self, x, valid, text, t, heading):
        """x [B, T, in_dim], valid [B, T] bool, text [B, Lt, 4096], t [B] int (0..999),
        heading [B] radians -> [B, T, out_dim]."""
        x = np.asarray(x, dtype=F32)
        B, T, _ = x.shape
        m = linear(x, self.p["input_linear.weight"], self.p["input_linear.bias"])
        pre = self.prefix(np.asarray(text, dtype=F32), t, heading)
        npre = pre.shape[1]
        s = np.concatenate([pre, m], axis=1)
        if npre + T > self.pe.shape[0]:
            raise ValueError("sequence longer than the 5000-row sinusoid table")
        s = (s + self.pe[None, :npre + T]).astype(F32)
        key_valid = np.concatenate([np.ones((B, npre), dtype=bool), np.asarray(valid, dtype=bool)], axis=1)
        for lp in self._layer_params:
            s = encoder_layer(s, lp, self.heads, key_valid)
        return linear(s[:, npre:], self.p["output_linear.weight"], self.p["output_linear.bias"])


def normalize(v, mean, std):
    """z = (v - mean) / sqrt(std^2 + 1e-5), float32 (section 1.4)."""
    return ((v - mean) / np.sqrt(std * std + F32(1e-5))).astype(F32)


def unnormalize(z, mean, std):
    return (z * np.sqrt(std * std + F32(1e-5)) + mean).astype(F32)


def global_root_to_local_root(root_norm, lengths, stats, fps=30):
    """Normalised global root [B, T, 5] -> normalised local root [B, T, 4] (section 1.6 step 3):
    [yaw rate, planar velocity x, z, root height]. Frame L-1 (L = valid frames of that sample)
    copies frame L-2; the very last row (index T-1) starts at zero before that copy, as in the
    original; rows of padded frames are computed but meaningless."""
    gm, gs = stats["global_root"]
    lm, ls = stats["local_root"]
    r = unnormalize(np.asarray(root_norm, dtype=F32), gm, gs)
    B, T, _ = r.shape
    theta = np.arctan2(r[..., 4], r[..., 3]).astype(F32)
    c, s = np.cos(theta).astype(F32), np.sin(theta).astype(F32)
    rate = np.zeros((B, T), dtype=F32)
    vel = np.zeros((B, T, 2), dtype=F32)
    if T > 1:
        sd = s[:, 1:] * c[:, :-1] - c[:, 1:] * s[:, :-1]
        cd = c[:, 1:] * c[:, :-1] + s[:, 1:] * s[:, :-1]
        rate[:, :-1] = F32(fps) * np.arctan2(sd, cd).astype(F32)
        vel[:, :-1] = F32(fps) * (r[:, 1:][..., [0, 2]] - r[:, :-1][..., [0, 2]])
    for b in range(B):
        L = int(lengths[b])
        if L >= 2:
            rate[b, L - 1] = rate[b, L - 2]
            vel[b, L - 1] = vel[b, L - 2]
        elif L == 1:   # index L-2 = -1 wraps to the last row in the original's indexing
            rate[b, 0] = rate[b, T - 1]
            vel[b, 0] = vel[b, T - 1]
    local = np.concatenate([rate[..., None], vel, r[..., 1:2]], axis=-1).astype(F32)
    return normalize(local, lm, ls)


class Denoiser:
    """TwostageDenoiser: x_t, mask, observed (all normalised, [B, T, 369]) -> x0 prediction."""

    def __init__(self, ckpt):
        self.ckpt = ckpt
        pe = sinusoid_table(ckpt.width)
        self.root = Stage(ckpt.stage("root_model"), ckpt.heads, ckpt.num_text_tokens, pe)
        self.body = Stage(ckpt.stage("body_model"), ckpt.heads, ckpt.num_text_tokens, pe)
        self.fps = ckpt.fps

    def __call__(self, x_t, valid, text, t, heading, mask=None, observed=None, return_parts=False):
        x_t = np.asarray(x_t, dtype=F32)
        if mask is None or observed is None:
            mask = np.zeros_like(x_t)
            observed = np.zeros_like(x_t)
        mask = np.asarray(mask, dtype=F32)
        observed = np.asarray(observed, dtype=F32)
        valid = np.asarray(valid, dtype=bool)
        xt = (x_t * (F32(1.0) - mask) + observed * mask).astype(F32)
        root_in = np.concatenate([xt, mask], axis=-1)                                       # 738
        root_pred = self.root(root_in, valid, text, t, heading)                              # [B, T, 5]
        local = global_root_to_local_root(root_pred, valid.sum(-1), self.ckpt.stats, self.fps)
        body_in = np.concatenate([local, xt[..., GLOBAL_ROOT_DIM:], mask], axis=-1)         # 737
        body_pred = self.body(body_in, valid, text, t, heading)                              # [B, T, 364]
        out = np.concatenate([root_pred, body_pred], axis=-1).astype(F32)
        assert out.shape[-1] == MOTION_DIM and body_pred.shape[-1] == BODY_DIM
        if return_parts:
            return out, {"root_input": root_in, "root_output": root_pred, "local_root": local,
                         "body_input": body_in, "body_output": body_pred}
        return out
