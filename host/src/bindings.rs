//! Host bindings generated from `wit/`. Every other module imports the WIT
//! types from here and never re-declares them.
//!
//! The host binds the GPU world, a superset of the plain backbone world: a
//! component that never imports the tensor interfaces links against it
//! just the same.

wasmtime::component::bindgen!({
    world: "gpu-backbone-world",
    path: "../wit",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "mmcp:backbone/tensor.tensor": crate::gpu::Tensor,
    },
});

pub use mmcp::backbone::types::{
    Chunking, ErrorCode as WitErrorCode, Limits, ModelOption, ModelOptionType, ModelSpec,
    MotionResult, ProtocolError, Skeleton as WitSkeleton,
};
pub use GpuBackboneWorld as BackboneWorld;
pub use GpuBackboneWorldPre as BackboneWorldPre;

/// The WIT interface name a component imports to use the GPU.
pub const TENSOR_INTERFACE: &str = "mmcp:backbone/tensor@0.1.0";
