//! Matrix products and fused attention (`shaders/matmul*.wgsl`,
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
    activation: u32,
    has_residual: u32,
    _pad: [u32; 2],
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

/// Which matmul kernel a [`Session`] runs (see
/// [`Session::set_matmul_kernel`]). Every variant computes the same
/// product; they differ in speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatmulKernel {
    /// Chosen per call from the operands' types and the product's shape.
    #[default]
    Auto,
    /// matmul.wgsl: 64x64 output tiles, 4x4 per invocation, scalar loads.
    /// Takes every shape and half-storage operands.
    Tile64,
    /// matmul_vec4.wgsl, 128x128 output tiles, 8x8 per invocation, vec4
    /// loads. f32 A and B, k a multiple of 4 (and n, when B is [k, n]);
    /// other calls fall back to [`MatmulKernel::Tile64`].
    Tile128,
    /// matmul_vec4.wgsl with 64-row tiles (64x128), for products with too
    /// few 128x128 tiles to fill the GPU; falls back like `Tile128`.
    Tile64x128,
}

impl MatmulKernel {
    pub const ALL: [MatmulKernel; 4] = [
        MatmulKernel::Auto,
        MatmulKernel::Tile64,
        MatmulKernel::Tile128,
        MatmulKernel::Tile64x128,
    ];

    /// Output tile (rows, columns).
    fn tile(self) -> (usize, usize) {
        match self {
            MatmulKernel::Auto | MatmulKernel::Tile64 => (64, 64),
            MatmulKernel::Tile128 => (128, 128),
            MatmulKernel::Tile64x128 => (64, 128),
        }
    }

    fn kernel(self) -> Kernel {
        match self {
            MatmulKernel::Auto | MatmulKernel::Tile64 => Kernel::Matmul,
            MatmulKernel::Tile128 => Kernel::Matmul128,
            MatmulKernel::Tile64x128 => Kernel::Matmul64x128,
        }
    }

    /// Workgroups the variant launches for `count` m x n products.
    fn workgroups(self, m: usize, n: usize, count: usize) -> usize {
        let (tm, tn) = self.tile();
        m.div_ceil(tm) * n.div_ceil(tn) * count
    }

    /// The variant `Auto` runs for `count` f32 m x n products that the vec4
    /// kernels take. Tuned for a 132-SM GPU (H100/H200): a 128x128
    /// workgroup does 4x the work of a 64x64 one at about twice the
    /// efficiency, but only pays when there are enough of them that the
    /// last, partly filled wave is a small part of the run. So:
    /// - 128x128 from 264 workgroups (two per SM) up: 4096^2 (1024),
    ///   2048^2 and above;
    /// - else 64x128 from 66 workgroups (half the SMs) up: Kimodo's
    ///   900x3072 (360 instead of 192 128x128 workgroups, 2.7 rounds of
    ///   the SMs instead of 1.45) and 900x1024 (120, against 64 that would
    ///   leave half the SMs idle). 64-row tiles also waste less of M = 900
    ///   (15 tiles for 14.06) than 128-row ones (8 for 7.03);
    /// - else (small products, latency-bound) 64x64, which gives the most
    ///   workgroups.
    fn choose(m: usize, n: usize, count: usize) -> MatmulKernel {
        const SMS: usize = 132;
        if MatmulKernel::Tile128.workgroups(m, n, count) >= 2 * SMS {
            MatmulKernel::Tile128
        } else if MatmulKernel::Tile64x128.workgroups(m, n, count) >= SMS / 2 {
            MatmulKernel::Tile64x128
        } else {
            MatmulKernel::Tile64
        }
    }
}

/// An activation applied in a matmul's epilogue (see
/// [`Session::linear_fused`]); each is the [`UnaryOp`] of the same name,
/// formula for formula.
///
/// [`UnaryOp`]: crate::UnaryOp
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// GELU with erf (PyTorch's default `approximate='none'`).
    Gelu,
    /// GELU's tanh approximation (`approximate='tanh'`).
    GeluTanh,
    Silu,
    Relu,
}

impl Activation {
    pub const ALL: [Activation; 4] = [
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Relu,
    ];

    /// The elementwise op it fuses.
    pub fn unary(self) -> crate::UnaryOp {
        match self {
            Activation::Gelu => crate::UnaryOp::Gelu,
            Activation::GeluTanh => crate::UnaryOp::GeluTanh,
            Activation::Silu => crate::UnaryOp::Silu,
            Activation::Relu => crate::UnaryOp::Relu,
        }
    }

    /// matmul_common.wgsl's code.
    fn code(self) -> u32 {
        match self {
            Activation::Gelu => 1,
            Activation::GeluTanh => 2,
            Activation::Silu => 3,
            Activation::Relu => 4,
        }
    }
}

/// What a matmul applies to each output as it stores it.
#[derive(Clone, Copy, Default)]
struct Epilogue<'a> {
    bias: Option<&'a Tensor>,
    activation: Option<Activation>,
    residual: Option<&'a Tensor>,
}
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
        self.gemm(
            a,
            b,
            Epilogue::default(),
            out_shape,
            (m, n, k),
            &batch,
            ba,
            bb,
            false,
        )
    }

    /// Which matmul kernel this session's `matmul` and `linear` calls run
    /// ([`MatmulKernel::Auto`] unless set): for benchmarks and tests.
    pub fn set_matmul_kernel(&mut self, kernel: MatmulKernel) {
        self.matmul_kernel = kernel;
    }

    /// `x @ weight^T + bias` for x [..., in], weight [out, in], bias [out].
    pub fn linear(
        &mut self,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Tensor, TensorError> {
        self.linear_fused(x, weight, bias, None, None)
    }

    /// `activation(x @ weight^T + bias) + residual` in one kernel: the
    /// activation and the residual add happen as the product is stored,
    /// saving a pass over the output each. `residual` is f32 with the
    /// output's shape, [..., out].
    pub fn linear_fused(
        &mut self,
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        activation: Option<Activation>,
        residual: Option<&Tensor>,
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
        // The leading axes' product, not numel / in: with in = 0 that is 0
        // while the output [..., out] is not empty (bias and activation
        // still fill it).
        let rows: usize = sx[..sx.len() - 1].iter().product();
        let mut out_shape = sx[..sx.len() - 1].to_vec();
        out_shape.push(out_f);
        if let Some(residual) = residual {
            residual.require(DType::F32, "linear's residual")?;
            if residual.shape() != out_shape {
                return Err(TensorError::Shape(format!(
                    "linear's residual must have the output's shape {out_shape:?}, got {:?}",
                    residual.shape()
                )));
            }
        }
        let epilogue = Epilogue {
            bias,
            activation,
            residual,
        };
        self.gemm(
            x,
            weight,
            epilogue,
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
        epilogue: Epilogue,
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
        let Epilogue {
            bias,
            activation,
            residual,
        } = epilogue;
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
            activation: activation.map_or(0, Activation::code),
            has_residual: residual.is_some() as u32,
            _pad: [0; 2],
            batch_shape,
            a_strides: stride(batch_a, m * k),
            b_strides: stride(batch_b, k * n),
        };
        // The vec4 kernels read A along k and B along its contiguous axis
        // (k when transposed, else n) four f32s at a time: whole buffers
        // from offset 0 (sizes rounded up to 256 bytes), so with those
        // lengths multiples of 4 every vec4 is aligned and either wholly
        // inside the operand's data or wholly past a guard.
        let vec4 = a.dtype() == DType::F32
            && b.dtype() == DType::F32
            && k % 4 == 0
            && (trans_b || n % 4 == 0);
        let variant = match self.matmul_kernel {
            _ if !vec4 => MatmulKernel::Tile64,
            MatmulKernel::Auto => MatmulKernel::choose(m, n, count.max(1)),
            forced => forced,
        };
        // Unused bindings: the bias slot, when only a residual is given,
        // holds A's buffer (never read: has_bias is 0).
        let mut inputs = vec![a.buffer(), b.buffer()];
        match (bias, residual) {
            (Some(bias), _) => inputs.push(bias.buffer()),
            (None, Some(_)) => inputs.push(a.buffer()),
            (None, None) => {}
        }
        if let Some(residual) = residual {
            inputs.push(residual.buffer());
        }
        let (tm, tn) = variant.tile();
        let groups = [
            n.div_ceil(tn) as u32,
            m.div_ceil(tm) as u32,
            count.max(1) as u32,
        ];
        if groups[0] > 65535 || groups[1] > 65535 {
            return Err(TensorError::Shape(format!(
                "matmul: a {m}x{n} result is larger than this kernel tiles"
            )));
        }
        if variant != MatmulKernel::Tile64 {
            // The vec4 kernels run without runtime bounds checks.
            in_reach(&params, a, b, epilogue, &out)?;
        }
        let work = 2.0 * (m * n * k) as f64 * count.max(1) as f64;
        self.dispatch_work(
            variant.kernel(),
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

/// Checks that every index a matmul kernel guards its loads and stores by
/// (rows < m, columns < n, depth < k, within each batch's offsets) lies
/// inside the buffers bound: the condition under which the vec4 kernels,
/// built without runtime bounds checks, read and write only their own
/// buffers. Shapes were validated already, so this holds by construction;
/// checking it keeps that argument here rather than spread over callers.
fn in_reach(
    params: &Matmul,
    a: &Tensor,
    b: &Tensor,
    epilogue: Epilogue,
    out: &Tensor,
) -> Result<(), TensorError> {
    let (m, n, k) = (params.m as u64, params.n as u64, params.k as u64);
    let rank = params.batch_rank as usize;
    let last = |strides: &[u32; 4]| -> u64 {
        (0..rank)
            .map(|d| (params.batch_shape[d] as u64 - 1) * strides[d] as u64)
            .sum()
    };
    let count: u64 = params.batch_shape[..rank]
        .iter()
        .map(|&d| d as u64)
        .product();
    let words = |t: &Tensor| t.buffer().size() / 4;
    // f32 elements: one word each; a half bias: two per word.
    let mut fits = last(&params.a_strides) + m * k <= words(a)
        && last(&params.b_strides) + k * n <= words(b)
        && count * m * n <= words(out);
    if let Some(bias) = epilogue.bias {
        let per_word = if bias.dtype().is_half() { 2 } else { 1 };
        fits &= n.div_ceil(per_word) <= words(bias);
    }
    if let Some(residual) = epilogue.residual {
        fits &= count * m * n <= words(residual);
    }
    // The shader forms its indices in u32, including those of a partial
    // tile's rows and columns past m and n (guarded, never used): every
    // one must be exact, not wrapped, for the guards to mean anything.
    let overhang = 128 * (k + n + 1);
    fits &= [
        last(&params.a_strides) + m * k,
        last(&params.b_strides) + k * n,
        count * m * n,
    ]
    .iter()
    .all(|&end| end + overhang <= u32::MAX as u64);
    if fits {
        Ok(())
    } else {
        Err(TensorError::Device(format!(
            "matmul {m}x{n}x{k}: an index would pass a buffer's end (a bug in the host)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::MatmulKernel::{self, Tile128, Tile64, Tile64x128};

    #[test]
    fn auto_fills_a_132_sm_gpu() {
        // Kimodo's linears (900 tokens): too few 128x128 tiles.
        assert_eq!(MatmulKernel::choose(900, 3072, 1), Tile64x128);
        assert_eq!(MatmulKernel::choose(900, 4096, 1), Tile64x128);
        assert_eq!(MatmulKernel::choose(900, 1024, 1), Tile64x128);
        // Large squares: enough 128x128 tiles for two rounds of the SMs.
        assert_eq!(MatmulKernel::choose(4096, 4096, 1), Tile128);
        assert_eq!(MatmulKernel::choose(2048, 2048, 2), Tile128);
        // Small products: the most workgroups.
        assert_eq!(MatmulKernel::choose(256, 256, 1), Tile64);
        assert_eq!(MatmulKernel::choose(33, 64, 3), Tile64);
    }
}
