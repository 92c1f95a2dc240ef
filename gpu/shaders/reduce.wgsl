// Reductions over one axis of a tensor viewed as [outer, len, inner]. One
// workgroup per output element; invocations stride over the axis and
// combine their partials through `reduce_sum`/`reduce_max` (rows.wgsl or
// rows_subgroup.wgsl, prepended by the host), which sum pairwise or per
// subgroup and so also keep long f32 sums accurate.

struct Params {
    outputs: u32,
    len: u32,
    inner: u32,
    // 0: sum, 1: mean, 2: max
    op: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn reduce(id: Ids) {
    let li = id.li;
    let o = group_index(id);
    // Whole workgroups leave together, so the reductions below stay uniform.
    if o >= p.outputs { return; }
    let base = (o / p.inner) * p.len * p.inner + o % p.inner;
    let is_max = p.op == 2u;
    var v = select(0.0, -3.4028235e38, is_max);
    for (var j = li; j < p.len; j += 256u) {
        let x = a[base + j * p.inner];
        v = select(v + x, max(v, x), is_max);
    }
    // `p.op` is uniform, so the whole workgroup takes the same branch.
    var r: f32;
    if is_max {
        r = reduce_max(id, v);
    } else {
        r = reduce_sum(id, v);
    }
    if li == 0u {
        if p.op == 1u { r = r / f32(p.len); }
        out[o] = r;
    }
}
