"""A Python backbone for the error-path tests. The first text prompt says
what to do: "raise <code> [message]" raises that ProtocolError, "unknown
joint <name>" uses a typed constructor, "throw" raises an uncaught
exception, "spin" never returns, "wrong type" returns something that is not a MotionResult, "bad
shape" returns a ragged array, "echo" answers the rest pose with a note
whose message is the request as the SDK presents it (JSON), "progress <n>"
reports steps 1..n of n; anything else is
the rest pose. It opts in to every segment and constraint type so the SDK's
conversion of each is exercised through the host."""

import json

from motionmcp_guest import (
    Backbone,
    Limits,
    ModelOption,
    Joint,
    ModelSpec,
    MotionResult,
    ProtocolError,
    Skeleton,
    export,
    report_progress,
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
            supports_retargeting=True,
            supports_loop=True,
            supports_keyframe_reduction=True,
            model_options=[
                ModelOption(name="style", type="enum", values=["calm", "wild"], default="calm"),
                ModelOption(name="energy", type="number", minimum=0.0, maximum=1.0),
            ],
            supported_constraints=["root_path", "effector_target", "pose_keyframe", "ground_height"],
            supported_segments=["text", "unconditioned", "pose", "motion_reference", "video_reference"],
            limits=Limits(max_reference_frames=100, max_video_bytes=4096, max_video_seconds=10.0),
        )

    def generate(self, request):
        prompt = next((s.prompt for s in request.segments if s.type == "text"), "")
        words = prompt.split()
        if words[:1] == ["raise"]:
            raise ProtocolError(words[1], " ".join(words[2:]) or "raised by the probe", {"probe": True})
        if words[:1] == ["progress"]:
            for done in range(1, int(words[1]) + 1):
                report_progress(done, int(words[1]))
        if words[:2] == ["unknown", "joint"]:
            raise unknown_joint(words[2], request.skeleton.joint_names)
        if prompt == "spin":
            while True:
                pass
        if prompt == "throw":
            return {}["missing"]
        if prompt == "wrong type":
            return [0.0, 0.0, 0.0, 1.0]
        if prompt == "bad shape":
            return MotionResult(rotations=[[[[0.0, 0.0, 0.0, 1.0]], []]], root_translations=[[[0.0, 0.0, 0.0]]])
        joints = request.skeleton.joints
        if prompt == "echo":
            result = MotionResult.rest_pose(
                request.num_samples, request.total_frames, len(joints), joints[0].rest_translation
            )
            result.notes = [{"code": "echo", "severity": "info", "message": json.dumps(summary(request))}]
            return result
        return MotionResult.rest_pose(
            request.num_samples, request.total_frames, len(joints), joints[0].rest_translation
        )


def summary(r):
    """The request as this SDK presents it, in the same shape as probe-js's."""
    segments = []
    for s in r.segments:
        d = {"type": s.type, "duration_frames": s.duration_frames}
        if s.type in ("text", "pose"):
            d |= {"prompt": s.prompt, "language": s.language}
        if s.type == "motion_reference":
            d |= {
                "joint_names": s.joint_names,
                "reference_frames": s.reference_frames,
                "last_rotation": list(s.rotations[-1][-1]),
                "last_root": list(s.root_positions[-1]),
                "fps": s.fps,
                "skeleton": None if s.skeleton is None else s.skeleton.joint_names,
            }
        if s.type == "video_reference":
            d |= {
                "url": s.video.url,
                "media_type": s.video.media_type,
                "num_bytes": s.video.num_bytes,
                "head": None if s.video.url else list(s.video.decoded()[:4]),
                "trimmed_seconds": s.trimmed_seconds,
                "fps": s.fps,
            }
        if s.type != "pose":
            d["seed"] = s.seed
        segments.append(d)
    constraints = []
    for c in r.constraints:
        d = {"type": c.type}
        if c.type == "root_path":
            d |= {"frames": c.frames, "positions_xz": c.positions_xz, "heading_radians": c.heading_radians}
        if c.type == "effector_target":
            d |= {"joint": c.joint, "frames": c.frames, "positions": c.positions, "rotations": c.rotations}
        if c.type == "pose_keyframe":
            d |= {
                "frame": c.frame,
                "joint_rotations": c.joint_rotations,
                "root_position": c.root_position,
                "fill_mode": c.fill_mode,
            }
        if c.type == "ground_height":
            d["points"] = c.points
        constraints.append(d)
    o = r.options
    return {
        "segments": segments,
        "constraints": constraints,
        "options": {
            "diffusion_steps": o.diffusion_steps,
            "num_samples": o.num_samples,
            "seed": o.seed,
            "post_processing": o.post_processing,
            "transition_frames": o.transition_frames,
            "guidance": None if o.guidance is None else {"type": o.guidance.type, "weight": o.guidance.weight},
            "loop": o.loop,
            "keyframe_budget": o.keyframe_budget,
            "model_options": o.model_options,
        },
        "timing_fps": None if r.timing is None else r.timing.fps,
        "fps_30": r.fps(30.0),
        "duration_frames": r.duration_frames,
        "total_frames": r.total_frames,
        "motion_references": len(r.motion_references),
        "first_motion_reference_frames": r.motion_reference.reference_frames if r.motion_reference else None,
        "video_references": len(r.video_references),
        "root": r.skeleton.root.name,
    }


export(Probe)
