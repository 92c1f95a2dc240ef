// Fused scaled dot-product attention, softmax(q k^T * scale + mask) v, with
// the online (streaming) softmax of FlashAttention: scores never reach
// global memory.
// q: [b, h, lq, d]; k: [b, h, lk, d]; v: [b, h, lk, dv]; out: [b, h, lq, dv].
//
// One 256-invocation entry point, two paths (`p.q_tiles` picks):
//
// - Tiled (d, dv <= 128; Kimodo's 8 x 128 heads): one workgroup per tile of
//   BQ = 16 query rows of one (batch, head). The Q tile stays in workgroup
//   memory for the whole pass while K and V stream through one shared
//   workgroup buffer in tiles of BK = 32 keys, so a workgroup reads K and V
//   once for 16 rows: 16x less K/V traffic than one workgroup per row.
// - Rows (fallback, head dims up to 256): one workgroup per query row, each
//   invocation scoring one key of a 256-key tile and owning one output dim.
//
// Tile sizes come from the 16 KiB of workgroup storage (and 256
// invocations) that wgpu guarantees by default. A 16 x 128 Q tile is 8 KiB,
// so 32 query rows (16 KiB of Q alone) do not fit; with 16 rows there is
// room for a 32-key K tile streamed 32 head dims at a time (4 KiB) and the
// 16 x 32 score tile (2 KiB). The same buffer then holds V 8 keys x 128
// dims at a time. Q and K/V live as vec4s, so that each workgroup-memory
// read feeds 4 multiply-adds (scalar reads fed 1 or less); Q and K rows
// are padded by one vec4 (33 and 9 vec4s) so that the rows read at once
// fall in distinct banks.
// Total: 528 x 16 B + 288 x 16 B + 528 x 4 B = 15,168 B.

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
    // query tiles per (batch, head) on the tiled path; 0 takes the row path
    q_tiles: u32,
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

// Tiled path geometry (see the top of the file).
const BQ: u32 = 16u; // query rows per workgroup
const BK: u32 = 32u; // keys per K/V tile
const DC: u32 = 32u; // head dims per K chunk
const DMAX: u32 = 128u; // largest head dim of the tiled path
const VK: u32 = 8u; // keys per V chunk: BK * DC / DMAX
const QS4: u32 = 33u; // Q tile row stride in vec4s (DMAX / 4 + 1)
const KS4: u32 = 9u; // K chunk row stride in vec4s (DC / 4 + 1)
const PS: u32 = 33u; // score tile row stride (BK + 1)

// The Q tile; the row path keeps its one query row here.
var<workgroup> qt: array<vec4<f32>, 528>; // BQ * QS4
// A K chunk [BK][KS4] or a V chunk [VK][DMAX / 4].
var<workgroup> kv: array<vec4<f32>, 288>; // BK * KS4
// Scores, then softmax weights, [BQ][PS]. The row path keeps its 256
// weights in [0, 256) and its reduction scratch in [256, 512).
var<workgroup> pt: array<f32, 528>; // BQ * PS

/// The scaled, masked score of one (query, key) pair; NEG when masked.
fn masked_score(dot: f32, m_at: u32) -> f32 {
    var s = dot * p.scale;
    if p.mask_kind != 0u {
        let mw = mask[m_at];
        if p.mask_kind == 1u && mw == 0u { s = NEG; }
        if p.mask_kind == 2u { s = s + bitcast<f32>(mw); }
    }
    return max(s, NEG);
}

// Four consecutive values from `at`, those from the n-th on zero (n is
// what is left of the row: storage offsets need not be 16-byte aligned, so
// each is a scalar read). One copy per binding: a WGSL function cannot take
// a pointer to a storage buffer.
fn q4(at: u32, n: u32) -> vec4<f32> {
    var x = vec4<f32>(0.0);
    if n > 0u { x.x = q[at]; }
    if n > 1u { x.y = q[at + 1u]; }
    if n > 2u { x.z = q[at + 2u]; }
    if n > 3u { x.w = q[at + 3u]; }
    return x;
}

fn k4(at: u32, n: u32) -> vec4<f32> {
    var x = vec4<f32>(0.0);
    if n > 0u { x.x = k[at]; }
    if n > 1u { x.y = k[at + 1u]; }
    if n > 2u { x.z = k[at + 2u]; }
    if n > 3u { x.w = k[at + 3u]; }
    return x;
}

fn v4(at: u32, n: u32) -> vec4<f32> {
    var x = vec4<f32>(0.0);
    if n > 0u { x.x = v[at]; }
    if n > 1u { x.y = v[at + 1u]; }
    if n > 2u { x.z = v[at + 2u]; }
    if n > 3u { x.w = v[at + 3u]; }
    return x;
}

/// How many of the 4 values from `e` on are inside a row of `len`.
fn left(e: u32, len: u32) -> u32 {
    return select(0u, min(len - e, 4u), e < len);
}

@compute @workgroup_size(256)
fn attention(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let g = wg.x + wg.y * groups.x;
    if p.q_tiles == 0u {
        row_attention(g, li);
    } else {
        tiled_attention(g, li);
    }
}

fn tiled_attention(tile: u32, li: u32) {
    let bh = tile / p.q_tiles;
    if bh >= p.rows / p.lq { return; }
    let q0 = (tile % p.q_tiles) * BQ;
    let h = bh % p.heads;
    let bi = bh / p.heads;
    let k_base = bh * p.lk * p.d;
    let v_base = bh * p.lk * p.dv;
    // This invocation's row of the tile; as lane c it scores keys c and
    // c + 16 of each K tile and owns output dims 4c..4c+3 and 64 more.
    let r = li / 16u;
    let c = li % 16u;
    let qi = q0 + r;
    let ms = p.mask_strides;
    // Rows past lq (the last tile's padding) read row lq - 1's mask and
    // write nothing.
    let m_row = bi * ms.x + h * ms.y + min(qi, p.lq - 1u) * ms.z;

    // The Q tile, zero past lq and d (zeros keep the padded dot products
    // exact). The first K chunk's barrier publishes it.
    for (var i = li; i < BQ * DMAX / 4u; i += 256u) {
        let rr = i / (DMAX / 4u);
        let e4 = i % (DMAX / 4u);
        let n = select(0u, left(4u * e4, p.d), q0 + rr < p.lq);
        qt[rr * QS4 + e4] = q4((bh * p.lq + q0 + rr) * p.d + 4u * e4, n);
    }

    // Online softmax state of row r, held alike by its 16 invocations (same
    // reads in the same order): running max m, running sum l and the
    // accumulator, both of the latter relative to exp(m).
    var m = NEG;
    var l = 0.0;
    var acc0 = vec4<f32>(0.0); // dims 4c..4c+3
    var acc1 = vec4<f32>(0.0); // dims 64+4c..64+4c+3
    for (var t0 = 0u; t0 < p.lk; t0 += BK) {
        // Scores of the tile, S = Q K^T, K streamed DC dims at a time.
        var s0 = 0.0;
        var s1 = 0.0;
        for (var e0 = 0u; e0 < p.d; e0 += DC) {
            // The buffer's previous readers are done.
            workgroupBarrier();
            // BK x DC / 4 = 256 vec4s: one per invocation.
            let j = li / (DC / 4u);
            let e = e0 + 4u * (li % (DC / 4u));
            let n = select(0u, left(e, p.d), t0 + j < p.lk);
            kv[j * KS4 + li % (DC / 4u)] = k4(k_base + (t0 + j) * p.d + e, n);
            workgroupBarrier();
            for (var e4 = 0u; e4 < DC / 4u; e4++) {
                let qv = qt[r * QS4 + e0 / 4u + e4];
                s0 += dot(qv, kv[c * KS4 + e4]);
                s1 += dot(qv, kv[(c + 16u) * KS4 + e4]);
            }
        }
        let ja = t0 + c;
        let jb = ja + 16u;
        var sa = NEG;
        var sb = NEG;
        if ja < p.lk { sa = masked_score(s0, m_row + ja * ms.w); }
        if jb < p.lk { sb = masked_score(s1, m_row + jb * ms.w); }
        pt[r * PS + c] = sa;
        pt[r * PS + c + 16u] = sb;
        workgroupBarrier();

        // The running max only grows. When it does, every earlier weight
        // exp(s - m_old) in l and the accumulator becomes exp(s - m_new)
        // by one factor, exp(m_old - m_new); masked scores stay finite
        // (NEG), so a row masked so far keeps corr = 1 or 0, never NaN.
        var tmax = NEG;
        for (var j = 0u; j < BK; j++) { tmax = max(tmax, pt[r * PS + j]); }
        let new_m = max(m, tmax);
        let corr = exp(m - new_m);
        m = new_m;
        l = l * corr;
        acc0 = acc0 * corr;
        acc1 = acc1 * corr;
        // Every invocation has read the raw scores before they become
        // weights; masked keys and keys past lk weigh 0.
        workgroupBarrier();
        pt[r * PS + c] = select(0.0, exp(sa - new_m), sa > MASKED);
        pt[r * PS + c + 16u] = select(0.0, exp(sb - new_m), sb > MASKED);

        // O += P V, V streamed VK keys (all dims) at a time; past lk it is
        // zero so that 0-weights never meet stale values.
        let count = min(BK, p.lk - t0);
        for (var j0 = 0u; j0 < count; j0 += VK) {
            // Publishes the weights (first chunk), frees the buffer (others).
            workgroupBarrier();
            // VK x DMAX / 4 = 256 vec4s: one per invocation.
            let j = t0 + j0 + li / (DMAX / 4u);
            let e = 4u * (li % (DMAX / 4u));
            let n = select(0u, left(e, p.dv), j < p.lk);
            kv[li] = v4(v_base + j * p.dv + e, n);
            workgroupBarrier();
            for (var jj = 0u; jj < VK; jj++) {
                let w = pt[r * PS + j0 + jj];
                l += w;
                acc0 = fma(vec4<f32>(w), kv[jj * (DMAX / 4u) + c], acc0);
                acc1 = fma(vec4<f32>(w), kv[jj * (DMAX / 4u) + 16u + c], acc1);
            }
        }
    }

    // A row with every key masked has l = 0 and gets zeros.
    if qi < p.lq {
        let inv = select(0.0, 1.0 / l, l > 0.0);
        let o = (bh * p.lq + qi) * p.dv;
        for (var u = 0u; u < 4u; u++) {
            let e = 4u * c + u;
            if e < p.dv { out[o + e] = acc0[u] * inv; }
            if e + 64u < p.dv { out[o + e + 64u] = acc1[u] * inv; }
        }
    }
}

fn reduce_max(li: u32, x: f32) -> f32 {
    pt[256u + li] = x;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if li < s { pt[256u + li] = max(pt[256u + li], pt[256u + li + s]); }
        workgroupBarrier();
    }
    let r = pt[256u];
    workgroupBarrier();
    return r;
}

fn reduce_sum(li: u32, x: f32) -> f32 {
    pt[256u + li] = x;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if li < s { pt[256u + li] = pt[256u + li] + pt[256u + li + s]; }
        workgroupBarrier();
    }
    let r = pt[256u];
    workgroupBarrier();
    return r;
}

// The fallback: one workgroup per query row walks the keys in tiles of 256;
// each invocation scores one key, the workgroup rescales its running sum,
// and each invocation accumulates one output dim (dv <= 256). It re-reads
// all of K and V for every row.
fn row_attention(row: u32, li: u32) {
    if row >= p.rows { return; }
    let qi = row % p.lq;
    let bh = row / p.lq;
    let h = bh % p.heads;
    let bi = bh / p.heads;
    let q_base = row * p.d;
    let k_base = bh * p.lk * p.d;
    let v_base = bh * p.lk * p.dv;
    let m_base = bi * p.mask_strides.x + h * p.mask_strides.y + qi * p.mask_strides.z;

    for (var e4 = li; 4u * e4 < p.d; e4 += 256u) { qt[e4] = q4(q_base + 4u * e4, left(4u * e4, p.d)); }
    workgroupBarrier();

    var m = NEG;
    var l = 0.0;
    var acc = 0.0;
    for (var t0 = 0u; t0 < p.lk; t0 += 256u) {
        let j = t0 + li;
        var s = NEG;
        if j < p.lk {
            var dot = 0.0;
            let kr = k_base + j * p.d;
            for (var e = 0u; e < p.d; e++) { dot = fma(qt[e / 4u][e % 4u], k[kr + e], dot); }
            s = masked_score(dot, m_base + j * p.mask_strides.w);
        }
        let new_m = max(m, reduce_max(li, s));
        var pj = 0.0;
        if s > MASKED { pj = exp(s - new_m); }
        pt[li] = pj;
        let corr = exp(m - new_m);
        // reduce_sum's barriers also publish pt[li].
        l = l * corr + reduce_sum(li, pj);
        acc = acc * corr;
        if li < p.dv {
            let count = min(256u, p.lk - t0);
            for (var jj = 0u; jj < count; jj++) {
                acc = fma(pt[jj], v[v_base + (t0 + jj) * p.dv + li], acc);
            }
        }
        m = new_m;
        workgroupBarrier();
    }
    if li < p.dv {
        out[row * p.dv + li] = acc * select(0.0, 1.0 / l, l > 0.0);
    }
}
