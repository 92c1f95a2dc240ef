// Data movement, dtype-blind (32-bit words): a strided copy that serves
// permute, slice and concat, and index-select.

struct Params {
    n: u32,
    rank: u32,
    in_offset: u32,
    out_offset: u32,
    shape: array<vec4<u32>, 2>,
    in_strides: array<vec4<u32>, 2>,
    out_strides: array<vec4<u32>, 2>,
    // index-select: [outer, len_in, len_idx, inner], and whether indices
    // are signed (negative counts from the end)
    sel: vec4<u32>,
    signed_idx: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

fn at(v: array<vec4<u32>, 2>, d: u32) -> u32 {
    return v[d / 4u][d % 4u];
}

@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.n { return; }
    var rest = i;
    var si = p.in_offset;
    var di = p.out_offset;
    for (var d = i32(p.rank) - 1; d >= 0; d--) {
        let dim = at(p.shape, u32(d));
        let k = rest % dim;
        rest = rest / dim;
        si += k * at(p.in_strides, u32(d));
        di += k * at(p.out_strides, u32(d));
    }
    dst[di] = src[si];
}

@compute @workgroup_size(256)
fn index_select(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.n { return; }
    let len_in = p.sel.y;
    let len_idx = p.sel.z;
    let inner = p.sel.w;
    let e = i % inner;
    let j = (i / inner) % len_idx;
    let o = i / (inner * len_idx);
    var k = i32(idx[j]);
    if p.signed_idx == 1u && k < 0 { k += i32(len_in); }
    if p.signed_idx == 0u && idx[j] >= len_in { k = -1; }
    if k < 0 || k >= i32(len_in) {
        dst[i] = 0u;
        return;
    }
    dst[i] = src[(o * len_in + u32(k)) * inner + e];
}
