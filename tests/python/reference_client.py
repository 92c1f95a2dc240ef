"""Drives motionmcp-host with the reference's own clients and parsers.

Usage: python reference_client.py http://127.0.0.1:PORT
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

# --- motionmcp-client-sdk: capabilities, model choice, generation ----------
caps = mc.get_capabilities(url, use_cache=False)
assert caps["protocol_version"] == "1.4", caps
model = mc.pick_model(caps, "null")
assert model["id"] == "null", model
assert mc.model_supported_segments(model) == ["text", "unconditioned"]
skeleton, names = request_skeleton(model)

request = {
    "protocol_version": "1.4",
    "model": "null",
    "skeleton": skeleton,
    "segments": [{"type": "text", "prompt": "walk forward", "duration_frames": 12}],
    "constraints": [{"type": "root_path", "frames": [0, 11], "positions_xz": [[0, 0], [0, 1]]}],
    "options": {"num_samples": 2, "seed": 7},
}
doc = mc.generate(url, request)
samples = mc_parser.parse_gltf_samples(doc)
assert len(samples) == 2, len(samples)
for motion in samples:
    assert motion["num_frames"] == 12, motion["num_frames"]
    assert motion["num_joints"] == 5
    assert motion["joint_names"] == names, motion["joint_names"]
    assert abs(motion["fps"] - 30.0) < 1e-3, motion["fps"]
    # The null backbone holds the rest pose: identity rotations and the root
    # at its rest position. (This parser fills posed_joints only for joints
    # with a translation track: the root here, as with the reference server.)
    assert np.allclose(motion["local_rot_mats"], np.eye(3), atol=1e-6)
    assert np.allclose(motion["posed_joints"][:, 0], [0.0, 0.95, 0.0], atol=1e-6)
    assert [h for h in motion["hierarchy"]][1] == ("Spine", "Hips"), motion["hierarchy"]
    assert np.allclose(motion["rest_positions"]["Head"], [0.0, 1.75, 0.0], atol=1e-6)

# An error answer surfaces as the client's typed error with our code.
bad = dict(request, model="nope")
try:
    mc.generate(url, bad)
    raise AssertionError("an unknown model must fail")
except mc.MmcpError as e:
    assert e.code == "unknown_model", (e.code, e.details)
    assert e.details == {"available_models": ["null"]}, e.details

# --- motionmcp-sdk's own client and parser -----------------------------------
probe = sdk_http.probe_server(url)
assert probe is not None
caps2 = sdk_http.get_capabilities(url, use_cache=False)
assert caps2 == caps
doc2 = sdk_http.generate(url, dict(request, timing={"fps": 24}))
parsed = sdk_parser.parse_gltf_samples(doc2)
assert len(parsed) == 2
assert parsed[0]["num_frames"] == 12 and abs(parsed[0]["fps"] - 24.0) < 1e-3
assert np.allclose(parsed[1]["local_rot_mats"], np.eye(3), atol=1e-6)
# The travel trajectory the server computed, as this parser hands it on:
# 12 frames standing still (gltf-output.md §7, C276).
for motion in parsed:
    trajectory = motion["trajectory"]
    assert trajectory["model"] == "still" and trajectory["heading"] == "path", trajectory
    assert len(trajectory["position"]) == 12 and len(trajectory["yaw"]) == 12, trajectory
try:
    sdk_http.generate(url, dict(request, protocol_version="2.0"))
    raise AssertionError("protocol 2.0 must fail")
except sdk_http.MmcpError as e:
    assert e.code == "version_unsupported", e.code

# GLB answers (advertised in response_formats) read by the SDK's own GLB reader.
import urllib.request
from motionmcp.client.glb import glb_to_gltf

assert "gltf_2.0_binary" in caps["response_formats"], caps["response_formats"]
req = urllib.request.Request(
    url.rstrip("/") + "/generate",
    data=__import__("json").dumps(request).encode(),
    headers={"Content-Type": "application/json", "Accept": "model/gltf-binary"},
)
with urllib.request.urlopen(req) as resp:
    assert resp.headers.get("Content-Type") == "model/gltf-binary"
    glb_doc = glb_to_gltf(resp.read())
from_glb = sdk_parser.parse_gltf_samples(glb_doc)
assert len(from_glb) == 2 and from_glb[0]["num_frames"] == 12
assert np.allclose(from_glb[1]["local_rot_mats"], np.eye(3), atol=1e-6)

print("reference clients: all checks passed")
