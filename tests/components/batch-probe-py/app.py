"""The batch probe in Python: a ``generate_batch`` hook on the null model's
skeleton, advertising only ``nocfg`` guidance. Each result carries a note
saying how it was made (``generate``, or ``item i of n`` for a batch item).
The first batch item's text prompt steers the hook: "no results" returns an
empty list, "panic" raises from the hook itself; an item whose prompt is
"raise" fails alone with ``invalid_options``; anything else is the rest pose.
Same behaviour as ``tests/components/batch-probe`` (Rust)."""

from motionmcp_guest import Backbone, Joint, ModelSpec, MotionResult, ProtocolError, Skeleton, export


def prompt(request):
    return next((s.prompt for s in request.segments if s.type == "text"), "")


def rest(request, how):
    joints = request.skeleton.joints
    result = MotionResult.rest_pose(
        request.num_samples, request.total_frames, len(joints), joints[0].rest_translation
    )
    result.notes = [{"code": "made_by", "severity": "info", "message": how}]
    return result


class BatchProbe(Backbone):
    def capabilities(self):
        return ModelSpec(
            id="batch-probe",
            fps=30.0,
            canonical_skeleton=Skeleton(
                [
                    Joint("Hips", None, (0.0, 0.95, 0.0)),
                    Joint("Spine", "Hips", (0.0, 0.5, 0.0)),
                    Joint("Head", "Spine", (0.0, 0.3, 0.0)),
                    Joint("LeftFoot", "Hips", (0.1, -0.95, 0.0)),
                    Joint("RightFoot", "Hips", (-0.1, -0.95, 0.0)),
                ]
            ),
            supported_guidance_types=["nocfg"],
        )

    def generate(self, request):
        return rest(request, "generate")

    async def generate_batch(self, requests):
        n = len(requests)
        first = prompt(requests[0])
        if first == "no results":
            return []
        if first == "panic":
            raise RuntimeError("the batch probe was asked to panic")
        out = []
        for i, request in enumerate(requests):
            if prompt(request) == "raise":
                out.append(ProtocolError("invalid_options", "raised by the batch probe"))
            else:
                out.append(rest(request, f"item {i} of {n}"))
        return out


export(BatchProbe)
