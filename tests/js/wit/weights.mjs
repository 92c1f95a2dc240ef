// Stand-in for mmcp:backbone/weights: one file, "w.safetensors", holding
// "w" = [1, 2, 3, 4] in shape [2, 2].
import { ComponentError, Tensor } from "./tensor.mjs";

export function load(file, name) {
  if (file !== "w.safetensors" || name !== "w") {
    throw new ComponentError({ tag: "not-found", val: `no tensor ${name} in ${file}` });
  }
  return Tensor.fromList(new Float32Array([1, 2, 3, 4]), [2, 2]);
}

export function names(file) {
  if (file !== "w.safetensors") throw new ComponentError({ tag: "not-found", val: `no file ${file}` });
  return ["w"];
}
