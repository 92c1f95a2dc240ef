// Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11), the
// generator of cuRAND and JAX. Element i depends only on (seed, i), so the
// stream is the same on every adapter and for every launch shape.

struct Params {
    n: u32,
    // 0: uniform [0, 1); 1: standard normal
    kind: u32,
    seed_lo: u32,
    seed_hi: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// (hi, lo) of the 64-bit product: WGSL has no 64-bit integers.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let ll = a0 * b0;
    let lh = a0 * b1;
    let hl = a1 * b0;
    let hh = a1 * b1;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox(counter: vec4<u32>, seed: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = seed;
    for (var r = 0u; r < 10u; r++) {
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// The top 24 bits as a float in [0, 1): exact in f32.
fn unit(x: u32) -> f32 {
    return f32(x >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(256)
fn generate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= p.n { return; }
    let seed = vec2<u32>(p.seed_lo, p.seed_hi);
    if p.kind == 0u {
        let r = philox(vec4<u32>(i / 4u, 0u, 0u, 0u), seed);
        out[i] = unit(r[i % 4u]);
    } else {
        // Box-Muller on one block per pair of outputs: u1 in (0, 1] keeps
        // the log finite.
        let r = philox(vec4<u32>(i / 2u, 0u, 0u, 0u), seed);
        let u1 = unit(r.x) + 1.0 / 16777216.0;
        let u2 = unit(r.y);
        let radius = sqrt(-2.0 * log(u1));
        let theta = 6.2831853071795865 * u2;
        out[i] = select(radius * sin(theta), radius * cos(theta), i % 2u == 0u);
    }
}
