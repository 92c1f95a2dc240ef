"""Constraints -> (observed, mask) (fact sheet section 2.4) and the MMCP mapping of
motionmcp-kimodo (section 7.3).

A constraint set is a plain dict:
  {"kind": "root2d",   "frames", "xz" [n,2], "heading" [n,2] (cos, sin) or None}
  {"kind": "fullbody", "frames", "positions" [n,30,3], "rots" [n,30,3,3], "xz" [n,2]}
  {"kind": "ee",       "frames", "positions", "rots", "xz", "groups" [subset of LeftHand,
                        RightHand, LeftFoot, RightFoot, Hips]}
Full-body and effector sets also pin root y (pelvis y) and the heading of their full pose.
"""

import math

import numpy as np

from . import skeleton as sk
from .decode import SL_HEADING, SL_LOCAL_POS, SL_ROOT, SL_ROT, fk, heading_from_joints, matrix_to_cont6d, quat_to_matrix

F32 = np.float32


class RequestError(Exception):
    """A refusal: code as motionmcp-kimodo answers (invalid_options, frame_out_of_range,
    unknown_joint, unsupported_constraint)."""

    def __init__(self, code, message, details=None):
        super().__init__(message)
        self.code = code
        self.details = details or {}


def root2d(frames, xz, heading=None):
    return {"kind": "root2d", "frames": np.asarray(frames, dtype=np.int64),
            "xz": np.asarray(xz, dtype=F32).reshape(-1, 2),
            "heading": None if heading is None else np.asarray(heading, dtype=F32).reshape(-1, 2)}


def fullbody(frames, positions, rots, xz=None):
    positions = np.asarray(positions, dtype=F32)
    if xz is None:
        xz = positions[:, sk.ROOT][:, [0, 2]]
    return {"kind": "fullbody", "frames": np.asarray(frames, dtype=np.int64), "positions": positions,
            "rots": np.asarray(rots, dtype=F32), "xz": np.asarray(xz, dtype=F32).reshape(-1, 2)}


def end_effector(frames, positions, rots, xz, groups):
    s = fullbody(frames, positions, rots, xz)
    s["kind"] = "ee"
    s["groups"] = list(groups)
    return s


def crop_move(c, start, end):
    """Keep the frames in [start, end) and shift them to start at 0 (positions unchanged)."""
    keep = (c["frames"] >= start) & (c["frames"] < end)
    out = dict(c)
    out["frames"] = c["frames"][keep] - start
    for k in ("xz", "heading", "positions", "rots"):
        if out.get(k) is not None:
            out[k] = c[k][keep]
    return out


def _entries(sets):
    """Collect (index, value) entries per feature key in constraint order (Kimodo's
    update_constraints)."""
    e = {k: [] for k in ("smooth_root_2d", "root_y", "heading", "rots", "positions")}
    for c in sets:
        fr = c["frames"]
        if c["kind"] == "root2d":
            e["smooth_root_2d"] += [((int(f),), v) for f, v in zip(fr, c["xz"])]
            if c["heading"] is not None:
                e["heading"] += [((int(f),), v) for f, v in zip(fr, c["heading"])]
            continue
        pos, rots = c["positions"], c["rots"]
        if c["kind"] == "fullbody":
            pos_j = list(range(sk.NUM_JOINTS))
            rot_j = []                        # global rotations are not written for full body
        else:
            pos_j, rot_j = [], []
            for g in c["groups"]:
                pos_j += [sk.INDEX[n] for n in sk.CHAINS[g]]
                rot_j += [sk.INDEX[sk.CHAINS[g][0]]]
        for i, f in enumerate(fr):
            e["positions"] += [((int(f), j), pos[i, j]) for j in pos_j]
            e["rots"] += [((int(f), j), rots[i, j]) for j in rot_j]
        e["smooth_root_2d"] += [((int(f),), v) for f, v in zip(fr, c["xz"])]
        e["root_y"] += [((int(f),), pos[i, sk.ROOT, 1]) for i, f in enumerate(fr)]
        hd = heading_from_joints(pos)
        hcs = np.stack([np.cos(hd), np.sin(hd)], -1).astype(F32)
        e["heading"] += [((int(f),), hcs[i]) for i, f in enumerate(fr)]
    # duplicate (frame[, joint]) entries keep the first
    for k, lst in e.items():
        seen = {}
        for idx, v in lst:
            seen.setdefault(idx, v)
        e[k] = sorted(seen.items())
    return e


def build_conditions(sets, length):
    """(observed, mask) [length, 369], un-normalised world-space values (section 2.4)."""
    obs = np.zeros((length, 369), dtype=F32)
    mask = np.zeros((length, 369), dtype=bool)
    e = _entries(sets)
    for (f,), v in e["smooth_root_2d"]:
        obs[f, 0], obs[f, 2] = v[0], v[1]
        mask[f, 0] = mask[f, 2] = True
    for (f,), v in e["root_y"]:
        obs[f, 1] = v
        mask[f, 1] = True
    for (f,), v in e["heading"]:
        obs[f, SL_HEADING] = v
        mask[f, SL_HEADING] = True
    for (f, j), R in e["rots"]:
        a = SL_ROT.start + 6 * j
        obs[f, a:a + 6] = matrix_to_cont6d(R)
        mask[f, a:a + 6] = True
    for (f, j), p in e["positions"]:
        if not (mask[f, 0] and mask[f, 2]):
            raise ValueError("constraining global positions needs the smooth root x, z of that frame")
        a = SL_LOCAL_POS.start + 3 * j
        obs[f, a:a + 3] = p - np.array([obs[f, 0], 0.0, obs[f, 2]], dtype=F32)
        mask[f, a:a + 3] = True
    return obs, mask

# ----------------------------------------------------------------------------- MMCP -> sets


def _standing_neutral():
    return (sk.REST_POSITIONS.astype(F32) + np.array([0.0, sk.standing_root_height(), 0.0], dtype=F32))


def _rotation_between(u, v):
    """Rotation taking direction u onto direction v (Rodrigues; 180° about a perpendicular axis
    when opposite), float32."""
    u = u / (np.linalg.norm(u) + 1e-9)
    v = v / (np.linalg.norm(v) + 1e-9)
    d = float(np.dot(u, v))
    if d > 1.0 - 1e-6:
        return np.eye(3, dtype=F32)
    if d < -1.0 + 1e-6:
        helper = np.array([0.0, 1.0, 0.0] if abs(u[0]) > 0.9 else [1.0, 0.0, 0.0], dtype=F32)
        ax = helper - float(np.dot(helper, u)) * u
        ax = ax / (np.linalg.norm(ax) + 1e-9)
        return (2.0 * np.outer(ax, ax) - np.eye(3)).astype(F32)
    w = np.cross(u, v)
    K = np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]], dtype=F32)
    return (np.eye(3, dtype=F32) + K + K @ K / (1.0 + d)).astype(F32)


def from_mmcp(c, total_frames):
    """One MMCP constraint -> one constraint set (motionmcp-kimodo's translation)."""
    typ = c.get("type")
    if typ == "root_path":
        frames = list(c["frames"])
        _check_frames(frames, total_frames)
        heading = None
        if c.get("heading_radians") is not None:
            heading = [(math.cos(h), math.sin(h)) for h in c["heading_radians"]]
        return root2d(frames, c["positions_xz"], heading)
    if typ == "effector_target":
        joint = c["joint"]
        if joint not in sk.INDEX:
            raise RequestError("unknown_joint", f"effector_target.joint={joint!r} is not in the model's skeleton")
        g = sk.ee_group(joint)
        if g not in ("LeftHand", "RightHand", "LeftFoot", "RightFoot"):
            raise RequestError("unknown_joint", f"effector_target.joint={joint!r} is not in a constrainable chain")
        frames = list(c["frames"])
        _check_frames(frames, total_frames)
        target = np.asarray(c["positions"], dtype=F32).reshape(-1, 3)
        n = len(frames)
        neutral = _standing_neutral()
        j = sk.INDEX[joint]
        if c.get("rotations") is not None:
            pin = quat_to_matrix(np.asarray(c["rotations"], dtype=F32).reshape(-1, 4))
        else:
            pin = np.tile(np.eye(3, dtype=F32), (n, 1, 1))
            anchor = neutral[sk.INDEX[sk.CHAIN_ANCHOR[g]]]
            rest_reach = neutral[j] - anchor
            if np.linalg.norm(rest_reach) > 1e-6:
                for k in range(n):
                    reach = target[k] - anchor
                    if np.linalg.norm(reach) >= 1e-6:
                        pin[k] = _rotation_between(rest_reach / np.linalg.norm(rest_reach), reach / np.linalg.norm(reach))
        positions = np.tile(neutral[None], (n, 1, 1))
        for name in sk.CHAINS[g]:
            ci = sk.INDEX[name]
            rel = neutral[ci] - neutral[j]
            for k in range(n):
                positions[k, ci] = target[k] + pin[k] @ rel
        rots = np.tile(np.eye(3, dtype=F32), (n, sk.NUM_JOINTS, 1, 1))
        rots[:, j] = pin
        return end_effector(frames, positions, rots, target[:, [0, 2]], [g])
    if typ == "pose_keyframe":
        frame = int(c["frame"])
        _check_frames([frame], total_frames)
        jr = c["joint_rotations"]
        for name in jr:
            if name not in sk.INDEX:
                raise RequestError("unknown_joint", f"pose_keyframe.joint_rotations references unknown joint {name!r}")
        local = np.tile(np.eye(3, dtype=F32), (sk.NUM_JOINTS, 1, 1))
        if jr:
            local[[sk.INDEX[n] for n in jr]] = quat_to_matrix(np.asarray(list(jr.values()), dtype=F32))
        root = (np.asarray(c["root_position"], dtype=F32) if c.get("root_position") is not None
                else np.array([0.0, sk.standing_root_height(), 0.0], dtype=F32))
        Rg, posed = fk(local[None], root[None])
        xz = None if c.get("root_position") is None else np.array([[c["root_position"][0], c["root_position"][2]]], dtype=F32)
        groups = []
        for name in jr:
            gname = sk.ee_group(name)
            if gname is not None and gname not in groups:
                groups.append(gname)
        if c.get("fill_mode", "generate") == "rest" or not groups:
            return fullbody([frame], posed, Rg, xz)
        return end_effector([frame], posed, Rg, xz, groups)
    raise RequestError("unsupported_constraint", f"constraint type {typ!r} is not implemented")


def _check_frames(frames, total):
    bad = [int(f) for f in frames if f < 0 or f > total - 1]
    if bad:
        raise RequestError("frame_out_of_range", f"frame(s) {bad} outside [0, {total - 1}]",
                           {"out_of_range": bad, "total_frames": total})
