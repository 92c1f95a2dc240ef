// The tensor probe in JavaScript: the cases of ../tensor-probe/CASES.md,
// which every language's probe answers alike. The first text prompt picks
// one: `ops` answers 400 invalid_request with every op family's result in
// `details.ops`; `misuse <case>` answers 400 invalid_request whose message
// is `<Kind>: <message>` of the TensorError it got; `oom` lets an out-of-
// memory error escape (503 resource_exhausted); `bench <n>` chains n tiny
// adds; anything else is the rest pose.

import {
  ModelSpec,
  MotionResult,
  ProtocolError,
  Skeleton,
  Tensor,
  TensorError,
  exportBackbone,
  joint,
} from "../../../guest-sdk/js/src/gpu.js";

const UNARY = ["gelu", "gelu-tanh", "silu", "relu", "tanh", "sigmoid", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "neg", "abs"];
const BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "atan2"];

// A result as {shape, values}, read back by its element type.
function entry(t) {
  const read = { i32: () => t.toInt32Array(), u32: () => t.toUint32Array() }[t.dtype] ?? (() => t.toFloat32Array());
  return { shape: t.shape, values: Array.from(read()) };
}

function ops() {
  const a = Tensor.randn([3, 7], 1);
  const b = Tensor.randn([7, 5], 2);
  const c = Tensor.randn([3, 5], 3);
  const w = Tensor.randn([5, 7], 4);
  const bias = Tensor.randn([5], 5);
  const g = Tensor.randn([5], 6);
  const x = Tensor.rand([3, 5], 9).scale(1.0, 0.5);
  const y = Tensor.randn([5], 10);
  const q = Tensor.randn([1, 2, 4, 8], 12);
  const k = Tensor.randn([1, 2, 6, 8], 13);
  const v = Tensor.randn([1, 2, 6, 8], 14);
  const out = {};
  const put = (name, t) => {
    out[name] = entry(t);
  };
  put("matmul", a.matmul(b));
  put("linear", a.linear(w, bias));
  put("linear_nobias", a.linear(w));
  put("linear_gelu_residual", a.linear(w, bias, { activation: "gelu", residual: c }));
  put("linear_relu", a.linear(w, null, { activation: "relu" }));
  for (const op of BINARY) put(`binary_${op}`, x.binary(op, y));
  put("atan2", c.atan2(y));
  for (const op of UNARY) put(`unary_${op.replaceAll("-", "_")}`, x.unary(op));
  put("scale", c.scale(2.0, -1.0));
  put("clamp", c.clamp(-0.5, 0.5));
  put("softmax", c.softmax());
  put("layer_norm", c.layerNorm(g, bias, 1e-5));
  put("layer_norm_plain", c.layerNorm(null, null, 1e-5));
  put("rms_norm", c.rmsNorm(g, 1e-6));
  put("reduce_sum_0", c.sum(0));
  put("reduce_mean_1", c.mean(1, true));
  put("reduce_max_1", c.max(1));
  put("reshape", c.reshape([5, -1]));
  put("permute", Tensor.randn([2, 3, 4], 11).permute([2, 0, 1]));
  put("transpose", c.transpose(0, 1));
  put("slice", c.slice(1, 1, 4));
  put("index_select", c.indexSelect(0, Tensor.fromI32([2, 0, -1], [3])));
  put("concat", Tensor.concat([c, x], 0));
  put("where", Tensor.where(Tensor.fromU32([1, 0, 1, 0, 1], [5]), c, x));
  put("attention", Tensor.attention(q, k, v));
  put("attention_masked", Tensor.attention(q, k, v, Tensor.fromU32([1, 1, 1, 0, 0, 1], [6]), 0.5));
  put("cast_f16", c.scale(1000.0, 0.0).cast("f16").cast("f32"));
  put("cast_bf16", c.cast("bf16").cast("f32"));
  put("cast_i32", c.scale(10.0, 0.0).cast("i32"));
  put("rand", Tensor.rand([7], 15));
  put("randn", Tensor.randn([7], 16));
  put("arange", Tensor.arange(0.5, 0.25, 6));
  put("full", Tensor.full([2, 2], 3.5));
  put("from_list", Tensor.fromList([1.5, -2, 3.25, 0], [2, 2]));
  put("from_u32", Tensor.fromU32([7, 0, 4294967295], [3]));
  return out;
}

const MISUSE = {
  shape: () => Tensor.ones([2, 3]).matmul(Tensor.ones([4, 2])),
  broadcast: () => Tensor.ones([2, 3]).add(Tensor.ones([2])),
  dtype: () => Tensor.fromU32([1, 2], [2]).exp(),
  argument: () => Tensor.ones([2, 3]).permute([0, 0]),
  count: () => Tensor.fromList([1, 2], [3]),
  missing: () => Tensor.load("nope.safetensors", "x"),
  escape: () => Tensor.load("../../etc/passwd", "x"),
  activation: () => Tensor.ones([2, 3]).linear(Tensor.ones([4, 3]), null, { activation: "tanh" }),
};

// The error a misuse got, as `Kind: message` (the class name less `Error`).
function misuse(name) {
  const f = MISUSE[name];
  if (f === undefined) return `no case ${name}`;
  try {
    f();
    return "no error";
  } catch (e) {
    if (!(e instanceof TensorError)) throw e;
    return `${e.name.replace(/Error$/, "")}: ${e.message}`;
  }
}

// n chained adds of [2, 2] tensors, read back once. Each step's input is
// freed as soon as the next exists, as the Rust probe's reassignment does.
function bench(n) {
  let x = Tensor.ones([2, 2]);
  const y = Tensor.ones([2, 2]);
  for (let i = 0; i < n; i++) {
    const next = x.add(y);
    x.dispose();
    x = next;
  }
  x.toFloat32Array();
}

// n reshapes (a host call that records no GPU work): the binding's cost.
function benchCall(n) {
  let x = Tensor.ones([2, 2]);
  for (let i = 0; i < n; i++) {
    const next = x.reshape(i % 2 === 0 ? [4] : [2, 2]);
    x.dispose();
    x = next;
  }
}

const probe = {
  capabilities() {
    return new ModelSpec({
      id: "tensor-probe-js",
      fps: 30,
      canonicalSkeleton: new Skeleton([joint("Hips", null, [0, 0.95, 0])]),
    });
  },

  generate(request) {
    // The first text or pose prompt.
    const prompt = request.segments.find((s) => s.type === "text" || s.type === "pose")?.prompt ?? "";
    const words = prompt.split(/\s+/).filter((w) => w !== "");
    if (words.length === 1 && words[0] === "ops") {
      throw new ProtocolError("invalid_request", "ops", { ops: ops() });
    }
    if (words.length === 2 && words[0] === "misuse") {
      throw new ProtocolError("invalid_request", misuse(words[1]));
    }
    if (words.length === 2 && words[0] === "bench") {
      bench(/^\+?\d+$/.test(words[1]) ? Number(words[1]) : 0);
    }
    if (words.length === 2 && words[0] === "bench-call") {
      benchCall(/^\+?\d+$/.test(words[1]) ? Number(words[1]) : 0);
    }
    if (prompt === "oom") {
      // 96 MiB: past the test's 64 MiB quota. Not caught: the SDK makes it 503.
      Tensor.zeros([24 << 20]);
    }
    const joints = request.skeleton.joints;
    return MotionResult.restPose(request.numSamples, request.totalFrames, joints.length, joints[0].restTranslation);
  },
};

export const backbone = exportBackbone(probe);
