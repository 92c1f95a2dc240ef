// Batched matrix product for f32 A and B whose contiguous axes are
// multiples of 4 (k, and n when B is not transposed), read as vec4s. Same
// parameters and epilogue as matmul.wgsl (matmul_common.wgsl); the host
// prepends the output tile, `const BM` rows by `const BN` columns (128x128
// and 64x128 are built), and keeps every other shape on matmul.wgsl.
//
// Each invocation accumulates an 8x8 block of C: rows ty*4..+4 and
// BM/2 + ty*4..+4, columns tx*4..+4 and BN/2 + tx*4..+4. Splitting the
// block in two halves puts neighbouring invocations on neighbouring vec4s
// of the staged tiles (no bank conflicts on the 16-byte reads) and of C.
// Per step of depth, 4 vec4 reads from workgroup memory feed 64 FMAs.
//
// The host created this module without runtime bounds checks: every global
// index below is guarded by m, n and k, and the host checks, before each
// dispatch, that the largest guarded index fits each bound buffer
// (`Session::gemm`); workgroup indices are bounded by the constants.

const BK: u32 = 8u;
// Invocations across the tile's columns and rows.
const TX: u32 = BN / 8u;
const TY: u32 = BM / 8u;
const THREADS: u32 = TX * TY;
// vec4s per depth row of the staged tiles, plus one of padding: with it, an
// A (or transposed B) row's four depth values, written to four rows of
// workgroup memory, land 16 banks apart for the two depth halves, so the 32
// scalar stores of a subgroup hit 32 different banks.
const AS: u32 = BM / 4u + 1u;
const BS: u32 = BN / 4u + 1u;
// vec4 loads per invocation per tile: BM x BK of A, BN x BK of B.
const A_LOADS: u32 = BM * BK / 4u / THREADS;
const B_LOADS: u32 = BN * BK / 4u / THREADS;

@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;

// Depth-major: As[kk * AS + r / 4][r % 4] is A[row0 + r, k0 + kk].
var<workgroup> As: array<vec4<f32>, BK * AS>;
var<workgroup> Bs: array<vec4<f32>, BK * BS>;

// Vec4 `e` of this invocation's share of A's tile at depth k0: row r, depth
// quarter q (A rows are contiguous along k, 2 vec4s per row of the tile).
fn fetch_a(a4: u32, row0: u32, k0: u32, v: u32) -> vec4<f32> {
    let gr = row0 + v / 2u;
    let gk = k0 + (v % 2u) * 4u;
    if gr < p.m && gk < p.k { return a[a4 + (gr * p.k + gk) / 4u]; }
    return vec4<f32>(0.0);
}

fn fetch_b(b4: u32, col0: u32, k0: u32, v: u32) -> vec4<f32> {
    if p.trans_b == 1u {
        // B is [n, k] (nn.Linear's weight): like A, 4 depths of one column.
        let gc = col0 + v / 2u;
        let gk = k0 + (v % 2u) * 4u;
        if gc < p.n && gk < p.k { return b[b4 + (gc * p.k + gk) / 4u]; }
    } else {
        // B is [k, n]: 4 columns of one depth; n % 4 == 0, so a vec4 is
        // wholly inside or wholly past the last column.
        let gk = k0 + v / (BN / 4u);
        let gc = col0 + (v % (BN / 4u)) * 4u;
        if gk < p.k && gc < p.n { return b[b4 + (gk * p.n + gc) / 4u]; }
    }
    return vec4<f32>(0.0);
}

// Four depths of one row (or column) into four depth rows of the tile.
fn stage_a(v: u32, x: vec4<f32>) {
    let r = v / 2u;
    let base = (v % 2u) * 4u * AS + r / 4u;
    for (var j = 0u; j < 4u; j++) { As[base + j * AS][r % 4u] = x[j]; }
}

fn stage_b(v: u32, x: vec4<f32>) {
    if p.trans_b == 1u {
        let col = v / 2u;
        let base = (v % 2u) * 4u * BS + col / 4u;
        for (var j = 0u; j < 4u; j++) { Bs[base + j * BS][col % 4u] = x[j]; }
    } else {
        Bs[(v / (BN / 4u)) * BS + v % (BN / 4u)] = x;
    }
}

@compute @workgroup_size(THREADS)
fn matmul_vec4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let offs = batch_offsets(wg.z);
    // Batch offsets are multiples of m * k and k * n, so of 4.
    let a4 = offs.x / 4u;
    let b4 = offs.y / 4u;
    let c_off = wg.z * p.m * p.n;
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let tx = li % TX;
    let ty = li / TX;

    // acc[2 * i + h]: row i of the block (0-3 top half, 4-7 bottom), the
    // four columns of half h.
    var acc: array<vec4<f32>, 16>;
    // The next tile, fetched from global memory while this one is used.
    var ra: array<vec4<f32>, A_LOADS>;
    var rb: array<vec4<f32>, B_LOADS>;

    let tiles = (p.k + BK - 1u) / BK;
    if tiles > 0u {
        for (var e = 0u; e < A_LOADS; e++) {
            stage_a(li + e * THREADS, fetch_a(a4, row0, 0u, li + e * THREADS));
        }
        for (var e = 0u; e < B_LOADS; e++) {
            stage_b(li + e * THREADS, fetch_b(b4, col0, 0u, li + e * THREADS));
        }
    }
    workgroupBarrier();
    for (var t = 0u; t < tiles; t++) {
        let more = t + 1u < tiles;
        if more {
            let k0 = (t + 1u) * BK;
            for (var e = 0u; e < A_LOADS; e++) { ra[e] = fetch_a(a4, row0, k0, li + e * THREADS); }
            for (var e = 0u; e < B_LOADS; e++) { rb[e] = fetch_b(b4, col0, k0, li + e * THREADS); }
        }
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = As[kk * AS + ty];
            let a1 = As[kk * AS + TY + ty];
            let b0 = Bs[kk * BS + tx];
            let b1 = Bs[kk * BS + TX + tx];
            for (var i = 0u; i < 4u; i++) {
                acc[2u * i] = fma(vec4<f32>(a0[i]), b0, acc[2u * i]);
                acc[2u * i + 1u] = fma(vec4<f32>(a0[i]), b1, acc[2u * i + 1u]);
                acc[8u + 2u * i] = fma(vec4<f32>(a1[i]), b0, acc[8u + 2u * i]);
                acc[9u + 2u * i] = fma(vec4<f32>(a1[i]), b1, acc[9u + 2u * i]);
            }
        }
        workgroupBarrier();
        if more {
            for (var e = 0u; e < A_LOADS; e++) { stage_a(li + e * THREADS, ra[e]); }
            for (var e = 0u; e < B_LOADS; e++) { stage_b(li + e * THREADS, rb[e]); }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 8u; i++) {
        let r = row0 + select(BM / 2u + ty * 4u + i - 4u, ty * 4u + i, i < 4u);
        if r >= p.m { continue; }
        for (var h = 0u; h < 2u; h++) {
            let col = col0 + h * (BN / 2u) + tx * 4u;
            let at = c_off + r * p.n + col;
            let v = epilogue(at, col, acc[2u * i + h]);
            for (var j = 0u; j < 4u; j++) {
                if col + j < p.n { c[at + j] = v[j]; }
            }
        }
    }
}
