//! The validation pipeline for a single generate request, in the order of
//! mmcp.md §6: early version check (V5), segment-type gate (V6), schema (V7),
//! model lookup (V9), model-stage checks (M1–M11), per-model byte cap (V11).
//! The body cap and JSON decoding (P1–P5) happen in `http::body`.

pub mod fields;
pub mod model;
pub mod schema;

use std::sync::Arc;

use serde_json::{json, Value};

use crate::bindings::ModelSpec;
use crate::error::{py_repr, ApiError, ErrorCode};
use crate::request::GenerateRequest;

/// What validation needs to know about the hosted models.
pub trait Models {
    /// What a validated request carries to name its model (the registry's
    /// handle, so nothing looks the model up by name again).
    type Model;
    /// The model's spec as it stands (a snapshot: it may change later).
    fn spec(&self, id: &str) -> Option<Arc<ModelSpec>>;
    /// The model's handle and spec.
    fn model(&self, id: &str) -> Option<(Self::Model, Arc<ModelSpec>)>;
    /// Every hosted id.
    fn ids(&self) -> Vec<String>;
}

const SEGMENT_TYPES: [&str; 5] = [
    "text",
    "unconditioned",
    "pose",
    "motion_reference",
    "video_reference",
];

/// A request that passed validation, with the spec it was validated
/// against: the one its answer is encoded with, even if the model's spec
/// changes meanwhile.
pub struct Validated<M = Arc<crate::runtime::Backbone>> {
    pub request: GenerateRequest,
    pub spec: Arc<ModelSpec>,
    /// The model it names, as looked up during validation.
    pub model: M,
    /// What its generation keeps alive until the guest call ends.
    pub hold: crate::runtime::Hold,
    /// Where its backbone's progress reports go, when someone watches them.
    pub progress: Option<Arc<crate::runtime::Progress>>,
}

/// Runs V5 to V11 on a decoded body of `body_len` bytes.
pub fn single<M: Models>(
    body: &Value,
    body_len: usize,
    models: &M,
) -> Result<Validated<M::Model>, ApiError> {
    early_version(body)?;
    segment_gate(body, models)?;
    let request = schema_stage(body)?;
    let (model, spec) = lookup(&request.model, models)?;
    model::check(&request, &spec)?;
    model_byte_cap(body_len, &spec)?;
    Ok(Validated {
        request,
        spec,
        model,
        hold: None,
        progress: None,
    })
}

/// The major of a `digits.digits` version, compared without parsing so that
/// huge numbers cannot overflow.
fn major_is_one(version: &str) -> bool {
    let major = version.split('.').next().unwrap_or("");
    major.trim_start_matches('0') == "1"
}

pub fn version_unsupported(version: &str) -> ApiError {
    ApiError::new(
        ErrorCode::VersionUnsupported,
        format!(
            "protocol_version {} is not supported by this server",
            py_repr(version)
        ),
    )
    .with_details(json!({"supported_majors": ["1"]}))
}

/// V5: a well-formed version of another major is refused before anything
/// else is looked at.
fn early_version(body: &Value) -> Result<(), ApiError> {
    match body.get("protocol_version").and_then(Value::as_str) {
        Some(v) if schema::is_version(v) && !major_is_one(v) => Err(version_unsupported(v)),
        _ => Ok(()),
    }
}

/// V6: a known segment type that the named (hosted) model does not list is
/// refused before its payload is validated.
fn segment_gate(body: &Value, models: &impl Models) -> Result<(), ApiError> {
    let Some(spec) = body
        .get("model")
        .and_then(Value::as_str)
        .and_then(|m| models.spec(m))
    else {
        return Ok(());
    };
    let Some(segments) = body.get("segments").and_then(Value::as_array) else {
        return Ok(());
    };
    for kind in segments.iter().filter_map(|s| s.get("type")?.as_str()) {
        if SEGMENT_TYPES.contains(&kind) && !spec.supported_segments.iter().any(|t| t == kind) {
            return Err(model::unsupported_segment(kind, &spec));
        }
    }
    Ok(())
}

/// V7: schema errors are 422, unless one is a skeleton-topology error: then
/// the answer is 400 `invalid_skeleton` with only the topology errors.
pub fn schema_stage(body: &Value) -> Result<GenerateRequest, ApiError> {
    schema::parse_request(body).map_err(|errs| {
        let topology: Vec<&fields::SchemaError> = errs.list.iter().filter(|e| e.topology).collect();
        match topology.first() {
            Some(first) => ApiError::new(ErrorCode::InvalidSkeleton, first.msg.clone())
                .with_details(
                    json!({"errors": topology.iter().map(|e| e.to_json()).collect::<Vec<_>>()}),
                ),
            None => ApiError::new(
                ErrorCode::SchemaValidation,
                "request fails schema validation",
            )
            .with_details(
                json!({"errors": errs.list.iter().map(|e| e.to_json()).collect::<Vec<_>>()}),
            ),
        }
    })
}

/// V9
fn lookup<M: Models>(id: &str, models: &M) -> Result<(M::Model, Arc<ModelSpec>), ApiError> {
    models.model(id).ok_or_else(|| {
        let mut ids = models.ids();
        ids.sort();
        ApiError::new(
            ErrorCode::UnknownModel,
            format!("model {} is not registered with this server", py_repr(id)),
        )
        .with_details(json!({"available_models": ids}))
    })
}

/// V11: only reachable when the model's cap is below the global one.
fn model_byte_cap(body_len: usize, spec: &ModelSpec) -> Result<(), ApiError> {
    let cap = spec.limits.max_request_bytes;
    if body_len as u64 > cap {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is {body_len} bytes; max_request_bytes is {cap}"),
        )
        .with_details(json!({"max_request_bytes": cap, "request_bytes": body_len})));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_compare_numerically() {
        assert!(major_is_one("1.4"));
        assert!(major_is_one("01.4"));
        assert!(!major_is_one("2.0"));
        assert!(!major_is_one("0.9"));
        assert!(!major_is_one("10.0"));
        assert!(!major_is_one("100000000000000000000001.0"));
    }
}
