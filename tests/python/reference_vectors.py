"""Prints, as JSON, what the reference SDK (motionmcp-sdk 0.13.0) gives for
a default ModelSpec and for each error constructor on awkward names, so the
JavaScript SDK's tests compare against the reference itself."""

import json

import motionmcp.backbone as ref
import motionmcp.errors as errors
import motionmcp.schemas as schemas

skeleton = schemas.Skeleton(
    joints=[schemas.Joint(name="Hips", parent=None, rest_translation=(0, 1, 0), rest_rotation=(0, 0, 0, 1))]
)
spec = ref.ModelSpec(id="m", fps=30.0, canonical_skeleton=skeleton).model_dump()
del spec["canonical_skeleton"]

vectors = []
for name in ["Hips", "it's", 'say "hi"', "tab\there", "back\\slash", "both ' and \"", "bell\x07", "émoji 🦴"]:
    calls = [
        ("unknownModel", [name, ["a"]], errors.unknown_model(name, ["a"])),
        ("unsupportedConstraint", [name, ["x"]], errors.unsupported_constraint(name, ["x"])),
        ("unsupportedSegment", [name, ["x"]], errors.unsupported_segment(name, ["x"])),
        ("unknownJoint", [name, ["Hips"]], errors.unknown_joint(name, ["Hips"])),
        ("versionUnsupported", [name, ["1"]], errors.version_unsupported(name, ["1"])),
    ]
    vectors += [{"ctor": c, "args": a, "envelope": e.to_envelope()} for c, a, e in calls]
vectors.append(
    {"ctor": "frameOutOfRange", "args": [40, 30], "envelope": errors.frame_out_of_range(40, 30).to_envelope()}
)
vectors.append(
    {"ctor": "retargetingUnsupported", "args": [], "envelope": errors.retargeting_unsupported().to_envelope()}
)
print(json.dumps({"spec_defaults": spec, "errors": vectors, "status_for": errors.STATUS_FOR}))
