// `MotionResult`: what `generate` returns. Arrays are flat typed arrays
// (row-major, like the reference's numpy arrays) with `numSamples` and
// `numFrames`; the joint count follows from `rotations.length`. Shapes are
// checked at construction with the reference's messages; a bad shape is a
// backbone bug and becomes a 500.

function floats(name, values, length) {
  const array = values instanceof Float32Array ? values : Float32Array.from(values ?? []);
  if (length !== undefined && array.length !== length) {
    throw new RangeError(`${name} must have ${length} values; got ${array.length}`);
  }
  return array;
}

export class MotionResult {
  /**
   * @param {object} r
   * @param {number} r.numSamples B
   * @param {number} r.numFrames T
   * @param {Float32Array|number[]} r.rotations B*T*J*4 quaternions (x, y, z, w)
   * @param {Float32Array|number[]} r.rootTranslations B*T*3 root positions
   * @param {Float32Array|number[]} [r.translations] B*T*J*3 offsets from the parent
   * @param {Object<number, {rotation?: number[], translation?: number[]}>} [r.keyframes]
   * @param {string[]} [r.jointNames]
   * @param {Object<string, boolean[]>} [r.footContacts] B*T flags per joint
   * @param {number[][]} [r.chunkBoundaries] one list per sample
   * @param {Object<string, string>} [r.canonicalToRequest]
   * @param {(object|null)[]} [r.trajectories] one per sample; omit to let the host compute them
   * @param {{code: string, severity: string, message: string}[]} [r.notes]
   */
  constructor({
    numSamples,
    numFrames,
    rotations,
    rootTranslations,
    translations,
    keyframes,
    jointNames,
    footContacts = {},
    chunkBoundaries,
    canonicalToRequest,
    trajectories,
    notes = [],
  }) {
    const B = numSamples;
    const T = numFrames;
    if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) {
      throw new RangeError(`numSamples and numFrames must be positive integers; got ${B}, ${T}`);
    }
    this.rotations = floats("rotations", rotations);
    const J = this.rotations.length / (B * T * 4);
    if (!Number.isInteger(J) || J < 1) {
      throw new RangeError(`rotations must be (B, T, J, 4) = (${B}, ${T}, J, 4); got ${this.rotations.length} values`);
    }
    this.numSamples = B;
    this.numFrames = T;
    this.numJoints = J;
    this.rootTranslations = floats(`root_translations (${B}, ${T}, 3)`, rootTranslations, B * T * 3);
    this.translations =
      translations === undefined ? undefined : floats(`translations (${B}, ${T}, ${J}, 3)`, translations, B * T * J * 3);
    for (const [name, mask] of Object.entries(footContacts)) {
      if (mask.length !== B * T) throw new RangeError(`footContacts[${name}] must be (${B}, ${T}); got ${mask.length} flags`);
    }
    if (chunkBoundaries !== undefined && chunkBoundaries.length !== B) {
      throw new RangeError(`chunkBoundaries needs one list per sample (${B}); got ${chunkBoundaries.length}`);
    }
    Object.assign(this, { keyframes, jointNames, footContacts, chunkBoundaries, canonicalToRequest, trajectories, notes });
  }

  /** Identity rotations everywhere, the root held at `root`. */
  static restPose(numSamples, numFrames, numJoints, root) {
    const frames = numSamples * numFrames;
    const rotations = new Float32Array(frames * numJoints * 4);
    for (let i = 3; i < rotations.length; i += 4) rotations[i] = 1;
    const rootTranslations = new Float32Array(frames * 3);
    for (let f = 0; f < frames; f++) rootTranslations.set(root, f * 3);
    return new MotionResult({ numSamples, numFrames, rotations, rootTranslations });
  }
}
