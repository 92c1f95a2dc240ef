"""Features -> SOMA-30 motion (fact sheet sections 2.7 and 3.1), float32.

Feature layout (section 1.4): 0:3 smooth root (x, pelvis y, z), 3:5 heading (cos, sin),
5:95 local joint positions (30 x 3), 95:275 global rotations (30 x 6D), 275:365 velocities,
365:369 foot contacts [LeftFoot, LeftToeBase, RightFoot, RightToeBase].
"""

import numpy as np

from . import skeleton as sk

F32 = np.float32
SL_ROOT = slice(0, 3)
SL_HEADING = slice(3, 5)
SL_LOCAL_POS = slice(5, 95)
SL_ROT = slice(95, 275)
SL_VEL = slice(275, 365)
SL_CONTACT = slice(365, 369)


def cont6d_to_matrix(d6):
    """6D -> rotation matrix: x = a/|a|, z = (x × b)/|x × b|, y = z × x, columns [x, y, z]."""
    d6 = np.asarray(d6, dtype=F32)
    a, b = d6[..., 0:3], d6[..., 3:6]
    x = a / np.linalg.norm(a, axis=-1, keepdims=True)
    z = np.cross(x, b)
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1).astype(F32)


def matrix_to_cont6d(R):
    """Rotation matrix -> 6D: first column then second column."""
    R = np.asarray(R, dtype=F32)
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1).astype(F32)


def quat_to_matrix(q):
    """[x, y, z, w] quaternions (normalised here; a zero quaternion counts as identity) -> 3x3."""
    q = np.asarray(q, dtype=F32)
    n = np.sqrt((q * q).sum(-1, keepdims=True))
    n = np.where(n == 0, F32(1.0), n)
    x, y, z, w = np.moveaxis(q / n, -1, 0)
    R = np.empty(q.shape[:-1] + (3, 3), dtype=F32)
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 0, 1] = 2 * (x * y - w * z)
    R[..., 0, 2] = 2 * (x * z + w * y)
    R[..., 1, 0] = 2 * (x * y + w * z)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 1, 2] = 2 * (y * z - w * x)
    R[..., 2, 0] = 2 * (x * z - w * y)
    R[..., 2, 1] = 2 * (y * z + w * x)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def matrix_to_quat(R):
    """3x3 rotation -> [x, y, z, w] with w >= 0 (branch on the largest of w², x², y², z²)."""
    R = np.asarray(R, dtype=np.float64)
    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    cands = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    k = cands.argmax(-1)
    q = np.zeros(R.shape[:-2] + (4,))
    for case in range(4):
        sel = k == case
        if not sel.any():
            continue
        r = R[sel]
        s = 2.0 * np.sqrt(np.maximum(cands[sel][:, case], 1e-300))  # = 4 * |component|
        if case == 0:    # w largest
            w = s / 4; x = (r[:, 2, 1] - r[:, 1, 2]) / s; y = (r[:, 0, 2] - r[:, 2, 0]) / s; z = (r[:, 1, 0] - r[:, 0, 1]) / s
        elif case == 1:  # x largest
            x = s / 4; w = (r[:, 2, 1] - r[:, 1, 2]) / s; y = (r[:, 0, 1] + r[:, 1, 0]) / s; z = (r[:, 0, 2] + r[:, 2, 0]) / s
        elif case == 2:  # y largest
            y = s / 4; w = (r[:, 0, 2] - r[:, 2, 0]) / s; x = (r[:, 0, 1] + r[:, 1, 0]) / s; z = (r[:, 1, 2] + r[:, 2, 1]) / s
        else:            # z largest
            z = s / 4; w = (r[:, 1, 0] - r[:, 0, 1]) / s; x = (r[:, 0, 2] + r[:, 2, 0]) / s; y = (r[:, 1, 2] + r[:, 2, 1]) / s
        q[sel] = np.stack([x, y, z, w], -1)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., 3:4] < 0, -q, q)
    return q.astype(F32)


def global_to_local(Rg):
    """R_local(j) = R_global(parent)^T R_global(j); the root keeps its global rotation."""
    Rl = np.array(Rg, dtype=F32)
    for j, p in enumerate(sk.PARENTS):
        if p >= 0:
            Rl[..., j, :, :] = np.swapaxes(Rg[..., p, :, :], -1, -2) @ Rg[..., j, :, :]
    return Rl


def fk(local_rots, root_translation):
    """Rest-offset FK: global rotations and joint positions [..., 30, 3, 3] / [..., 30, 3].
    Offsets are rest(j) - rest(parent) in float32; the root sits at root_translation."""
    rest = sk.REST_POSITIONS.astype(F32)
    local_rots = np.asarray(local_rots, dtype=F32)
    Rg = np.empty_like(local_rots)
    pos = np.empty(local_rots.shape[:-2] + (3,), dtype=F32)
    for j, p in enumerate(sk.PARENTS):
        if p < 0:
            Rg[..., j, :, :] = local_rots[..., j, :, :]
            pos[..., j, :] = np.asarray(root_translation, dtype=F32) + (rest[j] - rest[sk.ROOT])
        else:
            Rg[..., j, :, :] = Rg[..., p, :, :] @ local_rots[..., j, :, :]
            pos[..., j, :] = pos[..., p, :] + (Rg[..., p, :, :] @ (rest[j] - rest[p]))
    return Rg, pos


def heading_from_joints(posed):
    """θ = atan2(dz, -dx), d = pos(RightLeg) - pos(LeftLeg); 0 faces +Z."""
    d = posed[..., sk.HIP_RIGHT, :] - posed[..., sk.HIP_LEFT, :]
    return np.arctan2(d[..., 2], -d[..., 0]).astype(F32)


def decode(features):
    """Un-normalised features [B, T, 369] -> dict of arrays (section 2.7 outputs)."""
    f = np.asarray(features, dtype=F32)
    lead = f.shape[:-1]
    smooth = f[..., SL_ROOT]
    local_pos = f[..., SL_LOCAL_POS].reshape(lead + (30, 3))
    Rg = cont6d_to_matrix(f[..., SL_ROT].reshape(lead + (30, 6)))
    Rl = global_to_local(Rg)
    root = local_pos[..., sk.ROOT, :].copy()
    root[..., 0] += smooth[..., 0]
    root[..., 2] += smooth[..., 2]
    _, posed = fk(Rl, root)
    return {
        "local_rot_mats": Rl,
        "global_rot_mats": Rg,
        "posed_joints": posed,
        "root_positions": root.astype(F32),
        "smooth_root_pos": smooth.copy(),
        "foot_contacts": f[..., SL_CONTACT] > 0.5,
        "global_root_heading": f[..., SL_HEADING].copy(),
    }


def to_mmcp(decoded):
    """Per sample: local quaternions [T, 30, 4] (x, y, z, w), root translations [T, 3]
    (the predicted pelvis positions, unchanged), contacts keyed by joint name."""
    quats = matrix_to_quat(decoded["local_rot_mats"])
    out = []
    for b in range(quats.shape[0]):
        out.append({
            "rotations": quats[b],
            "root_translations": decoded["root_positions"][b],
            "foot_contacts": {name: decoded["foot_contacts"][b, :, i] for i, name in enumerate(sk.CONTACT_JOINTS)},
        })
    return out
