//! Constructors, elementwise maths, broadcasting binary ops, `where` and
//! casts (`shaders/elementwise.wgsl`, `fill.wgsl`, `random.wgsl`,
//! `convert.wgsl`).

use bytemuck::{Pod, Zeroable};

use super::{BinaryOp, UnaryOp};
use crate::kernels::Kernel;
use crate::shape::{self, grid_for};
use crate::{DType, Session, Tensor, TensorError};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Elementwise {
    n: u32,
    op: u32,
    rank: u32,
    contiguous: u32,
    f0: f32,
    f1: f32,
    cond_float: u32,
    _pad: u32,
    shape: [u32; 8],
    sa: [u32; 8],
    sb: [u32; 8],
    sc: [u32; 8],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Fill {
    n: u32,
    _pad: u32,
    start: f32,
    step: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Random {
    n: u32,
    kind: u32,
    seed_lo: u32,
    seed_hi: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Convert {
    n: u32,
    from: u32,
    to: u32,
    _pad: u32,
}

/// Op codes of the `unary` kernel beyond [`UnaryOp`].
const SCALE: u32 = 100;
const CLAMP: u32 = 101;

impl Session {
    pub fn from_f32(&mut self, data: &[f32], shape: &[usize]) -> Result<Tensor, TensorError> {
        self.upload(bytemuck::cast_slice(data), shape.to_vec(), DType::F32)
    }

    pub fn from_i32(&mut self, data: &[i32], shape: &[usize]) -> Result<Tensor, TensorError> {
        self.upload(bytemuck::cast_slice(data), shape.to_vec(), DType::I32)
    }

    pub fn from_u32(&mut self, data: &[u32], shape: &[usize]) -> Result<Tensor, TensorError> {
        self.upload(bytemuck::cast_slice(data), shape.to_vec(), DType::U32)
    }

    pub fn full(&mut self, shape: &[usize], value: f32) -> Result<Tensor, TensorError> {
        self.fill(shape.to_vec(), Kernel::Full, value, 0.0)
    }

    pub fn arange(&mut self, start: f32, step: f32, count: usize) -> Result<Tensor, TensorError> {
        self.fill(vec![count], Kernel::Arange, start, step)
    }

    fn fill(
        &mut self,
        shape: Vec<usize>,
        kernel: Kernel,
        start: f32,
        step: f32,
    ) -> Result<Tensor, TensorError> {
        let out = self.alloc(shape, DType::F32)?;
        let n = out.numel();
        let params = Fill {
            n: n as u32,
            _pad: 0,
            start,
            step,
        };
        self.dispatch(
            kernel,
            bytemuck::bytes_of(&params),
            &[],
            out.buffer(),
            grid_for(n),
        )?;
        Ok(out)
    }

    /// Uniform [0, 1) (`normal` false) or standard normal numbers.
    pub fn random(
        &mut self,
        shape: &[usize],
        seed: u64,
        normal: bool,
    ) -> Result<Tensor, TensorError> {
        let out = self.alloc(shape.to_vec(), DType::F32)?;
        let n = out.numel();
        let params = Random {
            n: n as u32,
            kind: normal as u32,
            seed_lo: seed as u32,
            seed_hi: (seed >> 32) as u32,
        };
        self.dispatch(
            Kernel::Random,
            bytemuck::bytes_of(&params),
            &[],
            out.buffer(),
            grid_for(n),
        )?;
        Ok(out)
    }

    pub fn unary(&mut self, x: &Tensor, op: UnaryOp) -> Result<Tensor, TensorError> {
        self.map(x, op as u32, 0.0, 0.0, "unary")
    }

    /// `x * factor + offset`.
    pub fn scale(&mut self, x: &Tensor, factor: f32, offset: f32) -> Result<Tensor, TensorError> {
        self.map(x, SCALE, factor, offset, "scale")
    }

    pub fn clamp(&mut self, x: &Tensor, lo: f32, hi: f32) -> Result<Tensor, TensorError> {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(TensorError::InvalidArgument(format!(
                "clamp bounds must satisfy lo <= hi, got [{lo}, {hi}]"
            )));
        }
        self.map(x, CLAMP, lo, hi, "clamp")
    }

    fn map(
        &mut self,
        x: &Tensor,
        op: u32,
        f0: f32,
        f1: f32,
        what: &str,
    ) -> Result<Tensor, TensorError> {
        x.require(DType::F32, what)?;
        let out = self.alloc(x.shape().to_vec(), DType::F32)?;
        let n = out.numel();
        let params = Elementwise {
            n: n as u32,
            op,
            f0,
            f1,
            contiguous: 1,
            ..Zeroable::zeroed()
        };
        self.dispatch(
            Kernel::Unary,
            bytemuck::bytes_of(&params),
            &[x.buffer()],
            out.buffer(),
            grid_for(n),
        )?;
        Ok(out)
    }

    pub fn binary(&mut self, a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor, TensorError> {
        a.require(DType::F32, "binary ops")?;
        b.require(DType::F32, "binary ops")?;
        let out_shape = shape::broadcast(a.shape(), b.shape()).ok_or_else(|| {
            TensorError::Shape(format!(
                "{op:?}: shapes {:?} and {:?} do not broadcast",
                a.shape(),
                b.shape()
            ))
        })?;
        shape::max_rank(&out_shape, "binary ops")?;
        let mut params = strided(&out_shape, [Some(a.shape()), Some(b.shape()), None]);
        params.op = op as u32;
        let out = self.alloc(out_shape, DType::F32)?;
        self.dispatch(
            Kernel::Binary,
            bytemuck::bytes_of(&params),
            &[a.buffer(), b.buffer()],
            out.buffer(),
            grid_for(params.n as usize),
        )?;
        Ok(out)
    }

    /// `cond ? a : b` elementwise, broadcasting all three.
    pub fn where_(&mut self, cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor, TensorError> {
        cond.not_half("where's condition")?;
        a.require(DType::F32, "where's values")?;
        b.require(DType::F32, "where's values")?;
        let ab = shape::broadcast(a.shape(), b.shape());
        let out_shape = ab
            .and_then(|s| shape::broadcast(&s, cond.shape()))
            .ok_or_else(|| {
                TensorError::Shape(format!(
                    "where: shapes {:?}, {:?} and {:?} do not broadcast",
                    cond.shape(),
                    a.shape(),
                    b.shape()
                ))
            })?;
        shape::max_rank(&out_shape, "where")?;
        let mut params = strided(
            &out_shape,
            [Some(a.shape()), Some(b.shape()), Some(cond.shape())],
        );
        params.cond_float = (cond.dtype() == DType::F32) as u32;
        let out = self.alloc(out_shape, DType::F32)?;
        self.dispatch(
            Kernel::Where,
            bytemuck::bytes_of(&params),
            &[a.buffer(), b.buffer(), cond.buffer()],
            out.buffer(),
            grid_for(params.n as usize),
        )?;
        Ok(out)
    }

    pub fn cast(&mut self, x: &Tensor, to: DType) -> Result<Tensor, TensorError> {
        if x.dtype() == to {
            return Ok(x.clone());
        }
        let out = self.alloc(x.shape().to_vec(), to)?;
        let n = out.numel();
        if n == 0 {
            return Ok(out);
        }
        let params = Convert {
            n: n as u32,
            from: x.dtype().code(),
            to: to.code(),
            _pad: 0,
        };
        // A half destination is written a word (two elements) per invocation.
        let invocations = if to.is_half() { n.div_ceil(2) } else { n };
        self.dispatch(
            Kernel::Cast,
            bytemuck::bytes_of(&params),
            &[x.buffer()],
            out.buffer(),
            grid_for(invocations),
        )?;
        Ok(out)
    }
}

/// Broadcast indexing parameters for an output shape and up to three
/// operand shapes (`None`: unused).
fn strided(out: &[usize], operands: [Option<&[usize]>; 3]) -> Elementwise {
    let n: usize = out.iter().product();
    let contiguous = operands.iter().flatten().all(|s| *s == out);
    let dims: Vec<u32> = out.iter().map(|&d| d as u32).collect();
    let st = |s: Option<&[usize]>| match s {
        Some(s) => shape::pack8(&shape::broadcast_strides(s, out)),
        None => [0; 8],
    };
    Elementwise {
        n: n as u32,
        rank: out.len() as u32,
        contiguous: contiguous as u32,
        shape: shape::pack8(&dims),
        sa: st(operands[0]),
        sb: st(operands[1]),
        sc: st(operands[2]),
        ..Zeroable::zeroed()
    }
}
