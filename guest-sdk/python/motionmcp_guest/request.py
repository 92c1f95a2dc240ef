"""The request as a backbone receives it: already validated by the host, with
the reference SDK's attribute names and helpers (``total_frames``,
``fps(native)``, ``motion_reference`` ...). Every segment and constraint has a
``type`` attribute holding its wire name."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .spec import Skeleton


@dataclass
class TextSegment:
    prompt: str
    duration_frames: int
    language: Optional[str] = "en"
    seed: Optional[int] = None
    type: str = "text"


@dataclass
class UnconditionedSegment:
    duration_frames: int
    seed: Optional[int] = None
    type: str = "unconditioned"


@dataclass
class PoseSegment:
    prompt: str
    language: Optional[str] = "en"
    type: str = "pose"

    @property
    def duration_frames(self) -> int:
        """A pose is one frame; not a wire field."""
        return 1


@dataclass
class MotionReferenceSegment:
    duration_frames: int
    skeleton: Optional[Skeleton]
    joint_names: list[str]
    # T x J x 4 quaternions and T x 3 root positions, as sent.
    rotations: list[list[tuple[float, float, float, float]]]
    root_positions: list[tuple[float, float, float]]
    fps: float
    seed: Optional[int] = None
    type: str = "motion_reference"

    @property
    def reference_frames(self) -> int:
        """Frames in the reference clip (T)."""
        return len(self.rotations)


_MEDIA_TYPES = {"mp4": "video/mp4", "quicktime": "video/quicktime", "webm": "video/webm"}


@dataclass
class VideoSource:
    url: Optional[str] = None
    media_type: Optional[str] = None
    # The host has already decoded the base64 of an inline video.
    raw: Optional[bytes] = None

    @property
    def num_bytes(self) -> Optional[int]:
        """Decoded size of inline data in bytes; None for a ``url``."""
        return None if self.raw is None else len(self.raw)

    def decoded(self) -> bytes:
        """The inline video file's bytes (raises for a ``url`` source)."""
        if self.raw is None:
            raise ValueError("a url video has no inline data; fetch video.url")
        return self.raw

    @property
    def data(self) -> Optional[str]:
        """The inline video as base64 text, as it was on the wire."""
        return None if self.raw is None else base64.b64encode(self.raw).decode("ascii")


@dataclass
class VideoReferenceSegment:
    duration_frames: int
    video: VideoSource
    start_s: Optional[float] = None
    end_s: Optional[float] = None
    fps: Optional[float] = None
    seed: Optional[int] = None
    type: str = "video_reference"

    @property
    def trimmed_seconds(self) -> Optional[float]:
        """``end_s - (start_s or 0)`` when ``end_s`` is given, else None."""
        if self.end_s is None:
            return None
        return self.end_s - (self.start_s or 0.0)


Segment = Union[
    TextSegment, UnconditionedSegment, PoseSegment, MotionReferenceSegment, VideoReferenceSegment
]


@dataclass
class RootPathConstraint:
    frames: list[int]
    positions_xz: list[tuple[float, float]]
    heading_radians: Optional[list[float]] = None
    type: str = "root_path"


@dataclass
class EffectorTargetConstraint:
    joint: str
    frames: list[int]
    positions: list[tuple[float, float, float]]
    rotations: Optional[list[tuple[float, float, float, float]]] = None
    type: str = "effector_target"


@dataclass
class PoseKeyframeConstraint:
    frame: int
    joint_rotations: dict[str, tuple[float, float, float, float]]
    root_position: Optional[tuple[float, float, float]] = None
    fill_mode: str = "generate"
    type: str = "pose_keyframe"


@dataclass
class GroundHeightConstraint:
    # Each point is (x, z, height).
    points: list[tuple[float, float, float]]
    type: str = "ground_height"


Constraint = Union[
    RootPathConstraint, EffectorTargetConstraint, PoseKeyframeConstraint, GroundHeightConstraint
]


@dataclass
class Guidance:
    type: str
    weight: list[float] = field(default_factory=list)


@dataclass
class Options:
    """Request options with the protocol's defaults filled in (always present,
    so ``request.options.num_samples`` needs no check)."""

    diffusion_steps: int = 100
    num_samples: int = 1
    seed: Optional[int] = None
    post_processing: bool = True
    transition_frames: int = 5
    guidance: Optional[Guidance] = None
    loop: bool = False
    keyframe_budget: Optional[float] = None
    # Declared model options the request sent, by name, as decoded JSON values.
    model_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timing:
    fps: float


@dataclass
class GenerateRequest:
    protocol_version: str
    model: str
    skeleton: Skeleton
    segments: list[Segment]
    constraints: list[Constraint]
    duration_frames: Optional[int]
    timing: Optional[Timing]
    options: Options
    # Computed by the host: the sum of segment lengths, else duration_frames.
    total_frames: int = 0

    def fps(self, model_native_fps: float) -> float:
        """``timing.fps`` when the request has one, else the model's native fps."""
        return self.timing.fps if self.timing is not None else model_native_fps

    @property
    def num_samples(self) -> int:
        return self.options.num_samples

    @property
    def motion_reference(self) -> Optional[MotionReferenceSegment]:
        return next(iter(self.motion_references), None)

    @property
    def motion_references(self) -> list[MotionReferenceSegment]:
        return [s for s in self.segments if isinstance(s, MotionReferenceSegment)]

    @property
    def video_reference(self) -> Optional[VideoReferenceSegment]:
        return next(iter(self.video_references), None)

    @property
    def video_references(self) -> list[VideoReferenceSegment]:
        return [s for s in self.segments if isinstance(s, VideoReferenceSegment)]

    def constraints_of(self, kind: str) -> list[Constraint]:
        """The constraints whose wire ``type`` is ``kind``, in request order."""
        return [c for c in self.constraints if c.type == kind]
