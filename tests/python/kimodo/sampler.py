"""Schedule, DDIM, guidance, constraints per step, multi-segment timelines
(fact sheet sections 2.1-2.5, 5, 7.3)."""

import math

import numpy as np

from . import constraints as cs
from .decode import decode, heading_from_joints
from .model import Denoiser, normalize, unnormalize
from .weights import LLM_DIM, MOTION_DIM

F32 = np.float32
N_BASE = 1000

# ----------------------------------------------------------------------------- schedule (2.1)


def base_alphas_cumprod(n=N_BASE):
    """Cosine schedule: betas in double (clamped at 0.999), stored float32; cumprod of
    (1 - beta) in float32."""
    def abar(u):
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = np.array([min(1 - abar((i + 1) / n) / abar(i / n), 0.999) for i in range(n)], dtype=np.float64).astype(F32)
    return np.cumprod(F32(1.0) - betas, dtype=F32)


def timesteps(K, n=N_BASE):
    """Training-step index of each of the K sampling steps, k = 0..K-1: round-half-to-even of
    the float32 product f32(k) * f32((n-1)/max(1, K-1)), clamped to n-1."""
    stride = F32((n - 1) / max(1, K - 1))
    prod = np.arange(n, dtype=F32) * stride                      # float32 product
    idx = np.minimum(np.rint(prod).astype(np.int64), n - 1)      # np.rint: half to even
    return idx[:K]


def respaced(K, n=N_BASE):
    """Per-step float32 buffers as the original derives them: alpha-bar through betas and a
    cumprod, clamped at 1e-9; alpha-bar-prev; 1/sqrt(abar); 1/sqrt(abar/(1-abar))."""
    acb = base_alphas_cumprod(n)
    ts = timesteps(K, n)
    a = acb[ts]
    last = np.concatenate([np.ones(1, F32), a[:-1]])
    betas = (F32(1.0) - a / last).astype(F32)
    acp = np.maximum(np.cumprod(F32(1.0) - betas, dtype=F32), F32(1e-9))
    prev = np.concatenate([np.ones(1, F32), acp[:-1]])
    return {"timesteps": ts, "alphas_cumprod": acp, "alphas_cumprod_prev": prev,
            "sqrt_recip": (F32(1.0) / np.sqrt(acp)).astype(F32),
            "sqrt_recipm1": (F32(1.0) / np.sqrt(acp / (F32(1.0) - acp))).astype(F32)}


def ddim_step(sch, k, x_t, x0):
    """Deterministic DDIM (eta 0) from step k to k-1; at k = 0 it returns x0."""
    eps = (sch["sqrt_recip"][k] * x_t - x0) / sch["sqrt_recipm1"][k]
    ap = sch["alphas_cumprod_prev"][k]
    return (x0 * np.sqrt(ap) + np.sqrt(F32(1.0) - ap) * eps).astype(F32)

# ----------------------------------------------------------------------------- guidance (2.3)


def guided_x0(den, x, valid, text, t, heading, mask, observed, cfg_type, weight):
    """One guided denoiser evaluation; the passes are stacked on the batch axis."""
    B = x.shape[0]
    z = np.zeros_like(mask)
    zt = F32(0.0) * text
    if cfg_type == "nocfg":
        return den(x, valid, text, t, heading, mask, observed)
    if cfg_type == "regular":
        out = den(np.concatenate([x, x]), np.concatenate([valid, valid]), np.concatenate([text, zt]),
                  np.concatenate([t, t]), np.concatenate([heading, heading]),
                  np.concatenate([mask, z]), np.concatenate([observed, observed]))
        c, u = out[:B], out[B:]
        return (u + F32(weight) * (c - u)).astype(F32)
    if cfg_type == "separated":
        w_text, w_con = F32(weight[0]), F32(weight[1])
        out = den(np.concatenate([x, x, x]), np.concatenate([valid] * 3), np.concatenate([text, zt, zt]),
                  np.concatenate([t] * 3), np.concatenate([heading] * 3),
                  np.concatenate([z, mask, z]), np.concatenate([observed] * 3))
        tx, c, u = out[:B], out[B:2 * B], out[2 * B:]
        return (u + w_text * (tx - u) + w_con * (c - u)).astype(F32)
    raise ValueError(f"unknown guidance type {cfg_type!r}")


def sample(den, noise, valid, text, heading, mask, observed, steps, cfg_type="separated", weight=(2.0, 2.0),
           trace=None):
    """Full sampling loop from the given initial noise [B, T, 369] (normalised space).
    mask / observed are normalised [B, T, 369] (mask 0/1). Returns x0 of the last step."""
    sch = respaced(steps)
    x = np.asarray(noise, dtype=F32)
    B = x.shape[0]
    mask = np.asarray(mask, dtype=F32)
    for k in range(steps - 1, -1, -1):
        t = np.full(B, sch["timesteps"][k], dtype=np.int64)
        x0 = guided_x0(den, x, valid, text, t, heading, mask, observed, cfg_type, weight)
        x = ddim_step(sch, k, x, x0)
        if trace is not None:
            trace.append(x.copy())
    return x

# ----------------------------------------------------------------------------- text (5)


def sanitize(text):
    """Kimodo's prompt normalisation, re-implemented from its behaviour: trim and collapse
    whitespace; drop leading non-alphanumerics; str.capitalize() (first upper, rest lower);
    drop trailing characters that are neither alphanumeric nor one of . ! ? " ] ) ';
    add '.' unless it ends in . ! ?; then for each of '.', '!', '?': split on it, strip
    every piece, capitalize each piece's first character, join with that mark plus a space,
    strip."""
    text = " ".join(text.split())
    if not text:
        return text
    start = next((i for i, ch in enumerate(text) if ch.isalnum()), len(text) - 1)
    text = text[start:].capitalize()
    end = len(text) - 1
    while end > 0 and not (text[end].isalnum() or text[end] in ".!?\"])'"):
        end -= 1
    text = text[:end + 1]
    if text[-1] not in ".!?":
        text += "."
    for mark in ".!?":
        pieces = [p.strip() for p in text.split(mark)]
        text = (mark + " ").join(p[0].capitalize() + p[1:] if p else p for p in pieces).strip()
    return text


def text_embedding(ckpt, prompt, notes):
    """[1, 4096]: zeros for an empty prompt or one not in text_embeddings.safetensors (what
    motionmcp-kimodo's default dummy encoder gives); else the stored vector."""
    key = sanitize(prompt or "")
    if key and key in ckpt.text_embeddings:
        return np.asarray(ckpt.text_embeddings[key], dtype=F32).reshape(1, LLM_DIM)
    if key:
        notes.append(f"prompt {key!r} encoded as a zero vector (no stored embedding): unconditional + constraint guidance")
    return np.zeros((1, LLM_DIM), dtype=F32)

# ----------------------------------------------------------------------------- requests (2.5, 7.3)


def parse_request(req, ckpt):
    """MMCP generate request -> plan: segments [(prompt, frames)], constraint sets, options."""
    fps = (req.get("timing") or {}).get("fps", ckpt.fps)
    if abs(float(fps) - float(ckpt.fps)) > 1e-3:
        raise cs.RequestError("invalid_options", f"timing.fps={fps} does not match model fps={ckpt.fps}")
    segs = req.get("segments") or []
    if segs:
        plan = []
        for s in segs:
            if s.get("type", "text") not in ("text", "unconditioned"):
                raise cs.RequestError("invalid_request", f"segment type {s.get('type')!r} not supported")
            plan.append((s.get("prompt", "") if s.get("type", "text") == "text" else "", int(s["duration_frames"])))
    else:
        plan = [("", int(req.get("duration_frames") or 0))]
    total = sum(n for _, n in plan)
    sets = [cs.from_mmcp(c, total) for c in (req.get("constraints") or [])]
    opts = req.get("options") or {}
    g = opts.get("guidance")
    if g is None:
        cfg_type, weight = ckpt.cfg_type, (2.0, 2.0)
    elif g["type"] == "nocfg":
        cfg_type, weight = "nocfg", None
    elif g["type"] == "regular":
        cfg_type, weight = "regular", float(g["weight"][0])
    else:
        cfg_type, weight = "separated", (float(g["weight"][0]), float(g["weight"][1]))
    return {"segments": plan, "total_frames": total, "sets": sets, "cfg_type": cfg_type, "weight": weight,
            "steps": int(opts.get("diffusion_steps", 100)), "num_samples": int(opts.get("num_samples", 1)),
            "transition_frames": int(opts.get("transition_frames", 5)),
            "post_processing": bool(opts.get("post_processing", True))}


def segment_noise_shapes(plan):
    """Shape of the initial noise of each segment: [B, frames (+ transition for n > 0), 369]."""
    B, n_tr = plan["num_samples"], plan["transition_frames"]
    return [(B, n + (n_tr if i else 0), MOTION_DIM) for i, (_, n) in enumerate(plan["segments"])]


def generate(ckpt, plan, noises, den=None, notes=None):
    """Whole generation (upstream multi-prompt path without post-processing; one segment is the
    same path). noises: one array per segment, shapes from segment_noise_shapes. Returns the
    un-normalised features [B, total_frames, 369]."""
    den = den or Denoiser(ckpt)
    notes = [] if notes is None else notes
    mean, std = ckpt.mean_std()
    B, n_tr = plan["num_samples"], plan["transition_frames"]
    generated = []
    current = 0
    latest = None
    for idx, (prompt, n) in enumerate(plan["segments"]):
        text = np.broadcast_to(text_embedding(ckpt, prompt, notes)[None], (B, 1, LLM_DIM)).astype(F32)
        obs, mask = cs.build_conditions([cs.crop_move(c, current, current + n) for c in plan["sets"]], n)
        obs = np.broadcast_to(obs, (B,) + obs.shape).copy()
        mask = np.broadcast_to(mask, (B,) + mask.shape).copy()
        if idx == 0:
            heading = np.zeros(B, dtype=F32)
            length = n
        else:
            if n_tr < 1:
                raise cs.RequestError("invalid_options", "transition_frames must be at least 1 between segments")
            prev = generated.pop()
            generated.append(prev[:, :-n_tr])
            latest = prev[:, -n_tr:]
            dec = decode(latest)
            xz = dec["smooth_root_pos"][..., [0, 2]]
            obs_t, mask_t = [], []
            for b in range(B):
                fr = np.arange(n_tr)
                o, m = cs.build_conditions([
                    cs.fullbody(fr, dec["posed_joints"][b], dec["global_rot_mats"][b], xz[b]),
                    cs.end_effector(fr, dec["posed_joints"][b], dec["global_rot_mats"][b], xz[b],
                                    ["LeftHand", "RightHand", "LeftFoot", "RightFoot"]),
                ], n_tr)
                obs_t.append(o)
                mask_t.append(m)
            obs = np.concatenate([np.stack(obs_t), obs], axis=1)
            mask = np.concatenate([np.stack(mask_t), mask], axis=1)
            shift = xz[:, 0]                                      # [B, 2]
            obs[..., 0] -= shift[:, None, 0]
            obs[..., 2] -= shift[:, None, 1]
            obs = obs * mask
            heading = heading_from_joints(dec["posed_joints"])[:, 0]
            length = n + n_tr
        noise = np.asarray(noises[idx], dtype=F32)
        if noise.shape != (B, length, MOTION_DIM):
            raise ValueError(f"segment {idx}: noise shape {noise.shape}, expected {(B, length, MOTION_DIM)}")
        valid = np.ones((B, length), dtype=bool)
        x = sample(den, noise, valid, text, heading, mask.astype(F32), normalize(obs, mean, std),
                   plan["steps"], plan["cfg_type"], plan["weight"])
        motion = unnormalize(x, mean, std)
        if idx > 0:
            motion[..., 0] += shift[:, None, 0]
            motion[..., 2] += shift[:, None, 1]
            trans = motion[:, :n_tr]
            motion = motion[:, n_tr:]
            alpha = np.linspace(1.0, 0.0, n_tr, dtype=F32)[:, None]
            generated.append((latest[:, :n_tr] * alpha + (F32(1.0) - alpha) * trans).astype(F32))
        generated.append(motion)
        current += n
    if plan["post_processing"]:
        notes.append("post_processing not applied (the reference has no MotionCorrection)")
    return np.concatenate(generated, axis=1)
