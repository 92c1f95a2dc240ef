// Batched matrix product C = alpha * A @ op(B) + bias, op(B) = B or B^T.
// A: [.., m, k]; B: [.., k, n] (or [.., n, k] transposed, nn.Linear's
// weight layout); leading axes broadcast through per-axis batch strides.
// A, B and bias may each be f32 or half storage (halves.wgsl), widened as
// the tiles are staged; C and the accumulators are f32.
//
// Each 16x16 workgroup computes a 64x64 tile of C, each invocation a 4x4
// block held in registers; A and B tiles of depth 16 are staged in
// workgroup memory so each global element is read once per tile.

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
    // leading (batch) axes of C, and A's and B's strides along them
    batch_shape: vec4<u32>,
    a_strides: vec4<u32>,
    b_strides: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<u32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// The type tests branch on a uniform, so every invocation takes one path.
fn load_a(i: u32) -> f32 {
    let t = p.types & 15u;
    if t == 0u { return bitcast<f32>(a[i]); }
    return half_load(a[i >> 1u], i, t);
}

fn load_b(i: u32) -> f32 {
    let t = (p.types >> 4u) & 15u;
    if t == 0u { return bitcast<f32>(b[i]); }
    return half_load(b[i >> 1u], i, t);
}

fn load_bias(i: u32) -> f32 {
    let t = (p.types >> 8u) & 15u;
    if t == 0u { return bitcast<f32>(bias[i]); }
    return half_load(bias[i >> 1u], i, t);
}

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> As: array<array<f32, 64>, 16>;
var<workgroup> Bs: array<array<f32, 64>, 16>;

@compute @workgroup_size(16, 16)
fn matmul(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    // Batch offsets from the flat batch index.
    var rest = wg.z;
    var a_off = 0u;
    var b_off = 0u;
    for (var d = i32(p.batch_rank) - 1; d >= 0; d--) {
        let dim = p.batch_shape[d];
        let idx = rest % dim;
        rest = rest / dim;
        a_off += idx * p.a_strides[d];
        b_off += idx * p.b_strides[d];
    }
    let c_off = wg.z * p.m * p.n;
    let row0 = wg.y * TM;
    let col0 = wg.x * TN;

    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; }
    }

    let tiles = (p.k + TK - 1u) / TK;
    for (var t = 0u; t < tiles; t++) {
        let k0 = t * TK;
        // 1024 elements of each tile, 4 per invocation. Consecutive
        // invocations walk the contiguous axis of each operand.
        for (var e = 0u; e < 4u; e++) {
            let flat = li + e * 256u;
            // A tile: 64 rows x 16 depth, depth fastest in memory.
            let ar = flat / TK;
            let ak = flat % TK;
            let gr = row0 + ar;
            let gk = k0 + ak;
            var av = 0.0;
            if gr < p.m && gk < p.k { av = load_a(a_off + gr * p.k + gk); }
            As[ak][ar] = av;

            var bv = 0.0;
            if p.trans_b == 1u {
                // B^T tile: element (kk, col) sits at b[col * k + kk].
                let bc = flat / TK;
                let bk = flat % TK;
                let gc = col0 + bc;
                let gk2 = k0 + bk;
                if gc < p.n && gk2 < p.k { bv = load_b(b_off + gc * p.k + gk2); }
                Bs[bk][bc] = bv;
            } else {
                let bk = flat / TN;
                let bc = flat % TN;
                let gc = col0 + bc;
                let gk2 = k0 + bk;
                if gc < p.n && gk2 < p.k { bv = load_b(b_off + gk2 * p.n + gc); }
                Bs[bk][bc] = bv;
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var ar: array<f32, 4>;
            var br: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) { ar[i] = As[kk][lid.y * 4u + i]; }
            for (var j = 0u; j < 4u; j++) { br[j] = Bs[kk][lid.x * 4u + j]; }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(ar[i], br[j], acc[i][j]); }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        if r >= p.m { continue; }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if col >= p.n { continue; }
            var v = acc[i][j] * p.alpha;
            if p.has_bias == 1u { v += load_bias(col); }
            c[c_off + r * p.n + col] = v;
        }
    }
}
