"""The reference's own clients send every constraint type and a batch body
to motionmcp-host serving the `everything` test model, and parse what comes
back with their own parsers.

Usage: python reference_everything.py http://127.0.0.1:PORT
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
model = mc.pick_model(caps, "everything")
constraint_types = ["root_path", "effector_target", "pose_keyframe", "ground_height"]
assert model["supported_constraints"] == constraint_types, model["supported_constraints"]
skeleton, names = request_skeleton(model)

request = {
    "protocol_version": "1.4",
    "model": "everything",
    "skeleton": skeleton,
    "segments": [{"type": "text", "prompt": "walk forward", "duration_frames": 12}],
    "constraints": [
        {"type": "root_path", "frames": [0, 11], "positions_xz": [[0, 0], [0, 1]]},
        {"type": "effector_target", "joint": "Head", "frames": [6], "positions": [[0, 1.7, 0.5]]},
        {"type": "pose_keyframe", "frame": 3, "joint_rotations": {"Spine": [0, 0, 0, 1]},
         "fill_mode": "generate"},
        {"type": "ground_height", "points": [[0, 0, 0], [1, 0.1, 1]]},
    ],
    "options": {"num_samples": 2, "seed": 11},
}
assert sorted({c["type"] for c in request["constraints"]}) == sorted(constraint_types)


def check(samples, fps=30.0):
    assert len(samples) == 2, len(samples)
    for motion in samples:
        assert motion["num_frames"] == 12, motion["num_frames"]
        assert motion["joint_names"] == names, motion["joint_names"]
        assert abs(motion["fps"] - fps) < 1e-3, motion["fps"]
        # The test model holds the rest pose.
        assert np.allclose(motion["local_rot_mats"], np.eye(3), atol=1e-6)


# One request with every constraint type, through both clients.
check(mc_parser.parse_gltf_samples(mc.generate(url, request)))
check(sdk_parser.parse_gltf_samples(sdk_http.generate(url, request)))

# A batch body: a valid item, an item this model refuses, another valid one.
# Both clients hand back the `{"results": [...]}` document as they got it.
item = {k: v for k, v in request.items() if k != "protocol_version"}
refused = dict(item, options={"num_samples": 5})  # max_num_samples is 4
batch = {"protocol_version": "1.4", "requests": [item, refused, dict(item, model="everything")]}
for send in (mc.generate, sdk_http.generate):
    answer = send(url, batch)
    results = answer["results"]
    assert len(results) == 3, answer
    check(sdk_parser.parse_gltf_samples(results[0]["gltf"]))
    check(mc_parser.parse_gltf_samples(results[2]["gltf"]))
    error = results[1]["error"]
    assert error["code"] == "invalid_options", error
    assert "max_num_samples" in error["message"], error

# A constraint type outside a model's list is the typed error both clients raise.
try:
    sdk_http.generate(url, dict(request, constraints=[{"type": "teleport"}]))
    raise AssertionError("an unknown constraint type must fail")
except sdk_http.MmcpError as e:
    assert e.code == "schema_validation", (e.code, e.details)

print("reference everything: all checks passed")
