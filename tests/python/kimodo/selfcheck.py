"""Self-checks of the NumPy reference (plain asserts). Run from tests/python:

    python -m kimodo.selfcheck
"""

import json
import math
import os
import subprocess
import sys
import tempfile
from fractions import Fraction

import numpy as np

from . import constraints as cs
from . import decode as dc
from . import sampler as sp
from . import skeleton as sk
from . import weights as wt
from .model import Denoiser

F32 = np.float32


def _half_even(v):
    """Round a finite float to the nearest integer, ties to even, by exact rational arithmetic."""
    q = Fraction(float(v))
    fl = math.floor(q)
    d = q - fl
    if d > Fraction(1, 2):
        return fl + 1
    if d < Fraction(1, 2):
        return fl
    return fl if fl % 2 == 0 else fl + 1


def check_schedule():
    naive_differs = 0
    for K in range(2, 1001):
        stride32 = np.float32((1000 - 1) / (K - 1))
        want = []
        for k in range(K):
            exact = np.float64(np.float32(k)) * np.float64(stride32)    # exact: 24 + 24 bits < 53
            want.append(min(_half_even(np.float32(exact)), 999))        # one rounding to float32
        got = sp.timesteps(K)
        assert got.tolist() == want, f"timesteps differ for K={K}"
        naive = [min(int(math.floor(k * (999 / (K - 1)) + 0.5)), 999) for k in range(K)]
        naive_differs += naive != want
    assert naive_differs == 259, naive_differs          # fact sheet 2.1: 259 of K = 2..1000 differ
    for K in (50, 100, 200):
        assert sp.timesteps(K).tolist() == [min(int(math.floor(k * (999 / (K - 1)) + 0.5)), 999) for k in range(K)]
    acb = sp.base_alphas_cumprod()
    assert abs(acb[0] - 0.999959) < 1e-6 and abs(acb[999] / 2.43e-9 - 1) < 0.01
    sch = sp.respaced(100)
    a = sch["alphas_cumprod"]
    for k, v in ((0, 0.999959), (1, 0.999279), (50, 0.484494), (98, 2.43e-4), (99, 2.43e-9)):
        assert abs(a[k] / v - 1) < 2e-3, (k, a[k], v)
    assert sch["alphas_cumprod_prev"][0] == 1.0
    # DDIM at k = 0 returns the x0 prediction
    x, x0 = np.ones((1, 2, 3), F32), np.full((1, 2, 3), 0.25, F32)
    assert np.allclose(sp.ddim_step(sch, 0, x, x0), x0, atol=1e-6)
    print("schedule: timesteps(K) == float32/half-even rule for K = 2..1000; 259 K differ from naive half-up")


def check_rotations():
    rng = np.random.default_rng(0)
    d6 = rng.standard_normal((1000, 6)).astype(F32)
    R = dc.cont6d_to_matrix(d6)
    assert np.allclose(R @ np.swapaxes(R, -1, -2), np.eye(3), atol=1e-5)
    assert np.allclose(np.linalg.det(R), 1.0, atol=1e-5)
    assert np.allclose(dc.cont6d_to_matrix(dc.matrix_to_cont6d(R)), R, atol=1e-5)
    a = d6[:, :3] / np.linalg.norm(d6[:, :3], axis=-1, keepdims=True)
    assert np.allclose(R[:, :, 0], a, atol=1e-6)                        # first column = a / |a|
    q = dc.matrix_to_quat(R)
    assert np.all(q[:, 3] >= 0) and np.allclose(np.linalg.norm(q, axis=-1), 1, atol=1e-6)
    assert np.allclose(dc.quat_to_matrix(q), R, atol=1e-5)
    # quaternion -> matrix -> quaternion (up to sign)
    q0 = rng.standard_normal((1000, 4)).astype(F32)
    q0 /= np.linalg.norm(q0, axis=-1, keepdims=True)
    q1 = dc.matrix_to_quat(dc.quat_to_matrix(q0))
    assert np.allclose(np.abs((q0 * q1).sum(-1)), 1, atol=1e-5)
    # identity local rotations put every joint at its rest position; rest heading ~ 0 (faces +Z)
    Rg, pos = dc.fk(np.tile(np.eye(3, dtype=F32), (30, 1, 1)), np.zeros(3, F32))
    assert np.allclose(pos, sk.REST_POSITIONS, atol=1e-6)
    assert abs(float(dc.heading_from_joints(pos))) < 0.01
    # local <-> global
    Rl = dc.quat_to_matrix(q0[:30])
    Rg, _ = dc.fk(Rl, np.zeros(3, F32))
    assert np.allclose(dc.global_to_local(Rg), Rl, atol=1e-5)
    print("rotations: 6D -> matrix -> 6D, matrix <-> quaternion, FK rest pose, local <-> global")


def check_checkpoint(folder):
    wt.write_random_checkpoint(folder, 128, 2, 2, seed=1)
    ck = wt.load_checkpoint(folder)
    ref = wt.random_tensors(128, 2, 256, 1)
    assert set(ref) == {wt.PREFIX + k for k in ck.tensors}
    for k, v in ref.items():
        got = ck.tensors[k[len(wt.PREFIX):]]
        assert got.dtype == np.float32 and got.shape == v.shape and got.tobytes() == v.tobytes(), k
    for part, (m, s) in wt.random_stats(1).items():
        assert ck.stats[part][0].tobytes() == m.tobytes() and ck.stats[part][1].tobytes() == s.tobytes()
    assert (ck.width, ck.layers, ck.heads, ck.ff, ck.fps, ck.cfg_type) == (128, 2, 2, 256, 30, "separated")
    assert ck.tensors["root_model.input_linear.weight"].shape == (128, 738)
    assert ck.tensors["body_model.input_linear.weight"].shape == (128, 737)
    assert ck.tensors["root_model.output_linear.weight"].shape == (5, 128)
    assert ck.tensors["body_model.output_linear.weight"].shape == (364, 128)
    assert ck.tensors["body_model.embed_text.weight"].shape == (128, 4096)
    cfg = ck.config["denoiser"]
    assert cfg["llm_shape"] == [1, 4096] and cfg["use_text_mask"] is False and cfg["num_text_tokens_override"] == 50
    assert cfg["motion_rep"]["fps"] == 30 and cfg["motion_mask_mode"] == "concat"
    # published sizes give the published file size (675 bytes)
    assert len(wt.CONFIG_TEMPLATE.format(width=1024, ff=2048, layers=16, heads=8)) == 675
    # published parameter count (fact sheet 1.1)
    assert sum(int(np.prod(s)) for s in wt.tensor_shapes(1024, 16, 2048).values()) == 283281777
    assert len(wt.tensor_shapes(1024, 16, 2048)) == 408
    # f16 and bf16 load as float32
    small = {"a": np.array([1.5, -2.25], dtype=np.float16)}
    p = os.path.join(folder, "h.safetensors")
    wt.write_safetensors(p, small)
    assert wt.read_safetensors(p)["a"].tolist() == [1.5, -2.25]
    bf = np.array([1.5, -2.25], dtype=np.float32).view(np.uint32) >> 16
    with open(p, "wb") as f:
        h = json.dumps({"b": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        f.write(len(h).to_bytes(8, "little") + h + bf.astype("<u2").tobytes())
    assert wt.read_safetensors(p)["b"].tolist() == [1.5, -2.25]
    os.remove(p)
    print("checkpoint: written folder loads back bit-identical; published names, shapes, 283,281,777 params")
    return ck


def check_model(ck):
    den = Denoiser(ck)
    rng = np.random.default_rng(2)
    B, T = 3, 40
    x = rng.standard_normal((B, T, 369)).astype(F32)
    mask = (rng.random((B, T, 369)) < 0.05).astype(F32)
    obs = rng.standard_normal((B, T, 369)).astype(F32)
    valid = np.ones((B, T), bool)
    valid[1, 31:] = False
    text = rng.standard_normal((B, 1, 4096)).astype(F32)
    t = np.array([999, 500, 0])
    hd = np.array([0.0, 1.0, -2.0], F32)
    out, parts = den(x, valid, text, t, hd, mask, obs, return_parts=True)
    assert out.shape == (B, T, 369) and out.dtype == np.float32
    assert parts["root_input"].shape == (B, T, 738) and parts["root_output"].shape == (B, T, 5)
    assert parts["local_root"].shape == (B, T, 4)
    assert parts["body_input"].shape == (B, T, 737) and parts["body_output"].shape == (B, T, 364)
    assert np.all(np.isfinite(out)) and 0.1 < float(out.std()) < 10
    out2 = den(x, valid, text, t, hd, mask, obs)
    assert out.tobytes() == out2.tobytes()
    # padded frames do not change valid outputs (fact sheet 1.5 step 6)
    x2 = x.copy()
    x2[1, 31:] = 123.0
    out3 = den(x2, valid, text, t, hd, mask, obs)
    assert np.array_equal(out3[1, :31], out[1, :31]) or np.abs(out3[1, :31] - out[1, :31]).max() < 1e-5
    # the text padding: 1 token or the same token followed by explicit zeros is the same input
    text50 = np.zeros((B, 50, 4096), F32)
    text50[:, :1] = text
    assert np.abs(den(x, valid, text50, t, hd, mask, obs) - out).max() < 1e-6
    # the observation only matters where the mask is set
    obs2 = np.where(mask > 0, obs, obs + 7.0)
    assert np.abs(den(x, valid, text, t, hd, mask, obs2) - out).max() < 1e-6
    print("model: stage shapes 738->5, 737->364, local root 4, output 369; deterministic; padding isolated")


def check_constraints():
    s = cs.from_mmcp({"type": "root_path", "frames": [0, 5], "positions_xz": [[1, 2], [3, 4]],
                      "heading_radians": [0.0, math.pi / 2]}, 10)
    obs, m = cs.build_conditions([s], 10)
    assert m.sum() == 8 and m[0, [0, 2, 3, 4]].all() and not m[0, 1]
    assert np.allclose(obs[5, [0, 2, 3, 4]], [3, 4, 0, 1], atol=1e-6)
    p = cs.from_mmcp({"type": "pose_keyframe", "frame": 3, "joint_rotations": {"Spine1": [0, 0, 0, 1]},
                      "fill_mode": "rest"}, 10)
    obs, m = cs.build_conditions([p], 10)
    assert m[3, 0:5].all() and m[3, 5:95].all() and not m[3, 95:].any() and m.sum() == 95
    assert abs(obs[3, 1] - sk.standing_root_height()) < 1e-6
    e = cs.from_mmcp({"type": "effector_target", "joint": "LeftHand", "frames": [2], "positions": [[0.5, 1.2, 0.3]]}, 10)
    obs, m = cs.build_conditions([e], 10)
    lh = sk.INDEX["LeftHand"]
    assert m[2, 5 + 3 * lh:8 + 3 * lh].all() and m[2, 95 + 6 * lh:101 + 6 * lh].all()
    assert np.allclose(obs[2, [0, 2]], [0.5, 0.3]) and np.allclose(obs[2, 5 + 3 * lh:8 + 3 * lh], [0.0, 1.2, 0.0], atol=1e-6)
    for bad, code in (({"type": "effector_target", "joint": "Head", "frames": [0], "positions": [[0, 0, 0]]}, "unknown_joint"),
                      ({"type": "root_path", "frames": [10], "positions_xz": [[0, 0]]}, "frame_out_of_range"),
                      ({"type": "ground_height", "points": [[0, 0, 0]]}, "unsupported_constraint")):
        try:
            cs.from_mmcp(bad, 10)
            raise AssertionError("not refused")
        except cs.RequestError as err:
            assert err.code == code
    assert sp.sanitize(" A person is    walking.") == "A person is walking."
    assert sp.sanitize("someone go forward") == "Someone go forward."
    assert sp.sanitize("jumping)") == "Jumping)."
    assert sp.sanitize("-go") == "Go."
    assert sp.sanitize("walk. then RUN") == "Walk. Then run."
    assert sp.sanitize("   ") == ""
    print("constraints: root_path / pose_keyframe / effector_target masks; refusals; prompt sanitisation")


def check_generation(folder, folder_id):
    ck = wt.load_checkpoint(folder)
    req = {"segments": [{"type": "text", "prompt": "walk", "duration_frames": 20},
                        {"type": "unconditioned", "duration_frames": 12}],
           "constraints": [{"type": "root_path", "frames": [0, 25], "positions_xz": [[0, 0], [1, 1]]},
                           {"type": "effector_target", "joint": "RightFoot", "frames": [5], "positions": [[0.1, 0.1, 0.2]]},
                           {"type": "pose_keyframe", "frame": 15, "joint_rotations": {"LeftHand": [0, 0, 0.3826834, 0.9238795]}}],
           "options": {"diffusion_steps": 4, "num_samples": 2}}
    plan = sp.parse_request(req, ck)
    shapes = sp.segment_noise_shapes(plan)
    assert shapes == [(2, 20, 369), (2, 17, 369)]
    rng = np.random.default_rng(4)
    noises = [rng.standard_normal(s).astype(F32) for s in shapes]
    f1 = sp.generate(ck, plan, noises)
    f2 = sp.generate(ck, plan, noises)
    assert f1.shape == (2, 32, 369) and f1.tobytes() == f2.tobytes()
    d = dc.decode(f1)
    assert d["posed_joints"].shape == (2, 32, 30, 3) and d["local_rot_mats"].shape == (2, 32, 30, 3, 3)
    assert d["foot_contacts"].shape == (2, 32, 4)
    for mode in ({"type": "nocfg", "weight": []}, {"type": "regular", "weight": [2.0]}):
        req["options"]["guidance"] = mode
        assert sp.generate(ck, sp.parse_request(req, ck), noises).shape == (2, 32, 369)
    # strong constraint guidance pulls the root onto the path (root stage = identity on its input)
    ci = wt.load_checkpoint(folder_id)
    frames = [0, 10, 20, 30, 39]
    target = np.array([[0, 0], [0.5, 0.4], [1, 0.9], [1.5, 1.2], [2, 1.6]], F32)
    base = {"duration_frames": 40, "constraints": [{"type": "root_path", "frames": frames, "positions_xz": target.tolist()}],
            "options": {"diffusion_steps": 10}}
    noise = [np.random.default_rng(5).standard_normal((1, 40, 369)).astype(F32)]
    err = {}
    for w in (0.0, 5.0):
        base["options"]["guidance"] = {"type": "separated", "weight": [0.0, w]}
        f = sp.generate(ci, sp.parse_request(base, ci), noise)
        err[w] = float(np.abs(f[0, frames][:, [0, 2]] - target).max())
    assert err[5.0] < 0.05 and err[5.0] < 0.1 * err[0.0], err
    print(f"generation: 2 segments x 2 samples deterministic; all guidance modes; root_path max error "
          f"{err[5.0]:.4f} m with w_constraint 5 vs {err[0.0]:.3f} m with 0")


def check_cli(folder, tmp):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=here)
    rng = np.random.default_rng(6)
    np.savez(os.path.join(tmp, "in.npz"), x=rng.standard_normal((2, 8, 738)).astype(F32), t=np.array([10, 20]),
             heading=np.array([0.5, 0.0], F32))
    with open(os.path.join(tmp, "fwd.json"), "w") as f:
        json.dump({"mode": "forward", "stage": "root"}, f)
    subprocess.run([sys.executable, "-m", "kimodo.run", "--weights", folder, "--request", os.path.join(tmp, "fwd.json"),
                    "--inputs", os.path.join(tmp, "in.npz"), "--out", os.path.join(tmp, "o.json")], check=True, env=env)
    with open(os.path.join(tmp, "o.json")) as f:
        assert np.array(json.load(f)["output"]).shape == (2, 8, 5)
    with open(os.path.join(tmp, "gen.json"), "w") as f:
        json.dump({"segments": [{"type": "text", "prompt": "hi", "duration_frames": 6}],
                   "options": {"diffusion_steps": 2, "num_samples": 1}}, f)
    np.save(os.path.join(tmp, "noise.npy"), rng.standard_normal((1, 6, 369)).astype(F32))
    subprocess.run([sys.executable, "-m", "kimodo.run", "--weights", folder, "--request", os.path.join(tmp, "gen.json"),
                    "--noise", os.path.join(tmp, "noise.npy"), "--out", os.path.join(tmp, "g.json"),
                    "--out-npz", os.path.join(tmp, "g.npz")], check=True, env=env)
    with open(os.path.join(tmp, "g.json")) as f:
        g = json.load(f)
    assert g["frames"] == 6 and np.array(g["samples"][0]["rotations"]).shape == (6, 30, 4)
    assert set(g["samples"][0]["foot_contacts"]) == set(sk.CONTACT_JOINTS)
    with open(os.path.join(tmp, "bad.json"), "w") as f:
        json.dump({"duration_frames": 6, "timing": {"fps": 24}}, f)
    r = subprocess.run([sys.executable, "-m", "kimodo.run", "--weights", folder, "--request", os.path.join(tmp, "bad.json"),
                        "--seed", "1", "--out", os.path.join(tmp, "b.json")], env=env)
    with open(os.path.join(tmp, "b.json")) as f:
        assert r.returncode == 2 and json.load(f)["error"]["code"] == "invalid_options"
    print("cli: forward (root stage), generate (json + npz), refusal exit status 2")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "ckpt")
        folder_id = os.path.join(tmp, "ckpt_id")
        check_schedule()
        check_rotations()
        ck = check_checkpoint(folder)
        wt.write_random_checkpoint(folder_id, 128, 2, 2, seed=3, root_identity=True)
        check_model(ck)
        check_constraints()
        check_generation(folder, folder_id)
        check_cli(folder, tmp)
    print("all self-checks passed")


if __name__ == "__main__":
    main()
