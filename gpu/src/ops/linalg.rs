//! Matrix products and fused attention (`shaders/matmul.wgsl`,
//! `shaders/attention.wgsl`).

use bytemuck::{Pod, Zeroable};

use crate::kernels::Kernel;
use crate::shape::{self, grid};
use crate::{DType, Session, Tensor, TensorError};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Matmul {
    m: u32,
    n: u32,
    k: u32,
    trans_b: u32,
    has_bias: u32,
    batch_rank: u32,
    alpha: f32,
    types: u32,
    batch_shape: [u32; 4],
    a_strides: [u32; 4],
    b_strides: [u32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Attention {
    heads: u32,
    lq: u32,
    lk: u32,
    d: u32,
    dv: u32,
    rows: u32,
    scale: f32,
    mask_kind: u32,
    mask_strides: [u32; 4],
    /// Query tiles per (batch, head); 0 takes the one-row-per-workgroup path.
    q_tiles: u32,
    _pad: [u32; 3],
}

/// Output tile edge of the matmul kernel.
const TILE: usize = 64;
/// Largest head dimension the attention kernel holds.
const MAX_HEAD_DIM: usize = 256;
/// Largest head dimension of attention's tiled (flash) path, and the
/// query rows it takes per workgroup (`BQ`, `DMAX` in attention.wgsl);
/// larger heads take the one-row-per-workgroup path.
const TILED_HEAD_DIM: usize = 128;
const QUERY_TILE: usize = 16;
/// Batch axes the matmul kernel indexes; workgroups along z.
const MAX_BATCH_RANK: usize = 4;
const MAX_BATCH: usize = 65535;

/// Matmul operands may be f32 or half storage (weights kept in f16/bf16);
/// the product is f32.
fn floats(t: &Tensor, what: &str) -> Result<(), TensorError> {
    if t.dtype() == DType::F32 || t.dtype().is_half() {
        return Ok(());
    }
    Err(TensorError::DType(format!(
        "{what} takes f32, f16 or bf16 tensors, got {} {:?}",
        t.dtype(),
        t.shape()
    )))
}

impl Session {
    /// [..., m, k] @ [..., k, n] with broadcast leading axes; the operands
    /// may be f32, f16 or bf16, the result is f32.
    pub fn matmul(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor, TensorError> {
        floats(a, "matmul")?;
        floats(b, "matmul")?;
        let (sa, sb) = (a.shape(), b.shape());
        if sa.len() < 2 || sb.len() < 2 {
            return Err(TensorError::Shape(format!(
                "matmul takes tensors of rank 2 or more, got {sa:?} and {sb:?}"
            )));
        }
        let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        if k != k2 {
            return Err(TensorError::Shape(format!(
                "matmul: inner dimensions differ: {sa:?} @ {sb:?}"
            )));
        }
        let (ba, bb) = (&sa[..sa.len() - 2], &sb[..sb.len() - 2]);
        let batch = shape::broadcast(ba, bb).ok_or_else(|| {
            TensorError::Shape(format!(
                "matmul: batch axes of {sa:?} and {sb:?} do not broadcast"
            ))
        })?;
        let mut out_shape = batch.clone();
        out_shape.extend([m, n]);
        self.gemm(a, b, None, out_shape, (m, n, k), &batch, ba, bb, false)
    }

    /// `x @ weight^T + bias` for x [..., in], weight [out, in], bias [out].
    pub fn linear(
        &mut self,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Tensor, TensorError> {
        floats(x, "linear")?;
        floats(weight, "linear's weight")?;
        let (sx, sw) = (x.shape(), weight.shape());
        if sx.is_empty() || sw.len() != 2 || sw[1] != sx[sx.len() - 1] {
            return Err(TensorError::Shape(format!(
                "linear takes x [..., in] and weight [out, in], got {sx:?} and {sw:?}"
            )));
        }
        let (out_f, in_f) = (sw[0], sw[1]);
        if let Some(bias) = bias {
            floats(bias, "linear's bias")?;
            if bias.shape() != [out_f] {
                return Err(TensorError::Shape(format!(
                    "linear's bias must be [{out_f}], got {:?}",
                    bias.shape()
                )));
            }
        }
        let rows = x.numel() / in_f.max(1);
        let mut out_shape = sx[..sx.len() - 1].to_vec();
        out_shape.push(out_f);
        self.gemm(
            x,
            weight,
            bias,
            out_shape,
            (rows, out_f, in_f),
            &[],
            &[],
            &[],
            true,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &mut self,
        a: &Tensor,
        b: &Tensor,
        bias: Option<&Tensor>,
        out_shape: Vec<usize>,
        (m, n, k): (usize, usize, usize),
        batch: &[usize],
        batch_a: &[usize],
        batch_b: &[usize],
        trans_b: bool,
    ) -> Result<Tensor, TensorError> {
        // Fold leading batch axes that both operands share contiguously
        // would be an optimisation; the kernel indexes up to four.
        if batch.len() > MAX_BATCH_RANK {
            return Err(TensorError::Shape(format!(
                "matmul takes {MAX_BATCH_RANK} batch axes at most, got {batch:?}"
            )));
        }
        let count: usize = batch.iter().product();
        if count > MAX_BATCH {
            return Err(TensorError::Shape(format!(
                "matmul takes {MAX_BATCH} matrices per call at most, got {count}"
            )));
        }
        let out = self.alloc(out_shape, DType::F32)?;
        if out.numel() == 0 {
            return Ok(out);
        }
        let stride = |own: &[usize], size: usize| -> [u32; 4] {
            let mut s = [0u32; 4];
            for (i, v) in shape::broadcast_strides(own, batch).into_iter().enumerate() {
                s[i] = v * size as u32;
            }
            s
        };
        let mut batch_shape = [1u32; 4];
        for (i, d) in batch.iter().enumerate() {
            batch_shape[i] = *d as u32;
        }
        let params = Matmul {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            trans_b: trans_b as u32,
            has_bias: bias.is_some() as u32,
            batch_rank: batch.len() as u32,
            alpha: 1.0,
            types: a.dtype().code()
                | b.dtype().code() << 4
                | bias.map_or(0, |t| t.dtype().code()) << 8,
            batch_shape,
            a_strides: stride(batch_a, m * k),
            b_strides: stride(batch_b, k * n),
        };
        let mut inputs = vec![a.buffer(), b.buffer()];
        if let Some(bias) = bias {
            inputs.push(bias.buffer());
        }
        let groups = [
            n.div_ceil(TILE) as u32,
            m.div_ceil(TILE) as u32,
            count.max(1) as u32,
        ];
        if groups[0] > 65535 || groups[1] > 65535 {
            return Err(TensorError::Shape(format!(
                "matmul: a {m}x{n} result is larger than this kernel tiles"
            )));
        }
        let work = 2.0 * (m * n * k) as f64 * count.max(1) as f64;
        self.dispatch_work(
            Kernel::Matmul,
            bytemuck::bytes_of(&params),
            &inputs,
            out.buffer(),
            groups,
            work,
        )?;
        Ok(out)
    }

    /// softmax(q k^T * scale + mask) v over [batch, heads, len, dim] tensors.
    pub fn attention(
        &mut self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        scale: Option<f32>,
    ) -> Result<Tensor, TensorError> {
        for (t, name) in [(q, "q"), (k, "k"), (v, "v")] {
            t.require(DType::F32, &format!("attention's {name}"))?;
            if t.shape().len() != 4 {
                return Err(TensorError::Shape(format!(
                    "attention's {name} must be [batch, heads, len, dim], got {:?}",
                    t.shape()
                )));
            }
        }
        let (sq, sk, sv) = (q.shape(), k.shape(), v.shape());
        let (b, h, lq, d) = (sq[0], sq[1], sq[2], sq[3]);
        let (lk, dv) = (sk[2], sv[3]);
        if sk[..2] != [b, h] || sv[..2] != [b, h] || sk[3] != d || sv[2] != lk {
            return Err(TensorError::Shape(format!(
                "attention: q {sq:?}, k {sk:?} and v {sv:?} do not agree (k [b, h, lk, d], v [b, h, lk, dv])"
            )));
        }
        if d > MAX_HEAD_DIM || dv > MAX_HEAD_DIM {
            return Err(TensorError::Shape(format!(
                "attention takes head dimensions up to {MAX_HEAD_DIM}, got {d} and {dv}"
            )));
        }
        let scores = [b, h, lq, lk];
        let (mask_kind, mask_strides) = match mask {
            None => (0, [0; 4]),
            Some(m) => {
                m.not_half("attention's mask")?;
                if m.shape().len() > 4
                    || shape::broadcast(m.shape(), &scores).as_deref() != Some(&scores[..])
                {
                    return Err(TensorError::Shape(format!(
                        "attention's mask {:?} does not broadcast to the scores {scores:?}",
                        m.shape()
                    )));
                }
                let s = shape::broadcast_strides(m.shape(), &scores);
                let kind = if m.dtype() == DType::F32 { 2 } else { 1 };
                (kind, [s[0], s[1], s[2], s[3]])
            }
        };
        let out = self.alloc(vec![b, h, lq, dv], DType::F32)?;
        let rows = b * h * lq;
        if rows == 0 || dv == 0 {
            return Ok(out);
        }
        // Heads up to 128 wide go through query tiles that read K and V
        // once per 16 rows; wider ones (and d = 0, which has no K chunk to
        // order the tile's barriers) one row per workgroup.
        let tiled = (1..=TILED_HEAD_DIM).contains(&d) && dv <= TILED_HEAD_DIM;
        let q_tiles = if tiled { lq.div_ceil(QUERY_TILE) } else { 0 };
        let params = Attention {
            heads: h as u32,
            lq: lq as u32,
            lk: lk as u32,
            d: d as u32,
            dv: dv as u32,
            rows: rows as u32,
            scale: scale.unwrap_or(1.0 / (d.max(1) as f32).sqrt()),
            mask_kind,
            mask_strides,
            q_tiles: q_tiles as u32,
            _pad: [0; 3],
        };
        let mut inputs = vec![q.buffer(), k.buffer(), v.buffer()];
        if let Some(m) = mask {
            inputs.push(m.buffer());
        }
        // Scores and the weighted sum: two multiply-adds per (q, k) pair
        // per dimension.
        let work = 2.0 * rows as f64 * lk as f64 * (d + dv) as f64;
        self.dispatch_work(
            Kernel::Attention,
            bytemuck::bytes_of(&params),
            &inputs,
            out.buffer(),
            grid(if tiled { b * h * q_tiles } else { rows }),
            work,
        )?;
        Ok(out)
    }
}
