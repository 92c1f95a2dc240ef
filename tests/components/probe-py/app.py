"""A Python backbone for the error-path tests. The first text prompt says
what to do: "raise <code> [message]" raises that ProtocolError, "unknown
joint <name>" uses a typed constructor, "throw" raises an uncaught
exception, "wrong type" returns something that is not a MotionResult, "bad
shape" returns a ragged array; anything else is the rest pose."""

from motionmcp_guest import (
    SUPPORTED_CONSTRAINTS,
    Backbone,
    Joint,
    ModelSpec,
    MotionResult,
    ProtocolError,
    Skeleton,
    export,
    unknown_joint,
)


class Probe(Backbone):
    def capabilities(self):
        return ModelSpec(
            id="probe-py",
            fps=30.0,
            canonical_skeleton=Skeleton(
                [Joint("Hips", None, (0.0, 0.95, 0.0)), Joint("Head", "Hips", (0.0, 0.7, 0.0))]
            ),
            supported_constraints=list(SUPPORTED_CONSTRAINTS),
            supports_retargeting=True,
        )

    def generate(self, request):
        prompt = next((s.prompt for s in request.segments if s.type == "text"), "")
        words = prompt.split()
        if words[:1] == ["raise"]:
            raise ProtocolError(words[1], " ".join(words[2:]) or "raised by the probe", {"probe": True})
        if words[:2] == ["unknown", "joint"]:
            raise unknown_joint(words[2], request.skeleton.joint_names)
        if prompt == "throw":
            return {}["missing"]
        if prompt == "wrong type":
            return [0.0, 0.0, 0.0, 1.0]
        if prompt == "bad shape":
            return MotionResult(rotations=[[[[0.0, 0.0, 0.0, 1.0]], []]], root_translations=[[[0.0, 0.0, 0.0]]])
        joints = request.skeleton.joints
        return MotionResult.rest_pose(
            request.num_samples, request.total_frames, len(joints), joints[0].rest_translation
        )


export(Probe)
