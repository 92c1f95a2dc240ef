// Reductions over one axis of a tensor viewed as [outer, len, inner]. One
// workgroup per output element; invocations stride over the axis and
// combine pairwise, which also keeps long f32 sums accurate.

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

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn reduce(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let o = wg.x + wg.y * groups.x;
    // Whole workgroups leave together, so the barriers below stay uniform.
    if o >= p.outputs { return; }
    let base = (o / p.inner) * p.len * p.inner + o % p.inner;
    let is_max = p.op == 2u;
    var v = select(0.0, -3.4028235e38, is_max);
    for (var j = li; j < p.len; j += 256u) {
        let x = a[base + j * p.inner];
        v = select(v + x, max(v, x), is_max);
    }
    part[li] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if li < s {
            part[li] = select(part[li] + part[li + s], max(part[li], part[li + s]), is_max);
        }
        workgroupBarrier();
    }
    if li == 0u {
        var r = part[0];
        if p.op == 1u { r = r / f32(p.len); }
        out[o] = r;
    }
}
