// The JavaScript SDK's Tensor wrapper against a stand-in of the host's
// tensor interface (wit/tensor.mjs): argument conversion, typed errors,
// their protocol errors out of `generate`, and lifetimes (a request's
// tensors are freed when it ends; tidy, keep, dispose). Also the world
// scripts/js-world.mjs picks for each JavaScript component. The ops' numbers
// are the host's business: tests/components/tensor-probe-js runs them there.
// Run: node --test tests/js/

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import "./wit/register.mjs";

const sdk = await import("../../guest-sdk/js/src/gpu.js");
const host = await import("mmcp:backbone/tensor@0.1.0");
const { Tensor } = sdk;

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
const rest = (r) => sdk.MotionResult.restPose(1, r.totalFrames, 1, [0, 1, 0]);
const spec = () => new sdk.ModelSpec({ id: "m", fps: 30, canonicalSkeleton: new sdk.Skeleton([sdk.joint("Hips", null, [0, 1, 0])]) });

test("constructors convert their arguments as the bindings need them", () => {
  Tensor.tidy(() => {
    const a = Tensor.fromList(new Float64Array([1.5, 2.5]), [2]);
    assert.ok(host.calls["from-list"].data instanceof Float32Array);
    assert.deepEqual(Array.from(a.toFloat32Array()), [1.5, 2.5]);
    assert.deepEqual(a.shape, [2]);
    assert.equal(a.dtype, "f32");
    assert.equal(a.numel, 2);
    const i = Tensor.fromI32([2, -1], [2]);
    assert.ok(host.calls["from-i32"].data instanceof Int32Array);
    assert.equal(i.dtype, "i32");
    Tensor.rand([2], 7);
    assert.equal(host.calls.rand.seed, 7n);
    Tensor.rand([2], -1n);
    assert.equal(host.calls.rand.seed, 2n ** 64n - 1n);
    assert.throws(() => Tensor.zeros([2, -1]), sdk.ShapeError);
    assert.throws(() => Tensor.zeros([1.5]), sdk.ShapeError);
  });
});

test("a refused op throws its TensorError class, with the host's message", () => {
  Tensor.tidy(() => {
    const cases = [
      [() => Tensor.fromList([1, 2], [3]), sdk.ShapeError, "shape", "2 values do not fill shape [3]"],
      [() => Tensor.fromI32([1], [1]).exp(), sdk.DtypeError, "dtype", "unary takes f32 tensors, got i32"],
      [() => Tensor.ones([2, 2]).slice(1, 0, 1), sdk.InvalidArgumentError, "invalid-argument", "the stand-in slices axis 0 only"],
      [() => Tensor.load("nope.safetensors", "x"), sdk.NotFoundError, "not-found", "no tensor x in nope.safetensors"],
      [() => Tensor.names("nope.safetensors"), sdk.NotFoundError, "not-found", "no file nope.safetensors"],
    ];
    for (const [f, cls, kind, message] of cases) {
      assert.throws(f, (e) => {
        assert.ok(e instanceof cls && e instanceof sdk.TensorError, e.name);
        assert.equal(e.name, cls.name);
        assert.equal(e.kind, kind);
        assert.equal(e.message, message);
        return true;
      });
    }
    // Not a tensor error: the binding's own TypeError passes through.
    assert.throws(() => Tensor.ones([2]).reshape(["x"]), (e) => !(e instanceof sdk.TensorError));
    assert.throws(() => Tensor.ones([2]).add("x"), TypeError);
  });
});

test("numbers are operands: add/sub/mul through scale, the others as a [1] tensor freed at once", () => {
  Tensor.tidy(() => {
    const x = Tensor.fromList([1, 2], [2]);
    assert.deepEqual(Array.from(x.add(1).toFloat32Array()), [2, 3]);
    assert.deepEqual(Array.from(x.sub(1).toFloat32Array()), [0, 1]);
    assert.deepEqual(Array.from(x.mul(3).toFloat32Array()), [3, 6]);
    const before = host.live.size;
    assert.deepEqual(Array.from(x.div(2).toFloat32Array()), [0.5, 1]);
    assert.equal(host.live.size, before + 1, "the scalar is freed, the result lives");
    assert.deepEqual(Array.from(x.maximum(1.5).toFloat32Array()), [1.5, 2]);
    // atan2(y = this, x = the operand): second and third quadrants.
    const y = Tensor.fromList([1, -1], [2]);
    assert.deepEqual(Array.from(y.atan2(-1).toFloat32Array()), [Math.fround((3 * Math.PI) / 4), Math.fround((-3 * Math.PI) / 4)]);
    assert.deepEqual(Array.from(y.atan2(Tensor.fromList([1, 1], [2])).toFloat32Array()), [Math.fround(Math.PI / 4), Math.fround(-Math.PI / 4)]);
    assert.deepEqual(Array.from(x.add(x).toFloat32Array()), [2, 4]);
    const w = Tensor.load("w.safetensors", "w");
    assert.deepEqual(Tensor.names("w.safetensors"), ["w"]);
    w.linear(w);
    assert.equal(host.calls.linear.bias, undefined);
    // The options take the fused call; omitted ones pass as the WIT's none.
    w.linear(w, null, { activation: "gelu" });
    assert.deepEqual(
      [host.calls.linearFused.bias, host.calls.linearFused.activation, host.calls.linearFused.residual],
      [undefined, "gelu", undefined],
    );
    w.linear(w, w, { residual: w });
    assert.equal(host.calls.linearFused.activation, undefined);
    assert.ok(host.calls.linearFused.residual instanceof Object);
    assert.deepEqual(w.select(0, 1).shape, [2]);
  });
});

test("a request's tensors are freed when it ends; setup's and kept ones live", () => {
  const base = host.live.size;
  let weight;
  let cache;
  let stale;
  const model = {
    setup() {
      weight = Tensor.ones([2]);
    },
    capabilities: spec,
    generate(r) {
      const x = weight.add(1).mul(weight);
      stale = x;
      cache ??= x.add(1).keep();
      Tensor.tidy(() => [x.add(2), { y: x.add(3) }, x.add(4)]);
      return rest(r);
    },
  };
  const backbone = sdk.exportBackbone(model);
  backbone.setup();
  assert.equal(host.live.size, base + 1);
  backbone.generate(wit);
  assert.equal(host.live.size, base + 2, "the weight and the kept cache");
  backbone.generate(wit);
  assert.equal(host.live.size, base + 2);
  assert.ok(stale.disposed);
  assert.throws(() => stale.add(1), sdk.InvalidArgumentError);
  assert.throws(() => weight.add(stale), /the other operand was disposed/);
  cache.dispose();
  cache.dispose();
  weight.dispose();
  assert.equal(host.live.size, base);
});

test("tidy frees what its function made, except what it returns, at any depth", () => {
  const base = host.live.size;
  const outer = Tensor.tidy(() => {
    const kept = Tensor.tidy(() => {
      const a = Tensor.ones([1]);
      const b = Tensor.ones([1]);
      Tensor.ones([1]);
      return { a, more: [b, 1, "x"] };
    });
    assert.equal(host.live.size, base + 2);
    Tensor.ones([1]);
    return kept.more[0];
  });
  assert.equal(host.live.size, base + 1, "only the returned tensor is left, out of every scope");
  assert.throws(
    () =>
      Tensor.tidy(() => {
        Tensor.ones([1]);
        throw new Error("step failed");
      }),
    /step failed/,
  );
  assert.equal(host.live.size, base + 1, "a throw frees the scope too");
  outer.dispose();
  assert.equal(host.live.size, base);
});

test("a TensorError out of generate is the Rust SDK's protocol error", () => {
  const base = host.live.size;
  const backbone = sdk.exportBackbone({
    capabilities: spec,
    generate(r) {
      const prompt = r.segments[0]?.prompt;
      Tensor.ones([4]);
      if (prompt === "oom") Tensor.zeros([1 << 20]);
      if (prompt === "shape") Tensor.ones([2]).add(Tensor.ones([3]));
      return rest(r);
    },
  });
  const request = (prompt) => ({ ...wit, segments: [{ tag: "text", val: { prompt, durationFrames: 2 } }] });
  host.limits.bytes = 1 << 20;
  try {
    assert.throws(
      () => backbone.generate(request("oom")),
      (e) => {
        assert.equal(e.code, "resource-exhausted");
        assert.equal(e.message, "tensor out of memory error: 4194304 more bytes would exceed the quota");
        return true;
      },
    );
  } finally {
    host.limits.bytes = Infinity;
  }
  assert.throws(
    () => backbone.generate(request("shape")),
    (e) => e.code === "internal-error" && e.message === "tensor shape error: add: shapes [2] and [3] do not broadcast",
  );
  assert.equal(host.live.size, base, "a failed request frees its tensors too");
  // One item of a batch hook answer.
  const batch = sdk.exportBatch({ generateBatch: () => [new sdk.OutOfMemoryError("full")] });
  assert.deepEqual(batch.generateBatch([wit])[0].val.code, "resource-exhausted");
});

const root = fileURLToPath(new URL("../..", import.meta.url));
// scripts/js-world.mjs reads modules with the pinned componentize-js's parser.
const noTools = !existsSync(join(root, ".tools/node/node_modules/oxc-parser")) && "the pinned tools are not installed";

test("the world each JavaScript component is built for", { skip: noTools }, () => {
  const world = (file) => execFileSync("node", ["scripts/js-world.mjs", file], { cwd: root, encoding: "utf8" }).trim();
  assert.equal(world("components/null-js/backbone.js"), "backbone-world");
  assert.equal(world("components/walk-js/backbone.js"), "backbone-world");
  assert.equal(world("tests/components/probe-js/backbone.js"), "backbone-world");
  assert.equal(world("tests/components/batch-probe-js/backbone.js"), "batch-backbone-world");
  assert.equal(world("tests/components/tensor-probe-js/backbone.js"), "gpu-backbone-world");
  assert.equal(world("components/denoiser-js/backbone.js"), "gpu-backbone-world");
  // Through a module of its own that re-exports the interface, with the batch
  // hook in a multi-declarator export; through a dynamic import; and a mere
  // mention of gpu.js in a comment or a string is no import.
  const dir = mkdtempSync(join(tmpdir(), "js-world-"));
  try {
    writeFileSync(join(dir, "model.js"), 'export { Tensor } from "mmcp:backbone/tensor@0.1.0";\n');
    writeFileSync(join(dir, "backbone.js"), 'import { Tensor } from "./model.js";\nexport const backbone = {}, batch = {};\n');
    assert.equal(world(join(dir, "backbone.js")), "sdk-backbone-world");
    writeFileSync(join(dir, "lazy.js"), 'export const backbone = {};\nconst model = () => import("./model.js");\n');
    assert.equal(world(join(dir, "lazy.js")), "gpu-backbone-world");
    writeFileSync(join(dir, "plain.js"), '// not "../../guest-sdk/js/src/gpu.js"\nconst s = "mmcp:backbone/tensor@0.1.0";\nexport const backbone = {};\n');
    assert.equal(world(join(dir, "plain.js")), "backbone-world");
  } finally {
    rmSync(dir, { recursive: true });
  }
});
