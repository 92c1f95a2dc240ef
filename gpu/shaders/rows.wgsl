// Workgroup-wide reductions for the row kernels (one 256-invocation
// workgroup per row). WGSL has no includes: the host prepends this file to
// softmax.wgsl and norm.wgsl. Every invocation must call these together.

var<workgroup> part: array<f32, 256>;

fn reduce_max(li: u32, v: f32) -> f32 {
    part[li] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if li < s { part[li] = max(part[li], part[li + s]); }
        workgroupBarrier();
    }
    let r = part[0];
    workgroupBarrier();
    return r;
}

fn reduce_sum(li: u32, v: f32) -> f32 {
    part[li] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if li < s { part[li] = part[li] + part[li + s]; }
        workgroupBarrier();
    }
    let r = part[0];
    workgroupBarrier();
    return r;
}
