// A procedural walk in JavaScript: the root follows the request's `root_path`
// (or walks straight ahead along +Z), facing where it goes, with the feet
// stepping in time with the distance covered. Works on any rig: joints whose
// names contain "left"/"right" and "foot" step, the rest hold their rest
// pose. `components/walk-py` is the same walk in Python; both give the same
// numbers for the same request.

import { ModelSpec, MotionResult, ProtocolError, Skeleton, exportBackbone, joint } from "../../guest-sdk/js/src/index.js";

const FPS = 30.0;
const SPEED = 1.2; // m/s without a root_path
const MAX_SPEED = 8.0; // m/s; a path asking for more is refused
const STRIDE = 1.4; // metres per gait cycle
const STEP = 0.35; // foot swing, metres either side
const LIFT = 0.08; // foot lift at mid-swing, metres
const BOB = 0.02; // hip dip at each footfall, metres

const dist = (a, b) => Math.hypot(b[0] - a[0], b[1] - a[1]);

// Piecewise-linear through (frame, value) keys, held outside them.
function lerpKeys(frames, values, t) {
  if (t <= frames[0]) return values[0];
  if (t >= frames[frames.length - 1]) return values[values.length - 1];
  for (let i = 0; i < frames.length - 1; i++) {
    const [f0, f1] = [frames[i], frames[i + 1]];
    if (f0 <= t && t <= f1) {
      const u = (t - f0) / (f1 - f0);
      return values[i].map((a, k) => a + (values[i + 1][k] - a) * u);
    }
  }
  return values[values.length - 1];
}

// (x, z) per frame and heading per frame (radians about +Y, 0 = +Z).
function groundPath(request, fps, root) {
  const T = request.totalFrames;
  const path = request.constraintsOf("root_path")[0];
  let xz;
  let headings;
  if (path === undefined) {
    xz = Array.from({ length: T }, (_, t) => [root[0], root[2] + (SPEED * t) / fps]);
  } else {
    const keys = path.positionsXz.map((p) => [...p]);
    const frames = Array.from(path.frames);
    for (let i = 0; i < frames.length - 1; i++) {
      const speed = dist(keys[i], keys[i + 1]) / ((frames[i + 1] - frames[i]) / fps);
      if (speed > MAX_SPEED) {
        throw new ProtocolError(
          "invalid_request",
          `root_path asks for ${speed.toFixed(2)} m/s between frames ${frames[i]} and ${frames[i + 1]}; ` +
            `this walk tops out at ${MAX_SPEED.toFixed(1)} m/s`,
          { frame: frames[i + 1], speed_mps: Math.round(speed * 1000) / 1000, max_speed_mps: MAX_SPEED },
        );
      }
    }
    xz = Array.from({ length: T }, (_, t) => lerpKeys(frames, keys, t));
    if (path.headingRadians !== undefined) {
      const hs = Array.from(path.headingRadians, (h) => [h]);
      headings = Array.from({ length: T }, (_, t) => lerpKeys(frames, hs, t)[0]);
    }
  }
  if (headings === undefined) {
    headings = [];
    for (let t = 0; t < T; t++) {
      const [a, b] = [xz[Math.max(t - 1, 0)], xz[Math.min(t + 1, T - 1)]];
      const [dx, dz] = [b[0] - a[0], b[1] - a[1]];
      headings.push(Math.hypot(dx, dz) < 1e-9 ? (headings[t - 1] ?? 0) : Math.atan2(dx, dz));
    }
  }
  return [xz, headings];
}

const walk = {
  capabilities() {
    return new ModelSpec({
      id: "walk-js",
      fps: FPS,
      canonicalSkeleton: new Skeleton([
        joint("Hips", null, [0.0, 0.95, 0.0]),
        joint("Spine", "Hips", [0.0, 0.5, 0.0]),
        joint("Head", "Spine", [0.0, 0.3, 0.0]),
        joint("LeftFoot", "Hips", [0.1, -0.95, 0.0]),
        joint("RightFoot", "Hips", [-0.1, -0.95, 0.0]),
      ]),
      supportsRetargeting: true,
      supportsJointTranslation: true,
      supportedConstraints: ["root_path"],
      predictedContactJoints: ["LeftFoot", "RightFoot"],
    });
  },

  generate(request) {
    const joints = request.skeleton.joints;
    const [B, T, J] = [request.numSamples, request.totalFrames, joints.length];
    const root = joints[0].restTranslation;
    const [xz, headings] = groundPath(request, request.fps(FPS), root);
    const travelled = [0];
    for (let t = 1; t < T; t++) travelled.push(travelled[t - 1] + dist(xz[t - 1], xz[t]));
    const feet = new Map();
    joints.forEach((j, i) => {
      const name = j.name.toLowerCase();
      if (name.includes("foot") && (name.includes("left") || name.includes("right"))) {
        feet.set(i, name.includes("left") ? 1 : -1);
      }
    });

    const rotations = new Float32Array(B * T * J * 4);
    const roots = new Float32Array(B * T * 3);
    const translations = new Float32Array(B * T * J * 3);
    const contacts = Object.fromEntries([...feet.keys()].map((i) => [joints[i].name, []]));
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const frame = b * T + t;
        const phase = (2 * Math.PI * travelled[t]) / STRIDE + (b * Math.PI) / 2;
        const h = headings[t];
        const position = [xz[t][0], root[1] - (BOB * (1 - Math.cos(2 * phase))) / 2, xz[t][1]];
        roots.set(position, frame * 3);
        joints.forEach((j, i) => {
          const slot = frame * J + i;
          if (i === 0) {
            rotations.set([0, Math.sin(h / 2), 0, Math.cos(h / 2)], slot * 4);
            translations.set(position, slot * 3);
            return;
          }
          rotations[slot * 4 + 3] = 1;
          const [x, y, z] = j.restTranslation;
          if (feet.has(i)) {
            const side = feet.get(i);
            const lift = LIFT * Math.max(0, side * Math.cos(phase));
            translations.set([x, y + lift, z + STEP * side * Math.sin(phase)], slot * 3);
            contacts[j.name].push(lift === 0);
          } else {
            translations.set([x, y, z], slot * 3);
          }
        });
      }
    }

    const notes = [];
    if (request.constraintsOf("root_path").length === 0) {
      notes.push({
        code: "straight_line",
        severity: "info",
        message: `no root_path: walking straight ahead along +Z at ${SPEED} m/s`,
      });
    }
    return new MotionResult({
      numSamples: B,
      numFrames: T,
      rotations,
      rootTranslations: roots,
      translations,
      footContacts: contacts,
      notes,
    });
  },
};

export const backbone = exportBackbone(walk);
