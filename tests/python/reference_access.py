"""The reference's PyPI clients against a server that requires a token.

Usage: python reference_access.py URL TOKEN   (URL may be https://; then
SSL_CERT_FILE names the test CA). Prints a marker when every check held.
"""

import sys

from motionmcp_client import client as mc
from motionmcp_client import gltf_parser as mc_parser
from motionmcp.client import http as sdk_http
from motionmcp.client import gltf_parser as sdk_parser

from reference_common import request_skeleton

url, token = sys.argv[1], sys.argv[2]

# With the token: both clients work unchanged, given it as access_token.
caps = mc.get_capabilities(url, use_cache=False, access_token=token)
model = mc.pick_model(caps, "null")
skeleton, names = request_skeleton(model)
request = {
    "protocol_version": "1.4",
    "model": "null",
    "skeleton": skeleton,
    "segments": [{"type": "text", "prompt": "walk", "duration_frames": 6}],
}
doc = mc.generate(url, request, access_token=token)
assert len(mc_parser.parse_gltf_samples(doc)) == 1
caps = sdk_http.get_capabilities(url, use_cache=False, access_token=token)
assert caps["models"][0]["id"] == "null", caps
doc = sdk_http.generate(url, request, access_token=token)
assert len(sdk_parser.parse_gltf_samples(doc)) == 1

# Without it, or with a wrong one: each client's typed error for a 401.
for call in (
    lambda: mc.get_capabilities(url, use_cache=False),
    lambda: mc.generate(url, request),
    lambda: mc.generate(url, request, access_token="wrong"),
):
    try:
        call()
        raise AssertionError("a request without a valid token must fail")
    except mc.MmcpError as e:
        assert e.code == "auth_required", (e.code, e.details)

for call in (
    lambda: sdk_http.get_capabilities(url, use_cache=False),
    lambda: sdk_http.generate(url, request),
):
    try:
        call()
        raise AssertionError("a request without a token must fail")
    except sdk_http.MmcpError as e:
        assert e.code == "auth_required", (e.code, e.details)
        assert e.details["status"] == 401, e.details

try:
    sdk_http.generate(url, request, access_token="wrong")
    raise AssertionError("a wrong token must fail")
except sdk_http.MmcpError as e:
    # The envelope's message comes through.
    assert "bearer token is not valid" in str(e), str(e)

print("reference access: all checks passed")
