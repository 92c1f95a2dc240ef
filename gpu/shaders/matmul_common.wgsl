// What every matmul kernel shares (the host prepends this file, after
// halves.wgsl): the parameter block, batch offsets, and the epilogue
//   C = act(alpha * A @ op(B) + bias) + residual
// applied to each output as it is stored, so a linear layer's bias, GELU
// and residual add cost no extra pass over C. The kernel files declare A
// and B (bindings 1 and 2) as their loads need them.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    trans_b: u32,
    has_bias: u32,
    batch_rank: u32,
    alpha: f32,
    // element types of A, B and bias: bits 0-3, 4-7, 8-11 (0: f32)
    types: u32,
    // 0 none, 1 GELU (erf), 2 GELU (tanh), 3 SiLU, 4 ReLU
    activation: u32,
    has_residual: u32,
    _pad0: u32,
    _pad1: u32,
    // leading (batch) axes of C, and A's and B's strides along them
    batch_shape: vec4<u32>,
    a_strides: vec4<u32>,
    b_strides: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> bias: array<u32>;
// f32, C's shape; read only when has_residual is 1.
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;

// A's and B's element offsets for the flat batch index z.
fn batch_offsets(z: u32) -> vec2<u32> {
    var rest = z;
    var off = vec2<u32>(0u, 0u);
    for (var d = i32(p.batch_rank) - 1; d >= 0; d--) {
        let dim = p.batch_shape[d];
        let idx = rest % dim;
        rest = rest / dim;
        off += idx * vec2<u32>(p.a_strides[d], p.b_strides[d]);
    }
    return off;
}

// The type tests branch on a uniform, so every invocation takes one path.
fn load_bias(i: u32) -> f32 {
    let t = (p.types >> 8u) & 15u;
    if t == 0u { return bitcast<f32>(bias[i]); }
    return half_load(bias[i >> 1u], i, t);
}

// The activations are elementwise.wgsl's unary ops, formula for formula,
// so a fused linear gives what linear followed by `unary` gives. On four
// outputs at once: the vec4 kernel's epilogue is a quarter of the code.
fn mm_erfc(x: vec4<f32>) -> vec4<f32> {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277))))))));
    let r = t * exp(poly);
    return select(2.0 - r, r, x >= vec4<f32>(0.0));
}

fn activate(x: vec4<f32>) -> vec4<f32> {
    switch p.activation {
        case 1u: { return 0.5 * x * mm_erfc(-x * 0.70710678118654752); }
        case 2u: {
            let u = clamp(0.79788456080286536 * (x + 0.044715 * x * x * x), vec4<f32>(-10.0), vec4<f32>(10.0));
            return 0.5 * x * (1.0 + tanh(u));
        }
        case 3u: { return x * (1.0 / (1.0 + exp(-x))); }
        case 4u: { return max(x, vec4<f32>(0.0)); }
        default: { return x; }
    }
}

// Outputs at columns col..col+4 of one row, from their sums; `at` is the
// first one's flat index into C. Columns from n on are computed but must
// not be stored; their bias and residual are not read.
fn epilogue(at: u32, col: u32, sums: vec4<f32>) -> vec4<f32> {
    var v = sums * p.alpha;
    if p.has_bias == 1u {
        for (var j = 0u; j < 4u; j++) {
            if col + j < p.n { v[j] += load_bias(col + j); }
        }
    }
    v = activate(v);
    if p.has_residual == 1u {
        for (var j = 0u; j < 4u; j++) {
            if col + j < p.n { v[j] += residual[at + j]; }
        }
    }
    return v;
}
