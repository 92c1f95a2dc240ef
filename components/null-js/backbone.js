// The null backbone in JavaScript: the rest pose for every request, answer for
// answer the same as the Rust `components/null` and the reference SDK's
// `NullBackbone`.

import {
  Backbone,
  ModelSpec,
  MotionResult,
  SUPPORTED_CONSTRAINTS,
  Skeleton,
  exportBackbone,
  joint,
} from "../../guest-sdk/js/src/index.js";

class NullBackbone extends Backbone {
  capabilities() {
    return new ModelSpec({
      id: "null",
      fps: 30.0,
      canonicalSkeleton: new Skeleton([
        joint("Hips", null, [0.0, 0.95, 0.0]),
        joint("Spine", "Hips", [0.0, 0.5, 0.0]),
        joint("Head", "Spine", [0.0, 0.3, 0.0]),
        joint("LeftFoot", "Hips", [0.1, -0.95, 0.0]),
        joint("RightFoot", "Hips", [-0.1, -0.95, 0.0]),
      ]),
      supportsRetargeting: false,
      supportedConstraints: [...SUPPORTED_CONSTRAINTS],
      predictedContactJoints: [],
    });
  }

  generate(request) {
    const joints = request.skeleton.joints;
    return MotionResult.restPose(request.numSamples, request.totalFrames, joints.length, joints[0].restTranslation);
  }
}

export const backbone = exportBackbone(new NullBackbone());
