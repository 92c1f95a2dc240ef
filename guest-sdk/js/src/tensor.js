// GPU tensors (wit/tensor.wit): a thin wrapper over the host's `tensor`
// resource and the `weights` interface, with the Rust SDK's names in
// camelCase. Every op runs on the host's GPU as a WGSL kernel; nothing comes
// back to the guest until `toFloat32Array()` (or `toInt32Array()`,
// `toUint32Array()`), the only synchronisation point.
//
// Importing this module (through `gpu.js`) makes the component import the
// tensor interfaces: scripts/componentize.sh then builds it for the GPU
// world. Ops throw `TensorError`s (tensor-errors.js); one that escapes
// `generate` becomes the protocol error the Rust SDK makes of it (out of GPU
// memory: 503 resource_exhausted; anything else: 500 internal_error).
// Lifetimes: see scope.js (a tensor made during a request is freed when the
// request ends unless kept; `Tensor.tidy` frees a step's temporaries early).

import { Tensor as RawTensor } from "mmcp:backbone/tensor@0.1.0";
import * as weights from "mmcp:backbone/weights@0.1.0";

import { tidy, track, untrack } from "./scope.js";
import { InvalidArgumentError, ShapeError, tensorErrorOf } from "./tensor-errors.js";

// componentize-js's resources free their handle through this method.
const DROP = Symbol.dispose || Symbol.for("dispose");
// Module-private fields: the wrapped resource (null once disposed), and the
// shape and dtype once asked (they never change).
const RAW = Symbol("raw");
const SHAPE = Symbol("shape");
const DTYPE = Symbol("dtype");

/** The element types, as `dtype` names them. */
export const DTYPES = Object.freeze(["f32", "i32", "u32", "f16", "bf16"]);

// The raw resource of a tensor argument, refusing anything else.
function raw(t, what = "tensor") {
  if (!(t instanceof Tensor)) {
    throw new TypeError(`${what} must be a Tensor; got ${t === null ? "null" : typeof t}`);
  }
  const r = t[RAW];
  if (r === null) {
    throw new InvalidArgumentError(
      `${what} was disposed: a tensor made during a request (or in Tensor.tidy) is freed when it ends; keep() holds it`,
    );
  }
  return r;
}

const rawOrUndefined = (t, what) => (t === undefined || t === null ? undefined : raw(t, what));

// Calls a binding, as the SDK's error when the host refuses.
function host(f) {
  try {
    return f();
  } catch (e) {
    throw tensorErrorOf(e);
  }
}

// A binding call that returns a new tensor.
const made = (f) => new Tensor(host(f));

// A shape as the WIT's list<u32>: non-negative integers.
function dims(shape) {
  const out = Array.from(shape, Number);
  if (!out.every((d) => Number.isInteger(d) && d >= 0 && d <= 0xffffffff)) {
    throw new ShapeError(`a shape is a list of non-negative integers; got [${Array.from(shape).join(", ")}]`);
  }
  return out;
}

// Integers for the WIT's list<s32> / u32 arguments (a bad one is refused by
// the binding with a TypeError).
const ints = (list) => Array.from(list, Number);

// Typed arrays pass to the host as one copy; other arrays convert first (the
// binding copies any typed array's bytes as they are, so a Float64Array must
// not reach it).
const asTyped = (data, Type) => (data instanceof Type ? data : Type.from(data));

// `t op other` for a tensor, or a number as a broadcast [1] tensor freed
// after the op.
function binaryOrScalar(t, op, other) {
  if (typeof other !== "number") return t.binary(op, other);
  const scalar = Tensor.full([1], other);
  try {
    return t.binary(op, scalar);
  } finally {
    scalar.dispose();
  }
}

// An axis argument of `t`, a negative one counted from the end.
const axisOf = (t, axis) => (axis < 0 ? axis + t.rank : axis);

/**
 * A tensor in the host's GPU memory. Shapes are row-major (last axis
 * fastest), binary ops broadcast like NumPy, axes count from 0 (a negative
 * axis counts from the end).
 */
export class Tensor {
  /** Wraps a `mmcp:backbone/tensor` resource; use the static constructors. */
  constructor(resource) {
    if (!(resource instanceof RawTensor)) {
      throw new TypeError("new Tensor() takes a tensor resource; use Tensor.fromList, Tensor.zeros, ...");
    }
    this[RAW] = resource;
    this[SHAPE] = undefined;
    this[DTYPE] = undefined;
    track(this);
  }

  // ---- constructors --------------------------------------------------------

  /** A float tensor from row-major data (Float32Array or numbers). */
  static fromList(data, shape) {
    return made(() => RawTensor.fromList(asTyped(data, Float32Array), dims(shape)));
  }

  /** Signed indices (Int32Array or integers). */
  static fromI32(data, shape) {
    return made(() => RawTensor.fromI32(asTyped(data, Int32Array), dims(shape)));
  }

  /** Unsigned indices or a boolean mask, nonzero true (Uint32Array or integers). */
  static fromU32(data, shape) {
    return made(() => RawTensor.fromU32(asTyped(data, Uint32Array), dims(shape)));
  }

  /** Every element `value`. */
  static full(shape, value) {
    return made(() => RawTensor.full(dims(shape), value));
  }

  static zeros(shape) {
    return Tensor.full(shape, 0);
  }

  static ones(shape) {
    return Tensor.full(shape, 1);
  }

  /** Uniform in [0, 1), the same numbers for a seed (number or BigInt) on every GPU. */
  static rand(shape, seed) {
    return made(() => RawTensor.rand(dims(shape), BigInt.asUintN(64, BigInt(seed))));
  }

  /** Standard normal, the same numbers for a seed (number or BigInt) on every GPU. */
  static randn(shape, seed) {
    return made(() => RawTensor.randn(dims(shape), BigInt.asUintN(64, BigInt(seed))));
  }

  /** `start, start + step, ...`: `count` f32 values. */
  static arange(start, step, count) {
    return made(() => RawTensor.arange(start, step, count));
  }

  /**
   * Tensor `name` of the safetensors `file` in the operator's weights
   * directory, loaded once per model and shared by its instances. F16 and
   * BF16 tensors stay at half size: `matmul`/`linear` take them as they
   * are; cast them to f32 for other arithmetic.
   */
  static load(file, name) {
    return made(() => weights.load(file, name));
  }

  /** The tensor names in a weights file, sorted. */
  static names(file) {
    return host(() => weights.names(file));
  }

  // ---- lifetime ------------------------------------------------------------

  /**
   * Runs `fn` and frees every tensor it made, except those in its result
   * (a tensor, or in arrays and plain objects): one sampling step's
   * temporaries, say. Returns what `fn` returned.
   */
  static tidy(fn) {
    return tidy(fn);
  }

  /** Holds this tensor past the end of its request or tidy scope (until `dispose()`). */
  keep() {
    untrack(this);
    return this;
  }

  /** Frees the GPU memory now (the host pools it for the next op); idempotent. */
  dispose() {
    const r = this[RAW];
    if (r === null) return;
    this[RAW] = null;
    untrack(this);
    r[DROP]();
  }

  get disposed() {
    return this[RAW] === null;
  }

  // ---- what it is ------------------------------------------------------------

  /** The shape, as an array of numbers. */
  get shape() {
    this[SHAPE] ??= Array.from(raw(this).shape());
    return [...this[SHAPE]];
  }

  /** "f32", "i32", "u32", "f16" or "bf16". */
  get dtype() {
    this[DTYPE] ??= raw(this).dtype();
    return this[DTYPE];
  }

  /** The number of axes. */
  get rank() {
    return this.shape.length;
  }

  /** Elements (1 for a scalar). */
  get numel() {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  // ---- reading back ----------------------------------------------------------

  /** Reads a float tensor back (f16/bf16 widened); waits for every op recorded so far. */
  toFloat32Array() {
    return host(() => raw(this).toList());
  }

  toInt32Array() {
    return host(() => raw(this).toI32());
  }

  toUint32Array() {
    return host(() => raw(this).toU32());
  }

  // ---- elementwise -----------------------------------------------------------

  /** One of the WIT's `unary-op`s by name ("gelu", "gelu-tanh", ...). */
  unary(op) {
    return made(() => raw(this).unary(op));
  }

  /** GELU with the exact erf (PyTorch's default). */
  gelu() {
    return this.unary("gelu");
  }

  /** GELU's tanh approximation. */
  geluTanh() {
    return this.unary("gelu-tanh");
  }

  silu() {
    return this.unary("silu");
  }

  relu() {
    return this.unary("relu");
  }

  tanh() {
    return this.unary("tanh");
  }

  sigmoid() {
    return this.unary("sigmoid");
  }

  exp() {
    return this.unary("exp");
  }

  log() {
    return this.unary("log");
  }

  sqrt() {
    return this.unary("sqrt");
  }

  rsqrt() {
    return this.unary("rsqrt");
  }

  sin() {
    return this.unary("sin");
  }

  cos() {
    return this.unary("cos");
  }

  neg() {
    return this.unary("neg");
  }

  abs() {
    return this.unary("abs");
  }

  /** `this * factor + offset` in one pass. */
  scale(factor, offset = 0) {
    return made(() => raw(this).scale(factor, offset));
  }

  clamp(lo, hi) {
    return made(() => raw(this).clamp(lo, hi));
  }

  /** One of the WIT's `binary-op`s by name, broadcasting. */
  binary(op, other) {
    return made(() => raw(this).binary(op, raw(other, "the other operand")));
  }

  // add/sub/mul take a tensor or a number (one `scale` pass, as the Rust
  // SDK's `&t + 1.0`); div/maximum/minimum/pow/atan2 take a number as a broadcast
  // [1] tensor, so `t.div(3)` divides exactly rather than multiplying by a
  // rounded 1/3.

  add(other) {
    return typeof other === "number" ? this.scale(1, other) : this.binary("add", other);
  }

  sub(other) {
    return typeof other === "number" ? this.scale(1, -other) : this.binary("sub", other);
  }

  mul(other) {
    return typeof other === "number" ? this.scale(other, 0) : this.binary("mul", other);
  }

  div(other) {
    return binaryOrScalar(this, "div", other);
  }

  maximum(other) {
    return binaryOrScalar(this, "maximum", other);
  }

  minimum(other) {
    return binaryOrScalar(this, "minimum", other);
  }

  pow(other) {
    return binaryOrScalar(this, "pow", other);
  }

  /**
   * `atan2(this, x)` elementwise: the angle of the point (x, y = this) in
   * [-pi, pi], as the adapter's WGSL `atan2` computes it (at the origin the
   * angle is the adapter's, not 0: mask zero vectors).
   */
  atan2(x) {
    return binaryOrScalar(this, "atan2", x);
  }

  /** Element type conversion by value ("f32", "i32", "u32", "f16", "bf16"). */
  cast(dtype) {
    return made(() => raw(this).cast(dtype));
  }

  // ---- linear algebra and normalisation ----------------------------------------

  /** Batched matrix product over the last two axes (f32, f16 or bf16 in; f32 out). */
  matmul(other) {
    return made(() => raw(this).matmul(raw(other, "the other operand")));
  }

  /**
   * `this @ weight^T + bias` (PyTorch's `nn.Linear`); `bias` may be omitted.
   * With `{ activation, residual }` it is `activation(...) + residual` in the
   * same kernel (the WIT's `linear-fused`), a pass over the output cheaper
   * for each than `.gelu()` or `.add(residual)` after it: `activation` is
   * "gelu", "gelu-tanh", "silu" or "relu" (another unary op throws
   * `InvalidArgumentError`), `residual` f32 with the result's shape.
   */
  linear(weight, bias = null, { activation = null, residual = null } = {}) {
    const w = raw(weight, "weight");
    const b = rawOrUndefined(bias, "bias");
    if (activation === null && residual === null) {
      return made(() => raw(this).linear(w, b));
    }
    const r = rawOrUndefined(residual, "residual");
    return made(() => raw(this).linearFused(w, b, activation ?? undefined, r));
  }

  /** Softmax over the last axis. */
  softmax() {
    return made(() => raw(this).softmax());
  }

  /** Normalises over the last axis, then `* weight + bias` when given. */
  layerNorm(weight = null, bias = null, eps = 1e-5) {
    return made(() => raw(this).layerNorm(rawOrUndefined(weight, "weight"), rawOrUndefined(bias, "bias"), eps));
  }

  rmsNorm(weight = null, eps = 1e-6) {
    return made(() => raw(this).rmsNorm(rawOrUndefined(weight, "weight"), eps));
  }

  // ---- reductions --------------------------------------------------------------

  /** One of the WIT's `reduce-op`s ("sum", "mean", "max") over `axis`. */
  reduce(op, axis, keepDim = false) {
    return made(() => raw(this).reduce(op, axisOf(this, axis), keepDim));
  }

  sum(axis, keepDim = false) {
    return this.reduce("sum", axis, keepDim);
  }

  mean(axis, keepDim = false) {
    return this.reduce("mean", axis, keepDim);
  }

  max(axis, keepDim = false) {
    return this.reduce("max", axis, keepDim);
  }

  // ---- layout ------------------------------------------------------------------

  /** Same data, new shape (one entry may be -1: inferred). No copy. */
  reshape(shape) {
    return made(() => raw(this).reshape(ints(shape)));
  }

  /** Axes reordered: result axis i is input axis dims[i]. */
  permute(dims) {
    return made(() => raw(this).permute(ints(dims)));
  }

  transpose(a, b) {
    return made(() => raw(this).transpose(axisOf(this, a), axisOf(this, b)));
  }

  /** Elements [start, end) along `axis`. */
  slice(axis, start, end) {
    return made(() => raw(this).slice(axisOf(this, axis), start, end));
  }

  /** Entry `index` of `axis`, with that axis removed. */
  select(axis, index) {
    const shape = this.shape;
    const a = axis < 0 ? axis + shape.length : axis;
    const part = this.slice(a, index, index + 1);
    try {
      shape.splice(a, 1);
      return part.reshape(shape);
    } finally {
      part.dispose();
    }
  }

  /** Rows of `axis` picked by a 1-D i32/u32 index tensor (negative indices count from the end). */
  indexSelect(axis, indices) {
    return made(() => raw(this).indexSelect(axisOf(this, axis), raw(indices, "indices")));
  }

  /** Tensors of equal shape but along `axis`, joined along it. */
  static concat(parts, axis) {
    const list = Array.from(parts);
    const raws = list.map((t, i) => raw(t, `parts[${i}]`));
    const a = axis < 0 && list.length > 0 ? axisOf(list[0], axis) : axis;
    return made(() => RawTensor.concat(raws, a));
  }

  /** `cond ? a : b`, broadcasting all three; `cond` nonzero is true. */
  static where(cond, a, b) {
    return made(() => RawTensor.where(raw(cond, "cond"), raw(a, "a"), raw(b, "b")));
  }

  /**
   * softmax(q k^T * scale + mask) v for q [batch, heads, lq, d] and k, v
   * [batch, heads, lk, d]: a u32/i32 mask keeps keys where nonzero, an f32
   * mask is added to the scores; `scale` defaults to 1/sqrt(d).
   */
  static attention(q, k, v, mask = null, scale = undefined) {
    return made(() =>
      RawTensor.attention(raw(q, "q"), raw(k, "k"), raw(v, "v"), rawOrUndefined(mask, "mask"), scale ?? undefined),
    );
  }

  toString() {
    return this[RAW] === null ? "Tensor(disposed)" : `Tensor(${this.dtype} [${this.shape.join(", ")}])`;
  }
}

if (typeof Symbol.dispose === "symbol") {
  // `using t = ...` where the engine has explicit resource management.
  Tensor.prototype[Symbol.dispose] = Tensor.prototype.dispose;
}
