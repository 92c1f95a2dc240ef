// Write an MMCP backbone in JavaScript and serve it with motionmcp-host.
//
// The contract is the reference Python SDK's in JavaScript idioms: extend
// `Backbone` (or write any object with the same methods), return a
// `ModelSpec` from `capabilities()` and a `MotionResult` from
// `generate(request)`, throw `ProtocolError` (or a typed constructor) for
// protocol failures, and export the result of `exportBackbone`:
//
//     export const backbone = exportBackbone(new MyBackbone());
//
// A model that runs a batch body's items together also implements
// `generateBatch(requests)` and exports `batch = exportBatch(model)`.
//
// A model that runs on the GPU imports from `gpu.js` instead: the same
// exports plus `Tensor` and the `TensorError` classes. This entry stays free
// of the host's tensor interfaces, so other components do not import them.

export * from "./errors.js";
export * from "./spec.js";
export { GenerateRequest } from "./request.js";
export { MotionResult } from "./result.js";
export { exportBackbone, exportBatch } from "./export.js";
export { reportProgress } from "./progress.js";

/**
 * Optional base class. `generate` must be synchronous: a component has
 * nothing to wait on. Anything thrown other than a `ProtocolError` becomes
 * `500 internal_error` for that request; the component keeps serving.
 */
export class Backbone {
  setup() {}
  teardown() {}
  capabilities() {
    throw new Error(`${this.constructor.name} must implement capabilities()`);
  }
  generate() {
    throw new Error(`${this.constructor.name} must implement generate(request)`);
  }
}
