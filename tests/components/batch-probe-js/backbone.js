// The batch probe in JavaScript: a `generateBatch` hook on the null model's
// skeleton, advertising only `nocfg` guidance. Each result carries a note
// saying how it was made (`generate`, or `item i of n` for a batch item). The
// first batch item's text prompt steers the hook: "no results" returns an
// empty list, "panic" throws from the hook itself; an item whose prompt is
// "raise" fails alone with `invalid_options`; anything else is the rest pose.
// Same behaviour as tests/components/batch-probe (Rust) and batch-probe-py.

import {
  ModelSpec,
  MotionResult,
  ProtocolError,
  Skeleton,
  exportBackbone,
  exportBatch,
  joint,
} from "../../../guest-sdk/js/src/index.js";

const prompt = (request) => request.segments.find((s) => s.type === "text")?.prompt ?? "";

function rest(request, how) {
  const joints = request.skeleton.joints;
  const result = MotionResult.restPose(request.numSamples, request.totalFrames, joints.length, joints[0].restTranslation);
  result.notes = [{ code: "made_by", severity: "info", message: how }];
  return result;
}

const probe = {
  capabilities() {
    return new ModelSpec({
      id: "batch-probe",
      fps: 30,
      canonicalSkeleton: new Skeleton([
        joint("Hips", null, [0, 0.95, 0]),
        joint("Spine", "Hips", [0, 0.5, 0]),
        joint("Head", "Spine", [0, 0.3, 0]),
        joint("LeftFoot", "Hips", [0.1, -0.95, 0]),
        joint("RightFoot", "Hips", [-0.1, -0.95, 0]),
      ]),
      supportedGuidanceTypes: ["nocfg"],
    });
  },

  generate(request) {
    return rest(request, "generate");
  },

  generateBatch(requests) {
    const n = requests.length;
    const first = prompt(requests[0]);
    if (first === "no results") {
      return [];
    }
    if (first === "panic") {
      throw new Error("the batch probe was asked to panic");
    }
    return requests.map((request, i) =>
      prompt(request) === "raise"
        ? new ProtocolError("invalid_options", "raised by the batch probe")
        : rest(request, `item ${i} of ${n}`),
    );
  },
};

export const backbone = exportBackbone(probe);
export const batch = exportBatch(probe);
