"""Write an MMCP backbone in Python and serve it with motionmcp-host.

The names, defaults and helpers are the reference Python SDK's
(motionmcp-sdk 0.13.0): subclass ``Backbone``, return a ``ModelSpec`` from
``capabilities()`` and a ``MotionResult`` from ``generate(request)``, raise
``ProtocolError`` (or a typed constructor) for protocol failures, then call
``export(MyBackbone)`` at the end of the module componentize-py builds.

``Tensor`` runs ops on the host's GPU (``motionmcp_guest.tensor``); an app
that imports it is built for the GPU world.
"""

from __future__ import annotations

import abc
from typing import Any

from ._export import export, report_progress
from .errors import (
    STATUS_FOR,
    ProtocolError,
    frame_out_of_range,
    retargeting_unsupported,
    unknown_joint,
    unknown_model,
    unsupported_constraint,
    unsupported_segment,
    version_unsupported,
)
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
)
from .result import MotionResult
from .tensor import (
    DTYPES,
    DeviceError,
    DtypeError,
    InvalidArgumentError,
    NotFoundError,
    OutOfMemoryError,
    ShapeError,
    Tensor,
    TensorError,
)
from .spec import (
    SUPPORTED_CONSTRAINTS,
    SUPPORTED_GUIDANCE_TYPES,
    SUPPORTED_SEGMENTS,
    Joint,
    Limits,
    ModelOption,
    ModelSpec,
    Skeleton,
)


class Backbone(abc.ABC):
    """What a model implements. ``generate`` may be ``def`` or ``async def``.
    Any exception other than ``ProtocolError`` becomes ``500 internal_error``
    for that request; the component keeps serving."""

    @abc.abstractmethod
    def capabilities(self) -> ModelSpec:
        """The model's ``/capabilities`` entry as it stands now: called after
        ``setup`` and on every ``/capabilities``; requests are validated
        against the latest answer (answer within 2 seconds; keep the ``id``)."""

    @abc.abstractmethod
    def generate(self, request: GenerateRequest) -> Any:
        """One validated request -> ``MotionResult``."""

    def generate_batch(self, requests: list[GenerateRequest]) -> Any:
        """Optional batch hook: every valid item of one batch body that names
        this model, in item order, in one call. Return one entry per request,
        in order: a ``MotionResult`` or the exception that item raised (a
        ``ProtocolError`` for its own envelope); ``def`` or ``async def``, and
        an entry may itself be awaitable. Not overriding it is fine: the host
        then calls ``generate`` per item. Single requests always go through
        ``generate``."""
        raise NotImplementedError

    def setup(self) -> None:
        """Called once before any request; an exception aborts start-up."""

    def teardown(self) -> None:
        """Called once at shutdown."""


__all__ = [
    "Backbone",
    "DTYPES",
    "DeviceError",
    "DtypeError",
    "EffectorTargetConstraint",
    "GenerateRequest",
    "GroundHeightConstraint",
    "Guidance",
    "InvalidArgumentError",
    "Joint",
    "Limits",
    "ModelOption",
    "ModelSpec",
    "MotionReferenceSegment",
    "MotionResult",
    "NotFoundError",
    "Options",
    "OutOfMemoryError",
    "PoseKeyframeConstraint",
    "PoseSegment",
    "ProtocolError",
    "RootPathConstraint",
    "STATUS_FOR",
    "ShapeError",
    "SUPPORTED_CONSTRAINTS",
    "SUPPORTED_GUIDANCE_TYPES",
    "SUPPORTED_SEGMENTS",
    "Skeleton",
    "Tensor",
    "TensorError",
    "TextSegment",
    "Timing",
    "UnconditionedSegment",
    "VideoReferenceSegment",
    "VideoSource",
    "export",
    "frame_out_of_range",
    "report_progress",
    "retargeting_unsupported",
    "unknown_joint",
    "unknown_model",
    "unsupported_constraint",
    "unsupported_segment",
    "version_unsupported",
]
