// Element type conversion by value. Buffers are viewed as raw 32-bit words.

struct Params {
    n: u32,
    // 0: f32, 1: i32, 2: u32
    src_type: u32,
    dst_type: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(256)
fn convert(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.n { return; }
    let w = a[i];
    // Through f32 as the common value: exact for the ints a mask or an
    // index holds (|v| < 2^24).
    var v: f32;
    switch p.src_type {
        case 0u: { v = bitcast<f32>(w); }
        case 1u: { v = f32(bitcast<i32>(w)); }
        default: { v = f32(w); }
    }
    var r: u32;
    switch p.dst_type {
        case 0u: { r = bitcast<u32>(v); }
        // Between the int types the bits carry over; from floats, truncate.
        case 1u: { r = select(w, bitcast<u32>(i32(v)), p.src_type == 0u); }
        default: { r = select(w, u32(max(v, 0.0)), p.src_type == 0u); }
    }
    out[i] = r;
}
