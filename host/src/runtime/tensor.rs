//! The WIT `tensor` and `weights` interfaces, implemented over
//! [`crate::gpu`]. Guest handles are entries in the store's resource table;
//! dropping one hands its buffer back to the instance's pool.
//!
//! Op refusals go back to the guest as `tensor-error`s (handles beyond
//! [`MAX_HANDLES`] too: `out-of-memory`). GPU work that outlives the
//! request's deadline traps instead (504).

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::Resource;

use super::GuestState;
use crate::bindings::mmcp::backbone::tensor as wit;
use crate::bindings::mmcp::backbone::weights;
use crate::gpu::weights::WeightStore;
use crate::gpu::{
    Activation, BinaryOp, DType, Gpu, Quota, ReduceOp, Session, Tensor, TensorError, UnaryOp,
};

/// Live tensor handles one instance may hold. Each costs host memory (the
/// table entry, wgpu's bookkeeping of its buffer) that the GPU quota does
/// not see, and reshapes cost no GPU memory at all, so the quota alone
/// would not bound it: past this, ops answer `out-of-memory`. A transformer
/// holds a few hundred weights and a few dozen live activations.
pub const MAX_HANDLES: usize = 1 << 16;

/// Most tensors one `concat` takes: bounds the host work of one call (the
/// list itself is lifted before the check; wasmtime's limit on handles lent
/// in one call bounds that).
pub const MAX_CONCAT_PARTS: usize = 4096;

/// What every instance of one GPU model shares.
pub struct ModelGpu {
    pub gpu: Arc<Gpu>,
    pub quota: Arc<Quota>,
    pub weights: WeightStore,
}

/// One instance's GPU state.
pub struct GpuState {
    session: Session,
    model: Arc<ModelGpu>,
    handles: usize,
}

impl GpuState {
    pub fn new(model: Arc<ModelGpu>) -> GpuState {
        GpuState {
            session: Session::new(Arc::clone(&model.gpu), Arc::clone(&model.quota)),
            model,
            handles: 0,
        }
    }

    /// Arms the session for one call: its deadline and the one-dispatch cap.
    pub fn arm(&mut self, deadline: Instant, max_dispatch: std::time::Duration) {
        self.session.set_deadline(Some(deadline));
        self.session.set_max_dispatch(Some(max_dispatch));
    }

    /// After a call: pooled buffers go back to the model's quota.
    pub fn trim(&mut self) {
        self.session.trim();
    }

    pub fn quota(&self) -> &Arc<Quota> {
        &self.model.quota
    }
}

/// A trap marking GPU work that ran past the deadline.
#[derive(Debug)]
pub struct GpuDeadline(pub String);

impl std::fmt::Display for GpuDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GpuDeadline {}

type Answer<T> = wasmtime::Result<Result<T, wit::TensorError>>;

fn to_wit(e: TensorError) -> wasmtime::Result<wit::TensorError> {
    Ok(match e {
        TensorError::Shape(m) => wit::TensorError::Shape(m),
        TensorError::DType(m) => wit::TensorError::Dtype(m),
        TensorError::InvalidArgument(m) => wit::TensorError::InvalidArgument(m),
        TensorError::OutOfMemory(m) => wit::TensorError::OutOfMemory(m),
        TensorError::NotFound(m) => wit::TensorError::NotFound(m),
        TensorError::Device(m) => wit::TensorError::Device(m),
        TensorError::Deadline(m) => return Err(wasmtime::Error::new(GpuDeadline(m))),
    })
}

fn dtype(d: wit::Dtype) -> DType {
    match d {
        wit::Dtype::F32 => DType::F32,
        wit::Dtype::I32 => DType::I32,
        wit::Dtype::U32 => DType::U32,
        wit::Dtype::F16 => DType::F16,
        wit::Dtype::Bf16 => DType::BF16,
    }
}

/// An int tensor's values, when it is of type `want`.
fn ints<T>(
    s: &mut Session,
    t: &Tensor,
    want: DType,
    convert: fn(u32) -> T,
) -> Result<Vec<T>, TensorError> {
    if t.dtype() != want {
        return Err(TensorError::DType(format!(
            "to-{want} reads {want} tensors; this one is {}",
            t.dtype()
        )));
    }
    Ok(s.read(t)?.into_iter().map(convert).collect())
}

/// The gpu crate's op for the WIT's (`unary` and `linear-fused` share it).
fn unary_op(op: wit::UnaryOp) -> UnaryOp {
    match op {
        wit::UnaryOp::Gelu => UnaryOp::Gelu,
        wit::UnaryOp::GeluTanh => UnaryOp::GeluTanh,
        wit::UnaryOp::Silu => UnaryOp::Silu,
        wit::UnaryOp::Relu => UnaryOp::Relu,
        wit::UnaryOp::Tanh => UnaryOp::Tanh,
        wit::UnaryOp::Sigmoid => UnaryOp::Sigmoid,
        wit::UnaryOp::Exp => UnaryOp::Exp,
        wit::UnaryOp::Log => UnaryOp::Log,
        wit::UnaryOp::Sqrt => UnaryOp::Sqrt,
        wit::UnaryOp::Rsqrt => UnaryOp::Rsqrt,
        wit::UnaryOp::Sin => UnaryOp::Sin,
        wit::UnaryOp::Cos => UnaryOp::Cos,
        wit::UnaryOp::Neg => UnaryOp::Neg,
        wit::UnaryOp::Abs => UnaryOp::Abs,
    }
}

/// The unary op as a matmul epilogue, when the kernel has it. Found through
/// [`Activation::unary`], so an activation the gpu crate adds is accepted
/// here without a second list to keep in step.
fn fused_activation(op: wit::UnaryOp) -> Result<Activation, wit::TensorError> {
    let want = unary_op(op);
    Activation::ALL
        .into_iter()
        .find(|a| a.unary() == want)
        .ok_or_else(|| {
            let accepted: Vec<String> = Activation::ALL
                .iter()
                .map(|a| wit_name(a.unary()))
                .collect();
            wit::TensorError::InvalidArgument(format!(
                "linear-fused's activation is one of {}; got {}",
                accepted.join(", "),
                wit_name(want)
            ))
        })
}

/// An op's name as the WIT spells it (`gelu-tanh`), which is how every
/// guest SDK names it too.
fn wit_name(op: UnaryOp) -> String {
    let mut out = String::new();
    for (i, c) in format!("{op:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn shape(s: &[u32]) -> Vec<usize> {
    s.iter().map(|&d| d as usize).collect()
}

impl GuestState {
    fn gpu(&mut self) -> Result<&mut GpuState, TensorError> {
        self.gpu
            .as_mut()
            .ok_or_else(|| TensorError::Device("this model was loaded without a GPU".into()))
    }

    fn tensor(&self, handle: &Resource<Tensor>) -> wasmtime::Result<Tensor> {
        Ok(self.table.get(handle)?.clone())
    }

    /// Puts an op's result in the table, or its refusal in the answer.
    fn give(&mut self, result: Result<Tensor, TensorError>) -> Answer<Resource<Tensor>> {
        let tensor = match result {
            Ok(t) => t,
            Err(e) => return Ok(Err(to_wit(e)?)),
        };
        let gpu = self.gpu.as_mut().expect("a tensor implies a GPU");
        if gpu.handles >= MAX_HANDLES {
            gpu.session.release(tensor);
            return Ok(Err(wit::TensorError::OutOfMemory(format!(
                "the backbone holds {MAX_HANDLES} tensor handles, the most one instance may hold: drop tensors it no longer needs"
            ))));
        }
        gpu.handles += 1;
        Ok(Ok(self.table.push(tensor)?))
    }

    /// Runs `op` on the session with the handles' tensors.
    fn with<const N: usize>(
        &mut self,
        handles: [&Resource<Tensor>; N],
        op: impl FnOnce(&mut Session, [&Tensor; N]) -> Result<Tensor, TensorError>,
    ) -> Answer<Resource<Tensor>> {
        let tensors: Vec<Tensor> = handles
            .iter()
            .map(|h| self.tensor(h))
            .collect::<wasmtime::Result<_>>()?;
        let refs: [&Tensor; N] = std::array::from_fn(|i| &tensors[i]);
        let result = match self.gpu() {
            Ok(g) => op(&mut g.session, refs),
            Err(e) => Err(e),
        };
        self.give(result)
    }

    fn make(
        &mut self,
        op: impl FnOnce(&mut Session) -> Result<Tensor, TensorError>,
    ) -> Answer<Resource<Tensor>> {
        self.with([], |s, []| op(s))
    }

    fn optional(&self, handle: &Option<Resource<Tensor>>) -> wasmtime::Result<Option<Tensor>> {
        handle.as_ref().map(|h| self.tensor(h)).transpose()
    }

    /// Reads the handle's tensor back with `how` (submits and waits).
    fn read<T>(
        &mut self,
        handle: &Resource<Tensor>,
        how: impl FnOnce(&mut Session, &Tensor) -> Result<Vec<T>, TensorError>,
    ) -> Answer<Vec<T>> {
        let t = self.tensor(handle)?;
        Ok(match self.gpu().and_then(|g| how(&mut g.session, &t)) {
            Ok(values) => Ok(values),
            Err(e) => Err(to_wit(e)?),
        })
    }
}

impl wit::Host for GuestState {}

impl wit::HostTensor for GuestState {
    fn from_list(&mut self, data: Vec<f32>, shape_: Vec<u32>) -> Answer<Resource<Tensor>> {
        self.make(|s| s.from_f32(&data, &shape(&shape_)))
    }

    fn from_i32(&mut self, data: Vec<i32>, shape_: Vec<u32>) -> Answer<Resource<Tensor>> {
        self.make(|s| s.from_i32(&data, &shape(&shape_)))
    }

    fn from_u32(&mut self, data: Vec<u32>, shape_: Vec<u32>) -> Answer<Resource<Tensor>> {
        self.make(|s| s.from_u32(&data, &shape(&shape_)))
    }

    fn full(&mut self, shape_: Vec<u32>, value: f32) -> Answer<Resource<Tensor>> {
        self.make(|s| s.full(&shape(&shape_), value))
    }

    fn rand(&mut self, shape_: Vec<u32>, seed: u64) -> Answer<Resource<Tensor>> {
        self.make(|s| s.random(&shape(&shape_), seed, false))
    }

    fn randn(&mut self, shape_: Vec<u32>, seed: u64) -> Answer<Resource<Tensor>> {
        self.make(|s| s.random(&shape(&shape_), seed, true))
    }

    fn arange(&mut self, start: f32, step: f32, count: u32) -> Answer<Resource<Tensor>> {
        self.make(|s| s.arange(start, step, count as usize))
    }

    fn shape(&mut self, self_: Resource<Tensor>) -> wasmtime::Result<Vec<u32>> {
        Ok(self
            .tensor(&self_)?
            .shape()
            .iter()
            .map(|&d| d as u32)
            .collect())
    }

    fn dtype(&mut self, self_: Resource<Tensor>) -> wasmtime::Result<wit::Dtype> {
        Ok(match self.tensor(&self_)?.dtype() {
            DType::F32 => wit::Dtype::F32,
            DType::I32 => wit::Dtype::I32,
            DType::U32 => wit::Dtype::U32,
            DType::F16 => wit::Dtype::F16,
            DType::BF16 => wit::Dtype::Bf16,
        })
    }

    fn to_list(&mut self, self_: Resource<Tensor>) -> Answer<Vec<f32>> {
        self.read(&self_, |s, t| s.read_f32(t))
    }

    fn to_i32(&mut self, self_: Resource<Tensor>) -> Answer<Vec<i32>> {
        self.read(&self_, |s, t| ints(s, t, DType::I32, |w| w as i32))
    }

    fn to_u32(&mut self, self_: Resource<Tensor>) -> Answer<Vec<u32>> {
        self.read(&self_, |s, t| ints(s, t, DType::U32, |w| w))
    }

    fn unary(&mut self, self_: Resource<Tensor>, op: wit::UnaryOp) -> Answer<Resource<Tensor>> {
        let op = unary_op(op);
        self.with([&self_], |s, [x]| s.unary(x, op))
    }

    fn scale(
        &mut self,
        self_: Resource<Tensor>,
        factor: f32,
        offset: f32,
    ) -> Answer<Resource<Tensor>> {
        self.with([&self_], |s, [x]| s.scale(x, factor, offset))
    }

    fn clamp(&mut self, self_: Resource<Tensor>, lo: f32, hi: f32) -> Answer<Resource<Tensor>> {
        self.with([&self_], |s, [x]| s.clamp(x, lo, hi))
    }

    fn binary(
        &mut self,
        self_: Resource<Tensor>,
        op: wit::BinaryOp,
        other: Resource<Tensor>,
    ) -> Answer<Resource<Tensor>> {
        let op = match op {
            wit::BinaryOp::Add => BinaryOp::Add,
            wit::BinaryOp::Sub => BinaryOp::Sub,
            wit::BinaryOp::Mul => BinaryOp::Mul,
            wit::BinaryOp::Div => BinaryOp::Div,
            wit::BinaryOp::Maximum => BinaryOp::Maximum,
            wit::BinaryOp::Minimum => BinaryOp::Minimum,
            wit::BinaryOp::Pow => BinaryOp::Pow,
            wit::BinaryOp::Atan2 => BinaryOp::Atan2,
        };
        self.with([&self_, &other], |s, [a, b]| s.binary(a, b, op))
    }

    fn cast(&mut self, self_: Resource<Tensor>, to: wit::Dtype) -> Answer<Resource<Tensor>> {
        self.with([&self_], |s, [x]| s.cast(x, dtype(to)))
    }

    fn matmul(
        &mut self,
        self_: Resource<Tensor>,
        other: Resource<Tensor>,
    ) -> Answer<Resource<Tensor>> {
        self.with([&self_, &other], |s, [a, b]| s.matmul(a, b))
    }

    fn linear(
        &mut self,
        self_: Resource<Tensor>,
        weight: Resource<Tensor>,
        bias: Option<Resource<Tensor>>,
    ) -> Answer<Resource<Tensor>> {
        let bias = self.optional(&bias)?;
        self.with([&self_, &weight], |s, [x, w]| s.linear(x, w, bias.as_ref()))
    }

    fn linear_fused(
        &mut self,
        self_: Resource<Tensor>,
        weight: Resource<Tensor>,
        bias: Option<Resource<Tensor>>,
        activation: Option<wit::UnaryOp>,
        residual: Option<Resource<Tensor>>,
    ) -> Answer<Resource<Tensor>> {
        let activation = match activation.map(fused_activation).transpose() {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let (bias, residual) = (self.optional(&bias)?, self.optional(&residual)?);
        self.with([&self_, &weight], |s, [x, w]| {
            s.linear_fused(x, w, bias.as_ref(), activation, residual.as_ref())
        })
    }

    fn softmax(&mut self, self_: Resource<Tensor>) -> Answer<Resource<Tensor>> {
        self.with([&self_], |s, [x]| s.softmax(x))
    }

    fn layer_norm(
        &mut self,
        self_: Resource<Tensor>,
        weight: Option<Resource<Tensor>>,
        bias: Option<Resource<Tensor>>,
        eps: f32,
    ) -> Answer<Resource<Tensor>> {
        let (w, b) = (self.optional(&weight)?, self.optional(&bias)?);
        self.with([&self_], |s, [x]| {
            s.layer_norm(x, w.as_ref(), b.as_ref(), eps)
        })
    }

    fn rms_norm(
        &mut self,
        self_: Resource<Tensor>,
        weight: Option<Resource<Tensor>>,
        eps: f32,
    ) -> Answer<Resource<Tensor>> {
        let w = self.optional(&weight)?;
        self.with([&self_], |s, [x]| s.rms_norm(x, w.as_ref(), eps))
    }

    fn reduce(
        &mut self,
        self_: Resource<Tensor>,
        op: wit::ReduceOp,
        axis: u32,
        keep_dim: bool,
    ) -> Answer<Resource<Tensor>> {
        let op = match op {
            wit::ReduceOp::Sum => ReduceOp::Sum,
            wit::ReduceOp::Mean => ReduceOp::Mean,
            wit::ReduceOp::Max => ReduceOp::Max,
        };
        self.with([&self_], |s, [x]| s.reduce(x, op, axis, keep_dim))
    }

    fn reshape(&mut self, self_: Resource<Tensor>, shape_: Vec<i32>) -> Answer<Resource<Tensor>> {
        let dims: Vec<i64> = shape_.iter().map(|&d| d as i64).collect();
        self.with([&self_], |s, [x]| s.reshape(x, &dims))
    }

    fn permute(&mut self, self_: Resource<Tensor>, dims: Vec<u32>) -> Answer<Resource<Tensor>> {
        self.with([&self_], |s, [x]| s.permute(x, &dims))
    }

    fn transpose(&mut self, self_: Resource<Tensor>, a: u32, b: u32) -> Answer<Resource<Tensor>> {
        self.with([&self_], |s, [x]| s.transpose(x, a, b))
    }

    fn slice(
        &mut self,
        self_: Resource<Tensor>,
        axis: u32,
        start: u32,
        end: u32,
    ) -> Answer<Resource<Tensor>> {
        self.with([&self_], |s, [x]| s.slice(x, axis, start, end))
    }

    fn index_select(
        &mut self,
        self_: Resource<Tensor>,
        axis: u32,
        indices: Resource<Tensor>,
    ) -> Answer<Resource<Tensor>> {
        self.with([&self_, &indices], |s, [x, i]| s.index_select(x, axis, i))
    }

    fn concat(&mut self, parts: Vec<Resource<Tensor>>, axis: u32) -> Answer<Resource<Tensor>> {
        if parts.len() > MAX_CONCAT_PARTS {
            return Ok(Err(wit::TensorError::InvalidArgument(format!(
                "concat takes {MAX_CONCAT_PARTS} tensors at most, got {}",
                parts.len()
            ))));
        }
        let tensors: Vec<Tensor> = parts
            .iter()
            .map(|h| self.tensor(h))
            .collect::<wasmtime::Result<_>>()?;
        let refs: Vec<&Tensor> = tensors.iter().collect();
        self.make(|s| s.concat(&refs, axis))
    }

    fn where_(
        &mut self,
        cond: Resource<Tensor>,
        a: Resource<Tensor>,
        b: Resource<Tensor>,
    ) -> Answer<Resource<Tensor>> {
        self.with([&cond, &a, &b], |s, [c, a, b]| s.where_(c, a, b))
    }

    fn attention(
        &mut self,
        q: Resource<Tensor>,
        k: Resource<Tensor>,
        v: Resource<Tensor>,
        mask: Option<Resource<Tensor>>,
        scale: Option<f32>,
    ) -> Answer<Resource<Tensor>> {
        let mask = self.optional(&mask)?;
        self.with([&q, &k, &v], |s, [q, k, v]| {
            s.attention(q, k, v, mask.as_ref(), scale)
        })
    }

    fn drop(&mut self, rep: Resource<Tensor>) -> wasmtime::Result<()> {
        let tensor = self.table.delete(rep)?;
        if let Some(gpu) = self.gpu.as_mut() {
            gpu.handles = gpu.handles.saturating_sub(1);
            gpu.session.release(tensor);
        }
        Ok(())
    }
}

impl weights::Host for GuestState {
    fn load(&mut self, file: String, name: String) -> Answer<Resource<Tensor>> {
        let result = match self.gpu() {
            Ok(g) => g
                .model
                .weights
                .load(&g.model.gpu, &g.model.quota, &file, &name),
            Err(e) => Err(e),
        };
        self.give(result)
    }

    fn names(&mut self, file: String) -> Answer<Vec<String>> {
        let result = match self.gpu() {
            Ok(g) => g.model.weights.names(&file),
            Err(e) => Err(e),
        };
        Ok(match result {
            Ok(n) => Ok(n),
            Err(e) => Err(to_wit(e)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fused_activations_are_the_kernels_and_others_are_refused_by_name() {
        for (op, want) in [
            (wit::UnaryOp::Gelu, Activation::Gelu),
            (wit::UnaryOp::GeluTanh, Activation::GeluTanh),
            (wit::UnaryOp::Silu, Activation::Silu),
            (wit::UnaryOp::Relu, Activation::Relu),
        ] {
            assert_eq!(fused_activation(op).unwrap(), want);
        }
        match fused_activation(wit::UnaryOp::Sigmoid) {
            Err(wit::TensorError::InvalidArgument(m)) => assert_eq!(
                m,
                "linear-fused's activation is one of gelu, gelu-tanh, silu, relu; got sigmoid"
            ),
            other => panic!("{other:?}"),
        }
    }
}
