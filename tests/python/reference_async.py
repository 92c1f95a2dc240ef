"""The reference's own clients poll our async jobs to completion.

Usage: python reference_async.py http://127.0.0.1:PORT
The server must host `async-probe` (tests/components/async-probe), which
advertises supports_async, so every /generate for it answers 202. Its job
reports progress as it runs (D13: a `progress` object in the 202 polls),
which the clients must ignore."""

import sys

import numpy as np
from motionmcp_client import client as mc
from motionmcp_client import gltf_parser as mc_parser
from motionmcp.client import http as sdk_http
from motionmcp.client import gltf_parser as sdk_parser

from reference_common import request_skeleton

url = sys.argv[1]

caps = mc.get_capabilities(url, use_cache=False)
model = mc.pick_model(caps, "async-probe")
assert model["supports_async"] is True, model
skeleton, _ = request_skeleton(model)
request = {
    "protocol_version": "1.4",
    "model": "async-probe",
    "skeleton": skeleton,
    "segments": [{"type": "text", "prompt": "steps 10 300", "duration_frames": 9}],
    "options": {"num_samples": 2},
}

# motionmcp-client-sdk: POST answers 202, the client polls Location.
progress = []
doc = mc.generate(url, request, on_progress=lambda *a: progress.append(a))
# The 3-second job was polled while running (its polls carried progress).
assert len(progress) >= 2, progress
samples = mc_parser.parse_gltf_samples(doc)
assert len(samples) == 2 and samples[0]["num_frames"] == 9, samples
assert np.allclose(samples[0]["posed_joints"][:, 0], [0.0, 0.95, 0.0], atol=1e-6)

# motionmcp-sdk's own client, the same way.
doc2 = sdk_http.generate(url, dict(request, timing={"fps": 24}))
parsed = sdk_parser.parse_gltf_samples(doc2)
assert len(parsed) == 2 and abs(parsed[0]["fps"] - 24.0) < 1e-3

# A job that fails surfaces as the client's error, from the poll.
# motionmcp-client-sdk 0.1.0 does not read envelopes on polls: it reports
# the status only.
try:
    mc.generate(url, dict(request, segments=[{"type": "text", "prompt": "raise invalid_options", "duration_frames": 9}]))
    raise AssertionError("a failed job must fail")
except mc.MmcpError as e:
    assert (e.code, e.details) == ("http_error", {"status": 400}), (e.code, e.details)
# motionmcp-sdk's client reads the envelope.
try:
    sdk_http.generate(url, dict(request, segments=[{"type": "text", "prompt": "raise invalid_options", "duration_frames": 9}]))
    raise AssertionError("a failed job must fail")
except sdk_http.MmcpError as e:
    assert e.code == "invalid_options", (e.code, e.details)
    assert e.details.get("phase") == "poll", e.details

print("reference async clients: all checks passed")
