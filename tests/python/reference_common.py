"""What the reference-client scripts share: turning a `/capabilities` model
entry into the request skeleton a client sends (the wire joint fields only)."""


def request_skeleton(model):
    """The model's canonical skeleton as a request's `skeleton`, and its joint names."""
    skeleton = {"joints": [
        {k: j[k] for k in ("name", "parent", "rest_translation", "rest_rotation")}
        for j in model["canonical_skeleton"]["joints"]
    ]}
    return skeleton, [j["name"] for j in skeleton["joints"]]
