"""Checkpoint folder in NVIDIA's published layout (fact sheet sections 1.3, 1.4 and 4).

    model.safetensors                       tensors named denoiser.backbone.{root_model,body_model}.*
    config.yaml                             hyper-parameters (the published file, sizes substituted)
    stats/motion/{global_root,local_root,body}/{mean,std}.npy   (5, 4, 364 values)

`write_random_checkpoint` writes such a folder with seeded random weights at any size;
`load_checkpoint` reads it back (the same code reads the real 1.13 GB folder).

CLI:  python -m kimodo.weights OUT_DIR --width 128 --layers 2 --heads 2 --seed 1
"""

import argparse
import json
import os
import struct

import numpy as np

PREFIX = "denoiser.backbone."
MOTION_DIM = 369          # SOMA30 feature size (section 1.4)
GLOBAL_ROOT_DIM = 5
LOCAL_ROOT_DIM = 4
BODY_DIM = 364
LLM_DIM = 4096
NUM_TEXT_TOKENS = 50
FPS = 30

STAGE_DIMS = {  # stage -> (input dim, output dim), motion_mask_mode = concat
    "root_model": (2 * MOTION_DIM, GLOBAL_ROOT_DIM),                                   # 738 -> 5
    "body_model": (LOCAL_ROOT_DIM + BODY_DIM + MOTION_DIM, BODY_DIM),                 # 737 -> 364
}

# ----------------------------------------------------------------------------- safetensors

_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
           "I64": np.dtype("<i8"), "I32": np.dtype("<i4")}


def write_safetensors(path, tensors, metadata=None):
    """Write {name: float32 array} as a safetensors file: u64 LE header length, JSON header
    (names sorted, data offsets relative to the end of the header, padded with spaces to a
    multiple of 8), then the raw little-endian data in the same order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype == np.float32:
            tag, raw = "F32", a.astype("<f4").tobytes()
        elif a.dtype == np.float16:
            tag, raw = "F16", a.astype("<f2").tobytes()
        else:
            raise TypeError(f"{name}: unsupported dtype {a.dtype}")
        header[name] = {"dtype": tag, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for b in blobs:
            f.write(b)


def read_safetensors(path, as_float32=True):
    """Read a safetensors file into {name: array}. F32 as is; F16 and BF16 widened to float32
    when as_float32 (bf16: the 16 bits become the high half of a float32)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[base + start:base + end]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            a = u16.view(np.float32).reshape(shape)
        else:
            a = np.frombuffer(raw, dtype=_DTYPES[info["dtype"]]).reshape(shape)
            if as_float32 and a.dtype.kind == "f":
                a = a.astype(np.float32)
        out[name] = np.array(a)
    return out

# ----------------------------------------------------------------------------- config.yaml

CONFIG_TEMPLATE = """_target_: kimodo.model.Kimodo
num_base_steps: 1000
cfg_type: separated
denoiser:
  _target_: kimodo.model.twostage_denoiser.TwostageDenoiser
  ckpt_path: ${{oc.select:checkpoint_dir}}/model.safetensors
  motion_mask_mode: concat
  motion_rep:
    _target_: kimodo.motion_rep.KimodoMotionRep
    fps: 30
    stats_path: ${{oc.select:checkpoint_dir}}/stats/motion/
    skeleton:
      _target_: kimodo.skeleton.SOMASkeleton30
  llm_shape:
  - 1
  - 4096
  use_text_mask: false
  latent_dim: {width}
  ff_size: {ff}
  num_layers: {layers}
  num_heads: {heads}
  activation: gelu
  dropout: 0.0
  pe_dropout: 0.0
  norm_first: false
  num_text_tokens_override: 50
  input_first_heading_angle: true
"""


def _scalar(s):
    s = s.strip()
    if s == "":
        return None
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "~"):
        return None
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s


def parse_yaml(text):
    """Parse the small YAML subset config.yaml uses: nested block mappings by indentation,
    block lists ('- item', at the parent's indentation or deeper), flow lists [a, b], scalars,
    comments. Enough for the published file; not a general YAML parser."""
    lines = []
    for raw in text.splitlines():
        body = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if body.strip():
            lines.append((len(body) - len(body.lstrip(" ")), body.strip()))

    def parse_block(i, indent):
        if lines[i][1].startswith("- "):
            items = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                items.append(_value(lines[i][1][2:]))
                i += 1
            return items, i
        out = {}
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
            key, _, rest = lines[i][1].partition(":")
            key = key.strip()
            i += 1
            if rest.strip():
                out[key] = _value(rest)
            elif i < len(lines) and (lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("- "))):
                out[key], i = parse_block(i, lines[i][0])
            else:
                out[key] = None
        return out, i

    def _value(s):
        s = s.strip()
        if s.startswith("[") and s.endswith("]"):
            inner = s[1:-1].strip()
            return [_scalar(x) for x in inner.split(",")] if inner else []
        return _scalar(s)

    if not lines:
        return {}
    result, _ = parse_block(0, lines[0][0])
    return result

# ----------------------------------------------------------------------------- random checkpoint


def tensor_shapes(width, layers, ff):
    """Published tensor names (with the denoiser.backbone. prefix) and shapes (section 1.3)."""
    shapes = {}
    for stage, (din, dout) in STAGE_DIMS.items():
        s = PREFIX + stage + "."
        shapes[s + "input_linear.weight"] = (width, din)
        shapes[s + "input_linear.bias"] = (width,)
        shapes[s + "embed_text.weight"] = (width, LLM_DIM)
        shapes[s + "embed_text.bias"] = (width,)
        for k in (0, 2):
            shapes[s + f"embed_timestep.time_embed.{k}.weight"] = (width, width)
            shapes[s + f"embed_timestep.time_embed.{k}.bias"] = (width,)
        shapes[s + "linear_first_heading_angle.weight"] = (width, 2)
        shapes[s + "linear_first_heading_angle.bias"] = (width,)
        shapes[s + "output_linear.weight"] = (dout, width)
        shapes[s + "output_linear.bias"] = (dout,)
        for i in range(layers):
            p = s + f"seqTransEncoder.layers.{i}."
            shapes[p + "self_attn.in_proj_weight"] = (3 * width, width)
            shapes[p + "self_attn.in_proj_bias"] = (3 * width,)
            shapes[p + "self_attn.out_proj.weight"] = (width, width)
            shapes[p + "self_attn.out_proj.bias"] = (width,)
            shapes[p + "linear1.weight"] = (ff, width)
            shapes[p + "linear1.bias"] = (ff,)
            shapes[p + "linear2.weight"] = (width, ff)
            shapes[p + "linear2.bias"] = (width,)
            for nrm in ("norm1", "norm2"):
                shapes[p + nrm + ".weight"] = (width,)
                shapes[p + nrm + ".bias"] = (width,)
    return shapes


def random_tensors(width, layers, ff, seed):
    """Seeded random weights: Linear weights N(0, 1/fan_in) (so each Linear keeps O(1)
    activations), biases N(0, 0.1^2), LayerNorm gains 1 + N(0, 0.1^2) and shifts N(0, 0.1^2).
    Drawn in sorted-name order from numpy's PCG64 generator, stored float32."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in sorted(tensor_shapes(width, layers, ff).items()):
        if ".norm" in name and name.endswith(".weight"):
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith("bias"):
            a = 0.1 * rng.standard_normal(shape)
        else:
            a = rng.standard_normal(shape) / np.sqrt(shape[1])
        out[name] = a.astype(np.float32)
    return out


def random_stats(seed):
    """Plausible random normalisation stats (float32 .npy): global root mean near a standing
    pelvis (y ~ 0.93 m), stds in [0.2, 1.2]."""
    rng = np.random.default_rng([seed, 7])
    stats = {}
    for part, n in (("global_root", GLOBAL_ROOT_DIM), ("local_root", LOCAL_ROOT_DIM), ("body", BODY_DIM)):
        mean = 0.2 * rng.standard_normal(n)
        std = rng.uniform(0.2, 1.2, n)
        if part == "global_root":
            mean[1] += 0.93
        if part == "local_root":
            mean[3] += 0.93
        stats[part] = (mean.astype(np.float32), std.astype(np.float32))
    return stats


def make_root_identity(tensors, width, layers, eps=1e3, big=1e5):
    """Overwrite root_model so that its output is (to ~1e-3) its own input's first five dims,
    i.e. root_pred = x~[..., 0:5] (the overwritten noisy root). Test scaffolding only: with
    random weights constraint guidance has nothing to follow; with this root stage it does.
    How: every attention and feed-forward branch is zeroed (each post-norm layer becomes
    LayerNorm(s)); input_linear puts eps * x~_i on channel i and -eps * x~_i on channel 5 + i (i < 5) on top
    of a large fixed bias pattern (mean 0, rms `big`, zero on channels 0..9) that dominates LayerNorm's
    statistics, so LayerNorm is nearly linear there; output_linear reads channel i back with
    gain big / eps."""
    s = PREFIX + "root_model."
    din = STAGE_DIMS["root_model"][0]
    w = np.zeros((width, din), dtype=np.float32)
    for i in range(GLOBAL_ROOT_DIM):
        w[i, i] = eps
        w[GLOBAL_ROOT_DIM + i, i] = -eps     # twin channel: keeps the token mean independent of x~
    v = np.where(np.arange(width) % 2 == 0, 1.0, -1.0)
    v[:2 * GLOBAL_ROOT_DIM] = 0.0
    v = v - v.mean()
    v = v / np.sqrt((v * v).mean())
    tensors[s + "input_linear.weight"] = w
    tensors[s + "input_linear.bias"] = (big * v).astype(np.float32)
    for i in range(layers):
        p = s + f"seqTransEncoder.layers.{i}."
        for k in ("self_attn.out_proj.weight", "self_attn.out_proj.bias", "linear2.weight", "linear2.bias",
                  "norm1.bias", "norm2.bias"):
            tensors[p + k] = np.zeros_like(tensors[p + k])
        for k in ("norm1.weight", "norm2.weight"):
            tensors[p + k] = np.ones_like(tensors[p + k])
    o = np.zeros((GLOBAL_ROOT_DIM, width), dtype=np.float32)
    for i in range(GLOBAL_ROOT_DIM):
        o[i, i] = big / eps
    tensors[s + "output_linear.weight"] = o
    tensors[s + "output_linear.bias"] = np.zeros(GLOBAL_ROOT_DIM, dtype=np.float32)
    # The body stage's pelvis x, z (body outputs 0 and 2, features 5 and 7) read nothing: with
    # their stats mean at zero (pin_pelvis_stats) the decoded root translation's x, z is the
    # smooth root itself, so a client sees the root path where the root stage put it.
    b = PREFIX + "body_model."
    for i in (0, 2):
        tensors[b + "output_linear.weight"][i] = 0.0
        tensors[b + "output_linear.bias"][i] = 0.0
    return tensors


def pin_pelvis_stats(stats):
    """The body stats' pelvis x, z mean at zero (see make_root_identity)."""
    mean, std = stats["body"]
    mean = mean.copy()
    mean[[0, 2]] = 0.0
    stats["body"] = (mean, std)
    return stats


def write_random_checkpoint(out_dir, width=128, layers=2, heads=2, ff=None, seed=1, root_identity=False):
    """Write a complete checkpoint folder in the published layout; returns out_dir."""
    ff = 2 * width if ff is None else ff
    if width % heads:
        raise ValueError("width must be a multiple of heads")
    os.makedirs(out_dir, exist_ok=True)
    tensors = random_tensors(width, layers, ff, seed)
    if root_identity:
        make_root_identity(tensors, width, layers)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    with open(os.path.join(out_dir, "config.yaml"), "w") as f:
        f.write(CONFIG_TEMPLATE.format(width=width, ff=ff, layers=layers, heads=heads))
    stats = random_stats(seed)
    if root_identity:
        pin_pelvis_stats(stats)
    for part, (mean, std) in stats.items():
        d = os.path.join(out_dir, "stats", "motion", part)
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "mean.npy"), mean)
        np.save(os.path.join(d, "std.npy"), std)
    return out_dir

# ----------------------------------------------------------------------------- loading


class Checkpoint:
    """What the reference needs from a folder: tensors (prefix stripped), hyper-parameters,
    stats, optional text embeddings."""

    def __init__(self, tensors, config, stats, text_embeddings):
        self.tensors = tensors
        self.config = config
        self.stats = stats
        self.text_embeddings = text_embeddings
        w = tensors["root_model.input_linear.weight"]
        self.width = int(w.shape[0])
        self.layers = len({k.split(".")[3] for k in tensors
                           if k.startswith("root_model.seqTransEncoder.layers.")})
        self.ff = int(tensors["root_model.seqTransEncoder.layers.0.linear1.weight"].shape[0])
        den = (config or {}).get("denoiser", {}) or {}
        self.heads = int(den.get("num_heads", 8))
        self.num_text_tokens = int(den.get("num_text_tokens_override") or NUM_TEXT_TOKENS)
        self.cfg_type = (config or {}).get("cfg_type", "separated")
        self.num_base_steps = int((config or {}).get("num_base_steps", 1000))
        self.fps = int(((den.get("motion_rep") or {}).get("fps")) or FPS)

    def stage(self, name):
        """Tensors of one stage ('root_model' / 'body_model') with the stage prefix stripped."""
        p = name + "."
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}

    def mean_std(self):
        """369-wide mean and std used to (un)normalise features: global_root ++ body."""
        gm, gs = self.stats["global_root"]
        bm, bs = self.stats["body"]
        return np.concatenate([gm, bm]).astype(np.float32), np.concatenate([gs, bs]).astype(np.float32)


def load_checkpoint(folder):
    """Read a folder in the published layout. Raises FileNotFoundError naming a missing file."""
    need = ["model.safetensors"] + [os.path.join("stats", "motion", p, f + ".npy")
                                    for p in ("global_root", "local_root", "body") for f in ("mean", "std")]
    for rel in need:
        if not os.path.isfile(os.path.join(folder, rel)):
            raise FileNotFoundError(f"missing {rel} in {folder}")
    raw = read_safetensors(os.path.join(folder, "model.safetensors"))
    tensors = {(k[len(PREFIX):] if k.startswith(PREFIX) else k): v for k, v in raw.items()}
    cfg_path = os.path.join(folder, "config.yaml")
    config = {}
    if os.path.isfile(cfg_path):
        with open(cfg_path) as f:
            config = parse_yaml(f.read())
    stats = {}
    for part in ("global_root", "local_root", "body"):
        d = os.path.join(folder, "stats", "motion", part)
        stats[part] = (np.load(os.path.join(d, "mean.npy")).astype(np.float32).reshape(-1),
                       np.load(os.path.join(d, "std.npy")).astype(np.float32).reshape(-1))
    emb_path = os.path.join(folder, "text_embeddings.safetensors")
    text_embeddings = read_safetensors(emb_path) if os.path.isfile(emb_path) else {}
    return Checkpoint(tensors, config, stats, text_embeddings)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a random-weights Kimodo checkpoint folder.")
    ap.add_argument("out_dir")
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--ff", type=int, default=None, help="feed-forward size (default 2 x width, as published)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--root-identity", action="store_true",
                    help="root stage returns its own noisy-root input and the pelvis sits on the smooth root "
                         "(for constraint-satisfaction tests)")
    a = ap.parse_args(argv)
    write_random_checkpoint(a.out_dir, a.width, a.layers, a.heads, a.ff, a.seed, a.root_identity)
    print(a.out_dir)


if __name__ == "__main__":
    main()
