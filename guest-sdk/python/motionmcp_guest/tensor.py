"""GPU tensors: ``Tensor``, a Python class over the host's ``tensor`` resource
(``wit/tensor.wit``), and the ``TensorError`` exceptions its ops raise.

Every op runs on the host's GPU as a WGSL kernel; the host records the ops
into one command stream and nothing comes back to the guest until a read
(``tolist``, ``to_flat``, ``item``), the only synchronisation point. So a
whole sampling loop written with these methods runs without a GPU-to-CPU
round trip. Dropping the last reference to a ``Tensor`` frees its GPU memory
(the bindings release the handle when the object is collected).

The names are the Rust SDK's (``motionmcp_guest::tensor``) where Python
allows: ``x.linear(w, b)``, ``x.layer_norm(w, b, 1e-5)``, ``x.sum(axis)``,
``Tensor.attention(q, k, v)``, with the Rust ``linear_fused`` as ``linear``'s
keywords: ``x.linear(w, b, activation="gelu", residual=r)``; operators
``+ - * / @`` and unary ``-``.
Arithmetic operators take a ``Tensor`` or a Python number on either side:
``t + 1``, ``2 * t``, ``1 - t`` and ``t / 2`` are one ``scale`` pass (no
tensor made), ``2 / t`` divides a scalar tensor. Shapes are tuples; ``dtype``
is one of ``DTYPES``; axes may be negative (counted from the end, as in
NumPy).

A misuse (mismatched shapes, an int tensor where floats are needed, an axis
out of range, the GPU quota exceeded) raises the ``TensorError`` subclass
named after the WIT case, e.g. ``ShapeError``. Raised out of ``generate``, an
``OutOfMemoryError`` becomes ``503 resource_exhausted`` and any other
``TensorError`` ``500 internal_error``, as in the Rust SDK.

Only a component built for the GPU world has the bindings; the build script
picks that world when the app imports ``Tensor`` (see
``scripts/componentize.sh``). Elsewhere every constructor raises
``DeviceError``.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence, Union

# Imported when the module is: componentize-py snapshots the interpreter
# after the app's imports, and a binding first imported during a call is not
# in the component. The tensor bindings exist only in a component built for
# the GPU world (`sdk-backbone-world`); elsewhere (another world, or plain
# CPython in a unit test) they are None and constructors say why.
try:
    from componentize_py_types import Err as _Err
except ImportError:  # plain CPython: nothing can raise the bindings' Err

    class _Err(Exception):  # type: ignore[no-redef]
        value: Any = None

try:
    from wit_world.imports import tensor as _raw
    from wit_world.imports import weights as _weights
except ImportError:
    _raw = None
    _weights = None

#: The element types, as ``Tensor.dtype`` names them.
DTYPES = ("f32", "i32", "u32", "f16", "bf16")

Number = Union[int, float]
Shape = Union[int, Sequence[int]]


# ---- errors -------------------------------------------------------------------


class TensorError(Exception):
    """A tensor op the host refused; ``message`` names the operands and
    shapes involved. Subclasses are the WIT ``tensor-error`` cases."""

    #: The case's name in the WIT (``shape``, ``out-of-memory``, ...).
    kind = "tensor"
    #: The case in words, for ``describe`` (the Rust SDK's wording).
    _words = "tensor"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def describe(self) -> str:
        """``tensor <kind> error: <message>``, the message the protocol error
        made of it carries (the same as the Rust SDK's)."""
        return f"tensor {self._words} error: {self.message}"


class ShapeError(TensorError):
    """Shapes that do not fit the op."""

    kind = _words = "shape"


class DtypeError(TensorError):
    """An element type the op does not take."""

    kind = _words = "dtype"


class InvalidArgumentError(TensorError):
    """An argument out of range (axis, slice bounds, permutation)."""

    kind, _words = "invalid-argument", "invalid argument"


class OutOfMemoryError(TensorError):
    """The model's GPU memory quota would be exceeded: out of ``generate``,
    ``503 resource_exhausted``."""

    kind, _words = "out-of-memory", "out of memory"


class NotFoundError(TensorError):
    """A weights file or tensor name that does not exist."""

    kind, _words = "not-found", "not found"


class DeviceError(TensorError):
    """No usable GPU adapter, the device failed, or the component was built
    without the GPU world."""

    kind = _words = "device"


# The bindings' error variant classes (`TensorError_Shape`, ...) by case.
_ERRORS = {
    "Shape": ShapeError,
    "Dtype": DtypeError,
    "InvalidArgument": InvalidArgumentError,
    "OutOfMemory": OutOfMemoryError,
    "NotFound": NotFoundError,
    "Device": DeviceError,
}


def _error(err: Any) -> TensorError:
    """The ``TensorError`` for the bindings' ``Err(TensorError_<Case>(msg))``."""
    # The bindings raise `Err` from a frame that still holds it, a cycle
    # (exception -> traceback -> frame -> exception) that keeps the call's
    # operands, GPU tensors, alive until the garbage collector runs, long
    # after the request. Dropping the traceback breaks it, so they are freed
    # as soon as the `TensorError` is. (`Err` is a frozen dataclass:
    # `with_traceback` is the way to set it.)
    err.with_traceback(None)
    value = err.value
    case = type(value).__name__.rpartition("_")[2]
    return _ERRORS.get(case, DeviceError)(str(getattr(value, "value", value)))


def _api() -> Any:
    if _raw is None:
        raise DeviceError(
            "this component was built without the GPU world: import Tensor from "
            "motionmcp_guest in the app's sources so scripts/componentize.sh binds "
            "sdk-backbone-world"
        )
    return _raw


# ---- argument checks ------------------------------------------------------------------

_U32 = 1 << 32
_I32 = 1 << 31


def _u32(value: Any, what: str) -> int:
    n = int(value)
    if not 0 <= n < _U32:
        raise InvalidArgumentError(f"{what} must be in [0, 2^32); got {n}")
    return n


def _dims(shape: Shape, what: str = "shape") -> list[int]:
    """A shape or dimension list as WIT `list<u32>`; an int is a 1-D shape."""
    if isinstance(shape, int):
        shape = (shape,)
    return [_u32(d, f"{what} entry") for d in shape]


def _varargs(args: tuple) -> Sequence[Any]:
    """``f(2, 3)`` and ``f([2, 3])`` alike (reshape, permute)."""
    return args[0] if len(args) == 1 and not isinstance(args[0], int) else args


def _flatten(data: Any) -> tuple[list, Optional[list[int]]]:
    """Row-major values and, for nested lists, their shape."""
    if not isinstance(data, (list, tuple)):
        return list(data), None  # array('f'), a generator, ...
    shape: list[int] = []
    level: Any = data
    while isinstance(level, (list, tuple)):
        shape.append(len(level))
        if not level:
            break
        level = level[0]
    if len(shape) == 1:
        return list(data), shape
    flat: list = []

    def walk(level: Any, depth: int) -> None:
        if depth == len(shape):
            flat.append(level)
            return
        if not isinstance(level, (list, tuple)) or len(level) != shape[depth]:
            raise ShapeError(f"ragged nested list: expected shape {tuple(shape)}")
        for item in level:
            walk(item, depth + 1)

    walk(data, 0)
    return flat, shape


def _unflatten(flat: list, shape: tuple[int, ...]) -> Any:
    """Nested lists of ``shape`` from row-major ``flat`` (a scalar for ())."""
    if not shape:
        return flat[0]
    for size in reversed(shape[1:]):
        flat = [flat[i : i + size] for i in range(0, len(flat), size)]
    return flat


def _enum(enum: Any, name: str, what: str) -> Any:
    try:
        return enum[name.upper().replace("-", "_")]
    except KeyError:
        choices = ", ".join(m.name.lower() for m in enum)
        raise InvalidArgumentError(f"no {what} {name!r}; one of {choices}") from None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# ---- the tensor ------------------------------------------------------------------


class Tensor:
    """A tensor in the host's GPU memory (see the module's docstring).

    Made by the constructors (``from_list``, ``zeros``, ``randn``, ``load``,
    ...) and by ops, never directly."""

    __slots__ = ("_raw", "_shape", "_dtype")

    def __init__(self, raw: Any):
        # The bindings' resource; its finalizer drops the host's handle.
        self._raw = raw
        self._shape: Optional[tuple[int, ...]] = None
        self._dtype: Optional[str] = None

    # -- constructors --------------------------------------------------------------

    @staticmethod
    def from_list(data: Any, shape: Optional[Shape] = None) -> Tensor:
        """A float tensor from row-major values: a flat sequence with
        ``shape``, or nested lists whose shape is inferred."""
        flat, nested = _flatten(data)
        dims = _dims(shape if shape is not None else nested if nested is not None else [len(flat)])
        return _make(_api().Tensor.from_list, [float(v) for v in flat], dims)

    @staticmethod
    def from_i32(data: Any, shape: Optional[Shape] = None) -> Tensor:
        """Signed indices (as ``from_list``)."""
        flat, nested = _flatten(data)
        for v in flat:
            if not -_I32 <= int(v) < _I32:
                raise InvalidArgumentError(f"i32 value out of range: {v}")
        dims = _dims(shape if shape is not None else nested if nested is not None else [len(flat)])
        return _make(_api().Tensor.from_i32, [int(v) for v in flat], dims)

    @staticmethod
    def from_u32(data: Any, shape: Optional[Shape] = None) -> Tensor:
        """Unsigned indices or a boolean mask, nonzero is true (as ``from_list``)."""
        flat, nested = _flatten(data)
        values = [_u32(v, "u32 value") for v in flat]
        dims = _dims(shape if shape is not None else nested if nested is not None else [len(flat)])
        return _make(_api().Tensor.from_u32, values, dims)

    @staticmethod
    def full(shape: Shape, value: Number) -> Tensor:
        """Every element ``value``; ``shape`` ``()`` is a scalar."""
        return _make(_api().Tensor.full, _dims(shape), float(value))

    @staticmethod
    def zeros(shape: Shape) -> Tensor:
        return Tensor.full(shape, 0.0)

    @staticmethod
    def ones(shape: Shape) -> Tensor:
        return Tensor.full(shape, 1.0)

    @staticmethod
    def rand(shape: Shape, seed: int) -> Tensor:
        """Uniform in [0, 1), the same numbers for a seed on every GPU (and in
        every language). A negative seed wraps to u64, like Rust's ``as u64``."""
        return _make(_api().Tensor.rand, _dims(shape), int(seed) % (1 << 64))

    @staticmethod
    def randn(shape: Shape, seed: int) -> Tensor:
        """Standard normal, from the same stream as ``rand``."""
        return _make(_api().Tensor.randn, _dims(shape), int(seed) % (1 << 64))

    @staticmethod
    def arange(start: Number, step: Number, count: int) -> Tensor:
        """``start, start + step, ...``: ``count`` f32 values. The arguments
        are the Rust SDK's and the WIT's (not NumPy's start/stop/step)."""
        return _make(_api().Tensor.arange, float(start), float(step), _u32(count, "count"))

    @staticmethod
    def load(file: str, name: str) -> Tensor:
        """Tensor ``name`` of the safetensors ``file`` in the operator's
        weights directory (``serve --weights DIR``; ``file`` relative to it),
        loaded once per model and shared by its instances. F16 and BF16
        tensors stay at half size: ``matmul``/``linear`` take them as they
        are; ``cast('f32')`` them for other arithmetic."""
        _api()
        return _make(_weights.load, file, name)

    @staticmethod
    def names(file: str) -> list[str]:
        """The tensor names in a weights file, sorted."""
        _api()
        try:
            return list(_weights.names(file))
        except _Err as e:
            raise _error(e) from None

    # -- what it is --------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape, a tuple (``()`` for a scalar)."""
        if self._shape is None:
            self._shape = tuple(self._raw.shape())
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> str:
        """``'f32'``, ``'i32'``, ``'u32'``, ``'f16'`` or ``'bf16'``."""
        if self._dtype is None:
            self._dtype = self._raw.dtype().name.lower()
        return self._dtype

    @property
    def numel(self) -> int:
        """Elements (1 for a scalar)."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"Tensor(shape={self.shape}, dtype={self.dtype!r})"

    # -- reading back (the synchronisation points) ----------------------------------

    def to_flat(self) -> list:
        """The values in row-major order: floats (f16/bf16 widened), or ints
        for i32/u32. Waits for every op recorded so far."""
        reader = {"i32": self._raw.to_i32, "u32": self._raw.to_u32}.get(self.dtype, self._raw.to_list)
        try:
            return list(reader())
        except _Err as e:
            raise _error(e) from None

    def tolist(self) -> Any:
        """The values as nested lists in the tensor's shape (a number for a
        scalar), like NumPy's ``tolist``."""
        return _unflatten(self.to_flat(), self.shape)

    def item(self) -> Number:
        """The value of a one-element tensor."""
        if self.numel != 1:
            raise ShapeError(f"item() of a tensor of shape {self.shape}")
        return self.to_flat()[0]

    # -- elementwise -------------------------------------------------------------

    def unary(self, op: str) -> Tensor:
        """The unary op named ``op`` (``'gelu'``, ``'gelu_tanh'``, ...)."""
        return _make(self._raw.unary, _enum(_raw.UnaryOp, op, "unary op"))

    def gelu(self) -> Tensor:
        """GELU with the exact erf (PyTorch's default)."""
        return _make(self._raw.unary, _raw.UnaryOp.GELU)

    def gelu_tanh(self) -> Tensor:
        """GELU's tanh approximation (PyTorch ``approximate="tanh"``)."""
        return _make(self._raw.unary, _raw.UnaryOp.GELU_TANH)

    def silu(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.SILU)

    def relu(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.RELU)

    def tanh(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.TANH)

    def sigmoid(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.SIGMOID)

    def exp(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.EXP)

    def log(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.LOG)

    def sqrt(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.SQRT)

    def rsqrt(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.RSQRT)

    def sin(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.SIN)

    def cos(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.COS)

    def neg(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.NEG)

    def abs(self) -> Tensor:
        return _make(self._raw.unary, _raw.UnaryOp.ABS)

    def scale(self, factor: Number, offset: Number = 0.0) -> Tensor:
        """``self * factor + offset`` in one pass."""
        return _make(self._raw.scale, float(factor), float(offset))

    def clamp(self, lo: Number, hi: Number) -> Tensor:
        return _make(self._raw.clamp, float(lo), float(hi))

    def binary(self, op: str, other: Union[Tensor, Number]) -> Tensor:
        """The broadcasting binary op named ``op`` (``'add'``, ``'sub'``,
        ``'mul'``, ``'div'``, ``'maximum'``, ``'minimum'``, ``'pow'``,
        ``'atan2'``); a number ``other`` is a scalar tensor."""
        return _make(self._raw.binary, _enum(_raw.BinaryOp, op, "binary op"), _operand(other))

    def add(self, other: Union[Tensor, Number]) -> Tensor:
        return _make(self._raw.binary, _raw.BinaryOp.ADD, _operand(other))

    def sub(self, other: Union[Tensor, Number]) -> Tensor:
        return _make(self._raw.binary, _raw.BinaryOp.SUB, _operand(other))

    def mul(self, other: Union[Tensor, Number]) -> Tensor:
        return _make(self._raw.binary, _raw.BinaryOp.MUL, _operand(other))

    def div(self, other: Union[Tensor, Number]) -> Tensor:
        return _make(self._raw.binary, _raw.BinaryOp.DIV, _operand(other))

    def maximum(self, other: Union[Tensor, Number]) -> Tensor:
        return _make(self._raw.binary, _raw.BinaryOp.MAXIMUM, _operand(other))

    def minimum(self, other: Union[Tensor, Number]) -> Tensor:
        return _make(self._raw.binary, _raw.BinaryOp.MINIMUM, _operand(other))

    def pow(self, other: Union[Tensor, Number]) -> Tensor:
        """Elementwise power, WGSL's ``pow`` (exp of a log: a negative base
        gives NaN)."""
        return _make(self._raw.binary, _raw.BinaryOp.POW, _operand(other))

    def atan2(self, x: Union[Tensor, Number]) -> Tensor:
        """Elementwise ``atan2(self, x)``: the angle of the point
        ``(x, y=self)`` in [-pi, pi], WGSL's ``atan2`` (as ``numpy.arctan2``
        and ``torch.atan2``, but at the origin the angle is the adapter's,
        not 0: mask zero vectors)."""
        return _make(self._raw.binary, _raw.BinaryOp.ATAN2, _operand(x))

    def cast(self, dtype: str) -> Tensor:
        """Conversion by value to ``dtype`` (one of ``DTYPES``): floats
        truncate towards zero into ints, u32 masks become 0.0/1.0; f16 rounds
        to nearest and saturates at +-65504, bf16 rounds to nearest even."""
        return _make(self._raw.cast, _enum(_raw.Dtype, dtype, "dtype"))

    # -- operators ---------------------------------------------------------------
    # A Python number on either side goes through `scale` (as the Rust SDK's
    # `&t * 2.0` and `&t + 1.0` do): one pass, no scalar tensor made.

    def __add__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return _make(self._raw.binary, _raw.BinaryOp.ADD, other._raw)
        if _is_number(other):
            return self.scale(1.0, other)
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return _make(self._raw.binary, _raw.BinaryOp.SUB, other._raw)
        if _is_number(other):
            return self.scale(1.0, -other)
        return NotImplemented

    def __rsub__(self, other: Any) -> Tensor:
        if _is_number(other):
            return self.scale(-1.0, other)
        return NotImplemented

    def __mul__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return _make(self._raw.binary, _raw.BinaryOp.MUL, other._raw)
        if _is_number(other):
            return self.scale(other, 0.0)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        """``t / u`` elementwise; ``t / n`` multiplies by the f32 reciprocal
        of ``n`` (one ``scale`` pass)."""
        if isinstance(other, Tensor):
            return _make(self._raw.binary, _raw.BinaryOp.DIV, other._raw)
        if _is_number(other):
            return self.scale(1.0 / other, 0.0)
        return NotImplemented

    def __rtruediv__(self, other: Any) -> Tensor:
        if _is_number(other):
            return Tensor.full((), other).div(self)
        return NotImplemented

    def __matmul__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return self.matmul(other)
        return NotImplemented

    def __neg__(self) -> Tensor:
        return self.neg()

    # -- linear algebra ------------------------------------------------------------

    def matmul(self, other: Tensor) -> Tensor:
        """Batched matrix product over the last two axes, leading axes
        broadcast; f32, f16 or bf16 operands, an f32 result."""
        return _make(self._raw.matmul, _handle(other))

    def linear(
        self,
        weight: Tensor,
        bias: Optional[Tensor] = None,
        *,
        activation: Optional[str] = None,
        residual: Optional[Tensor] = None,
    ) -> Tensor:
        """``self @ weight^T + bias`` (PyTorch's ``nn.Linear`` layout:
        weight [out, in], bias [out]); half weights are taken as stored.

        ``activation`` (``'gelu'``, ``'gelu_tanh'``, ``'silu'`` or ``'relu'``;
        another unary op raises ``InvalidArgumentError``) and ``residual`` (f32,
        the result's shape) make it ``activation(...) + residual`` in the same
        kernel (the WIT's ``linear-fused``), a pass over the output cheaper
        for each than ``.gelu()`` or ``+ residual`` after it."""
        if activation is None and residual is None:
            return _make(self._raw.linear, _handle(weight), _optional(bias))
        op = None if activation is None else _enum(_raw.UnaryOp, activation, "unary op")
        return _make(
            self._raw.linear_fused, _handle(weight), _optional(bias), op, _optional(residual)
        )

    # -- normalisation and reductions ------------------------------------------------

    def softmax(self) -> Tensor:
        """Softmax over the last axis."""
        return _make(self._raw.softmax)

    def layer_norm(
        self, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, eps: float = 1e-5
    ) -> Tensor:
        """Normalises over the last axis, then ``* weight + bias`` when given."""
        return _make(self._raw.layer_norm, _optional(weight), _optional(bias), float(eps))

    def rms_norm(self, weight: Optional[Tensor] = None, eps: float = 1e-6) -> Tensor:
        return _make(self._raw.rms_norm, _optional(weight), float(eps))

    def sum(self, axis: int, keep_dim: bool = False) -> Tensor:
        return _make(self._raw.reduce, _raw.ReduceOp.SUM, self._axis(axis), bool(keep_dim))

    def mean(self, axis: int, keep_dim: bool = False) -> Tensor:
        return _make(self._raw.reduce, _raw.ReduceOp.MEAN, self._axis(axis), bool(keep_dim))

    def max(self, axis: int, keep_dim: bool = False) -> Tensor:
        return _make(self._raw.reduce, _raw.ReduceOp.MAX, self._axis(axis), bool(keep_dim))

    def reduce(self, op: str, axis: int, keep_dim: bool = False) -> Tensor:
        """The reduction named ``op`` (``'sum'``, ``'mean'``, ``'max'``)."""
        op_ = _enum(_raw.ReduceOp, op, "reduce op")
        return _make(self._raw.reduce, op_, self._axis(axis), bool(keep_dim))

    # -- layout ------------------------------------------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        """Same data, new shape (``reshape(5, -1)`` or ``reshape([5, -1])``;
        one entry may be -1). No copy."""
        dims = [int(d) for d in _varargs(shape)]
        for d in dims:
            if not -_I32 <= d < _I32:
                raise InvalidArgumentError(f"reshape entry out of range: {d}")
        return _make(self._raw.reshape, dims)

    def permute(self, *dims: Any) -> Tensor:
        """Axes reordered: result axis i is input axis ``dims[i]``."""
        return _make(self._raw.permute, [self._axis(d) for d in _varargs(dims)])

    def transpose(self, a: int, b: int) -> Tensor:
        return _make(self._raw.transpose, self._axis(a), self._axis(b))

    def slice(self, axis: int, start: int, end: int) -> Tensor:
        """Elements [start, end) along ``axis``."""
        return _make(self._raw.slice, self._axis(axis), _u32(start, "start"), _u32(end, "end"))

    def select(self, axis: int, index: int) -> Tensor:
        """Entry ``index`` of ``axis``, with that axis removed."""
        axis = self._axis(axis)
        shape = list(self.shape)
        part = self.slice(axis, index, index + 1)
        del shape[axis]
        return part.reshape(shape)

    def index_select(self, axis: int, indices: Tensor) -> Tensor:
        """Rows of ``axis`` picked by a 1-D i32/u32 tensor (negative indices
        count from the end; one out of range reads zeros)."""
        return _make(self._raw.index_select, self._axis(axis), _handle(indices))

    @staticmethod
    def concat(parts: Iterable[Tensor], axis: int = 0) -> Tensor:
        """Tensors equal in shape but along ``axis``, joined along it."""
        parts = list(parts)
        if not parts:
            raise InvalidArgumentError("concat of no tensors")
        axis = parts[0]._axis(axis)
        return _make(_api().Tensor.concat, [_handle(p) for p in parts], axis)

    @staticmethod
    def where(cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
        """``cond ? a : b`` elementwise, all three broadcast; ``cond`` is
        u32/i32 or f32, nonzero is true."""
        return _make(_api().Tensor.where, _handle(cond), _handle(a), _handle(b))

    @staticmethod
    def attention(
        q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor] = None, scale: Optional[float] = None
    ) -> Tensor:
        """Fused ``softmax(q k^T * scale + mask) v`` for q [batch, heads, lq,
        d], k and v [batch, heads, lk, d(v)]. A u32/i32 ``mask`` keeps keys
        where nonzero, an f32 one is added to the scores; ``scale`` defaults
        to 1/sqrt(d)."""
        s = None if scale is None else float(scale)
        return _make(_api().Tensor.attention, _handle(q), _handle(k), _handle(v), _optional(mask), s)

    def _axis(self, axis: int) -> int:
        """``axis`` as the WIT's u32; a negative one counts from the end."""
        axis = int(axis)
        if axis < 0:
            axis += len(self.shape)
        return _u32(axis, "axis")


def _make(fn: Any, *args: Any) -> Tensor:
    """Calls a binding that returns `result<tensor, tensor-error>`."""
    try:
        return Tensor(fn(*args))
    except _Err as e:
        raise _error(e) from None


def _handle(t: Any) -> Any:
    if isinstance(t, Tensor):
        return t._raw
    raise TypeError(f"expected a Tensor, got {type(t).__name__}")


def _optional(t: Optional[Tensor]) -> Any:
    return None if t is None else _handle(t)


def _operand(other: Any) -> Any:
    """A binary op's right operand: a Tensor, or a number as a scalar tensor."""
    if _is_number(other):
        return Tensor.full((), other)._raw
    return _handle(other)


__all__ = [
    "DTYPES",
    "DeviceError",
    "DtypeError",
    "InvalidArgumentError",
    "NotFoundError",
    "OutOfMemoryError",
    "ShapeError",
    "Tensor",
    "TensorError",
]
