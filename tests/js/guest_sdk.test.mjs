// The JavaScript guest SDK against the reference SDK it mirrors: the
// reference's own answers (ModelSpec defaults, error constructors) are read
// from the JSON file named by MMCP_REFERENCE_VECTORS, which
// tests/python/reference_vectors.py printed. Plus MotionResult's shape rules.
// Run: node --test tests/js/

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

// The SDK imports the host's interfaces (progress reports): stand-ins first.
import "./wit/register.mjs";

const sdk = await import("../../guest-sdk/js/src/index.js");

const reference = JSON.parse(readFileSync(process.env.MMCP_REFERENCE_VECTORS, "utf8"));
const camel = (snake) => snake.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const skeleton = new sdk.Skeleton([sdk.joint("Hips", null, [0, 1, 0])]);

test("ModelSpec defaults match the reference, field by field and in order", () => {
  const ours = new sdk.ModelSpec({ id: "m", fps: 30, canonicalSkeleton: skeleton });
  const fields = Object.keys(ours).filter((k) => k !== "canonicalSkeleton");
  assert.deepEqual(fields, Object.keys(reference.spec_defaults).map(camel));
  for (const [field, value] of Object.entries(reference.spec_defaults)) {
    if (field === "limits") continue;
    assert.deepEqual(ours[camel(field)], value, field);
  }
  const limits = Object.fromEntries(Object.entries(ours.limits).map(([k, v]) => [k, v ?? null]));
  assert.deepEqual(limits, Object.fromEntries(Object.entries(reference.spec_defaults.limits).map(([k, v]) => [camel(k), v])));
});

test("construction checks refuse what the reference refuses", () => {
  for (const bad of [{ id: "" }, { fps: 0 }, { chunking: "sometimes" }]) {
    assert.throws(() => new sdk.ModelSpec({ id: "m", fps: 30, canonicalSkeleton: skeleton, ...bad }), RangeError);
  }
  assert.throws(() => new sdk.Limits({ maxReferenceFrames: 0 }), RangeError);
  assert.throws(() => new sdk.ModelOption({ name: "Bad", type: "number" }), RangeError);
  assert.throws(() => new sdk.ModelOption({ name: "style", type: "enum" }), RangeError);
  new sdk.ModelOption({ name: "style", type: "enum", values: ["calm"] });
});

test("error constructors give the reference's envelopes", () => {
  for (const { ctor, args, envelope } of reference.errors) {
    const e = sdk[ctor](...args);
    assert.ok(e instanceof sdk.ProtocolError, ctor);
    assert.deepEqual(
      { error: { code: e.code, message: e.envelopeMessage, details: e.details } },
      envelope,
      `${ctor}(${JSON.stringify(args)})`,
    );
    assert.equal(e.statusCode, reference.status_for[e.code]);
  }
  assert.deepEqual({ ...sdk.STATUS_FOR }, reference.status_for);
  assert.throws(() => new sdk.ProtocolError("teapot", "short and stout"), RangeError);
});

test("MotionResult infers J and checks every shape", () => {
  const rotations = new Float32Array(2 * 3 * 4 * 4);
  const r = new sdk.MotionResult({ numSamples: 2, numFrames: 3, rotations, rootTranslations: new Float32Array(18) });
  assert.equal(r.numJoints, 4);
  const base = { numSamples: 1, numFrames: 2, rotations: [0, 0, 0, 1, 0, 0, 0, 1], rootTranslations: [0, 0, 0, 0, 0, 0] };
  assert.throws(() => new sdk.MotionResult({ ...base, rotations: [0, 0, 0, 1, 0, 0] }), /rotations/);
  assert.throws(() => new sdk.MotionResult({ ...base, rootTranslations: [0, 0, 0] }), /root_translations/);
  assert.throws(() => new sdk.MotionResult({ ...base, translations: [0, 0, 0] }), /translations/);
  assert.throws(() => new sdk.MotionResult({ ...base, footContacts: { Foot: [true] } }), /footContacts/);
  assert.throws(() => new sdk.MotionResult({ ...base, chunkBoundaries: [[], []] }), /chunkBoundaries/);
  assert.throws(() => new sdk.MotionResult({ ...base, numFrames: 0 }), /numFrames/);
});

test("restPose holds the root and leaves every joint unrotated", () => {
  const r = sdk.MotionResult.restPose(2, 3, 4, [0, 0.95, 0]);
  assert.equal(r.numJoints, 4);
  assert.deepEqual(Array.from(r.rotations.slice(0, 8)), [0, 0, 0, 1, 0, 0, 0, 1]);
  assert.ok(Math.abs(r.rootTranslations[16] - 0.95) < 1e-6);
});

test("exportBatch: none without a hook, else one WIT result per item, a throw failing the group", () => {
  const wit = {
    protocolVersion: "1.4",
    model: "m",
    skeleton: { joints: [{ name: "Hips", restTranslation: [0, 1, 0], restRotation: [0, 0, 0, 1] }] },
    segments: [],
    constraints: [],
    durationFrames: 2,
    options: { numSamples: 1, modelOptions: [] },
    totalFrames: 2,
  };
  assert.equal(sdk.exportBatch({ generate() {} }).generateBatch([wit]), undefined);
  const answers = [
    (r) => sdk.MotionResult.restPose(1, r.totalFrames, 1, [0, 1, 0]),
    () => new sdk.ProtocolError("invalid_options", "not this one"),
    () => new TypeError("broken item"),
    () => 42,
  ];
  const hook = sdk.exportBatch({ generateBatch: (reqs) => reqs.map((r, i) => answers[i](r)) });
  assert.deepEqual(hook.generateBatch([]), []);
  const [ok, raised, thrown, wrong] = hook.generateBatch([wit, wit, wit, wit]);
  assert.equal(ok.tag, "ok");
  assert.equal(ok.val.numFrames, 2);
  assert.deepEqual([raised.tag, raised.val.code], ["err", "invalid-options"]);
  assert.deepEqual([thrown.tag, thrown.val.code], ["err", "internal-error"]);
  assert.match(thrown.val.message, /TypeError: broken item/);
  assert.match(wrong.val.message, /must return MotionResults; got number/);
  const failing = sdk.exportBatch({
    generateBatch() {
      throw new RangeError("the whole group");
    },
  });
  const group = failing.generateBatch([wit, wit]);
  assert.equal(group.length, 2);
  for (const item of group) {
    assert.deepEqual([item.tag, item.val.code], ["err", "internal-error"]);
    assert.match(item.val.message, /RangeError: the whole group/);
  }
});
