"""Command line for tests: one denoiser forward, or a whole generation.

  python -m kimodo.run --weights DIR --request REQ.json [--inputs IN.npz]
                       [--noise NOISE.npy|NOISE.npz|SEG0.npy,SEG1.npy,...] [--float64]
                       --out OUT.json [--out-npz OUT.npz]

REQ.json decides the mode:
  {"mode": "forward", "stage": "root" | "body" | "denoiser"}
      IN.npz: x [B,T,in] (root: 738, body: 737; the stage's whole input), or for "denoiser"
      x_t, and optionally mask, observed [B,T,369]; valid [B,T] (default all true);
      text [B,Lt,4096] (default zeros, Lt = 1); t [B] ints 0..999; heading [B] (default 0).
      OUT: {"output": [B][T][out_dim]} (+ for "denoiser": root_output, local_root, body_output)
  an MMCP generate request (anything without "mode", or "mode": "generate"):
      NOISE: .npy [B, T, 369] for one segment, or .npz with segment_0, segment_1, ..., or a
      comma-separated list of .npy files, one per segment, whose shapes are
      [B, frames_n (+ transition_frames for n > 0), 369], normalised space (the host's Philox
      draw). Without --noise: --seed S draws it from numpy's PCG64 (NOT the
      host's stream; for manual runs only).
      OUT: {"frames", "joint_names", "samples": [{"rotations" [T][30][4] (x,y,z,w, local),
      "root_translations" [T][3], "foot_contacts" {joint: [bool]}}], "features" [B][T][369]
      (un-normalised), "timesteps", "notes"}; errors: {"error": {"code", "message", "details"}}
      with exit status 2.
--out-npz writes the same arrays as npz (no JSON rounding).
--float64 runs every arithmetic step in float64 (see use_float64): the "exact" answer that
both the float32 reference and the host are measured against.
"""

import argparse
import json
import sys

import numpy as np

from . import constraints as cs
from . import decode as dc
from . import sampler as sp
from . import skeleton as sk
from .model import Denoiser
from .weights import load_checkpoint

F32 = np.float32


def use_float64():
    """Switch the modules' working precision to float64, for a run that is the float32 model
    evaluated (nearly) exactly. Each module reads its F32 global at call time, so rebinding it
    is enough. Two things stay float32 because the model defines them in float32, not because
    float32 is its working precision: the respaced schedule (the timestep indices and the
    alpha-bar products, section 2.1) and the sinusoid table (a float32 product, section 1.5);
    both are computed in float32 once and widened. The checkpoint stays as stored (float32)."""
    from . import constraints, decode, model, sampler
    schedule = sampler.respaced
    table = model.sinusoid_table
    widen = lambda v: v.astype(np.float64) if getattr(v, "dtype", None) == np.float32 else v
    for m in (constraints, decode, model, sampler):
        m.F32 = np.float64
    sampler.respaced = lambda K, n=sp.N_BASE: {k: widen(v) for k, v in _as_float32(schedule, K, n).items()}
    model.sinusoid_table = lambda width, rows=model.PE_ROWS: widen(_as_float32(table, width, rows))


def _as_float32(f, *args):
    """f(*args) with the modules' F32 bound to float32 for the call."""
    from . import model, sampler
    saved = (model.F32, sampler.F32)
    model.F32 = sampler.F32 = np.float32
    try:
        return f(*args)
    finally:
        model.F32, sampler.F32 = saved


def run_forward(ckpt, req, inputs):
    den = Denoiser(ckpt)
    stage = req.get("stage", "denoiser")
    key = "x_t" if stage == "denoiser" else "x"
    x = np.asarray(inputs[key], dtype=F32)
    B, T = x.shape[:2]
    valid = np.asarray(inputs["valid"], dtype=bool) if "valid" in inputs else np.ones((B, T), dtype=bool)
    text = np.asarray(inputs["text"], dtype=F32) if "text" in inputs else np.zeros((B, 1, 4096), dtype=F32)
    t = np.asarray(inputs["t"], dtype=np.int64).reshape(B)
    heading = np.asarray(inputs["heading"], dtype=F32).reshape(B) if "heading" in inputs else np.zeros(B, dtype=F32)
    if stage == "root":
        return {"output": den.root(x, valid, text, t, heading)}
    if stage == "body":
        return {"output": den.body(x, valid, text, t, heading)}
    mask = inputs["mask"] if "mask" in inputs else None
    observed = inputs["observed"] if "observed" in inputs else None
    out, parts = den(x, valid, text, t, heading, mask, observed, return_parts=True)
    return {"output": out, "root_output": parts["root_output"], "local_root": parts["local_root"],
            "body_output": parts["body_output"]}


def load_noises(path, shapes, seed):
    if path is None:
        rng = np.random.default_rng(seed)
        return [rng.standard_normal(s).astype(F32) for s in shapes]
    if path.endswith(".npz"):
        z = np.load(path)
        return [z[f"segment_{i}"] for i in range(len(shapes))]
    if "," in path:
        files = path.split(",")
        if len(files) != len(shapes):
            raise ValueError(f"{len(files)} noise files for {len(shapes)} segments")
        return [np.load(f) for f in files]
    if len(shapes) != 1:
        raise ValueError("several segments need an .npz with segment_0, segment_1, ...")
    return [np.load(path)]


def run_generate(ckpt, req, noise_path, seed):
    notes = []
    plan = sp.parse_request(req, ckpt)
    noises = load_noises(noise_path, sp.segment_noise_shapes(plan), seed)
    feats = sp.generate(ckpt, plan, noises, notes=notes)
    dec = dc.decode(feats)
    samples = dc.to_mmcp(dec)
    return {
        "frames": int(feats.shape[1]),
        "joint_names": sk.JOINT_NAMES,
        "samples": samples,
        "features": feats,
        "posed_joints": dec["posed_joints"],
        "timesteps": sp.timesteps(plan["steps"]),
        "notes": notes,
    }


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _arrays(result, prefix=""):
    out = {}
    for k, v in result.items():
        if isinstance(v, np.ndarray):
            out[prefix + k] = v
        elif k == "samples":
            for i, s in enumerate(v):
                out[f"rotations_{i}"] = s["rotations"]
                out[f"root_translations_{i}"] = s["root_translations"]
                out[f"foot_contacts_{i}"] = np.stack([s["foot_contacts"][n] for n in sk.CONTACT_JOINTS], -1)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--request", required=True)
    ap.add_argument("--inputs")
    ap.add_argument("--noise")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--out-npz")
    ap.add_argument("--float64", action="store_true")
    a = ap.parse_args(argv)
    if a.float64:
        use_float64()
    with open(a.request) as f:
        req = json.load(f)
    try:
        ckpt = load_checkpoint(a.weights)
        if req.get("mode") == "forward":
            result = run_forward(ckpt, req, dict(np.load(a.inputs)))
        else:
            result = run_generate(ckpt, req, a.noise, a.seed)
    except FileNotFoundError as e:
        result, status = {"error": {"code": "model_unavailable", "message": str(e), "details": {}}}, 2
    except cs.RequestError as e:
        result, status = {"error": {"code": e.code, "message": str(e), "details": e.details}}, 2
    else:
        status = 0
    with open(a.out, "w") as f:
        json.dump(_jsonable(result), f)
    if a.out_npz and status == 0:
        np.savez(a.out_npz, **_arrays(result))
    return status


if __name__ == "__main__":
    sys.exit(main())
