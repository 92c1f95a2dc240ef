// A JavaScript backbone for the error-path tests. The first text prompt says
// what to do: "raise <code> [message]" throws that ProtocolError, "unknown
// joint <name>" uses a typed constructor, "throw" throws a TypeError, "throw
// string" a non-Error value, "spin" never returns, "wrong type" returns
// something that is not a MotionResult, "bad shape" a short array, "echo" the
// rest pose with a note whose message is the request as the SDK presents it
// (JSON, in the same shape as probe-py's), "progress <n>" reports steps
// 1..n of n; else the rest pose. It opts in to
// every segment and constraint type so the SDK's conversion of each is
// exercised through the host.

import {
  Limits,
  ModelOption,
  ModelSpec,
  MotionResult,
  ProtocolError,
  Skeleton,
  exportBackbone,
  joint,
  reportProgress,
  unknownJoint,
} from "../../../guest-sdk/js/src/index.js";

const probe = {
  capabilities() {
    return new ModelSpec({
      id: "probe-js",
      fps: 30,
      canonicalSkeleton: new Skeleton([joint("Hips", null, [0, 0.95, 0]), joint("Head", "Hips", [0, 0.7, 0])]),
      supportsRetargeting: true,
      supportsLoop: true,
      supportsKeyframeReduction: true,
      modelOptions: [
        new ModelOption({ name: "style", type: "enum", values: ["calm", "wild"], default: "calm" }),
        new ModelOption({ name: "energy", type: "number", minimum: 0, maximum: 1 }),
      ],
      supportedConstraints: ["root_path", "effector_target", "pose_keyframe", "ground_height"],
      supportedSegments: ["text", "unconditioned", "pose", "motion_reference", "video_reference"],
      limits: new Limits({ maxReferenceFrames: 100, maxVideoBytes: 4096, maxVideoSeconds: 10 }),
    });
  },

  generate(request) {
    const prompt = request.segments.find((s) => s.type === "text")?.prompt ?? "";
    const words = prompt.split(" ");
    if (words[0] === "raise") {
      throw new ProtocolError(words[1], words.slice(2).join(" ") || "raised by the probe", { probe: true });
    }
    if (words[0] === "progress") {
      const n = Number(words[1]);
      for (let done = 1; done <= n; done++) reportProgress(done, n);
    }
    if (words[0] === "unknown" && words[1] === "joint") throw unknownJoint(words[2], request.skeleton.jointNames);
    if (prompt === "throw") return null.missing;
    if (prompt === "spin") for (;;);
    if (prompt === "throw string") throw "a bare string";
    if (prompt === "wrong type") return [0, 0, 0, 1];
    if (prompt === "bad shape") {
      return new MotionResult({ numSamples: 1, numFrames: 2, rotations: [0, 0, 0, 1], rootTranslations: [0, 0, 0] });
    }
    const joints = request.skeleton.joints;
    if (prompt === "echo") {
      const result = MotionResult.restPose(request.numSamples, request.totalFrames, joints.length, joints[0].restTranslation);
      result.notes = [{ code: "echo", severity: "info", message: JSON.stringify(summary(request)) }];
      return result;
    }
    return MotionResult.restPose(request.numSamples, request.totalFrames, joints.length, joints[0].restTranslation);
  },
};

const list = (v) => (v === undefined ? null : Array.from(v, (x) => (ArrayBuffer.isView(x) ? Array.from(x) : x)));
const seed = (v) => (v === undefined ? null : Number(v));
const orNull = (v) => (v === undefined ? null : v);

// The request as this SDK presents it, with probe-py's keys.
function summary(r) {
  const segments = r.segments.map((s) => {
    const d = { type: s.type, duration_frames: s.durationFrames };
    if (s.type === "text" || s.type === "pose") Object.assign(d, { prompt: s.prompt, language: orNull(s.language) });
    if (s.type === "motion_reference") {
      const J = s.jointNames.length;
      const last = (s.referenceFrames - 1) * J + (J - 1);
      Object.assign(d, {
        joint_names: s.jointNames,
        reference_frames: s.referenceFrames,
        last_rotation: Array.from(s.rotations.slice(last * 4, last * 4 + 4)),
        last_root: Array.from(s.rootPositions.slice(-3)),
        fps: s.fps,
        skeleton: s.skeleton === undefined ? null : s.skeleton.jointNames,
      });
    }
    if (s.type === "video_reference") {
      Object.assign(d, {
        url: orNull(s.video.url),
        media_type: orNull(s.video.mediaType),
        num_bytes: orNull(s.video.numBytes),
        head: s.video.data === undefined ? null : Array.from(s.video.data.slice(0, 4)),
        trimmed_seconds: orNull(s.trimmedSeconds),
        fps: orNull(s.fps),
      });
    }
    if (s.type !== "pose") d.seed = seed(s.seed);
    return d;
  });
  const constraints = r.constraints.map((c) => {
    const d = { type: c.type };
    if (c.type === "root_path") {
      Object.assign(d, { frames: list(c.frames), positions_xz: list(c.positionsXz), heading_radians: list(c.headingRadians) });
    }
    if (c.type === "effector_target") {
      Object.assign(d, { joint: c.joint, frames: list(c.frames), positions: list(c.positions), rotations: list(c.rotations) });
    }
    if (c.type === "pose_keyframe") {
      Object.assign(d, {
        frame: c.frame,
        joint_rotations: c.jointRotations,
        root_position: orNull(c.rootPosition),
        fill_mode: c.fillMode,
      });
    }
    if (c.type === "ground_height") d.points = list(c.points);
    return d;
  });
  const o = r.options;
  return {
    segments,
    constraints,
    options: {
      diffusion_steps: o.diffusionSteps,
      num_samples: o.numSamples,
      seed: seed(o.seed),
      post_processing: o.postProcessing,
      transition_frames: o.transitionFrames,
      guidance: o.guidance === undefined ? null : o.guidance,
      loop: o.loop,
      keyframe_budget: orNull(o.keyframeBudget),
      model_options: o.modelOptions,
    },
    timing_fps: r.timing === undefined ? null : r.timing.fps,
    fps_30: r.fps(30),
    duration_frames: orNull(r.durationFrames),
    total_frames: r.totalFrames,
    motion_references: r.motionReferences.length,
    first_motion_reference_frames: r.motionReference === undefined ? null : r.motionReference.referenceFrames,
    video_references: r.videoReferences.length,
    root: r.skeleton.root.name,
  };
}

export const backbone = exportBackbone(probe);
