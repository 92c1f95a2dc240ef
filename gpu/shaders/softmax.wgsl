// Softmax over the last axis: one workgroup per row, max-subtracted for
// range safety. `Ids`, `group_index`, `reduce_max`, `reduce_sum`: rows.wgsl
// or rows_subgroup.wgsl, prepended by the host.

struct Params {
    rows: u32,
    len: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn softmax(id: Ids) {
    let li = id.li;
    let row = group_index(id);
    if row >= p.rows { return; }
    let base = row * p.len;
    var m = -3.4028235e38;
    for (var j = li; j < p.len; j += 256u) { m = max(m, a[base + j]); }
    m = reduce_max(id, m);
    var s = 0.0;
    for (var j = li; j < p.len; j += 256u) { s += exp(a[base + j] - m); }
    s = reduce_sum(id, s);
    for (var j = li; j < p.len; j += 256u) { out[base + j] = exp(a[base + j] - m) / s; }
}
