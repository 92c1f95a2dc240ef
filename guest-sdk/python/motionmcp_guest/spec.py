"""What a backbone says about itself: ``ModelSpec`` and its parts, with the
reference SDK's field names, defaults and construction checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

SUPPORTED_CONSTRAINTS = ["root_path", "effector_target", "pose_keyframe"]
SUPPORTED_SEGMENTS = ["text", "unconditioned"]
SUPPORTED_GUIDANCE_TYPES = ["nocfg", "regular", "separated"]

_OPTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_OPTION_TYPES = ("number", "integer", "boolean", "enum", "flags")


@dataclass
class Joint:
    name: str
    parent: Optional[str] = None
    rest_translation: Sequence[float] = (0.0, 0.0, 0.0)
    rest_rotation: Sequence[float] = (0.0, 0.0, 0.0, 1.0)
    display_name: Optional[str] = None


@dataclass
class Skeleton:
    """Joints in parent-before-child order; the first one is the root."""

    joints: list[Joint]

    @property
    def root(self) -> Joint:
        return self.joints[0]

    @property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]

    def index_of(self, name: str) -> Optional[int]:
        for i, j in enumerate(self.joints):
            if j.name == name:
                return i
        return None


def _positive(name: str, value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be > 0 when set; got {value!r}")


@dataclass
class Limits:
    max_duration_seconds: float = 30.0
    max_num_samples: int = 16
    max_constraints_per_request: int = 64
    max_prompt_length: int = 1000
    max_request_bytes: int = 1048576
    max_batch_size: int = 16
    max_reference_frames: Optional[int] = None
    max_video_bytes: Optional[int] = None
    max_video_seconds: Optional[float] = None

    def __post_init__(self) -> None:
        _positive("max_reference_frames", self.max_reference_frames)
        _positive("max_video_bytes", self.max_video_bytes)
        _positive("max_video_seconds", self.max_video_seconds)


@dataclass
class ModelOption:
    """A dial the model has that the protocol has no word for (MMCP 1.4)."""

    name: str
    type: str
    title: Optional[str] = None
    description: Optional[str] = None
    default: Any = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    values: Optional[list[str]] = None

    def __post_init__(self) -> None:
        if not _OPTION_NAME.match(self.name):
            raise ValueError(f"model option name {self.name!r} must match {_OPTION_NAME.pattern}")
        if self.type not in _OPTION_TYPES:
            raise ValueError(f"model option type must be one of {_OPTION_TYPES}; got {self.type!r}")
        if self.title is not None and len(self.title) > 80:
            raise ValueError("model option title is longer than 80 characters")
        if self.description is not None and len(self.description) > 400:
            raise ValueError("model option description is longer than 400 characters")
        if self.values is not None and len(self.values) > 32:
            raise ValueError("model option values has more than 32 entries")
        if self.type in ("enum", "flags") and not self.values:
            raise ValueError(f"a {self.type} model option needs non-empty values")


@dataclass
class ModelSpec:
    """One ``/capabilities`` model entry. Only ``id``, ``fps`` and
    ``canonical_skeleton`` are required; the rest default conservatively,
    exactly as in the reference SDK."""

    id: str
    fps: float
    canonical_skeleton: Skeleton
    supports_retargeting: bool = False
    supports_joint_translation: bool = False
    supports_async: bool = False
    supports_segment_seed: bool = False
    supports_loop: bool = False
    supports_keyframe_reduction: bool = False
    model_options: list[ModelOption] = field(default_factory=list)
    # The host derives these three on the wire (see the WIT); kept so a spec
    # written for the reference SDK constructs unchanged.
    supports_motion_reference_mixed: bool = False
    supports_batch: bool = False
    supports_trajectory: bool = False
    supported_constraints: list[str] = field(default_factory=list)
    supported_segments: list[str] = field(default_factory=lambda: list(SUPPORTED_SEGMENTS))
    supported_guidance_types: list[str] = field(
        default_factory=lambda: list(SUPPORTED_GUIDANCE_TYPES)
    )
    predicted_contact_joints: list[str] = field(default_factory=list)
    native_clip_seconds: float = 10.0
    chunking: str = "none"
    recommended_max_duration_seconds: float = 12.0
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("ModelSpec.id must not be empty")
        if not self.fps > 0:
            raise ValueError(f"ModelSpec.fps must be > 0; got {self.fps!r}")
        if self.chunking not in ("none", "stitched"):
            raise ValueError(f"ModelSpec.chunking must be 'none' or 'stitched'; got {self.chunking!r}")
