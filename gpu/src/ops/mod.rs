//! The tensor ops, as [`Session`](super::Session) methods: each checks its
//! operands, allocates its output and records one kernel (or a few).
//! Grouped like the shader files: `elementwise` (and constructors), `linalg`
//! (matmul, linear, attention), `norm` (softmax, norms, reductions),
//! `layout` (reshape, permute, slice, concat, index-select).

mod elementwise;
mod layout;
mod linalg;
mod norm;

pub use linalg::{Activation, MatmulKernel};

/// Elementwise maths on floats; the order matches the WGSL `switch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Gelu,
    GeluTanh,
    Silu,
    Relu,
    Tanh,
    Sigmoid,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Neg,
    Abs,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 14] = [
        UnaryOp::Gelu,
        UnaryOp::GeluTanh,
        UnaryOp::Silu,
        UnaryOp::Relu,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Neg,
        UnaryOp::Abs,
    ];
}

/// Broadcasting binary ops; the order matches the WGSL `switch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    Pow,
    /// `atan2(a, b)`: the angle of the point (x = b, y = a) in [-pi, pi], as
    /// WGSL's `atan2` computes it: indeterminate at the origin (lavapipe
    /// gives +-3pi/4 there; the reference, IEEE's +-0 or +-pi).
    Atan2,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 8] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
        BinaryOp::Pow,
        BinaryOp::Atan2,
    ];
}

/// Reductions over one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
}
