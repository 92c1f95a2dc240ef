// A JavaScript backbone for the error-path tests. The first text prompt says
// what to do: "raise <code> [message]" throws that ProtocolError, "unknown
// joint <name>" uses a typed constructor, "throw" throws a TypeError, "throw
// string" throws a non-Error value, "wrong type" returns something that is
// not a MotionResult, "bad shape" a short array; else the rest pose.

import {
  ModelSpec,
  MotionResult,
  ProtocolError,
  SUPPORTED_CONSTRAINTS,
  Skeleton,
  exportBackbone,
  joint,
  unknownJoint,
} from "../../../guest-sdk/js/src/index.js";

const probe = {
  capabilities() {
    return new ModelSpec({
      id: "probe-js",
      fps: 30,
      canonicalSkeleton: new Skeleton([joint("Hips", null, [0, 0.95, 0]), joint("Head", "Hips", [0, 0.7, 0])]),
      supportedConstraints: [...SUPPORTED_CONSTRAINTS],
      supportsRetargeting: true,
    });
  },

  generate(request) {
    const prompt = request.segments.find((s) => s.type === "text")?.prompt ?? "";
    const words = prompt.split(" ");
    if (words[0] === "raise") {
      throw new ProtocolError(words[1], words.slice(2).join(" ") || "raised by the probe", { probe: true });
    }
    if (words[0] === "unknown" && words[1] === "joint") throw unknownJoint(words[2], request.skeleton.jointNames);
    if (prompt === "throw") return null.missing;
    if (prompt === "throw string") throw "a bare string";
    if (prompt === "wrong type") return [0, 0, 0, 1];
    if (prompt === "bad shape") {
      return new MotionResult({ numSamples: 1, numFrames: 2, rotations: [0, 0, 0, 1], rootTranslations: [0, 0, 0] });
    }
    const joints = request.skeleton.joints;
    return MotionResult.restPose(request.numSamples, request.totalFrames, joints.length, joints[0].restTranslation);
  },
};

export const backbone = exportBackbone(probe);
