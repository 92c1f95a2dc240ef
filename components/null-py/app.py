"""The null backbone in Python: the rest pose for every request, answer for
answer the same as the Rust `components/null` and the reference SDK's
`NullBackbone`."""

from motionmcp_guest import (
    SUPPORTED_CONSTRAINTS,
    Backbone,
    GenerateRequest,
    Joint,
    ModelSpec,
    MotionResult,
    Skeleton,
    export,
)


class NullBackbone(Backbone):
    def capabilities(self) -> ModelSpec:
        return ModelSpec(
            id="null",
            fps=30.0,
            canonical_skeleton=Skeleton(
                joints=[
                    Joint("Hips", None, (0.0, 0.95, 0.0)),
                    Joint("Spine", "Hips", (0.0, 0.50, 0.0)),
                    Joint("Head", "Spine", (0.0, 0.30, 0.0)),
                    Joint("LeftFoot", "Hips", (0.10, -0.95, 0.0)),
                    Joint("RightFoot", "Hips", (-0.10, -0.95, 0.0)),
                ]
            ),
            supports_retargeting=False,
            supported_constraints=list(SUPPORTED_CONSTRAINTS),
            predicted_contact_joints=[],
        )

    async def generate(self, request: GenerateRequest) -> MotionResult:
        joints = request.skeleton.joints
        return MotionResult.rest_pose(
            request.options.num_samples,
            request.total_frames,
            len(joints),
            joints[0].rest_translation,
        )


export(NullBackbone)
