"""Kimodo as a component through the real server, timed over HTTP: the
product's own path (wasm guest, tensor API, glTF out), next to
gpu-bench's Kimodo-shaped run of the bare tensor API. Used by
scripts/gpu-bench.sh; needs only the host binary, kimodo.wasm and NumPy
(the random checkpoint is written by tests/python's kimodo.weights).

    python3 scripts/kimodo_bench.py --host BIN --wasm kimodo.wasm
        [--width 1024 --layers 16 --heads 8] [--frames 300] [--steps 100]
        [--weights DIR]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def exchange(addr, method, path, body=None):
    request = urllib.request.Request(f"http://{addr}{path}", data=body, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def step_flops(width, layers, frames, passes):
    """As host/benches/kimodo.rs counts them (time MLP and text left out)."""
    n, w, ff = frames + 52, width, 2 * width
    layer = 2 * n * w * 3 * w + 4 * n * n * w + 2 * n * w * w + 4 * n * w * ff

    def stage(inputs, outputs):
        return 2 * frames * inputs * w + layers * layer + 2 * frames * w * outputs

    return passes * (stage(738, 5) + stage(737, 364))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--weights", help="checkpoint folder (written here if missing)")
    a = ap.parse_args()

    scratch = tempfile.mkdtemp(prefix="mmcp-kimodo-bench-")
    folder = a.weights or os.path.join(scratch, "checkpoint")
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "kimodo.weights", folder, "--width", str(a.width),
             "--layers", str(a.layers), "--heads", str(a.heads), "--seed", "1"],
            cwd=os.path.join(ROOT, "tests", "python"), check=True, timeout=600,
        )
        print(f"random checkpoint written in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    server = subprocess.Popen(
        [a.host, "serve", a.wasm, "--addr", "127.0.0.1:0", "--cache-dir", os.path.join(scratch, "cache"),
         "--weights", folder, "--timeout", "86400", "--gpu-max-dispatch-ms", "3600000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        line = server.stdout.readline().decode()
        addr = line.strip().rsplit("/", 1)[-1]
        if not addr:
            sys.exit("the server exited before serving")
        setup = time.perf_counter() - started
        status, caps = exchange(addr, "GET", "/capabilities")
        assert status == 200, caps
        request = {
            "protocol_version": "1.4",
            "model": caps["models"][0]["id"],
            "skeleton": caps["models"][0]["canonical_skeleton"],
            "segments": [{"type": "text", "prompt": "walk forward", "duration_frames": a.frames}],
            "options": {"seed": 1, "diffusion_steps": a.steps, "num_samples": 1,
                        "guidance": {"type": "separated", "weight": [2.0, 2.0]},
                        "post_processing": False},
        }
        started = time.perf_counter()
        status, answer = exchange(addr, "POST", "/generate", json.dumps(request).encode())
        while status == 202:
            time.sleep(0.1)
            status, answer = exchange(addr, "GET", f"/generate/jobs/{answer['job_id']}")
        seconds = time.perf_counter() - started
        if status != 200:
            sys.exit(f"generation failed: {status} {json.dumps(answer)[:400]}")
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    flops = step_flops(a.width, a.layers, a.frames, 3)
    print()
    print(f"Kimodo component through the server (HTTP, wasm guest, glTF out): width {a.width}, "
          f"{a.layers} layers x 2 stages, {a.heads} heads, T = {a.frames}, separated guidance, random weights")
    print("| set-up (s) | generation (s) | steps | s / step | GFLOP / step | GFLOP/s |")
    print("|---|---|---|---|---|---|")
    print(f"| {setup:.2f} | {seconds:.3f} | {a.steps} | {seconds / a.steps:.4f} | {flops / 1e9:.1f} "
          f"| {flops * a.steps / seconds / 1e9:.1f} |")


if __name__ == "__main__":
    main()
