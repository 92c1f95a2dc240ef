// Workgroup-wide reductions for the row kernels (one 256-invocation
// workgroup per row) with subgroup operations: each subgroup reduces in
// registers, its lane 0 leaves one partial per subgroup in workgroup memory,
// and after one barrier every subgroup folds all the partials again with a
// subgroup operation (lane j takes partials j, j + size, ...), so every
// invocation ends with the total. Two barriers per reduction instead of
// rows.wgsl's ten; same names as there, and the host prepends this file
// instead where the device has `Features::SUBGROUP`. Every invocation must
// call the reductions together.
//
// (No `enable subgroups;`: naga 30 rejects the directive as unimplemented and
// gates the builtins on the device feature instead.)

struct Ids {
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
    @builtin(subgroup_id) sub: u32,
    @builtin(num_subgroups) subs: u32,
}

fn group_index(id: Ids) -> u32 {
    return id.wg.x + id.wg.y * id.groups.x;
}

// One partial per subgroup. Sized for one per invocation, so no subgroup
// size can overrun it (wgpu allows 4..128; 256 / 4 would need 64).
var<workgroup> part: array<f32, 256>;

// Both steps rely on full subgroups (lane 0 present, lanes 0..size-1 all
// taking part in the fold): 256 is a multiple of every subgroup size, so
// none is partial. The fold reads `subs / size` words per lane (one on a
// 32-wide GPU, four on lavapipe's 8): every lane reading all `subs` itself
// measured slower than the ten-barrier tree on lavapipe, this 1.3-1.9x
// faster. The trailing barrier keeps the next reduction's writes behind
// these reads.

fn reduce_max(id: Ids, v: f32) -> f32 {
    let m = subgroupMax(v);
    if id.lane == 0u { part[id.sub] = m; }
    workgroupBarrier();
    var r = part[0];
    for (var i = id.lane; i < id.subs; i += id.size) { r = max(r, part[i]); }
    r = subgroupMax(r);
    workgroupBarrier();
    return r;
}

fn reduce_sum(id: Ids, v: f32) -> f32 {
    let s = subgroupAdd(v);
    if id.lane == 0u { part[id.sub] = s; }
    workgroupBarrier();
    var r = 0.0;
    for (var i = id.lane; i < id.subs; i += id.size) { r += part[i]; }
    r = subgroupAdd(r);
    workgroupBarrier();
    return r;
}
