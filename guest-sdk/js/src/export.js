// Turns a backbone object into the component's `backbone` export: converts
// between the values componentize-js passes (the WIT's records in camelCase,
// kebab-case enum and variant names, BigInt for 64-bit integers) and the
// SDK's types.

import { ProtocolError } from "./errors.js";
import { GenerateRequest } from "./request.js";
import { MotionResult } from "./result.js";
import { tidy } from "./scope.js";
import { TensorError } from "./tensor-errors.js";

const kebab = (name) => name.replaceAll("_", "-");

function witSkeleton(skeleton) {
  return {
    joints: skeleton.joints.map((j) => ({
      name: j.name,
      parent: j.parent ?? undefined,
      restTranslation: [...j.restTranslation].map(Number),
      restRotation: [...(j.restRotation ?? [0, 0, 0, 1])].map(Number),
      displayName: j.displayName ?? undefined,
    })),
  };
}

const optionalBigInt = (v) => (v === undefined || v === null ? undefined : BigInt(v));

function witSpec(spec) {
  const l = spec.limits;
  return {
    id: spec.id,
    fps: spec.fps,
    canonicalSkeleton: witSkeleton(spec.canonicalSkeleton),
    supportsRetargeting: spec.supportsRetargeting,
    supportsJointTranslation: spec.supportsJointTranslation,
    supportsAsync: spec.supportsAsync,
    supportsSegmentSeed: spec.supportsSegmentSeed,
    supportsLoop: spec.supportsLoop,
    supportsKeyframeReduction: spec.supportsKeyframeReduction,
    modelOptions: spec.modelOptions.map((o) => ({
      name: o.name,
      kind: o.type,
      title: o.title,
      description: o.description,
      default: o.default === undefined || o.default === null ? undefined : JSON.stringify(o.default),
      minimum: o.minimum,
      maximum: o.maximum,
      values: o.values,
    })),
    supportsMotionReferenceMixed: spec.supportsMotionReferenceMixed,
    supportsBatch: spec.supportsBatch,
    supportsTrajectory: spec.supportsTrajectory,
    supportedConstraints: [...spec.supportedConstraints],
    supportedSegments: [...spec.supportedSegments],
    supportedGuidanceTypes: [...spec.supportedGuidanceTypes],
    predictedContactJoints: [...spec.predictedContactJoints],
    nativeClipSeconds: spec.nativeClipSeconds,
    chunking: spec.chunking,
    recommendedMaxDurationSeconds: spec.recommendedMaxDurationSeconds,
    limits: {
      maxDurationSeconds: l.maxDurationSeconds,
      maxNumSamples: l.maxNumSamples,
      maxConstraintsPerRequest: l.maxConstraintsPerRequest,
      maxPromptLength: l.maxPromptLength,
      maxRequestBytes: BigInt(l.maxRequestBytes),
      maxBatchSize: l.maxBatchSize,
      maxReferenceFrames: l.maxReferenceFrames ?? undefined,
      maxVideoBytes: optionalBigInt(l.maxVideoBytes),
      maxVideoSeconds: l.maxVideoSeconds ?? undefined,
    },
  };
}

const frames = (list) => (list === undefined || list === null ? undefined : Int32Array.from(list));

function witResult(r) {
  return {
    numSamples: r.numSamples,
    numFrames: r.numFrames,
    rotations: r.rotations,
    rootTranslations: r.rootTranslations,
    translations: r.translations,
    keyframes: Object.entries(r.keyframes ?? {})
      .map(([joint, ch]) => ({ joint: Number(joint), rotation: frames(ch.rotation), translation: frames(ch.translation) }))
      .sort((a, b) => a.joint - b.joint),
    jointNames: r.jointNames,
    footContacts: Object.entries(r.footContacts).map(([joint, mask]) => ({ joint, contacts: Array.from(mask, Boolean) })),
    chunkBoundaries: r.chunkBoundaries?.map((sample) => Uint32Array.from(sample)),
    canonicalToRequest: Object.entries(r.canonicalToRequest ?? {}),
    trajectories: r.trajectories?.map((t) => (t === undefined || t === null ? undefined : JSON.stringify(t))),
    notes: r.notes.map((n) => ({ code: String(n.code ?? ""), severity: String(n.severity ?? "info"), message: String(n.message ?? "") })),
  };
}

function witError(e) {
  return { code: kebab(e.code), message: e.envelopeMessage, details: JSON.stringify(e.details ?? {}) };
}

function describe(e) {
  return e instanceof Error ? `${e.name}: ${e.message}` : `uncaught ${typeof e}: ${String(e)}`;
}

/**
 * A thrown value as the `ProtocolError` its request gets: a `TensorError` as
 * the Rust SDK converts it (out of GPU memory: 503 resource_exhausted).
 */
function asProtocolError(e) {
  if (e instanceof ProtocolError) return e;
  if (e instanceof TensorError) return e.toProtocolError();
  return new ProtocolError("internal_error", describe(e));
}

/**
 * The component's `backbone` export for `backbone` (an object or class
 * instance with `capabilities()` and `generate(request)`, and optionally
 * `setup()` and `teardown()`):
 *
 *     export const backbone = exportBackbone(new MyBackbone());
 */
export function exportBackbone(backbone) {
  return {
    setup() {
      try {
        backbone.setup?.();
      } catch (e) {
        // result<_, string>: a thrown string is the error.
        throw describe(e);
      }
    },
    teardown() {
      backbone.teardown?.();
    },
    capabilities() {
      return witSpec(backbone.capabilities());
    },
    generate(request) {
      try {
        // The request's tensors are freed when it ends (scope.js).
        const result = tidy(() => backbone.generate(new GenerateRequest(request)));
        if (!(result instanceof MotionResult)) {
          const kind = result === null ? "null" : typeof result === "object" ? result.constructor?.name ?? "object" : typeof result;
          throw new ProtocolError("internal_error", `backbone.generate must return a MotionResult; got ${kind}`);
        }
        return witResult(result);
      } catch (e) {
        // An uncaught exception costs this request only: the envelope names it.
        throw witError(asProtocolError(e));
      }
    },
  };
}

/** One entry of a batch hook's answer as a WIT `result`. */
function batchOutcome(item) {
  if (item instanceof MotionResult) {
    return { tag: "ok", val: witResult(item) };
  }
  if (item instanceof ProtocolError || item instanceof Error) {
    return { tag: "err", val: witError(asProtocolError(item)) };
  }
  const kind = item === null ? "null" : typeof item === "object" ? item.constructor?.name ?? "object" : typeof item;
  return { tag: "err", val: witError(new ProtocolError("internal_error", `backbone.generateBatch must return MotionResults; got ${kind}`)) };
}

/**
 * The component's optional `batch` export for `backbone`: every valid item
 * of one batch body that names the model reaches `generateBatch(requests)`
 * in one call. It returns one entry per request, in order: a
 * `MotionResult`, or a `ProtocolError` (or any `Error`) for that item alone;
 * a throw fails every item of the group. Without a `generateBatch` method
 * the host calls `generate` per item. A module that exports this is built
 * for the `batch-backbone-world`:
 *
 *     export const backbone = exportBackbone(model);
 *     export const batch = exportBatch(model);
 */
export function exportBatch(backbone) {
  return {
    generateBatch(requests) {
      // `undefined` is "no hook"; the host asks once, with no requests.
      if (typeof backbone.generateBatch !== "function") {
        return undefined;
      }
      if (requests.length === 0) {
        return [];
      }
      const reqs = requests.map((r) => new GenerateRequest(r));
      let answer;
      try {
        answer = tidy(() => Array.from(backbone.generateBatch(reqs)));
      } catch (e) {
        // The hook itself failed: every item of the group says so.
        const error = witError(asProtocolError(e));
        return reqs.map(() => ({ tag: "err", val: error }));
      }
      return answer.map(batchOutcome);
    },
  };
}
