// What a backbone says about itself: `ModelSpec` and its parts, with the
// reference SDK's fields (in camelCase), defaults and construction checks.

export const SUPPORTED_CONSTRAINTS = Object.freeze(["root_path", "effector_target", "pose_keyframe"]);
export const SUPPORTED_SEGMENTS = Object.freeze(["text", "unconditioned"]);
export const SUPPORTED_GUIDANCE_TYPES = Object.freeze(["nocfg", "regular", "separated"]);

const OPTION_NAME = /^[a-z][a-z0-9_]{0,39}$/;
const OPTION_TYPES = ["number", "integer", "boolean", "enum", "flags"];

/** A joint: `joint("Spine", "Hips", [0, 0.5, 0])`. */
export function joint(name, parent = null, restTranslation = [0, 0, 0], restRotation = [0, 0, 0, 1], displayName) {
  return { name, parent: parent ?? undefined, restTranslation, restRotation, displayName };
}

/** Joints in parent-before-child order; the first one is the root. */
export class Skeleton {
  constructor(joints) {
    if (!Array.isArray(joints) || joints.length === 0) throw new TypeError("a skeleton needs at least one joint");
    this.joints = joints;
  }
  get root() {
    return this.joints[0];
  }
  get jointNames() {
    return this.joints.map((j) => j.name);
  }
  indexOf(name) {
    return this.joints.findIndex((j) => j.name === name);
  }
}

function positive(name, value) {
  if (value !== undefined && value !== null && !(value > 0)) {
    throw new RangeError(`${name} must be > 0 when set; got ${value}`);
  }
}

export class Limits {
  constructor({
    maxDurationSeconds = 30.0,
    maxNumSamples = 16,
    maxConstraintsPerRequest = 64,
    maxPromptLength = 1000,
    maxRequestBytes = 1048576,
    maxBatchSize = 16,
    maxReferenceFrames,
    maxVideoBytes,
    maxVideoSeconds,
  } = {}) {
    positive("maxReferenceFrames", maxReferenceFrames);
    positive("maxVideoBytes", maxVideoBytes);
    positive("maxVideoSeconds", maxVideoSeconds);
    Object.assign(this, {
      maxDurationSeconds,
      maxNumSamples,
      maxConstraintsPerRequest,
      maxPromptLength,
      maxRequestBytes,
      maxBatchSize,
      maxReferenceFrames,
      maxVideoBytes,
      maxVideoSeconds,
    });
  }
}

/** A dial the model has that the protocol has no word for (MMCP 1.4). */
export class ModelOption {
  constructor({ name, type, title, description, default: dflt, minimum, maximum, values }) {
    if (!OPTION_NAME.test(name ?? "")) throw new RangeError(`model option name ${name} must match ${OPTION_NAME}`);
    if (!OPTION_TYPES.includes(type)) throw new RangeError(`model option type must be one of ${OPTION_TYPES}; got ${type}`);
    if (title !== undefined && title.length > 80) throw new RangeError("model option title is longer than 80 characters");
    if (description !== undefined && description.length > 400) {
      throw new RangeError("model option description is longer than 400 characters");
    }
    if (values !== undefined && values.length > 32) throw new RangeError("model option values has more than 32 entries");
    if ((type === "enum" || type === "flags") && !(values && values.length)) {
      throw new RangeError(`a ${type} model option needs non-empty values`);
    }
    Object.assign(this, { name, type, title, description, default: dflt, minimum, maximum, values });
  }
}

/**
 * One `/capabilities` model entry. Only `id`, `fps` and `canonicalSkeleton`
 * are required; the rest default exactly as in the reference SDK.
 */
export class ModelSpec {
  constructor({
    id,
    fps,
    canonicalSkeleton,
    supportsRetargeting = false,
    supportsJointTranslation = false,
    supportsAsync = false,
    supportsSegmentSeed = false,
    supportsLoop = false,
    supportsKeyframeReduction = false,
    modelOptions = [],
    // The host derives these three on the wire (see the WIT).
    supportsMotionReferenceMixed = false,
    supportsBatch = false,
    supportsTrajectory = false,
    supportedConstraints = [],
    supportedSegments = [...SUPPORTED_SEGMENTS],
    supportedGuidanceTypes = [...SUPPORTED_GUIDANCE_TYPES],
    predictedContactJoints = [],
    nativeClipSeconds = 10.0,
    chunking = "none",
    recommendedMaxDurationSeconds = 12.0,
    limits = new Limits(),
  }) {
    if (typeof id !== "string" || id.length === 0) throw new RangeError("ModelSpec.id must be a non-empty string");
    if (!(fps > 0)) throw new RangeError(`ModelSpec.fps must be > 0; got ${fps}`);
    if (chunking !== "none" && chunking !== "stitched") {
      throw new RangeError(`ModelSpec.chunking must be "none" or "stitched"; got ${chunking}`);
    }
    const skeleton = canonicalSkeleton instanceof Skeleton ? canonicalSkeleton : new Skeleton(canonicalSkeleton?.joints);
    Object.assign(this, {
      id,
      fps,
      canonicalSkeleton: skeleton,
      supportsRetargeting,
      supportsJointTranslation,
      supportsAsync,
      supportsSegmentSeed,
      supportsLoop,
      supportsKeyframeReduction,
      modelOptions: modelOptions.map((o) => (o instanceof ModelOption ? o : new ModelOption(o))),
      supportsMotionReferenceMixed,
      supportsBatch,
      supportsTrajectory,
      supportedConstraints,
      supportedSegments,
      supportedGuidanceTypes,
      predictedContactJoints,
      nativeClipSeconds,
      chunking,
      recommendedMaxDurationSeconds,
      limits: limits instanceof Limits ? limits : new Limits(limits),
    });
  }
}
