"""The tensor probe in Python (model ``tensor-probe-py``): the protocol of
``tests/components/tensor-probe/CASES.md``, through ``motionmcp_guest.Tensor``.
The first text prompt picks the case: ``ops`` answers every op family on
seeded inputs in ``details.ops``; ``misuse <case>`` answers the typed error
as ``<Kind>: <message>``; ``oom`` lets an out-of-memory error escape
``generate`` (``503``); ``bench <n>`` records n adds and reads once;
anything else is the rest pose."""

from motionmcp_guest import (
    Backbone,
    InvalidArgumentError,
    Joint,
    ModelSpec,
    MotionResult,
    ProtocolError,
    Skeleton,
    Tensor,
    TensorError,
    export,
)

UNARY = ["gelu", "gelu_tanh", "silu", "relu", "tanh", "sigmoid", "exp", "log", "sqrt", "rsqrt",
         "sin", "cos", "neg", "abs"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "atan2"]


def ops():
    """Case name -> result tensor, as CASES.md lists them."""
    a = Tensor.randn([3, 7], 1)
    b = Tensor.randn([7, 5], 2)
    c = Tensor.randn([3, 5], 3)
    w = Tensor.randn([5, 7], 4)
    bias = Tensor.randn([5], 5)
    g = Tensor.randn([5], 6)
    x = Tensor.rand([3, 5], 9).scale(1.0, 0.5)
    y = Tensor.randn([5], 10)
    q = Tensor.randn([1, 2, 4, 8], 12)
    k = Tensor.randn([1, 2, 6, 8], 13)
    v = Tensor.randn([1, 2, 6, 8], 14)
    cases = {
        "matmul": a @ b,
        "linear": a.linear(w, bias),
        "linear_nobias": a.linear(w),
        "linear_gelu_residual": a.linear(w, bias, activation="gelu", residual=c),
        "linear_relu": a.linear(w, activation="relu"),
    }
    for op in BINARY:
        cases[f"binary_{op}"] = x.binary(op, y)
    cases["atan2"] = c.atan2(y)
    for op in UNARY:
        cases[f"unary_{op}"] = x.unary(op)
    cases.update({
        "scale": c.scale(2.0, -1.0),
        "clamp": c.clamp(-0.5, 0.5),
        "softmax": c.softmax(),
        "layer_norm": c.layer_norm(g, bias, 1e-5),
        "layer_norm_plain": c.layer_norm(None, None, 1e-5),
        "rms_norm": c.rms_norm(g, 1e-6),
        "reduce_sum_0": c.sum(0),
        "reduce_mean_1": c.mean(1, keep_dim=True),
        "reduce_max_1": c.max(1),
        "reshape": c.reshape([5, -1]),
        "permute": Tensor.randn([2, 3, 4], 11).permute([2, 0, 1]),
        "transpose": c.transpose(0, 1),
        "slice": c.slice(1, 1, 4),
        "index_select": c.index_select(0, Tensor.from_i32([2, 0, -1], [3])),
        "concat": Tensor.concat([c, x], 0),
        "where": Tensor.where(Tensor.from_u32([1, 0, 1, 0, 1], [5]), c, x),
        "attention": Tensor.attention(q, k, v),
        "attention_masked": Tensor.attention(
            q, k, v, Tensor.from_u32([1, 1, 1, 0, 0, 1], [6]), 0.5
        ),
        "cast_f16": c.scale(1000.0, 0.0).cast("f16").cast("f32"),
        "cast_bf16": c.cast("bf16").cast("f32"),
        "cast_i32": c.scale(10.0, 0.0).cast("i32"),
        "rand": Tensor.rand([7], 15),
        "randn": Tensor.randn([7], 16),
        "arange": Tensor.arange(0.5, 0.25, 6),
        "full": Tensor.full([2, 2], 3.5),
        "from_list": Tensor.from_list([1.5, -2, 3.25, 0], [2, 2]),
        "from_u32": Tensor.from_u32([7, 0, 4294967295], [3]),
    })
    return cases


MISUSE = {
    "shape": lambda: Tensor.ones([2, 3]) @ Tensor.ones([4, 2]),
    "broadcast": lambda: Tensor.ones([2, 3]) + Tensor.ones([2]),
    "dtype": lambda: Tensor.from_u32([1, 2], [2]).exp(),
    "argument": lambda: Tensor.ones([2, 3]).permute([0, 0]),
    "count": lambda: Tensor.from_list([1, 2], [3]),
    "missing": lambda: Tensor.load("nope.safetensors", "x"),
    "escape": lambda: Tensor.load("../../etc/passwd", "x"),
    "activation": lambda: Tensor.ones([2, 3]).linear(Tensor.ones([4, 3]), activation="tanh"),
}


def misuse(case):
    """``<Kind>: <message>`` of the error the case raises."""
    try:
        MISUSE.get(case, lambda: _no_case(case))()
    except TensorError as e:
        return f"{type(e).__name__.removesuffix('Error')}: {e.message}"
    return "no error"


def _no_case(case):
    raise InvalidArgumentError(f"no case {case}")


class Probe(Backbone):
    def capabilities(self):
        return ModelSpec(
            id="tensor-probe-py",
            fps=30.0,
            canonical_skeleton=Skeleton([Joint("Hips", None, (0.0, 0.95, 0.0))]),
        )

    def generate(self, request):
        prompt = next((s.prompt for s in request.segments if s.type == "text"), "")
        words = prompt.split()
        if prompt == "ops":
            answer = {
                name: {"shape": list(t.shape), "values": t.to_flat()} for name, t in ops().items()
            }
            raise ProtocolError("invalid_request", "ops", {"ops": answer})
        if words[:1] == ["misuse"]:
            raise ProtocolError("invalid_request", misuse(" ".join(words[1:])))
        if prompt == "oom":
            # 96 MiB: past the test's 64 MiB quota; the error escapes (503).
            Tensor.zeros([24 << 20])
        if words[:1] == ["bench"]:
            x, y = Tensor.ones([2, 2]), Tensor.ones([2, 2])
            for _ in range(int(words[1])):
                x = x + y
            x.to_flat()
        if words[:1] == ["bench-call"]:
            x = Tensor.ones([2, 2])
            for i in range(int(words[1])):
                x = x.reshape([4] if i % 2 == 0 else [2, 2])
        root = request.skeleton.joints[0].rest_translation
        return MotionResult.rest_pose(request.num_samples, request.total_frames, len(request.skeleton.joints), root)


export(Probe)
