// Fused scaled dot-product attention, softmax(q k^T * scale + mask) v, with
// the online (streaming) softmax of FlashAttention: scores never reach
// global memory. One 64-invocation workgroup per query row walks the keys
// in tiles of 64: each invocation scores one key, the workgroup rescales
// its running sum, and each invocation accumulates up to 4 output dims.
// q: [b, h, lq, d]; k: [b, h, lk, d]; v: [b, h, lk, dv]; out: [b, h, lq, dv].

struct Params {
    heads: u32,
    lq: u32,
    lk: u32,
    d: u32,
    dv: u32,
    rows: u32,
    scale: f32,
    // 0: none, 1: keep where nonzero (u32/i32), 2: additive (f32)
    mask_kind: u32,
    // mask strides along (batch, head, query, key); 0 broadcasts
    mask_strides: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

// Scores at or below this are masked out; finite so that no inf - inf
// NaN can arise (an additive -inf mask is clamped to it).
const NEG: f32 = -3.0e38;
const MASKED: f32 = -1.0e38;

var<workgroup> qs: array<f32, 256>;
var<workgroup> scores: array<f32, 64>;
var<workgroup> red: array<f32, 64>;

fn reduce_max(li: u32, x: f32) -> f32 {
    red[li] = x;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if li < s { red[li] = max(red[li], red[li + s]); }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_sum(li: u32, x: f32) -> f32 {
    red[li] = x;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if li < s { red[li] = red[li] + red[li + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64)
fn attention(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = wg.x + wg.y * groups.x;
    if row >= p.rows { return; }
    let qi = row % p.lq;
    let bh = row / p.lq;
    let h = bh % p.heads;
    let bi = bh / p.heads;
    let q_base = row * p.d;
    let k_base = bh * p.lk * p.d;
    let v_base = bh * p.lk * p.dv;
    let m_base = bi * p.mask_strides.x + h * p.mask_strides.y + qi * p.mask_strides.z;

    for (var e = li; e < p.d; e += 64u) { qs[e] = q[q_base + e]; }
    workgroupBarrier();

    var m = NEG;
    var l = 0.0;
    var acc = vec4<f32>(0.0);
    for (var t0 = 0u; t0 < p.lk; t0 += 64u) {
        let j = t0 + li;
        var s = NEG;
        if j < p.lk {
            var dot = 0.0;
            let kr = k_base + j * p.d;
            for (var e = 0u; e < p.d; e++) { dot = fma(qs[e], k[kr + e], dot); }
            s = dot * p.scale;
            let mw = mask[m_base + j * p.mask_strides.w];
            if p.mask_kind == 1u && mw == 0u { s = NEG; }
            if p.mask_kind == 2u { s = s + bitcast<f32>(mw); }
            s = max(s, NEG);
        }
        let new_m = max(m, reduce_max(li, s));
        var pj = 0.0;
        if s > MASKED { pj = exp(s - new_m); }
        scores[li] = pj;
        let corr = exp(m - new_m);
        l = l * corr + reduce_sum(li, pj);
        acc = acc * corr;
        let count = min(64u, p.lk - t0);
        for (var jj = 0u; jj < count; jj++) {
            let w = scores[jj];
            let vr = v_base + (t0 + jj) * p.dv;
            for (var c = 0u; c < 4u; c++) {
                let e = li + c * 64u;
                if e < p.dv { acc[c] = fma(w, v[vr + e], acc[c]); }
            }
        }
        m = new_m;
        workgroupBarrier();
    }
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var c = 0u; c < 4u; c++) {
        let e = li + c * 64u;
        if e < p.dv { out[row * p.dv + e] = acc[c] * inv; }
    }
}
