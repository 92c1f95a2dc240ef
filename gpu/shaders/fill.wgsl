// Constant and ramp fills.

struct Params {
    n: u32,
    _pad: u32,
    start: f32,
    step: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn full(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.n { return; }
    out[i] = p.start;
}

@compute @workgroup_size(256)
fn arange(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.n { return; }
    out[i] = p.start + f32(i) * p.step;
}
