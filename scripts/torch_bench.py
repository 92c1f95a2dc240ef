"""The Kimodo-shaped denoiser and DDIM generation in PyTorch eager: the
baseline of issue #15, next to the tensor API's run of the same
architecture (gpu/examples/bench/kimodo_shaped.rs; change one, change the
other).

Kimodo's own modules, as its code builds them (fact sheet 1.2-1.6): per
stage an input Linear, a text Linear over 50 tokens, the time MLP (Linear,
SiLU, Linear) on a sinusoid row, a heading Linear, the sinusoid table added
to the 52 prefix + T frame tokens, torch.nn.TransformerEncoder of post-norm
layers (GELU, feed-forward 2 x width, batch_first, nested tensors off) with
a key padding mask, an output Linear of the frame tokens. Root stage
738 -> 5, body stage 737 -> 364, the body reading the root's first 4
outputs. Separated guidance: batch 3 per step.

    python3 scripts/torch_bench.py [--small | --full | --smoke] [--steps N]
        [--dtypes fp32,bf16] [--device cuda|cpu]

Prints one markdown table per dtype. Exits 3 when PyTorch is missing (the
caller says so and goes on).
"""

import argparse
import math
import sys
import time

try:
    import torch
    from torch import nn
except ImportError:
    print("PyTorch is not installed here: its rows are skipped")
    sys.exit(3)

PREFIX, TEXT_TOKENS, FEATURES = 52, 50, 369

PUBLISHED = dict(width=1024, layers=16, heads=8, frames=300, text_width=4096, padding=0)
SMALL = dict(width=64, layers=2, heads=2, frames=16, text_width=64, padding=2)
SMOKE = dict(width=32, layers=1, heads=2, frames=8, text_width=32, padding=2)


def sinusoids(rows, width):
    """PE[p, 2i] = sin(p / 10000^(2i / width)), PE[p, 2i + 1] = cos(same)."""
    p = torch.arange(rows, dtype=torch.float32)[:, None]
    i = torch.arange(width // 2, dtype=torch.float32)[None, :]
    angle = p / torch.pow(torch.tensor(10000.0), 2.0 * i / width)
    table = torch.zeros(rows, width)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle)
    return table


class Stage(nn.Module):
    def __init__(self, shape, inputs, outputs):
        super().__init__()
        w = shape["width"]
        self.input_linear = nn.Linear(inputs, w)
        self.embed_text = nn.Linear(shape["text_width"], w)
        self.time_embed = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.linear_first_heading_angle = nn.Linear(2, w)
        layer = nn.TransformerEncoderLayer(
            d_model=w,
            nhead=shape["heads"],
            dim_feedforward=2 * w,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=False,
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=shape["layers"], enable_nested_tensor=False
        )
        self.output_linear = nn.Linear(w, outputs)

    def forward(self, x, text, time_row, heading, positions, pad):
        m = self.input_linear(x)
        e = self.embed_text(text)
        tau = self.time_embed(time_row)
        h = self.linear_first_heading_angle(heading)
        seq = torch.cat([e, tau, h, m], dim=1) + positions
        seq = self.encoder(seq, src_key_padding_mask=pad)
        return self.output_linear(seq[:, PREFIX:])


class Denoiser(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.root = Stage(shape, 2 * FEATURES, 5)
        self.body = Stage(shape, 4 + (FEATURES - 5) + FEATURES, FEATURES - 5)
        for p in self.parameters():
            nn.init.normal_(p, std=0.02)

    def forward(self, x, mask, text, time_row, heading, positions, pad):
        root = self.root(torch.cat([x, mask], 2), text, time_row, heading, positions, pad)
        body_in = torch.cat([root[..., :4], x[..., 5:], mask], 2)
        body = self.body(body_in, text, time_row, heading, positions, pad)
        return torch.cat([root, body], 2)


def forward_flops(shape, passes):
    """The count kimodo_shaped.rs prints, so the rates compare."""
    n, w, t = PREFIX + shape["frames"], shape["width"], shape["frames"]
    layer = 2 * n * w * 3 * w + 4 * n * n * w + 2 * n * w * w + 8 * n * w * w

    def stage(inputs, outputs):
        return (
            2 * t * inputs * w
            + 2 * TEXT_TOKENS * shape["text_width"] * w
            + 4 * w * w
            + shape["layers"] * layer
            + 2 * t * w * outputs
        )

    return passes * (stage(738, 5) + stage(737, 364))


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def run(shape, steps, dtype, device, reps):
    passes, t, w = 3, shape["frames"], shape["width"]
    n = PREFIX + t
    torch.manual_seed(1)
    started = time.perf_counter()
    model = Denoiser(shape).to(device=device, dtype=dtype).eval()
    sync(device)
    setup = time.perf_counter() - started
    table = sinusoids(max(n, 1000), w)
    positions = table[:n].to(device=device, dtype=dtype)
    pad = torch.zeros(passes, n, dtype=torch.bool, device=device)
    if shape["padding"]:
        pad[:, n - shape["padding"] :] = True
    text = torch.zeros(passes, TEXT_TOKENS, shape["text_width"], device=device, dtype=dtype)
    text[:, 0] = torch.arange(shape["text_width"], device=device).remainder(97).to(dtype) / 97 - 0.5
    heading = torch.tensor([1.0, 0.0], device=device, dtype=dtype).repeat(passes, 1, 1)
    mask = torch.zeros(passes, t, FEATURES, device=device, dtype=dtype)

    def time_row(index):
        return table[index].to(device=device, dtype=dtype).repeat(passes, 1, 1)

    def timed(count, f):
        f()
        sync(device)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            f()
            sync(device)
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    x = torch.randn(passes, t, FEATURES, device=device, dtype=dtype)
    row = time_row(500)
    with torch.no_grad():
        forward = timed(reps, lambda: model(x, mask, text, row, heading, positions, pad))

        bars, bar = [], 1.0
        for i in range(1000):
            bar *= 1.0 - (1e-4 + (0.02 - 1e-4) * i / 999.0)
            bars.append(bar)

        def generate():
            sample = torch.randn(1, t, FEATURES, device=device, dtype=dtype)
            for k in reversed(range(steps)):
                index = k * 1000 // steps
                ab = bars[index]
                ab_prev = 1.0 if k == 0 else bars[(k - 1) * 1000 // steps]
                out = model(sample.expand(passes, -1, -1), mask, text, time_row(index), heading, positions, pad)
                full, txt, none = out[0:1], out[1:2], out[2:3]
                x0 = none + 2.0 * ((full - txt) + (txt - none))
                c = math.sqrt(1.0 - ab_prev) / math.sqrt(1.0 - ab)
                sample = (math.sqrt(ab_prev) - c * math.sqrt(ab)) * x0 + c * sample
            return sample

        generation = timed(1, generate)
    flops = forward_flops(shape, passes)
    name = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    print()
    print(
        f"Kimodo-shaped denoiser in PyTorch {torch.__version__} eager, {name}, on {device}"
        f"{' (' + torch.cuda.get_device_name() + ')' if device == 'cuda' else ''}: width {w}, "
        f"{shape['layers']} layers x 2 stages, {shape['heads']} heads, T = {t}, {n} tokens, batch {passes}"
    )
    print("| what | wall (s) | GFLOP | GFLOP/s |")
    print("|---|---|---|---|")
    print(f"| weights to the device | {setup:.3f} | - | - |")
    print(f"| one forward (both stages) | {forward:.4f} | {flops / 1e9:.1f} | {flops / forward / 1e9:.1f} |")
    print(
        f"| generation, {steps} DDIM steps | {generation:.3f} | {flops * steps / 1e9:.1f} "
        f"| {flops * steps / generation / 1e9:.1f} |"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true")
    size.add_argument("--full", action="store_true")
    size.add_argument("--smoke", action="store_true")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--device")
    a = ap.parse_args()
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    full = a.full or (not (a.small or a.smoke) and device == "cuda")
    shape = PUBLISHED if full else SMOKE if a.smoke else SMALL
    steps = a.steps or (100 if full else 2)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    for name in a.dtypes.split(","):
        if name not in dtypes:
            ap.error(f"unknown dtype {name} (fp32, bf16, fp16)")
        run(shape, steps, dtypes[name], device, 5 if full else 1)


if __name__ == "__main__":
    main()
