//! motionmcp-host: an MMCP 1.4 server whose motion models are sandboxed
//! WebAssembly components.
//!
//! A request travels one way: socket → capped body → JSON → schema →
//! model-stage validation → instance → guest `generate` → result checks →
//! glTF → response. Each step is a module:
//! [`http`], [`validate`], [`runtime`], [`motion`], [`gltf`].

pub mod access;
pub mod batch;
pub mod bindings;
pub mod capabilities;
pub mod error;
pub mod generate;
pub mod gltf;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod motion;
pub mod registry;
pub mod request;
pub mod runtime;
pub mod trajectory;
pub mod validate;

/// The GPU tensor runtime (its own crate, `motionmcp-gpu`).
pub use motionmcp_gpu as gpu;
