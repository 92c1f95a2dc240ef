// Workgroup-wide reductions for the row kernels (one 256-invocation
// workgroup per row), through workgroup memory alone: the fallback for
// adapters without subgroup operations. rows_subgroup.wgsl defines the same
// names with subgroup operations. WGSL has no includes: the host prepends
// one of the two to softmax.wgsl, norm.wgsl and reduce.wgsl. Every
// invocation must call the reductions together.

// The entry points' builtins, as one struct: the subgroup variant adds the
// subgroup builtins, which a module may only name where the device has the
// feature, so the kernels themselves are the same text for both.
struct Ids {
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
}

// The workgroup's index in a grid that may spill into y (see shape::grid).
fn group_index(id: Ids) -> u32 {
    return id.wg.x + id.wg.y * id.groups.x;
}

var<workgroup> part: array<f32, 256>;

fn reduce_max(id: Ids, v: f32) -> f32 {
    let li = id.li;
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

fn reduce_sum(id: Ids, v: f32) -> f32 {
    let li = id.li;
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
