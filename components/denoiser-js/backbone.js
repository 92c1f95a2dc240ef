// components/denoiser in JavaScript: the same transformer motion denoiser
// (sinusoidal timestep embedding, text conditioning, pre-norm blocks, DDIM
// sampling with classifier-free guidance) on the SDK's Tensor, loading the
// same `denoiser.safetensors` from the operator's weights directory (`serve
// --weights DIR`). The same request and seed give the Rust model's motion
// bit for bit: the same kernels run in the same order, and the scalar code
// rounds to f32 where the Rust code computes in f32 (model.js, f32.js).
//
// Each frame is a token of `3 + 3 * joints` features: root offset and one
// axis-angle per joint. The whole sampling loop stays on the GPU; the one
// readback per sample is its final x0.

import {
  Limits,
  ModelSpec,
  MotionResult,
  ProtocolError,
  Skeleton,
  Tensor,
  TensorError,
  exportBackbone,
  joint,
  reportProgress,
} from "../../guest-sdk/js/src/gpu.js";

import { cosf, sinf, tanhf } from "./f32.js";
import { Denoiser } from "./model.js";

/** The weights file, relative to the granted directory. */
const WEIGHTS = "denoiser.safetensors";
const U32_MAX = 0xffffffff;
const f = Math.fround;

const skeleton = () =>
  new Skeleton([
    joint("Hips", null, [0.0, 0.95, 0.0]),
    joint("Spine", "Hips", [0.0, 0.5, 0.0]),
    joint("Head", "Spine", [0.0, 0.3, 0.0]),
    joint("LeftFoot", "Hips", [0.1, -0.95, 0.0]),
    joint("RightFoot", "Hips", [-0.1, -0.95, 0.0]),
  ]);

/**
 * Features to motion: a bounded root offset around the rest height and a
 * bounded axis-angle per joint, as quaternions (f32 arithmetic, as the Rust
 * model's `decode`).
 */
function decode(features, frames, joints, rotations, roots) {
  const width = 3 + 3 * joints;
  for (let fr = 0; fr < frames; fr++) {
    const row = features.subarray(fr * width, (fr + 1) * width);
    roots.push(f(f(0.3) * tanhf(row[0])), f(f(0.95) + f(f(0.05) * tanhf(row[1]))), f(f(0.3) * tanhf(row[2])));
    for (let j = 0; j < joints; j++) {
      const axis = [0, 1, 2].map((c) => f(f(0.4) * tanhf(row[3 + 3 * j + c])));
      const angle = f(Math.sqrt(f(f(f(axis[0] * axis[0]) + f(axis[1] * axis[1])) + f(axis[2] * axis[2]))));
      if (angle < f(1e-8)) {
        rotations.push(0, 0, 0, 1);
      } else {
        const s = f(sinf(f(angle / 2)) / angle);
        rotations.push(f(axis[0] * s), f(axis[1] * s), f(axis[2] * s), cosf(f(angle / 2)));
      }
    }
  }
}

class Demo {
  constructor() {
    this.model = null;
  }

  setup() {
    const joints = skeleton().joints.length;
    try {
      this.model = Denoiser.load(WEIGHTS, 3 + 3 * joints);
    } catch (e) {
      if (!(e instanceof TensorError)) throw e;
      throw new Error(`cannot load ${WEIGHTS}: ${e.toProtocolError().envelopeMessage}`);
    }
  }

  capabilities() {
    return new ModelSpec({
      id: "tiny-denoiser-js",
      fps: 30.0,
      canonicalSkeleton: skeleton(),
      // A software adapter runs a 20-second sample in seconds, not minutes.
      limits: new Limits({ maxDurationSeconds: 20.0, maxNumSamples: 4 }),
    });
  }

  generate(request) {
    const model = this.model;
    if (model === null) {
      throw new ProtocolError("model_unavailable", "the model's weights are not loaded");
    }
    const frames = request.totalFrames;
    const joints = request.skeleton.joints.length;
    const prompt = request.segments
      .filter((s) => s.type === "text" || s.type === "pose")
      .map((s) => s.prompt)
      .join(" ");
    const guidance = request.options.guidance;
    const [kind, weights] = guidance === undefined ? ["regular", [2.5]] : [guidance.type, guidance.weight];
    const steps = Math.max(request.options.diffusionSteps, 1);
    const seed = request.options.seed ?? 0n;
    const rotations = [];
    const roots = [];
    // Progress counts every step of every sample.
    const total = Math.min(steps * request.numSamples, U32_MAX);
    let done = 0;
    const onStep = () => reportProgress(++done, total);
    for (let sample = 0; sample < request.numSamples; sample++) {
      const sampleSeed = BigInt.asUintN(64, seed + BigInt(sample));
      // One sample's tensors are freed before the next starts.
      const features = Tensor.tidy(() =>
        model.sample(frames, prompt, kind, weights, steps, sampleSeed, onStep).toFloat32Array(),
      );
      decode(features, frames, joints, rotations, roots);
    }
    return new MotionResult({ numSamples: request.numSamples, numFrames: frames, rotations, rootTranslations: roots });
  }
}

export const backbone = exportBackbone(new Demo());
