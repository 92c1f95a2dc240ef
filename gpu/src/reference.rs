//! Plain CPU implementations of every tensor op, in f64 where it matters:
//! the yardstick the GPU kernels are tested and benchmarked against. Slow
//! on purpose (no blocking, no SIMD): obviously right beats fast here.

use super::shape::{broadcast, broadcast_strides, strides};
use super::{BinaryOp, ReduceOp, UnaryOp};

/// A row-major f32 array and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
}

impl Array {
    pub fn new(data: Vec<f32>, shape: &[usize]) -> Array {
        assert_eq!(
            data.len(),
            shape.iter().product::<usize>(),
            "data does not fill {shape:?}"
        );
        Array {
            data,
            shape: shape.to_vec(),
        }
    }

    fn map(&self, f: impl Fn(f64) -> f64) -> Array {
        Array::new(
            self.data.iter().map(|&x| f(x as f64) as f32).collect(),
            &self.shape,
        )
    }
}

pub fn unary(x: &Array, op: UnaryOp) -> Array {
    x.map(|v| match op {
        UnaryOp::Gelu => 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2)),
        UnaryOp::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh())
        }
        UnaryOp::Silu => v / (1.0 + (-v).exp()),
        UnaryOp::Relu => v.max(0.0),
        UnaryOp::Tanh => v.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        UnaryOp::Exp => v.exp(),
        UnaryOp::Log => v.ln(),
        UnaryOp::Sqrt => v.sqrt(),
        UnaryOp::Rsqrt => 1.0 / v.sqrt(),
        UnaryOp::Sin => v.sin(),
        UnaryOp::Cos => v.cos(),
        UnaryOp::Neg => -v,
        UnaryOp::Abs => v.abs(),
    })
}

pub fn scale(x: &Array, factor: f32, offset: f32) -> Array {
    x.map(|v| v * factor as f64 + offset as f64)
}

pub fn clamp(x: &Array, lo: f32, hi: f32) -> Array {
    x.map(|v| v.clamp(lo as f64, hi as f64))
}

/// Index of output element `i` in an operand read through `strides`.
fn offset(i: usize, out: &[usize], strides: &[u32]) -> usize {
    let mut rest = i;
    let mut o = 0;
    for d in (0..out.len()).rev() {
        o += (rest % out[d]) * strides[d] as usize;
        rest /= out[d];
    }
    o
}

pub fn binary(a: &Array, b: &Array, op: BinaryOp) -> Array {
    let out = broadcast(&a.shape, &b.shape).expect("shapes broadcast");
    let (sa, sb) = (
        broadcast_strides(&a.shape, &out),
        broadcast_strides(&b.shape, &out),
    );
    let n = out.iter().product();
    let data = (0..n)
        .map(|i| {
            let x = a.data[offset(i, &out, &sa)] as f64;
            let y = b.data[offset(i, &out, &sb)] as f64;
            (match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div => x / y,
                BinaryOp::Maximum => x.max(y),
                BinaryOp::Minimum => x.min(y),
                BinaryOp::Pow => x.powf(y),
                // IEEE's: atan2(+-0, +0) = +-0 and atan2(+-0, -0) = +-pi,
                // where the GPU's is indeterminate.
                BinaryOp::Atan2 => x.atan2(y),
            }) as f32
        })
        .collect();
    Array::new(data, &out)
}

pub fn where_(cond: &[bool], cond_shape: &[usize], a: &Array, b: &Array) -> Array {
    let out = broadcast(&a.shape, &b.shape)
        .and_then(|s| broadcast(&s, cond_shape))
        .expect("shapes broadcast");
    let (sa, sb, sc) = (
        broadcast_strides(&a.shape, &out),
        broadcast_strides(&b.shape, &out),
        broadcast_strides(cond_shape, &out),
    );
    let n = out.iter().product();
    let data = (0..n)
        .map(|i| {
            if cond[offset(i, &out, &sc)] {
                a.data[offset(i, &out, &sa)]
            } else {
                b.data[offset(i, &out, &sb)]
            }
        })
        .collect();
    Array::new(data, &out)
}

/// Batched [..., m, k] @ [..., k, n] with broadcast batch axes, f64 sums.
pub fn matmul(a: &Array, b: &Array) -> Array {
    let (ra, rb) = (a.shape.len(), b.shape.len());
    let (m, k, n) = (a.shape[ra - 2], a.shape[ra - 1], b.shape[rb - 1]);
    let batch = broadcast(&a.shape[..ra - 2], &b.shape[..rb - 2]).expect("batch axes broadcast");
    let (sa, sb) = (
        broadcast_strides(&a.shape[..ra - 2], &batch),
        broadcast_strides(&b.shape[..rb - 2], &batch),
    );
    let count: usize = batch.iter().product();
    let mut data = vec![0f32; count * m * n];
    for z in 0..count {
        let ao = offset(z, &batch, &sa) * m * k;
        let bo = offset(z, &batch, &sb) * k * n;
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0f64;
                for t in 0..k {
                    acc += a.data[ao + i * k + t] as f64 * b.data[bo + t * n + j] as f64;
                }
                data[z * m * n + i * n + j] = acc as f32;
            }
        }
    }
    let mut shape = batch;
    shape.extend([m, n]);
    Array::new(data, &shape)
}

/// x @ w^T + bias for x [..., in], w [out, in].
pub fn linear(x: &Array, w: &Array, bias: Option<&Array>) -> Array {
    let (out_f, in_f) = (w.shape[0], w.shape[1]);
    // Leading axes, not len / in: with in = 0 the output still has rows.
    let rows: usize = x.shape[..x.shape.len() - 1].iter().product();
    let mut data = vec![0f32; rows * out_f];
    for r in 0..rows {
        for o in 0..out_f {
            let mut acc = bias.map_or(0.0, |b| b.data[o] as f64);
            for t in 0..in_f {
                acc += x.data[r * in_f + t] as f64 * w.data[o * in_f + t] as f64;
            }
            data[r * out_f + o] = acc as f32;
        }
    }
    let mut shape = x.shape[..x.shape.len() - 1].to_vec();
    shape.push(out_f);
    Array::new(data, &shape)
}

fn rows(x: &Array) -> impl Iterator<Item = &[f32]> {
    let len = *x.shape.last().unwrap_or(&1);
    x.data.chunks(len.max(1))
}

pub fn softmax(x: &Array) -> Array {
    let mut data = Vec::with_capacity(x.data.len());
    for row in rows(x) {
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let s: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
        data.extend(row.iter().map(|&v| ((v as f64 - m).exp() / s) as f32));
    }
    Array::new(data, &x.shape)
}

pub fn layer_norm(x: &Array, weight: Option<&Array>, bias: Option<&Array>, eps: f32) -> Array {
    let mut data = Vec::with_capacity(x.data.len());
    for row in rows(x) {
        let n = row.len() as f64;
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let inv = 1.0 / (var + eps as f64).sqrt();
        data.extend(row.iter().enumerate().map(|(j, &v)| {
            let mut y = (v as f64 - mean) * inv;
            if let Some(w) = weight {
                y *= w.data[j] as f64;
            }
            if let Some(b) = bias {
                y += b.data[j] as f64;
            }
            y as f32
        }));
    }
    Array::new(data, &x.shape)
}

pub fn rms_norm(x: &Array, weight: Option<&Array>, eps: f32) -> Array {
    let mut data = Vec::with_capacity(x.data.len());
    for row in rows(x) {
        let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / row.len() as f64;
        let inv = 1.0 / (ms + eps as f64).sqrt();
        data.extend(
            row.iter()
                .enumerate()
                .map(|(j, &v)| (v as f64 * inv * weight.map_or(1.0, |w| w.data[j] as f64)) as f32),
        );
    }
    Array::new(data, &x.shape)
}

pub fn reduce(x: &Array, op: ReduceOp, axis: usize, keep_dim: bool) -> Array {
    let s = &x.shape;
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    let len = s[axis];
    let mut data = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let vals = (0..len).map(|j| x.data[(o * len + j) * inner + i] as f64);
            data.push(match op {
                ReduceOp::Sum => vals.sum::<f64>(),
                ReduceOp::Mean => vals.sum::<f64>() / len as f64,
                ReduceOp::Max => vals.fold(f64::NEG_INFINITY, f64::max),
            } as f32);
        }
    }
    let mut shape = s.clone();
    if keep_dim {
        shape[axis] = 1;
    } else {
        shape.remove(axis);
    }
    Array::new(data, &shape)
}

/// A mask as the attention op takes it.
pub enum Mask<'a> {
    /// Keep keys where true; shape broadcasts to the scores.
    Keep(&'a [bool], &'a [usize]),
    /// Added to the scores.
    Additive(&'a Array),
}

/// softmax(q k^T * scale + mask) v; rows with every key masked are zeros.
pub fn attention(
    q: &Array,
    k: &Array,
    v: &Array,
    mask: Option<Mask<'_>>,
    scale: Option<f32>,
) -> Array {
    let (b, h, lq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
    let (lk, dv) = (k.shape[2], v.shape[3]);
    let scale = scale.map_or(1.0 / (d as f64).sqrt(), |s| s as f64);
    let scores = [b, h, lq, lk];
    let mut out = vec![0f32; b * h * lq * dv];
    for bh in 0..b * h {
        for i in 0..lq {
            let mut s = vec![f64::NEG_INFINITY; lk];
            for (j, sj) in s.iter_mut().enumerate() {
                let flat = (bh * lq + i) * lk + j;
                let keep = match &mask {
                    None => true,
                    Some(Mask::Keep(m, shape)) => {
                        m[offset(flat, &scores, &broadcast_strides(shape, &scores))]
                    }
                    Some(Mask::Additive(_)) => true,
                };
                if !keep {
                    continue;
                }
                let mut dot = 0f64;
                for e in 0..d {
                    dot +=
                        q.data[(bh * lq + i) * d + e] as f64 * k.data[(bh * lk + j) * d + e] as f64;
                }
                *sj = dot * scale;
                if let Some(Mask::Additive(m)) = &mask {
                    *sj +=
                        m.data[offset(flat, &scores, &broadcast_strides(&m.shape, &scores))] as f64;
                }
            }
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                continue;
            }
            let p: Vec<f64> = s.iter().map(|&x| (x - m).exp()).collect();
            let total: f64 = p.iter().sum();
            for e in 0..dv {
                let acc: f64 = (0..lk)
                    .map(|j| p[j] * v.data[(bh * lk + j) * dv + e] as f64)
                    .sum();
                out[(bh * lq + i) * dv + e] = (acc / total) as f32;
            }
        }
    }
    Array::new(out, &[b, h, lq, dv])
}

pub fn permute(x: &Array, dims: &[usize]) -> Array {
    let st = strides(&x.shape);
    let shape: Vec<usize> = dims.iter().map(|&d| x.shape[d]).collect();
    let src: Vec<u32> = dims.iter().map(|&d| st[d] as u32).collect();
    let n = x.data.len();
    Array::new(
        (0..n).map(|i| x.data[offset(i, &shape, &src)]).collect(),
        &shape,
    )
}

pub fn slice(x: &Array, axis: usize, start: usize, end: usize) -> Array {
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let len = x.shape[axis];
    let mut data = Vec::new();
    for o in 0..outer {
        data.extend_from_slice(&x.data[(o * len + start) * inner..(o * len + end) * inner]);
    }
    let mut shape = x.shape.clone();
    shape[axis] = end - start;
    Array::new(data, &shape)
}

pub fn concat(parts: &[&Array], axis: usize) -> Array {
    let outer: usize = parts[0].shape[..axis].iter().product();
    let inner: usize = parts[0].shape[axis + 1..].iter().product();
    let mut data = Vec::new();
    for o in 0..outer {
        for p in parts {
            let chunk = p.shape[axis] * inner;
            data.extend_from_slice(&p.data[o * chunk..(o + 1) * chunk]);
        }
    }
    let mut shape = parts[0].shape.clone();
    shape[axis] = parts.iter().map(|p| p.shape[axis]).sum();
    Array::new(data, &shape)
}

/// Negative indices count from the end; out-of-range ones give zeros.
pub fn index_select(x: &Array, axis: usize, indices: &[i64]) -> Array {
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let len = x.shape[axis] as i64;
    let mut data = Vec::new();
    for o in 0..outer {
        for &ix in indices {
            let k = if ix < 0 { ix + len } else { ix };
            if (0..len).contains(&k) {
                let at = (o * len as usize + k as usize) * inner;
                data.extend_from_slice(&x.data[at..at + inner]);
            } else {
                data.extend(std::iter::repeat_n(0.0, inner));
            }
        }
    }
    let mut shape = x.shape.clone();
    shape[axis] = indices.len();
    Array::new(data, &shape)
}

/// Values rounded to f16 and widened back, as a cast to f16 stores them:
/// nearest, saturating at the largest finite f16 (65504).
pub fn round_f16(x: &Array) -> Array {
    let max = half::f16::MAX.to_f32();
    let data = x
        .data
        .iter()
        .map(|&v| half::f16::from_f32(v.clamp(-max, max)).to_f32())
        .collect();
    Array::new(data, &x.shape)
}

/// Values rounded to bf16 (nearest even) and widened back.
pub fn round_bf16(x: &Array) -> Array {
    let data = x
        .data
        .iter()
        .map(|&v| half::bf16::from_f32(v).to_f32())
        .collect();
    Array::new(data, &x.shape)
}

/// Philox4x32-10 of one counter block under a 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let p0 = 0xD251_1F53u64 * c[0] as u64;
        let p1 = 0xCD9E_8D57u64 * c[2] as u64;
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k[0] = k[0].wrapping_add(0x9E37_79B9);
        k[1] = k[1].wrapping_add(0xBB67_AE85);
    }
    c
}

fn unit(x: u32) -> f64 {
    (x >> 8) as f64 / 16_777_216.0
}

/// The `rand` stream: element i of `seed`.
pub fn rand(n: usize, seed: u64) -> Vec<f32> {
    let key = [seed as u32, (seed >> 32) as u32];
    (0..n)
        .map(|i| unit(philox4x32_10([(i / 4) as u32, 0, 0, 0], key)[i % 4]) as f32)
        .collect()
}

/// The `randn` stream: Box-Muller over one block per pair.
pub fn randn(n: usize, seed: u64) -> Vec<f32> {
    let key = [seed as u32, (seed >> 32) as u32];
    (0..n)
        .map(|i| {
            let r = philox4x32_10([(i / 2) as u32, 0, 0, 0], key);
            let u1 = unit(r[0]) + 1.0 / 16_777_216.0;
            let u2 = unit(r[1]);
            let radius = (-2.0 * u1.ln()).sqrt();
            let theta = std::f64::consts::TAU * u2;
            (if i % 2 == 0 {
                radius * theta.cos()
            } else {
                radius * theta.sin()
            }) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123's known-answer vectors for philox4x32_10.
    #[test]
    fn philox_matches_random123() {
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([0xffffffff; 4], [0xffffffff; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }
}
