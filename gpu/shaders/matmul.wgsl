// Batched matrix product C = act(alpha * A @ op(B) + bias) + residual,
// op(B) = B or B^T (the epilogue and parameters: matmul_common.wgsl).
// A: [.., m, k]; B: [.., k, n] (or [.., n, k] transposed, nn.Linear's
// weight layout); leading axes broadcast through per-axis batch strides.
// A, B and bias may each be f32 or half storage (halves.wgsl), widened as
// the tiles are staged; C and the accumulators are f32. The general kernel:
// any shape and type. matmul_vec4.wgsl is the faster one for f32 operands
// whose contiguous axes are multiples of 4.
//
// Each 16x16 workgroup computes a 64x64 tile of C, each invocation a 4x4
// block held in registers; A and B tiles of depth 16 are staged in
// workgroup memory so each global element is read once per tile.

@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;

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
    let offs = batch_offsets(wg.z);
    let a_off = offs.x;
    let b_off = offs.y;
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

    let col = col0 + lid.x * 4u;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        if r >= p.m { continue; }
        let at = c_off + r * p.n + col;
        let v = epilogue(at, col, vec4<f32>(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
        for (var j = 0u; j < 4u; j++) {
            if col + j < p.n { c[at + j] = v[j]; }
        }
    }
}
