// 16-bit float storage, shared by the kernels that read or write it (the
// host prepends this file). Two elements per 32-bit word, element 2i in the
// low half: a little-endian f16/bf16 array as safetensors stores it. Type
// codes are the host's: 3 = f16, 4 = bf16. Arithmetic happens in f32.

fn half_bits(word: u32, odd: bool) -> u32 {
    return select(word & 0xffffu, word >> 16u, odd);
}

fn half_to_f32(bits: u32, kind: u32) -> f32 {
    if kind == 4u { return bitcast<f32>(bits << 16u); }
    return unpack2x16float(bits).x;
}

// Element i of a half buffer's word array, widened.
fn half_load(word: u32, i: u32, kind: u32) -> f32 {
    return half_to_f32(half_bits(word, (i & 1u) == 1u), kind);
}

fn f32_to_half(v: f32, kind: u32) -> u32 {
    if kind == 4u {
        let b = bitcast<u32>(v);
        // NaN stays a (quiet) NaN; anything else rounds to nearest even.
        if (b & 0x7fffffffu) > 0x7f800000u { return (b >> 16u) | 0x40u; }
        return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
    }
    // pack2x16float is indeterminate outside f16's finite range: saturate.
    return pack2x16float(vec2<f32>(clamp(v, -65504.0, 65504.0), 0.0)) & 0xffffu;
}
