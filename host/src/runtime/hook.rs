//! The optional `batch` export: a backbone's `generate-batch` hook, which
//! runs the valid items of one batch body that name its model in one call.
//! Components without the export, and SDK components that answer `none`,
//! get `generate` once per item instead.

use wasmtime::component::{Component, ComponentExportIndex, Instance, TypedFunc};
use wasmtime::AsContextMut;

use crate::bindings::mmcp::backbone::types as wit;
use crate::bindings::MotionResult;

/// The interface a batching component exports.
pub const BATCH_INTERFACE: &str = "mmcp:backbone/batch@0.1.0";

/// `generate-batch` as the host calls it.
pub type BatchFunc = TypedFunc<
    (Vec<wit::GenerateRequest>,),
    (Option<Vec<Result<MotionResult, wit::ProtocolError>>>,),
>;

/// Where `generate-batch` sits in `component`, when it exports one.
pub fn find(component: &Component) -> Option<ComponentExportIndex> {
    let interface = component.get_export_index(None, BATCH_INTERFACE)?;
    component.get_export_index(Some(&interface), "generate-batch")
}

/// The hook in a fresh instance; a `generate-batch` of another type is an
/// error (the component does not follow the WIT it claims).
pub fn load(
    store: impl AsContextMut,
    instance: &Instance,
    index: &ComponentExportIndex,
) -> wasmtime::Result<BatchFunc> {
    instance.get_typed_func(store, index)
}
