"""``MotionResult``: what ``generate`` returns. The reference SDK takes numpy
arrays; there is no numpy inside a component, so each array here is either a
nested list shaped like the reference's array ((B, T, J, 4) for rotations), or
a flat ``list``/``array('f')`` together with ``num_samples`` and
``num_frames``. Shapes are checked at construction with the reference's
messages; a bad shape is a backbone bug and becomes a 500."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence


def _is_nested(x: Any) -> bool:
    return (
        not isinstance(x, (array, bytes, bytearray, memoryview))
        and len(x) > 0
        and isinstance(x[0], (list, tuple))
    )


def _nested_shape(x: Any, depth: int) -> tuple[int, ...]:
    shape = []
    level = x
    for _ in range(depth):
        if not isinstance(level, (list, tuple)):
            break
        shape.append(len(level))
        if not level:
            break
        level = level[0]
    return tuple(shape)


def _flatten(x: Any, shape: tuple[int, ...], name: str) -> list:
    """Flattens a nested list, refusing ragged input."""
    out: list = []

    def walk(level: Any, dim: int) -> None:
        if dim == len(shape):
            out.append(level)
            return
        if not isinstance(level, (list, tuple)) or len(level) != shape[dim]:
            raise ValueError(f"{name} is ragged: expected shape {shape}")
        for item in level:
            walk(item, dim + 1)

    walk(x, 0)
    return out


def _array(x: Any, name: str, expect: tuple[Optional[int], ...]) -> tuple[list, tuple[int, ...]]:
    """(flat values, shape) of a nested or flat array whose expected shape has
    `None` for dimensions to infer (at most one, when flat)."""
    if _is_nested(x):
        shape = _nested_shape(x, len(expect))
        if len(shape) != len(expect) or any(
            e is not None and e != s for e, s in zip(expect, shape)
        ):
            want = ", ".join("?" if e is None else str(e) for e in expect)
            raise ValueError(f"{name} must be ({want}); got {shape}")
        return _flatten(x, shape, name), shape
    flat = list(x)
    known = 1
    for e in expect:
        if e is not None:
            known *= e
    unknown = [i for i, e in enumerate(expect) if e is None]
    shape = list(expect)
    if unknown:
        if known == 0 or len(flat) % known:
            raise ValueError(f"{name} has {len(flat)} values, not a multiple of {known}")
        shape[unknown[0]] = len(flat) // known
    elif len(flat) != known:
        raise ValueError(f"{name} must have {known} values {tuple(expect)}; got {len(flat)}")
    return flat, tuple(shape)  # type: ignore[arg-type]


@dataclass
class MotionResult:
    """B = num_samples, T = num_frames, J = num_joints.

    * ``rotations``: (B, T, J, 4) local-to-parent quaternions (x, y, z, w).
    * ``root_translations``: (B, T, 3) world positions of the root.
    * ``translations``: optional (B, T, J, 3) offsets from the parent, for a
      model with ``supports_joint_translation``.
    * ``keyframes``: optional ``{joint index: {"rotation": [frame, ...],
      "translation": [...]}}``; unlisted channels stay dense.
    * ``joint_names``, ``foot_contacts`` ({name: (B, T) bools}),
      ``chunk_boundaries`` (one list per sample), ``canonical_to_request``,
      ``trajectories`` (one dict or None per sample; None = host computes),
      ``notes`` (``{code, severity, message}`` dicts).
    """

    rotations: Any
    root_translations: Any
    translations: Any = None
    keyframes: Optional[dict] = None
    joint_names: Optional[Sequence[str]] = None
    foot_contacts: dict = field(default_factory=dict)
    chunk_boundaries: Optional[Sequence[Sequence[int]]] = None
    canonical_to_request: Optional[dict] = None
    trajectories: Optional[Sequence[Optional[dict]]] = None
    notes: list = field(default_factory=list)
    # Required only when the arrays are flat.
    num_samples: Optional[int] = None
    num_frames: Optional[int] = None

    def __post_init__(self) -> None:
        nested = _is_nested(self.rotations)
        if not nested and (self.num_samples is None or self.num_frames is None):
            raise ValueError(
                "flat rotations need num_samples and num_frames; or pass a (B, T, J, 4) nested list"
            )
        expect = (None, None, None, 4) if nested else (self.num_samples, self.num_frames, None, 4)
        try:
            rotations, shape = _array(self.rotations, "rotations", expect)
        except ValueError as e:
            raise ValueError(f"rotations must be (B, T, J, 4); {e}") from None
        B, T, J, _ = shape
        self.num_samples, self.num_frames, self._num_joints = B, T, J
        self.rotations = rotations
        self.root_translations, _ = _array(self.root_translations, "root_translations", (B, T, 3))
        if self.translations is not None:
            self.translations, _ = _array(self.translations, "translations", (B, T, J, 3))
        self.foot_contacts = {
            joint: [bool(v) for v in _array(mask, f"foot_contacts[{joint!r}]", (B, T))[0]]
            for joint, mask in self.foot_contacts.items()
        }
        if self.chunk_boundaries is not None and len(self.chunk_boundaries) != B:
            raise ValueError(f"chunk_boundaries needs one list per sample ({B}); got {len(self.chunk_boundaries)}")

    @property
    def num_joints(self) -> int:
        return self._num_joints

    @classmethod
    def rest_pose(cls, num_samples: int, num_frames: int, num_joints: int, root: Sequence[float]) -> "MotionResult":
        """Identity rotations everywhere, the root held at ``root``."""
        return cls(
            rotations=array("f", (0.0, 0.0, 0.0, 1.0)) * (num_samples * num_frames * num_joints),
            root_translations=array("f", [float(v) for v in root]) * (num_samples * num_frames),
            num_samples=num_samples,
            num_frames=num_frames,
        )
