// Why a tensor op was refused: one class per case of the WIT `tensor-error`
// variant, all extending `TensorError`. This module imports nothing from the
// host, so the export adapter can turn a TensorError that escapes `generate`
// into its protocol error in every component, GPU or not.

import { ProtocolError } from "./errors.js";

/** Base class of every refused tensor op; `kind` is the WIT case name. */
export class TensorError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }

  /** The WIT case: "shape", "dtype", "invalid-argument", ... (undefined for the base class). */
  get kind() {
    for (const [kind, cls] of CLASS_OF) {
      if (this instanceof cls) return kind;
    }
    return undefined;
  }

  /**
   * The protocol error this becomes when it escapes `generate`, as the Rust
   * SDK makes it: running out of the model's GPU quota is `503
   * resource_exhausted`, anything else is the backbone's bug, `500
   * internal_error`; the message reads "tensor shape error: ...".
   */
  toProtocolError() {
    const code = this instanceof OutOfMemoryError ? "resource_exhausted" : "internal_error";
    const kind = this.kind === undefined ? "" : ` ${this.kind.replaceAll("-", " ")}`;
    return new ProtocolError(code, `tensor${kind} error: ${this.message}`);
  }
}

/** Shapes that do not fit the op. */
export class ShapeError extends TensorError {}
/** An element type the op does not take. */
export class DtypeError extends TensorError {}
/** An argument out of range (axis, slice bounds, permutation). */
export class InvalidArgumentError extends TensorError {}
/** The model's GPU memory quota would be exceeded: `503 resource_exhausted`. */
export class OutOfMemoryError extends TensorError {}
/** A weights file or tensor name that does not exist. */
export class NotFoundError extends TensorError {}
/** No usable GPU adapter, or the device failed. */
export class DeviceError extends TensorError {}

const CLASS_OF = new Map([
  ["shape", ShapeError],
  ["dtype", DtypeError],
  ["invalid-argument", InvalidArgumentError],
  ["out-of-memory", OutOfMemoryError],
  ["not-found", NotFoundError],
  ["device", DeviceError],
]);

/**
 * A value thrown by a binding of the tensor or weights interface as the
 * SDK's error. componentize-js throws a `result`'s error case as an Error
 * whose `payload` is the variant, `{tag: "out-of-memory", val: "message"}`;
 * anything else (a TypeError for a malformed argument, say) passes through.
 */
export function tensorErrorOf(e) {
  const payload = e !== null && typeof e === "object" ? e.payload : undefined;
  const cls = typeof payload?.tag === "string" ? CLASS_OF.get(payload.tag) : undefined;
  return cls === undefined ? e : new cls(String(payload.val));
}
