// Element type conversion by value. Buffers are viewed as raw 32-bit words;
// half types (codes 3, 4) hold two elements per word, so when the
// destination is one, each invocation writes one word (two elements) and
// no two invocations share a word.

struct Params {
    n: u32,
    // 0: f32, 1: i32, 2: u32, 3: f16, 4: bf16
    src_type: u32,
    dst_type: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

// Source element i through f32 as the common value: exact for the ints a
// mask or an index holds (|v| < 2^24).
fn load(i: u32) -> f32 {
    switch p.src_type {
        case 0u: { return bitcast<f32>(a[i]); }
        case 1u: { return f32(bitcast<i32>(a[i])); }
        case 2u: { return f32(a[i]); }
        default: { return half_load(a[i >> 1u], i, p.src_type); }
    }
}

// Element i for a 32-bit destination. Between the int types the bits carry
// over; from floats, truncate towards zero (negative floats to u32 give 0).
fn word(i: u32) -> u32 {
    let v = load(i);
    switch p.dst_type {
        case 0u: { return bitcast<u32>(v); }
        case 1u: { return select(bitcast<u32>(i32(v)), a[i], p.src_type == 2u); }
        default: { return select(u32(max(v, 0.0)), a[i], p.src_type == 1u); }
    }
}

@compute @workgroup_size(256)
fn convert(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let w = gid.x + gid.y * groups.x * 256u;
    if p.dst_type < 3u {
        if w >= p.n { return; }
        out[w] = word(w);
        return;
    }
    let i = 2u * w;
    if i >= p.n { return; }
    var hi = 0u;
    if i + 1u < p.n { hi = f32_to_half(load(i + 1u), p.dst_type); }
    out[w] = f32_to_half(load(i), p.dst_type) | (hi << 16u);
}
