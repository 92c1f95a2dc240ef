"""Records tests/fixtures/trajectories.json: motions, and the trajectories the
reference SDK (motionmcp-sdk 0.13.0, `motionmcp.trajectory`) computes for
them, exactly as its server would (a failure → no trajectories at all).

The host's port (host/src/trajectory) is tested against this file. Run with
the reference in a virtualenv, e.g. the one the tests build:

    target/reference-venv/bin/python scripts/record-trajectory-fixtures.py

The motions are procedural (a walk cycle on a Mixamo-like rig driven along a
path, turns, a jump, loops, short clips, other naming schemes), stored as
float32 values so both sides read the same numbers.
"""

import json
import math
import pathlib

import numpy as np
from motionmcp.trajectory import compute_trajectories

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/trajectories.json"

# (name, parent, rest translation), glTF frame: +Y up, facing +Z, left is +X.
MIXAMO = [
    ("Hips", None, (0.0, 0.95, 0.0)),
    ("Spine", "Hips", (0.0, 0.1, 0.0)),
    ("Spine1", "Spine", (0.0, 0.15, 0.0)),
    ("Neck", "Spine1", (0.0, 0.25, 0.0)),
    ("Head", "Neck", (0.0, 0.1, 0.0)),
    ("LeftUpLeg", "Hips", (0.09, -0.05, 0.0)),
    ("LeftLeg", "LeftUpLeg", (0.0, -0.42, 0.0)),
    ("LeftFoot", "LeftLeg", (0.0, -0.42, 0.0)),
    ("LeftToeBase", "LeftFoot", (0.0, -0.06, 0.13)),
    ("RightUpLeg", "Hips", (-0.09, -0.05, 0.0)),
    ("RightLeg", "RightUpLeg", (0.0, -0.42, 0.0)),
    ("RightFoot", "RightLeg", (0.0, -0.42, 0.0)),
    ("RightToeBase", "RightFoot", (0.0, -0.06, 0.13)),
    ("LeftArm", "Spine1", (0.17, 0.2, 0.0)),
    ("LeftForeArm", "LeftArm", (0.0, -0.28, 0.0)),
    ("LeftHand", "LeftForeArm", (0.0, -0.25, 0.0)),
    ("RightArm", "Spine1", (-0.17, 0.2, 0.0)),
    ("RightForeArm", "RightArm", (0.0, -0.28, 0.0)),
    ("RightHand", "RightForeArm", (0.0, -0.25, 0.0)),
]
UNREAL = {"Hips": "pelvis", "Spine": "spine_01", "Spine1": "spine_02", "Neck": "neck_01", "Head": "head",
          "LeftUpLeg": "thigh_l", "LeftLeg": "calf_l", "LeftFoot": "foot_l", "LeftToeBase": "ball_l",
          "RightUpLeg": "thigh_r", "RightLeg": "calf_r", "RightFoot": "foot_r", "RightToeBase": "ball_r",
          "LeftArm": "upperarm_l", "LeftForeArm": "lowerarm_l", "LeftHand": "hand_l",
          "RightArm": "upperarm_r", "RightForeArm": "lowerarm_r", "RightHand": "hand_r"}
SOMA = {"LeftUpLeg": "LeftLeg", "LeftLeg": "LeftShin", "RightUpLeg": "RightLeg", "RightLeg": "RightShin"}
NULL = [("Hips", None, (0.0, 0.95, 0.0)), ("Spine", "Hips", (0.0, 0.5, 0.0)), ("Head", "Spine", (0.0, 0.3, 0.0)),
        ("LeftFoot", "Hips", (0.1, -0.95, 0.0)), ("RightFoot", "Hips", (-0.1, -0.95, 0.0))]

STRIDE = 1.4          # metres per gait cycle
SWING = 0.265         # thigh swing (rad): the stance foot stays put at 1.2 m/s
KNEE = 0.7            # knee bend at mid-swing (rad)


def rename(rig, names):
    return [(names.get(n, n), names.get(p, p) if p else None, r) for n, p, r in rig]


def quat_x(a):
    return np.array([math.sin(a / 2), 0.0, 0.0, math.cos(a / 2)])


def quat_y(a):
    return np.array([0.0, math.sin(a / 2), 0.0, math.cos(a / 2)])


def walk(rig_names, xz, heading, lift=None, crouch=None):
    """Rotations (T, J, 4) and root translations (T, 3) of a walk whose feet
    step in time with the distance covered along `xz` (per frame), the body
    facing `heading` (radians about +Y, per frame)."""
    T, J = len(xz), len(rig_names)
    dist = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xz, axis=0), axis=1))])
    rot = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (T, J, 1))
    root = np.zeros((T, 3))
    idx = {n: i for i, n in enumerate(rig_names)}
    for t in range(T):
        phase = 2 * math.pi * dist[t] / STRIDE
        bob = 0.02 * (1 - math.cos(2 * phase)) / 2
        up = (lift[t] if lift is not None else 0.0) - (crouch[t] if crouch is not None else 0.0)
        root[t] = (xz[t][0], 0.95 - bob + up, xz[t][1])
        rot[t, idx["Hips"]] = quat_y(heading[t])
        for side, sign in (("Left", 1.0), ("Right", -1.0)):
            s = math.sin(phase) * sign
            c = math.cos(phase) * sign
            bend = (crouch[t] * 2.0 if crouch is not None else 0.0)
            rot[t, idx[side + "UpLeg"]] = quat_x(SWING * s - bend)
            rot[t, idx[side + "Leg"]] = quat_x(KNEE * max(0.0, -c) + 2 * bend)
            rot[t, idx[side + "Foot"]] = quat_x(-bend)
            rot[t, idx[side + "Arm"]] = quat_x(-0.3 * s)
    return rot, root


def line(T, fps, speed, angle, start=(0.0, 0.0)):
    d = np.array([math.sin(angle), math.cos(angle)])
    return np.array([np.array(start) + d * speed * t / fps for t in range(T)])


def case(name, rig, motions, fps=30.0, loop=False, canonical_to_request=None, rename_to=None):
    joints = rename(rig, rename_to) if rename_to else rig
    rotations = np.stack([m[0] for m in motions]).astype(np.float32)
    roots = np.stack([m[1] for m in motions]).astype(np.float32)
    skeleton = {"joints": [{"name": n, "parent": p, "rest_translation": list(r)} for n, p, r in joints]}
    names = [j["name"] for j in skeleton["joints"]]
    try:
        got = compute_trajectories(skeleton=skeleton, joint_names=names, rotations_quat=rotations,
                                   root_translations=roots, fps=fps, loop=loop,
                                   canonical_to_request=canonical_to_request)
    except Exception as exc:  # the server logs it and sends none
        got = None
        print(f"{name}: reference failed ({type(exc).__name__}: {exc}) -> no trajectories")
    else:
        print(f"{name}: " + ", ".join(f"{t['model']}/{t['heading']} {t['params']}" if t else "None" for t in got))
    return {
        "name": name,
        "fps": fps,
        "loop": loop,
        "skeleton": skeleton,
        "num_samples": int(rotations.shape[0]),
        "num_frames": int(rotations.shape[1]),
        "rotations": [float(v) for v in rotations.reshape(-1)],
        "root_translations": [float(v) for v in roots.reshape(-1)],
        "canonical_to_request": sorted((canonical_to_request or {}).items()),
        "trajectories": got,
    }


def main():
    names = [n for n, _, _ in MIXAMO]
    cases = []
    fwd = line(60, 30, 1.2, 0.0)
    cases.append(case("walk forward (+Z, 1.2 m/s)", MIXAMO, [walk(names, fwd, np.zeros(60))]))
    px = line(45, 30, 1.2, math.pi / 2)
    cases.append(case("walk toward +X", MIXAMO, [walk(names, px, np.full(45, math.pi / 2))]))
    mx = line(45, 30, 1.2, -math.pi / 2)
    cases.append(case("walk toward -X, Unreal names", MIXAMO, [walk(names, mx, np.full(45, -math.pi / 2))],
                      rename_to=UNREAL))
    cases.append(case("walk forward, SOMA names", MIXAMO, [walk(names, fwd, np.zeros(60))], rename_to=SOMA))
    strafe = line(45, 30, 0.8, math.pi / 2)
    cases.append(case("strafe toward +X facing +Z", MIXAMO, [walk(names, strafe, np.zeros(45))]))
    # a left turn on a 3 m circle: counter-clockwise seen from above
    T, r = 90, 3.0
    a = np.array([1.2 * t / 30 / r for t in range(T)])
    arc = np.stack([r - r * np.cos(a), r * np.sin(a)], 1)
    cases.append(case("walk on an arc", MIXAMO, [walk(names, arc, a)]))
    # an S-curve
    z = np.array([1.2 * t / 30 for t in range(90)])
    s = np.stack([0.6 * np.sin(2 * np.pi * z / 3.0), z], 1)
    heading = np.arctan2(np.gradient(s[:, 0]), np.gradient(s[:, 1]))
    cases.append(case("S-curve", MIXAMO, [walk(names, s, heading)]))
    # turning on the spot, +1 rad about +Y
    still = np.zeros((45, 2))
    cases.append(case("turn +1 rad on the spot", MIXAMO, [walk(names, still, np.linspace(0, 1, 45))]))
    # a quick 60-degree turn standing (no steps: the heading window decides)
    ease = np.clip((np.arange(40) - 15) / 9, 0, 1)
    quick = math.radians(60) * (3 * ease ** 2 - 2 * ease ** 3)
    cases.append(case("quick turn standing", MIXAMO, [walk(names, np.zeros((40, 2)), quick)]))
    # walking ahead, turning right by 90 degrees between 0.7 s and 1.3 s
    T = 75
    turn = -math.pi / 2 * np.clip((np.arange(T) - 21) / 18, 0, 1)
    step = np.stack([np.sin(turn), np.cos(turn)], 1) * 1.2 / 30
    path = np.concatenate([[[0.0, 0.0]], np.cumsum(step[1:], 0)])
    cases.append(case("walk with a right turn", MIXAMO, [walk(names, path, turn)]))
    # start, walk, stop
    T = 90
    v = np.array([1.2 * math.sin(math.pi * t / (T - 1)) ** 2 for t in range(T)])
    zz = np.concatenate([[0.0], np.cumsum((v[1:] + v[:-1]) / 2 / 30)])
    cases.append(case("start and stop", MIXAMO, [walk(names, np.stack([np.zeros(T), zz], 1), np.zeros(T))]))
    # a jump forward: stand, crouch, fly 0.6 m, land, stand
    T = 60
    t = np.arange(T)
    crouch = np.where((t >= 12) & (t < 20), 0.12 * np.sin(np.pi * (t - 12) / 8), 0.0)
    crouch += np.where((t >= 32) & (t < 40), 0.1 * np.sin(np.pi * (t - 32) / 8), 0.0)
    lift = np.where((t >= 20) & (t < 32), 0.35 * np.sin(np.pi * (t - 19) / 13), 0.0)
    zj = np.clip((t - 19) / 13, 0, 1) * 0.6
    rot, root = walk(names, np.stack([np.zeros(T), zj], 1) * 0, np.zeros(T), lift=lift, crouch=crouch)
    root[:, 2] += zj
    cases.append(case("jump forward", MIXAMO, [(rot, root)]))
    # loops: one stride ahead, one stride on a turn, an idle sway on the spot
    loop_fwd = line(36, 30, 1.2 * 35 / 36 * 36 / 35, 0.0)
    cases.append(case("loop: walk cycle", MIXAMO, [walk(names, loop_fwd, np.zeros(36))], loop=True))
    a = np.array([1.2 * t / 30 / 4.0 for t in range(36)])
    cases.append(case("loop: turning walk cycle", MIXAMO,
                      [walk(names, np.stack([4 - 4 * np.cos(a), 4 * np.sin(a)], 1), a)], loop=True))
    sway = np.stack([0.02 * np.sin(2 * np.pi * np.arange(48) / 47), np.zeros(48)], 1)
    rot, root = walk(names, sway * 0, np.zeros(48))
    root[:, 0] += sway[:, 0]
    cases.append(case("loop: idle sway on the spot", MIXAMO, [(rot, root)], loop=True))
    # the null model's rig: at rest, and carried forward
    null_names = [n for n, _, _ in NULL]
    rest = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (30, len(NULL), 1))
    cases.append(case("null rig at rest", NULL, [(rest, np.tile([0.0, 0.95, 0.0], (30, 1)))]))
    carried = np.stack([np.zeros(30), np.full(30, 0.95), np.arange(30) / 30.0], 1)
    cases.append(case("null rig carried +Z", NULL, [(rest, carried)]))
    # names only readable through the retarget map
    opaque = {n: f"J{i}" for i, n in enumerate(names)}
    cases.append(case("opaque names, retarget map", MIXAMO, [walk(names, fwd, np.zeros(60))],
                      canonical_to_request=opaque, rename_to=opaque))
    # two samples in one answer
    cases.append(case("two samples", MIXAMO, [walk(names, px, np.full(45, math.pi / 2)),
                                              walk(names, line(45, 30, 1.2, 0.0), np.zeros(45))]))
    # very short clips (gltf-output.md §7.2)
    for T, fps in ((1, 30.0), (2, 30.0), (4, 30.0), (5, 24.0)):
        rot, root = walk(names, line(T, fps, 1.2, 0.0), np.zeros(T))
        cases.append(case(f"{T} frames at {fps:g} fps", MIXAMO, [(rot, root)], fps=fps))
    del null_names
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"reference": "motionmcp-sdk 0.13.0", "cases": cases}, separators=(",", ":")))
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
