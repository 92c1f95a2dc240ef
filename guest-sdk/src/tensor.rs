//! GPU tensors: a thin, typed wrapper over the host's `tensor` resource.
//!
//! Every op runs on the host's GPU as a WGSL kernel; nothing comes back to
//! the guest until [`Tensor::to_vec`]. Ops return `Result<Tensor,
//! TensorError>`, operators included, so `?` carries a shape mistake up to
//! `generate`, where it becomes a protocol error (see
//! `From<TensorError> for ProtocolError`).
//!
//! A pre-norm transformer block, as a backbone would write it:
//!
//! ```no_run
//! use motionmcp_guest::tensor::{Tensor, TensorError, UnaryOp};
//!
//! struct Block { ln1_w: Tensor, ln1_b: Tensor, qkv_w: Tensor, qkv_b: Tensor,
//!                out_w: Tensor, out_b: Tensor, ln2_w: Tensor, ln2_b: Tensor,
//!                ff1_w: Tensor, ff1_b: Tensor, ff2_w: Tensor, ff2_b: Tensor }
//!
//! /// x: [batch, frames, d]
//! fn block(x: &Tensor, p: &Block, heads: usize) -> Result<Tensor, TensorError> {
//!     let (b, n, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
//!     let h = x.layer_norm(Some(&p.ln1_w), Some(&p.ln1_b), 1e-5)?;
//!     let qkv = h.linear(&p.qkv_w, Some(&p.qkv_b))?               // [b, n, 3d]
//!         .reshape(&[b as i32, n as i32, 3, heads as i32, (d / heads) as i32])?
//!         .permute(&[2, 0, 3, 1, 4])?;                             // [3, b, heads, n, d/heads]
//!     let (q, k, v) = (qkv.select(0, 0)?, qkv.select(0, 1)?, qkv.select(0, 2)?);
//!     let x = Tensor::attention(&q, &k, &v, None, None)?          // [b, heads, n, d/heads]
//!         .permute(&[0, 2, 1, 3])?
//!         .reshape(&[b as i32, n as i32, d as i32])?
//!         .linear_fused(&p.out_w, Some(&p.out_b), None, Some(x))?;  // x + out(attention)
//!     let f = x.layer_norm(Some(&p.ln2_w), Some(&p.ln2_b), 1e-5)?
//!         .linear_fused(&p.ff1_w, Some(&p.ff1_b), Some(UnaryOp::Gelu), None)?;
//!     f.linear_fused(&p.ff2_w, Some(&p.ff2_b), None, Some(&x))      // x + ff2(f)
//! }
//! ```

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::bindings::mmcp::backbone::tensor as raw;
use crate::bindings::mmcp::backbone::weights;
use crate::{ErrorCode, ProtocolError};

pub use raw::{BinaryOp, Dtype, ReduceOp, TensorError, UnaryOp};

/// A tensor in the host's GPU memory. Dropping it frees the memory (the
/// host pools it for the next op of the same size).
#[derive(Debug)]
pub struct Tensor(raw::Tensor);

fn dims(shape: &[usize]) -> Vec<u32> {
    shape.iter().map(|&d| d as u32).collect()
}

impl Tensor {
    /// A float tensor from row-major data.
    pub fn from_vec(data: &[f32], shape: &[usize]) -> Result<Tensor, TensorError> {
        raw::Tensor::from_list(data, &dims(shape)).map(Tensor)
    }

    /// Signed indices.
    pub fn from_i32(data: &[i32], shape: &[usize]) -> Result<Tensor, TensorError> {
        raw::Tensor::from_i32(data, &dims(shape)).map(Tensor)
    }

    /// Unsigned indices or a boolean mask (nonzero is true).
    pub fn from_u32(data: &[u32], shape: &[usize]) -> Result<Tensor, TensorError> {
        raw::Tensor::from_u32(data, &dims(shape)).map(Tensor)
    }

    pub fn full(shape: &[usize], value: f32) -> Result<Tensor, TensorError> {
        raw::Tensor::full(&dims(shape), value).map(Tensor)
    }

    pub fn zeros(shape: &[usize]) -> Result<Tensor, TensorError> {
        Tensor::full(shape, 0.0)
    }

    pub fn ones(shape: &[usize]) -> Result<Tensor, TensorError> {
        Tensor::full(shape, 1.0)
    }

    /// Uniform [0, 1), the same numbers for a seed on every GPU.
    pub fn rand(shape: &[usize], seed: u64) -> Result<Tensor, TensorError> {
        raw::Tensor::rand(&dims(shape), seed).map(Tensor)
    }

    /// Standard normal, the same numbers for a seed on every GPU (up to the
    /// adapter's log/sin/cos precision).
    pub fn randn(shape: &[usize], seed: u64) -> Result<Tensor, TensorError> {
        raw::Tensor::randn(&dims(shape), seed).map(Tensor)
    }

    /// `start, start + step, ...`, `count` values.
    pub fn arange(start: f32, step: f32, count: usize) -> Result<Tensor, TensorError> {
        raw::Tensor::arange(start, step, count as u32).map(Tensor)
    }

    /// Tensor `name` of the safetensors `file` in the operator's weights
    /// directory, loaded once per model and shared by its instances. F16
    /// and BF16 tensors stay at half size ([`Dtype::F16`], [`Dtype::Bf16`]):
    /// `matmul`/`linear` take them as they are; cast them to f32 for other
    /// arithmetic.
    pub fn load(file: &str, name: &str) -> Result<Tensor, TensorError> {
        weights::load(file, name).map(Tensor)
    }

    /// The tensor names in a weights file, sorted.
    pub fn names_in(file: &str) -> Result<Vec<String>, TensorError> {
        weights::names(file)
    }

    pub fn shape(&self) -> Vec<usize> {
        self.0.shape().into_iter().map(|d| d as usize).collect()
    }

    pub fn dtype(&self) -> Dtype {
        self.0.dtype()
    }

    /// Elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape().iter().product()
    }

    /// Reads a float tensor back (f16/bf16 widened); waits for every op
    /// recorded so far.
    pub fn to_vec(&self) -> Result<Vec<f32>, TensorError> {
        self.0.to_list()
    }

    pub fn to_i32(&self) -> Result<Vec<i32>, TensorError> {
        self.0.to_i32()
    }

    pub fn to_u32(&self) -> Result<Vec<u32>, TensorError> {
        self.0.to_u32()
    }

    pub fn unary(&self, op: UnaryOp) -> Result<Tensor, TensorError> {
        self.0.unary(op).map(Tensor)
    }

    /// GELU with the exact erf (PyTorch's default).
    pub fn gelu(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Gelu)
    }

    /// GELU's tanh approximation.
    pub fn gelu_tanh(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::GeluTanh)
    }

    pub fn silu(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Silu)
    }

    pub fn relu(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Relu)
    }

    pub fn tanh(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Tanh)
    }

    pub fn sigmoid(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Sigmoid)
    }

    pub fn exp(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Exp)
    }

    pub fn sqrt(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Sqrt)
    }

    pub fn rsqrt(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Rsqrt)
    }

    pub fn sin(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Sin)
    }

    pub fn cos(&self) -> Result<Tensor, TensorError> {
        self.unary(UnaryOp::Cos)
    }

    /// `self * factor + offset`.
    pub fn scale(&self, factor: f32, offset: f32) -> Result<Tensor, TensorError> {
        self.0.scale(factor, offset).map(Tensor)
    }

    pub fn clamp(&self, lo: f32, hi: f32) -> Result<Tensor, TensorError> {
        self.0.clamp(lo, hi).map(Tensor)
    }

    pub fn binary(&self, op: BinaryOp, other: &Tensor) -> Result<Tensor, TensorError> {
        self.0.binary(op, &other.0).map(Tensor)
    }

    pub fn maximum(&self, other: &Tensor) -> Result<Tensor, TensorError> {
        self.binary(BinaryOp::Maximum, other)
    }

    pub fn minimum(&self, other: &Tensor) -> Result<Tensor, TensorError> {
        self.binary(BinaryOp::Minimum, other)
    }

    pub fn pow(&self, other: &Tensor) -> Result<Tensor, TensorError> {
        self.binary(BinaryOp::Pow, other)
    }

    /// `atan2(self, x)` elementwise, broadcasting: the angle of the point
    /// (x, y = self) in [-pi, pi], as the adapter's WGSL `atan2` computes it
    /// (at the origin the angle is the adapter's, not 0: mask zero vectors).
    pub fn atan2(&self, x: &Tensor) -> Result<Tensor, TensorError> {
        self.binary(BinaryOp::Atan2, x)
    }

    pub fn cast(&self, to: Dtype) -> Result<Tensor, TensorError> {
        self.0.cast(to).map(Tensor)
    }

    /// Batched matrix product over the last two axes.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor, TensorError> {
        self.0.matmul(&other.0).map(Tensor)
    }

    /// `self @ weight^T + bias` (PyTorch's `nn.Linear`).
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor, TensorError> {
        self.0.linear(&weight.0, bias.map(|b| &b.0)).map(Tensor)
    }

    /// `activation(self @ weight^T + bias) + residual` in one kernel, a
    /// pass over the output cheaper for each of the two than `linear`
    /// followed by the unary op and the add. `activation` is
    /// [`UnaryOp::Gelu`], [`UnaryOp::GeluTanh`], [`UnaryOp::Silu`] or
    /// [`UnaryOp::Relu`] (others are `InvalidArgument`); `residual` is f32
    /// with the result's shape.
    pub fn linear_fused(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        activation: Option<UnaryOp>,
        residual: Option<&Tensor>,
    ) -> Result<Tensor, TensorError> {
        self.0
            .linear_fused(
                &weight.0,
                bias.map(|b| &b.0),
                activation,
                residual.map(|r| &r.0),
            )
            .map(Tensor)
    }

    /// Softmax over the last axis.
    pub fn softmax(&self) -> Result<Tensor, TensorError> {
        self.0.softmax().map(Tensor)
    }

    pub fn layer_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f32,
    ) -> Result<Tensor, TensorError> {
        self.0
            .layer_norm(weight.map(|w| &w.0), bias.map(|b| &b.0), eps)
            .map(Tensor)
    }

    pub fn rms_norm(&self, weight: Option<&Tensor>, eps: f32) -> Result<Tensor, TensorError> {
        self.0.rms_norm(weight.map(|w| &w.0), eps).map(Tensor)
    }

    pub fn sum(&self, axis: usize, keep_dim: bool) -> Result<Tensor, TensorError> {
        self.0
            .reduce(ReduceOp::Sum, axis as u32, keep_dim)
            .map(Tensor)
    }

    pub fn mean(&self, axis: usize, keep_dim: bool) -> Result<Tensor, TensorError> {
        self.0
            .reduce(ReduceOp::Mean, axis as u32, keep_dim)
            .map(Tensor)
    }

    pub fn max(&self, axis: usize, keep_dim: bool) -> Result<Tensor, TensorError> {
        self.0
            .reduce(ReduceOp::Max, axis as u32, keep_dim)
            .map(Tensor)
    }

    /// Same data, new shape; one entry may be -1.
    pub fn reshape(&self, shape: &[i32]) -> Result<Tensor, TensorError> {
        self.0.reshape(shape).map(Tensor)
    }

    pub fn permute(&self, dims: &[u32]) -> Result<Tensor, TensorError> {
        self.0.permute(dims).map(Tensor)
    }

    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor, TensorError> {
        self.0.transpose(a as u32, b as u32).map(Tensor)
    }

    /// Elements [start, end) along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> Result<Tensor, TensorError> {
        self.0
            .slice(axis as u32, start as u32, end as u32)
            .map(Tensor)
    }

    /// Entry `index` of `axis`, with that axis removed.
    pub fn select(&self, axis: usize, index: usize) -> Result<Tensor, TensorError> {
        let mut shape: Vec<i32> = self.shape().iter().map(|&d| d as i32).collect();
        let part = self.slice(axis, index, index + 1)?;
        shape.remove(axis);
        part.reshape(&shape)
    }

    pub fn index_select(&self, axis: usize, indices: &Tensor) -> Result<Tensor, TensorError> {
        self.0.index_select(axis as u32, &indices.0).map(Tensor)
    }

    pub fn concat(parts: &[&Tensor], axis: usize) -> Result<Tensor, TensorError> {
        let raw: Vec<&raw::Tensor> = parts.iter().map(|t| &t.0).collect();
        raw::Tensor::concat(&raw, axis as u32).map(Tensor)
    }

    /// `cond ? a : b`, broadcasting.
    pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor, TensorError> {
        raw::Tensor::where_(&cond.0, &a.0, &b.0).map(Tensor)
    }

    /// softmax(q k^T * scale + mask) v for [batch, heads, len, dim] tensors;
    /// a u32 mask keeps keys where nonzero, an f32 mask is added.
    pub fn attention(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        scale: Option<f32>,
    ) -> Result<Tensor, TensorError> {
        raw::Tensor::attention(&q.0, &k.0, &v.0, mask.map(|m| &m.0), scale).map(Tensor)
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:expr) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Result<Tensor, TensorError>;
            fn $method(self, rhs: &Tensor) -> Self::Output {
                self.binary($op, rhs)
            }
        }
    };
}

binary_operator!(Add, add, BinaryOp::Add);
binary_operator!(Sub, sub, BinaryOp::Sub);
binary_operator!(Mul, mul, BinaryOp::Mul);
binary_operator!(Div, div, BinaryOp::Div);

impl Mul<f32> for &Tensor {
    type Output = Result<Tensor, TensorError>;
    fn mul(self, rhs: f32) -> Self::Output {
        self.scale(rhs, 0.0)
    }
}

impl Add<f32> for &Tensor {
    type Output = Result<Tensor, TensorError>;
    fn add(self, rhs: f32) -> Self::Output {
        self.scale(1.0, rhs)
    }
}

impl Neg for &Tensor {
    type Output = Result<Tensor, TensorError>;
    fn neg(self) -> Self::Output {
        self.unary(UnaryOp::Neg)
    }
}

/// "tensor shape error: ..." and so on.
fn describe(e: &TensorError) -> String {
    let (kind, msg) = match e {
        TensorError::Shape(m) => ("shape", m),
        TensorError::Dtype(m) => ("dtype", m),
        TensorError::InvalidArgument(m) => ("invalid argument", m),
        TensorError::OutOfMemory(m) => ("out of memory", m),
        TensorError::NotFound(m) => ("not found", m),
        TensorError::Device(m) => ("device", m),
    };
    format!("tensor {kind} error: {msg}")
}

/// Running out of the model's GPU quota is `503 resource_exhausted`; any
/// other tensor error is the backbone's bug, `500 internal_error`.
impl From<TensorError> for ProtocolError {
    fn from(e: TensorError) -> ProtocolError {
        match e {
            TensorError::OutOfMemory(_) => {
                ProtocolError::new(ErrorCode::ResourceExhausted, describe(&e))
            }
            _ => ProtocolError::internal(describe(&e)),
        }
    }
}
