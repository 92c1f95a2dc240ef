//! The wasmtime component host: compiles (or loads from cache) a backbone
//! component, instantiates it with WASI granting nothing, and runs its
//! exports off the HTTP workers under the limits of [`Limits`].
//!
//! - [`engine`]: the shared engine, linker, cache and GPU; loading a model.
//! - [`instance`]: one instance's store and its calls, and what a failed
//!   call means ([`CallError`], made into an envelope by `crate::error`).
//! - [`pool`]: a model's idle instances and the admission of requests.
//! - [`model`]: a loaded model ([`Backbone`]): its spec and its calls.
//! - [`limits`]: what one request may consume, and its enforcement.
//! - [`progress`]: a generation's progress reports.

mod cache;
pub mod convert;
mod engine;
mod error;
mod hook;
mod instance;
pub mod limits;
mod model;
mod pool;
mod progress;
mod stderr;
pub mod tensor;

pub use cache::{ComponentCache, Origin};
pub use engine::{ComponentInterface, LoadReport, Runtime};
pub use error::CallError;
pub use instance::GuestState;
pub use limits::Limits;
pub use model::{Backbone, Hold, Occupancy};
pub use progress::Progress;

/// Where the `--weights` directory appears inside the guest.
pub const WEIGHTS_MOUNT: &str = "/weights";
