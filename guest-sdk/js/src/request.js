// The request as a backbone receives it: validated by the host, in camelCase,
// with the reference SDK's helpers. Every segment and constraint carries a
// `type` holding its wire name ("text", "motion_reference", "root_path" ...).
// Seeds are BigInt (the protocol allows any 64-bit integer).

import { Skeleton } from "./spec.js";

const MEDIA_TYPES = { mp4: "video/mp4", quicktime: "video/quicktime", webm: "video/webm" };

// WIT case names are kebab-case; wire names are snake_case.
const wireName = (tag) => tag.replaceAll("-", "_");

export function skeletonFromWit(s) {
  return new Skeleton(s.joints.map((j) => ({ ...j, parent: j.parent ?? null })));
}

function segment({ tag, val }) {
  const type = wireName(tag);
  switch (tag) {
    case "pose":
      // A pose is one frame; not a wire field.
      return { type, ...val, durationFrames: 1 };
    case "motion-reference":
      return {
        type,
        ...val,
        skeleton: val.skeleton === undefined ? undefined : skeletonFromWit(val.skeleton),
      };
    case "video-reference": {
      const video =
        val.video.tag === "url"
          ? { url: val.video.val, numBytes: undefined }
          : { data: val.video.val.data, mediaType: MEDIA_TYPES[val.video.val.mediaType], numBytes: val.video.val.data.length };
      const trimmedSeconds = val.endS === undefined ? undefined : val.endS - (val.startS ?? 0);
      return { type, ...val, video, trimmedSeconds };
    }
    default:
      return { type, ...val };
  }
}

function constraint({ tag, val }) {
  const type = wireName(tag);
  if (tag === "pose-keyframe") {
    return { type, ...val, jointRotations: Object.fromEntries(val.jointRotations) };
  }
  return { type, ...val };
}

export class GenerateRequest {
  constructor(r) {
    const o = r.options;
    this.protocolVersion = r.protocolVersion;
    this.model = r.model;
    this.skeleton = skeletonFromWit(r.skeleton);
    this.segments = r.segments.map(segment);
    this.constraints = r.constraints.map(constraint);
    this.durationFrames = r.durationFrames;
    this.timing = r.timingFps === undefined ? undefined : { fps: r.timingFps };
    // Always present, defaults filled in.
    this.options = {
      diffusionSteps: o.diffusionSteps,
      numSamples: o.numSamples,
      seed: o.seed,
      postProcessing: o.postProcessing,
      transitionFrames: o.transitionFrames,
      guidance: o.guidance === undefined ? undefined : { type: o.guidance.kind, weight: [...o.guidance.weight] },
      loop: o.loop,
      keyframeBudget: o.keyframeBudget,
      // Declared model options the request sent, as decoded JSON values.
      modelOptions: Object.fromEntries(o.modelOptions.map(([name, json]) => [name, JSON.parse(json)])),
    };
    // Sum of segment lengths, else durationFrames (computed by the host).
    this.totalFrames = r.totalFrames;
  }

  /** `timing.fps` when the request has one, else the model's native fps. */
  fps(nativeFps) {
    return this.timing ? this.timing.fps : nativeFps;
  }

  get numSamples() {
    return this.options.numSamples;
  }

  get motionReferences() {
    return this.segments.filter((s) => s.type === "motion_reference");
  }

  get motionReference() {
    return this.motionReferences[0];
  }

  get videoReferences() {
    return this.segments.filter((s) => s.type === "video_reference");
  }

  get videoReference() {
    return this.videoReferences[0];
  }

  /** The constraints of one wire type, in request order. */
  constraintsOf(type) {
    return this.constraints.filter((c) => c.type === type);
  }
}
