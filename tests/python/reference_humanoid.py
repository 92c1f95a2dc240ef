"""The reference's own clients drive the default `humanoid` model the way
Proscenium does (protocol_version "1.0", `separated` guidance, a `root_path`
at frame 0), with every constraint type, and check what their own glTF
parsers make of the answer.

Usage: python reference_humanoid.py http://127.0.0.1:PORT
Exits non-zero (an AssertionError) on the first incompatibility.
"""

import sys

import numpy as np
from motionmcp_client import client as mc
from motionmcp_client import gltf_parser as mc_parser
from motionmcp.client import http as sdk_http
from motionmcp.client import gltf_parser as sdk_parser

from reference_common import request_skeleton

url = sys.argv[1]

caps = mc.get_capabilities(url, use_cache=False)
model = mc.pick_model(caps, "humanoid")
assert len(model["canonical_skeleton"]["joints"]) >= 22
skeleton, names = request_skeleton(model)
hand = names.index("RightHand")
parents = [names.index(j["parent"]) if j["parent"] else None for j in skeleton["joints"]]
offsets = np.array([j["rest_translation"] for j in skeleton["joints"]], dtype=float)


def world(motion):
    """Forward kinematics of the parsed local rotations on the request
    skeleton, from the parsed root positions (the parser's own posed joints
    are only filled for the joints it knows by name)."""
    rot = motion["local_rot_mats"]
    frames = rot.shape[0]
    pos = np.zeros((frames, len(names), 3))
    world_rot = np.zeros((frames, len(names), 3, 3))
    for j, p in enumerate(parents):
        if p is None:
            pos[:, j] = motion["posed_joints"][:, j]
            world_rot[:, j] = rot[:, j]
        else:
            pos[:, j] = pos[:, p] + np.einsum("tab,b->ta", world_rot[:, p], offsets[j])
            world_rot[:, j] = world_rot[:, p] @ rot[:, j]
    return pos

base = {
    "protocol_version": "1.0",
    "model": "humanoid",
    "skeleton": skeleton,
    "segments": [{"type": "text", "prompt": "walk forward", "duration_frames": 90}],
    "constraints": [{"type": "root_path", "frames": [0], "positions_xz": [[0.0, 0.0]]}],
    "options": {"guidance": {"type": "separated", "weight": [2.0, 1.0]}},
}
free = mc_parser.parse_gltf(mc.generate(url, base))
target = (world(free)[60, names.index("RightArm")] + [0.0, 0.2, 0.35]).tolist()
request = dict(base, constraints=base["constraints"] + [
    {"type": "effector_target", "joint": "RightHand", "frames": [60], "positions": [target]},
    {"type": "pose_keyframe", "frame": 30, "joint_rotations": {"Head": [0, 0.258819, 0, 0.9659258]}},
    {"type": "ground_height", "points": [[0, 0, 0], [0, 10, 0]]},
])


def check(motion):
    assert motion["num_frames"] == 90 and motion["joint_names"] == names
    joints = world(motion)
    assert np.linalg.norm(joints[0, 0, [0, 2]]) < 0.01, joints[0, 0]
    assert joints[89, 0, 2] > 1.5, "walks forward (+Z)"
    assert np.linalg.norm(joints[60, hand] - target) < 0.01, joints[60, hand]
    assert joints[:, :, 1].min() > -0.01, "nothing below the ground"
    assert not np.allclose(motion["local_rot_mats"][10], motion["local_rot_mats"][40], atol=1e-3)


for generate, parser in ((mc.generate, mc_parser), (sdk_http.generate, sdk_parser)):
    (motion,) = parser.parse_gltf_samples(generate(url, request))
    check(motion)

print("reference humanoid: all checks passed")
