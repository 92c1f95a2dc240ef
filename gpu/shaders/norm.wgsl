// LayerNorm and RMSNorm over the last axis, with optional affine weights:
// one workgroup per row. LayerNorm takes the variance around the mean in a
// second pass rather than E[x^2] - E[x]^2, which cancels for large means.
// `Ids`, `group_index`, `reduce_sum`: rows.wgsl or rows_subgroup.wgsl,
// prepended by the host.

struct Params {
    rows: u32,
    len: u32,
    has_weight: u32,
    has_bias: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn affine(j: u32, x: f32) -> f32 {
    var y = x;
    if p.has_weight == 1u { y = y * weight[j]; }
    if p.has_bias == 1u { y = y + bias[j]; }
    return y;
}

@compute @workgroup_size(256)
fn layer_norm(id: Ids) {
    let li = id.li;
    let row = group_index(id);
    if row >= p.rows { return; }
    let base = row * p.len;
    let n = f32(p.len);
    // Working with x - x0 (exact for nearby values) rather than x keeps
    // the rounding error relative to the row's spread, not its magnitude.
    let shift = a[base];
    var s = 0.0;
    for (var j = li; j < p.len; j += 256u) { s += a[base + j] - shift; }
    let mean = reduce_sum(id, s) / n;
    var q = 0.0;
    for (var j = li; j < p.len; j += 256u) {
        let d = (a[base + j] - shift) - mean;
        q += d * d;
    }
    let inv = inverseSqrt(reduce_sum(id, q) / n + p.eps);
    for (var j = li; j < p.len; j += 256u) {
        out[base + j] = affine(j, ((a[base + j] - shift) - mean) * inv);
    }
}

@compute @workgroup_size(256)
fn rms_norm(id: Ids) {
    let li = id.li;
    let row = group_index(id);
    if row >= p.rows { return; }
    let base = row * p.len;
    var q = 0.0;
    for (var j = li; j < p.len; j += 256u) {
        let x = a[base + j];
        q += x * x;
    }
    let inv = inverseSqrt(reduce_sum(id, q) / f32(p.len) + p.eps);
    for (var j = li; j < p.len; j += 256u) {
        out[base + j] = affine(j, a[base + j] * inv);
    }
}
