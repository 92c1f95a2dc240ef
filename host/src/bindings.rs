//! Host bindings generated from `wit/`. Every other module imports the WIT
//! types from here and never re-declares them.

wasmtime::component::bindgen!({
    world: "backbone-world",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use mmcp::backbone::types::{
    Chunking, ErrorCode as WitErrorCode, Limits, ModelOption, ModelOptionType, ModelSpec,
    MotionResult, ProtocolError, Skeleton as WitSkeleton,
};
