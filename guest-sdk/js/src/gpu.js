// The SDK for backbones that use the GPU tensor API: everything `index.js`
// exports, plus `Tensor` and the `TensorError` classes.
//
//     import { Tensor, exportBackbone, ... } from "../../guest-sdk/js/src/gpu.js";
//
// A separate entry because `Tensor` imports the host's `tensor` and
// `weights` interfaces, which exist only in the GPU worlds: a module graph
// that reaches this file is built for `gpu-backbone-world` (or
// `sdk-backbone-world` with the batch hook) by scripts/componentize.sh, and
// one that does not keeps importing nothing GPU.

export * from "./index.js";
export { DTYPES, Tensor } from "./tensor.js";
export {
  DeviceError,
  DtypeError,
  InvalidArgumentError,
  NotFoundError,
  OutOfMemoryError,
  ShapeError,
  TensorError,
} from "./tensor-errors.js";
