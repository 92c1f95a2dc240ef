"""Turns a ``Backbone`` into the component's exports: converts between the
WIT bindings componentize-py generates (``wit_world``) and the SDK's types.
With ``tensor`` (the GPU tensor bindings), the only module that touches
``wit_world``, which exists only inside a component build."""

from __future__ import annotations

import json
import sys
from array import array
from typing import Any

from .errors import ProtocolError
from .request import (
    EffectorTargetConstraint,
    GenerateRequest,
    GroundHeightConstraint,
    Guidance,
    MotionReferenceSegment,
    Options,
    PoseKeyframeConstraint,
    PoseSegment,
    RootPathConstraint,
    TextSegment,
    Timing,
    UnconditionedSegment,
    VideoReferenceSegment,
    VideoSource,
    _MEDIA_TYPES,
)
from .result import MotionResult
from .spec import Joint, ModelSpec, Skeleton
from .tensor import OutOfMemoryError, TensorError


# Imported when the module is: componentize-py snapshots the interpreter
# after the app's imports, and a binding first imported during a call is
# not in the component. Outside a component there is nowhere to report.
try:
    from wit_world.imports import progress as _progress
except ImportError:
    _progress = None


def export(backbone: Any) -> None:
    """Makes ``backbone`` (a ``Backbone`` subclass, or an instance of one)
    what the component exports.

    componentize-py looks for a class named ``Backbone`` in the app module;
    this puts one there, so call it at the end of that module."""
    from wit_world import exports
    from wit_world.imports import types as wit

    instance = backbone() if isinstance(backbone, type) else backbone
    caller = sys.modules[sys._getframe(1).f_globals["__name__"]]
    setattr(caller, "Backbone", _adapter(instance, exports, wit))
    setattr(caller, "Batch", _batch_adapter(instance, exports, wit))


def report_progress(done: int, total: int) -> None:
    """Reports that ``done`` of ``total`` steps of the generation under way
    are finished (a denoiser: once per step); async jobs' polls carry the
    latest report and ``motionmcp-host generate`` draws it as a progress bar.
    Outside a component (a unit test of the model) it does nothing; a
    ``total`` of 0 is ignored."""
    if _progress is None:
        return
    _progress.report(_u32(done), _u32(total))


def _u32(x: Any) -> int:
    """``x`` as a u32, clamped; NaN and non-numbers count as 0 (as in the
    JavaScript SDK): a progress report never fails a generation."""
    try:
        return max(0, min(int(x), 2**32 - 1))
    except (TypeError, ValueError, OverflowError):
        return 0 if x != float("inf") else 2**32 - 1


def _adapter(instance: Any, exports: Any, wit: Any) -> type:
    from componentize_py_types import Err

    # componentize-py may construct the export class per call; the state lives
    # in `instance`, captured here, never in the adapter.
    class Backbone(exports.Backbone):
        def setup(self) -> None:
            try:
                instance.setup()
            except Exception as e:
                raise Err(f"{type(e).__name__}: {e}")

        def teardown(self) -> None:
            instance.teardown()

        def capabilities(self) -> Any:
            return _spec(wit, instance.capabilities())

        def generate(self, request: Any) -> Any:
            try:
                result = _resolve(instance.generate(_request(wit, request)))
                if not isinstance(result, MotionResult):
                    raise ProtocolError(
                        "internal_error",
                        f"backbone.generate must return a MotionResult; got {type(result).__name__}",
                    )
                return _result(wit, result)
            except Exception as e:
                # An uncaught exception costs this request only: the envelope
                # names it, and the interpreter stays usable.
                raise Err(_error(wit, _protocol_error(e)))

    return Backbone


def _has_batch_hook(instance: Any) -> bool:
    from . import Backbone

    hook = getattr(type(instance), "generate_batch", None)
    return hook is not None and hook is not Backbone.generate_batch


def _batch_adapter(instance: Any, exports: Any, wit: Any) -> type:
    from componentize_py_types import Err, Ok

    hook = _has_batch_hook(instance)

    def outcome(item: Any) -> Any:
        """One entry of the hook's answer as a WIT result."""
        try:
            item = _resolve(item)
        except Exception as e:  # an awaitable entry failed: that item only
            item = e
        if isinstance(item, MotionResult):
            return Ok(_result(wit, item))
        if isinstance(item, BaseException):
            return Err(_error(wit, _protocol_error(item)))
        return Err(
            _error(
                wit,
                ProtocolError(
                    "internal_error",
                    f"backbone.generate_batch must return MotionResults; got {type(item).__name__}",
                ),
            )
        )

    class Batch(exports.Batch):
        def generate_batch(self, requests: Any) -> Any:
            # `None` says "no hook"; the host asks once, with no requests.
            if not hook:
                return None
            if not requests:
                return []
            reqs = [_request(wit, r) for r in requests]
            try:
                answer = list(_resolve(instance.generate_batch(reqs)))
            except Exception as e:
                # The hook itself failed: every item of the group says so.
                error = _protocol_error(e)
                return [Err(_error(wit, error)) for _ in reqs]
            return [outcome(item) for item in answer]

    return Batch


def _protocol_error(e: BaseException) -> ProtocolError:
    """The envelope for an exception out of ``generate`` (or a batch item):
    a ``ProtocolError`` as raised; a ``TensorError`` as the Rust SDK makes
    it (running out of the GPU quota is ``503 resource_exhausted``, any other
    tensor error the backbone's bug, ``500 internal_error``, both worded
    ``tensor <kind> error: <message>``); anything else ``500`` naming it."""
    if isinstance(e, ProtocolError):
        return e
    if isinstance(e, TensorError):
        code = "resource_exhausted" if isinstance(e, OutOfMemoryError) else "internal_error"
        return ProtocolError(code, e.describe())
    return ProtocolError("internal_error", f"{type(e).__name__}: {e}")


def _resolve(value: Any) -> Any:
    """Runs an ``async def generate`` to completion. Nothing inside a
    component can be waited on, so a coroutine only ever yields to be resumed."""
    if not hasattr(value, "send"):
        return value
    try:
        while True:
            value.send(None)
    except StopIteration as stop:
        return stop.value


def _enum(wit_enum: Any, wire: str) -> Any:
    return wit_enum[wire.upper()]


def _skeleton_to_wit(wit: Any, skeleton: Skeleton) -> Any:
    return wit.Skeleton(
        joints=[
            wit.Joint(
                name=j.name,
                parent=j.parent,
                rest_translation=tuple(float(v) for v in j.rest_translation),
                rest_rotation=tuple(float(v) for v in j.rest_rotation),
                display_name=j.display_name,
            )
            for j in skeleton.joints
        ]
    )


def _skeleton(skeleton: Any) -> Skeleton:
    return Skeleton(
        joints=[
            Joint(j.name, j.parent, j.rest_translation, j.rest_rotation, j.display_name)
            for j in skeleton.joints
        ]
    )


def _spec(wit: Any, spec: ModelSpec) -> Any:
    limits = spec.limits
    return wit.ModelSpec(
        id=spec.id,
        fps=float(spec.fps),
        canonical_skeleton=_skeleton_to_wit(wit, spec.canonical_skeleton),
        supports_retargeting=spec.supports_retargeting,
        supports_joint_translation=spec.supports_joint_translation,
        supports_async=spec.supports_async,
        supports_segment_seed=spec.supports_segment_seed,
        supports_loop=spec.supports_loop,
        supports_keyframe_reduction=spec.supports_keyframe_reduction,
        model_options=[
            wit.ModelOption(
                name=o.name,
                kind=_enum(wit.ModelOptionType, o.type),
                title=o.title,
                description=o.description,
                default=None if o.default is None else json.dumps(o.default),
                minimum=o.minimum,
                maximum=o.maximum,
                values=o.values,
            )
            for o in spec.model_options
        ],
        supports_motion_reference_mixed=spec.supports_motion_reference_mixed,
        supports_batch=spec.supports_batch,
        supports_trajectory=spec.supports_trajectory,
        supported_constraints=list(spec.supported_constraints),
        supported_segments=list(spec.supported_segments),
        supported_guidance_types=list(spec.supported_guidance_types),
        predicted_contact_joints=list(spec.predicted_contact_joints),
        native_clip_seconds=float(spec.native_clip_seconds),
        chunking=_enum(wit.Chunking, spec.chunking),
        recommended_max_duration_seconds=float(spec.recommended_max_duration_seconds),
        limits=wit.Limits(
            max_duration_seconds=float(limits.max_duration_seconds),
            max_num_samples=limits.max_num_samples,
            max_constraints_per_request=limits.max_constraints_per_request,
            max_prompt_length=limits.max_prompt_length,
            max_request_bytes=limits.max_request_bytes,
            max_batch_size=limits.max_batch_size,
            max_reference_frames=limits.max_reference_frames,
            max_video_bytes=limits.max_video_bytes,
            max_video_seconds=None if limits.max_video_seconds is None else float(limits.max_video_seconds),
        ),
    )


def _chunks(flat: list, size: int) -> list:
    return [tuple(flat[i : i + size]) for i in range(0, len(flat), size)]


def _segment(wit: Any, s: Any) -> Any:
    v = s.value
    if isinstance(s, wit.Segment_Text):
        return TextSegment(v.prompt, v.duration_frames, v.language, v.seed)
    if isinstance(s, wit.Segment_Unconditioned):
        return UnconditionedSegment(v.duration_frames, v.seed)
    if isinstance(s, wit.Segment_Pose):
        return PoseSegment(v.prompt, v.language)
    if isinstance(s, wit.Segment_MotionReference):
        joints = len(v.joint_names)
        quats = _chunks(list(v.rotations), 4)
        return MotionReferenceSegment(
            duration_frames=v.duration_frames,
            skeleton=None if v.skeleton is None else _skeleton(v.skeleton),
            joint_names=list(v.joint_names),
            rotations=[quats[t * joints : (t + 1) * joints] for t in range(v.reference_frames)],
            root_positions=_chunks(list(v.root_positions), 3),
            fps=v.fps,
            seed=v.seed,
        )
    video = v.video
    if isinstance(video, wit.VideoSource_Url):
        source = VideoSource(url=video.value)
    else:
        media = _MEDIA_TYPES[video.value.media_type.name.lower()]
        source = VideoSource(media_type=media, raw=bytes(video.value.data))
    return VideoReferenceSegment(v.duration_frames, source, v.start_s, v.end_s, v.fps, v.seed)


def _constraint(wit: Any, c: Any) -> Any:
    v = c.value
    if isinstance(c, wit.Constraint_RootPath):
        return RootPathConstraint(list(v.frames), list(v.positions_xz), v.heading_radians)
    if isinstance(c, wit.Constraint_EffectorTarget):
        return EffectorTargetConstraint(v.joint, list(v.frames), list(v.positions), v.rotations)
    if isinstance(c, wit.Constraint_PoseKeyframe):
        return PoseKeyframeConstraint(
            v.frame, dict(v.joint_rotations), v.root_position, v.fill_mode.name.lower()
        )
    return GroundHeightConstraint(list(v.points))


def _request(wit: Any, r: Any) -> GenerateRequest:
    o = r.options
    guidance = None
    if o.guidance is not None:
        guidance = Guidance(o.guidance.kind.name.lower(), list(o.guidance.weight))
    options = Options(
        diffusion_steps=o.diffusion_steps,
        num_samples=o.num_samples,
        seed=o.seed,
        post_processing=o.post_processing,
        transition_frames=o.transition_frames,
        guidance=guidance,
        loop=o.loop,
        keyframe_budget=o.keyframe_budget,
        model_options={name: json.loads(value) for name, value in o.model_options},
    )
    return GenerateRequest(
        protocol_version=r.protocol_version,
        model=r.model,
        skeleton=_skeleton(r.skeleton),
        segments=[_segment(wit, s) for s in r.segments],
        constraints=[_constraint(wit, c) for c in r.constraints],
        duration_frames=r.duration_frames,
        timing=None if r.timing_fps is None else Timing(r.timing_fps),
        options=options,
        total_frames=r.total_frames,
    )


def _floats(values: Any) -> Any:
    # The bindings lower a list of floats; an array('f') is turned into one.
    return values if isinstance(values, list) else list(values)


def _result(wit: Any, r: MotionResult) -> Any:
    keyframes = []
    for joint, channels in sorted((r.keyframes or {}).items()):
        rotation = channels.get("rotation")
        translation = channels.get("translation")
        keyframes.append(
            wit.JointKeyframes(
                joint=int(joint),
                rotation=None if rotation is None else [int(f) for f in rotation],
                translation=None if translation is None else [int(f) for f in translation],
            )
        )
    trajectories = None
    if r.trajectories is not None:
        trajectories = [None if t is None else json.dumps(t) for t in r.trajectories]
    return wit.MotionResult(
        num_samples=r.num_samples,
        num_frames=r.num_frames,
        rotations=_floats(r.rotations),
        root_translations=_floats(r.root_translations),
        translations=None if r.translations is None else _floats(r.translations),
        keyframes=keyframes,
        joint_names=None if r.joint_names is None else list(r.joint_names),
        foot_contacts=[wit.FootContact(joint=j, contacts=m) for j, m in r.foot_contacts.items()],
        chunk_boundaries=None
        if r.chunk_boundaries is None
        else [[int(f) for f in sample] for sample in r.chunk_boundaries],
        canonical_to_request=list((r.canonical_to_request or {}).items()),
        trajectories=trajectories,
        notes=[
            wit.Note(code=str(n.get("code", "")), severity=str(n.get("severity", "info")), message=str(n.get("message", "")))
            for n in r.notes
        ],
    )


def _error(wit: Any, e: ProtocolError) -> Any:
    return wit.ProtocolError(
        code=_enum(wit.ErrorCode, e.code), message=e.message, details=json.dumps(e.details)
    )
