//! Write an MMCP motion model ("backbone") as a WebAssembly component.
//!
//! The host (`motionmcp-host`) owns HTTP, JSON, validation, glTF encoding and
//! the error envelope. A backbone only describes itself ([`ModelSpec`]) and
//! turns a validated [`GenerateRequest`] into a [`MotionResult`]:
//!
//! ```
//! use motionmcp_guest::{export_backbone, Backbone, GenerateRequest, ModelSpec,
//!                       MotionResult, ProtocolError, Skeleton};
//!
//! #[derive(Default)]
//! struct Still;
//!
//! impl Backbone for Still {
//!     fn capabilities(&self) -> ModelSpec {
//!         ModelSpec::new("still", 30.0, Skeleton::from_joints(&[
//!             ("Hips", None, [0.0, 0.95, 0.0]),
//!         ]))
//!     }
//!     fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
//!         let root = req.skeleton.joints[0].rest_translation;
//!         MotionResult::rest_pose(req.num_samples(), req.total_frames, req.num_joints(), root)
//!     }
//! }
//!
//! export_backbone!(Still);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component `motionmcp-host serve` loads.

mod errors;
mod request;
mod result;
mod spec;
pub mod tensor;

// Generated code refers to the runtime through this crate, so components need
// no direct dependency on wit-bindgen.
extern crate self as motionmcp_guest;

/// Bindings generated from `wit/`. Everything a backbone needs is re-exported
/// at the crate root; this module exists for the export macro.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "sdk-backbone-world",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "::motionmcp_guest::bindings",
        runtime_path: "::motionmcp_guest::__private::rt",
        additional_derives: [PartialEq],
    });
}

pub use bindings::mmcp::backbone::types::{
    Chunking, Constraint, EffectorTarget, ErrorCode, FillMode, FootContact, GenerateRequest,
    GroundHeight, Guidance, GuidanceType, InlineVideo, Joint, JointKeyframes, Limits, ModelOption,
    ModelOptionType, ModelSpec, MotionReferenceSegment, MotionResult, Note, Options, PoseKeyframe,
    PoseSegment, ProtocolError, RootPath, Segment, Skeleton, TextSegment, UnconditionedSegment,
    VideoMediaType, VideoReferenceSegment, VideoSource,
};
pub use result::ShapeError;

/// Reports that `done` of `total` steps of the generation under way are
/// finished (a denoiser: once per step). Clients of async jobs see the
/// latest report in their polls, and `motionmcp-host generate` draws it as
/// a progress bar. Cheap (no allocation, no wait); a report with `total` 0
/// is ignored, and outside `generate` reports go nowhere.
pub fn report_progress(done: u32, total: u32) {
    bindings::mmcp::backbone::progress::report(done, total);
}

/// A motion model. Implement this and hand the type to [`export_backbone!`].
///
/// The host calls `setup` once before anything else, then `capabilities`,
/// then `generate` once per request, and `teardown` at shutdown. It asks
/// `capabilities` again on every `/capabilities` and validates requests
/// against the latest answer, so a spec may follow the model's state (keep
/// the id; answer quickly: past 2 seconds the instance is dropped). Calls
/// never overlap within one instance.
pub trait Backbone: 'static {
    /// Load weights, build tables. An error aborts the server's start-up with
    /// this message.
    fn setup(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// Release what `setup` acquired.
    fn teardown(&mut self) {}

    /// Describe the model. Start from [`ModelSpec::new`], which carries the
    /// protocol's defaults, and change what differs.
    fn capabilities(&self) -> ModelSpec;

    /// Generate motion for a request the host has already validated against
    /// this model's [`ModelSpec`]. Return a [`ProtocolError`] for failures the
    /// client should see with a protocol code (see the constructors on it);
    /// a panic becomes `500 internal_error`.
    fn generate(&mut self, request: &GenerateRequest) -> Result<MotionResult, ProtocolError>;

    /// Optional batch hook: every valid item of one batch body that names
    /// this model, in item order, in one call (a model that batches on the
    /// GPU runs them together). Return one entry per request, in order; a
    /// list of the wrong length fails every item of the group with
    /// `internal_error`, and so does a panic. `None` (the default) means no
    /// hook: the host calls [`Backbone::generate`] per item instead. Single
    /// requests always go through `generate`. The host calls it once after
    /// `setup` with no requests, to learn whether there is a hook: answer
    /// `Some(vec![])` then.
    fn generate_batch(
        &mut self,
        requests: &[GenerateRequest],
    ) -> Option<Vec<Result<MotionResult, ProtocolError>>> {
        let _ = requests;
        None
    }
}

/// Exports a [`Backbone`] type as this component's implementation of the
/// MMCP backbone world.
///
/// `export_backbone!(MyModel)` builds the instance with `Default`;
/// `export_backbone!(MyModel, MyModel::new(...))` with the given expression.
/// The instance is created lazily on the first call.
#[macro_export]
macro_rules! export_backbone {
    ($ty:ty) => {
        $crate::export_backbone!($ty, <$ty as ::core::default::Default>::default());
    };
    ($ty:ty, $init:expr) => {
        const _: () = {
            struct __MmcpBackbone;

            ::std::thread_local! {
                static __MMCP_INSTANCE: ::core::cell::RefCell<::core::option::Option<$ty>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            fn __with<R>(f: impl ::core::ops::FnOnce(&mut $ty) -> R) -> R {
                __MMCP_INSTANCE.with(|cell| {
                    let mut slot = cell.borrow_mut();
                    f(slot.get_or_insert_with(|| $init))
                })
            }

            impl $crate::__private::Guest for __MmcpBackbone {
                fn setup() -> ::core::result::Result<(), ::std::string::String> {
                    __with(|b| $crate::Backbone::setup(b))
                }
                fn teardown() {
                    __with(|b| $crate::Backbone::teardown(b))
                }
                fn capabilities() -> $crate::ModelSpec {
                    __with(|b| $crate::Backbone::capabilities(b))
                }
                fn generate(
                    request: $crate::GenerateRequest,
                ) -> ::core::result::Result<$crate::MotionResult, $crate::ProtocolError> {
                    __with(|b| $crate::Backbone::generate(b, &request))
                }
            }

            impl $crate::__private::BatchGuest for __MmcpBackbone {
                fn generate_batch(
                    requests: ::std::vec::Vec<$crate::GenerateRequest>,
                ) -> ::core::option::Option<
                    ::std::vec::Vec<
                        ::core::result::Result<$crate::MotionResult, $crate::ProtocolError>,
                    >,
                > {
                    __with(|b| $crate::Backbone::generate_batch(b, &requests))
                }
            }

    $crate::bindings::__export_world!(__MmcpBackbone with_types_in $crate::bindings);
        };
    };
}

/// The README's backbone example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::exports::mmcp::backbone::backbone::Guest;
    pub use crate::bindings::exports::mmcp::backbone::batch::Guest as BatchGuest;
    pub use wit_bindgen::rt;
}
