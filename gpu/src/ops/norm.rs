//! Row-wise ops over the last axis and reductions over any axis
//! (`shaders/softmax.wgsl`, `norm.wgsl`, `reduce.wgsl`).

use bytemuck::{Pod, Zeroable};

use super::ReduceOp;
use crate::kernels::Kernel;
use crate::shape::{self, grid};
use crate::{DType, Session, Tensor, TensorError};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Rows {
    rows: u32,
    len: u32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Norm {
    rows: u32,
    len: u32,
    has_weight: u32,
    has_bias: u32,
    eps: f32,
    _pad: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Reduce {
    outputs: u32,
    len: u32,
    inner: u32,
    op: u32,
}

/// (rows, length of the last axis).
fn rows_of(x: &Tensor) -> (usize, usize) {
    let len = x.shape().last().copied().unwrap_or(1);
    (x.numel() / len.max(1), len)
}

impl Session {
    pub fn softmax(&mut self, x: &Tensor) -> Result<Tensor, TensorError> {
        x.require(DType::F32, "softmax")?;
        let (rows, len) = rows_of(x);
        let out = self.alloc(x.shape().to_vec(), DType::F32)?;
        let params = Rows {
            rows: rows as u32,
            len: len as u32,
            _pad: [0; 2],
        };
        if len > 0 {
            self.dispatch(
                Kernel::Softmax,
                bytemuck::bytes_of(&params),
                &[x.buffer()],
                out.buffer(),
                grid(rows),
            )?;
        }
        Ok(out)
    }

    pub fn layer_norm(
        &mut self,
        x: &Tensor,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f32,
    ) -> Result<Tensor, TensorError> {
        self.norm(Kernel::LayerNorm, x, weight, bias, eps)
    }

    pub fn rms_norm(
        &mut self,
        x: &Tensor,
        weight: Option<&Tensor>,
        eps: f32,
    ) -> Result<Tensor, TensorError> {
        self.norm(Kernel::RmsNorm, x, weight, None, eps)
    }

    fn norm(
        &mut self,
        kernel: Kernel,
        x: &Tensor,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f32,
    ) -> Result<Tensor, TensorError> {
        x.require(DType::F32, "normalisation")?;
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(TensorError::InvalidArgument(format!(
                "normalisation needs a finite eps >= 0, got {eps}"
            )));
        }
        let (rows, len) = rows_of(x);
        for (t, name) in [(weight, "weight"), (bias, "bias")] {
            if let Some(t) = t {
                t.require(DType::F32, &format!("normalisation's {name}"))?;
                if t.shape() != [len] {
                    return Err(TensorError::Shape(format!(
                        "normalisation's {name} must be [{len}] for input {:?}, got {:?}",
                        x.shape(),
                        t.shape()
                    )));
                }
            }
        }
        let out = self.alloc(x.shape().to_vec(), DType::F32)?;
        let params = Norm {
            rows: rows as u32,
            len: len as u32,
            has_weight: weight.is_some() as u32,
            has_bias: bias.is_some() as u32,
            eps,
            _pad: [0; 3],
        };
        // Absent weights are bound to the dummy; the kernel never reads them.
        let inputs: Vec<&wgpu::Buffer> = match (weight, bias) {
            (Some(w), Some(b)) => vec![x.buffer(), w.buffer(), b.buffer()],
            (Some(w), None) => vec![x.buffer(), w.buffer()],
            (None, Some(b)) => vec![x.buffer(), x.buffer(), b.buffer()],
            (None, None) => vec![x.buffer()],
        };
        if len > 0 {
            self.dispatch(
                kernel,
                bytemuck::bytes_of(&params),
                &inputs,
                out.buffer(),
                grid(rows),
            )?;
        }
        Ok(out)
    }

    pub fn reduce(
        &mut self,
        x: &Tensor,
        op: ReduceOp,
        axis: u32,
        keep_dim: bool,
    ) -> Result<Tensor, TensorError> {
        x.require(DType::F32, "reductions")?;
        let a = shape::axis(axis, x.shape().len(), "reduce")?;
        let s = x.shape();
        let len = s[a];
        if len == 0 && op == ReduceOp::Max {
            return Err(TensorError::Shape(format!(
                "max over an empty axis {a} of {s:?} has no value"
            )));
        }
        let inner: usize = s[a + 1..].iter().product();
        let mut out_shape = s.to_vec();
        if keep_dim {
            out_shape[a] = 1;
        } else {
            out_shape.remove(a);
        }
        let out = self.alloc(out_shape, DType::F32)?;
        let outputs = out.numel();
        let params = Reduce {
            outputs: outputs as u32,
            len: len as u32,
            inner: inner.max(1) as u32,
            op: match op {
                ReduceOp::Sum => 0,
                ReduceOp::Mean => 1,
                ReduceOp::Max => 2,
            },
        };
        self.dispatch(
            Kernel::Reduce,
            bytemuck::bytes_of(&params),
            &[x.buffer()],
            out.buffer(),
            grid(outputs),
        )?;
        Ok(out)
    }
}
