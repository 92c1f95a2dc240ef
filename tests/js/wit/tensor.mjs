// Stand-in for mmcp:backbone/tensor, shaped like componentize-js's bindings
// (a class whose static and instance methods are the WIT functions, typed
// arrays out, a `result`'s error thrown as an Error with `payload` {tag,
// val}, the handle dropped through Symbol.dispose) and computing on the CPU
// just enough ops to test the SDK's wrapper: its conversions, errors and
// lifetimes. `live` holds every tensor not yet dropped.

export class ComponentError extends Error {
  constructor(value) {
    super(`${String(value)} (see error.payload)`);
    Object.defineProperty(this, "payload", { value, enumerable: true });
  }
}

const fail = (tag, val) => {
  throw new ComponentError({ tag, val });
};

export const live = new Set();
/** Bytes a model may hold; past it ops fail with out-of-memory. */
export const limits = { bytes: Infinity };
/** The arguments of the latest call, by WIT function name. */
export const calls = {};

const numel = (shape) => shape.reduce((a, b) => a * b, 1);
const bytesLive = () => [...live].reduce((n, t) => n + t.data.length * 4, 0);

function checkShape(shape) {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new TypeError(`invalid u32 value [${shape}]`);
  }
}

function make(data, shape, dtype) {
  if (bytesLive() + data.length * 4 > limits.bytes) {
    fail("out-of-memory", `${data.length * 4} more bytes would exceed the quota`);
  }
  const t = Object.create(Tensor.prototype);
  Object.assign(t, { data, dims: [...shape], type: dtype });
  live.add(t);
  return t;
}

function list(name, data, Type, shape) {
  calls[name] = { data, shape };
  checkShape(shape);
  if (!(data instanceof Type) && !Array.isArray(data)) throw new TypeError(`${name}: not a list`);
  if (data.length !== numel(shape)) fail("shape", `${data.length} values do not fill shape [${shape.join(", ")}]`);
  return Type.from(data);
}

export class Tensor {
  static fromList(data, shape) {
    return make(list("from-list", data, Float32Array, shape), shape, "f32");
  }

  static fromI32(data, shape) {
    return make(list("from-i32", data, Int32Array, shape), shape, "i32");
  }

  static fromU32(data, shape) {
    return make(list("from-u32", data, Uint32Array, shape), shape, "u32");
  }

  static full(shape, value) {
    checkShape(shape);
    return make(new Float32Array(numel(shape)).fill(value), shape, "f32");
  }

  static rand(shape, seed) {
    calls.rand = { shape, seed };
    if (typeof seed !== "bigint") throw new TypeError(`invalid u64 value [${seed}]`);
    return Tensor.full(shape, 0.5);
  }

  shape() {
    return Uint32Array.from(this.dims);
  }

  dtype() {
    return this.type;
  }

  toList() {
    return Float32Array.from(this.data);
  }

  toI32() {
    return Int32Array.from(this.data);
  }

  unary(op) {
    if (this.type !== "f32") fail("dtype", `unary takes f32 tensors, got ${this.type}`);
    const f = { neg: (x) => -x, exp: Math.exp }[op];
    return make(this.data.map(f), this.dims, "f32");
  }

  scale(factor, offset) {
    return make(this.data.map((x) => x * factor + offset), this.dims, "f32");
  }

  // Same shapes, or a [1] operand.
  binary(op, other) {
    const f = { add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b, maximum: Math.max, atan2: Math.atan2 }[op];
    if (other.data.length === 1) return make(this.data.map((a) => f(a, other.data[0])), this.dims, "f32");
    if (this.dims.join() !== other.dims.join()) {
      fail("shape", `${op}: shapes [${this.dims.join(", ")}] and [${other.dims.join(", ")}] do not broadcast`);
    }
    return make(this.data.map((a, i) => f(a, other.data[i])), this.dims, "f32");
  }

  reshape(shape) {
    if (!shape.every((d) => Number.isInteger(d))) throw new TypeError(`invalid s32 value [${shape}]`);
    const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const dims = shape.map((d) => (d === -1 ? this.data.length / known : d));
    if (numel(dims) !== this.data.length) fail("shape", `cannot reshape [${this.dims}] to [${shape}]`);
    return make(this.data.slice(), dims, this.type);
  }

  // Axis 0 only.
  slice(axis, start, end) {
    if (axis !== 0) fail("invalid-argument", "the stand-in slices axis 0 only");
    const row = numel(this.dims.slice(1));
    return make(this.data.slice(start * row, end * row), [end - start, ...this.dims.slice(1)], this.type);
  }

  linear(weight, bias) {
    calls.linear = { weight, bias };
    return make(this.data.slice(), this.dims, "f32");
  }

  linearFused(weight, bias, activation, residual) {
    calls.linearFused = { weight, bias, activation, residual };
    return make(this.data.slice(), this.dims, "f32");
  }

  [Symbol.dispose || Symbol.for("dispose")]() {
    if (!live.delete(this)) throw new Error("dropped twice");
  }
}
