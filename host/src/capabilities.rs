//! `GET /capabilities` (mmcp.md §3) and the construction checks a backbone's
//! ModelSpec must pass at load time (backbone-contract.md §2).

use serde_json::{json, Map, Value};

use crate::bindings::{Chunking, ModelOption, ModelOptionType, ModelSpec, WitSkeleton};
use crate::request::{Joint, Skeleton};

pub const PROTOCOL_VERSION: &str = "1.4";

/// The whole document, models in registration order.
pub fn document<'a>(specs: impl Iterator<Item = &'a ModelSpec>) -> Value {
    json!({
        "protocol_version": PROTOCOL_VERSION,
        "rotation_format": "quaternion_xyzw",
        "coordinate_system": "right_handed_y_up",
        "units": "meters",
        // GLB on `Accept: model/gltf-binary` (mmcp.md §10.2).
        "response_formats": ["gltf_2.0_json", "gltf_2.0_binary"],
        "models": specs.map(model_entry).collect::<Vec<_>>(),
    })
}

/// One model entry: the keys of mmcp.md §3.2 in order, and no others.
pub fn model_entry(spec: &ModelSpec) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(spec.id));
    m.insert("fps".into(), json!(spec.fps));
    m.insert(
        "canonical_skeleton".into(),
        skeleton_json(&spec.canonical_skeleton),
    );
    m.insert(
        "supports_retargeting".into(),
        json!(spec.supports_retargeting),
    );
    m.insert(
        "supports_joint_translation".into(),
        json!(spec.supports_joint_translation),
    );
    // The host runs such a model's requests as async jobs (D10, `jobs`).
    m.insert("supports_async".into(), json!(spec.supports_async));
    m.insert(
        "supports_segment_seed".into(),
        json!(spec.supports_segment_seed),
    );
    m.insert("supports_loop".into(), json!(spec.supports_loop));
    m.insert(
        "supports_keyframe_reduction".into(),
        json!(spec.supports_keyframe_reduction),
    );
    if !spec.model_options.is_empty() {
        let options: Vec<Value> = spec.model_options.iter().map(model_option_json).collect();
        m.insert("model_options".into(), Value::Array(options));
    }
    let mixed = spec
        .supported_segments
        .iter()
        .any(|s| s == "motion_reference");
    m.insert("supports_motion_reference_mixed".into(), json!(mixed));
    m.insert("supports_batch".into(), json!(true));
    // The host computes every model's trajectories (gltf-output.md §7.2
    // option a), whatever the backbone claims, as the reference does.
    m.insert("supports_trajectory".into(), json!(true));
    m.insert(
        "supported_constraints".into(),
        json!(spec.supported_constraints),
    );
    m.insert("supported_segments".into(), json!(spec.supported_segments));
    m.insert(
        "supported_guidance_types".into(),
        json!(spec.supported_guidance_types),
    );
    m.insert(
        "predicted_contact_joints".into(),
        json!(spec.predicted_contact_joints),
    );
    m.insert(
        "native_clip_seconds".into(),
        json!(spec.native_clip_seconds),
    );
    let chunking = match spec.chunking {
        Chunking::None => "none",
        Chunking::Stitched => "stitched",
    };
    m.insert("chunking".into(), json!(chunking));
    m.insert(
        "recommended_max_duration_seconds".into(),
        json!(spec.recommended_max_duration_seconds),
    );
    m.insert("limits".into(), limits_json(spec));
    Value::Object(m)
}

fn skeleton_json(s: &WitSkeleton) -> Value {
    let joints: Vec<Value> = s
        .joints
        .iter()
        .map(|j| {
            let (x, y, z) = j.rest_translation;
            let (qx, qy, qz, qw) = j.rest_rotation;
            json!({
                "name": j.name,
                "parent": j.parent,
                "rest_translation": [x, y, z],
                "rest_rotation": [qx, qy, qz, qw],
                "display_name": j.display_name,
            })
        })
        .collect();
    json!({"joints": joints, "coordinate_system": "right_handed_y_up", "units": "meters"})
}

fn limits_json(spec: &ModelSpec) -> Value {
    let l = &spec.limits;
    let mut m = Map::new();
    m.insert("max_duration_seconds".into(), json!(l.max_duration_seconds));
    m.insert("max_num_samples".into(), json!(l.max_num_samples));
    m.insert(
        "max_constraints_per_request".into(),
        json!(l.max_constraints_per_request),
    );
    m.insert("max_prompt_length".into(), json!(l.max_prompt_length));
    m.insert("max_request_bytes".into(), json!(l.max_request_bytes));
    m.insert("max_batch_size".into(), json!(l.max_batch_size));
    if let Some(v) = l.max_reference_frames {
        m.insert("max_reference_frames".into(), json!(v));
    }
    if let Some(v) = l.max_video_bytes {
        m.insert("max_video_bytes".into(), json!(v));
    }
    if let Some(v) = l.max_video_seconds {
        m.insert("max_video_seconds".into(), json!(v));
    }
    Value::Object(m)
}

fn option_type_name(kind: ModelOptionType) -> &'static str {
    match kind {
        ModelOptionType::Number => "number",
        ModelOptionType::Integer => "integer",
        ModelOptionType::Boolean => "boolean",
        ModelOptionType::Enum => "enum",
        ModelOptionType::Flags => "flags",
    }
}

fn model_option_json(o: &ModelOption) -> Value {
    let default = o
        .default
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .unwrap_or(Value::Null);
    json!({
        "name": o.name,
        "type": option_type_name(o.kind),
        "title": o.title,
        "description": o.description,
        "default": default,
        "minimum": o.minimum,
        "maximum": o.maximum,
        "values": o.values,
    })
}

/// The request-side model of a WIT skeleton, for topology checks.
pub fn host_skeleton(s: &WitSkeleton) -> Skeleton {
    Skeleton {
        joints: s
            .joints
            .iter()
            .map(|j| Joint {
                name: j.name.clone(),
                parent: j.parent.clone(),
                rest_translation: [
                    j.rest_translation.0,
                    j.rest_translation.1,
                    j.rest_translation.2,
                ],
                rest_rotation: [
                    j.rest_rotation.0,
                    j.rest_rotation.1,
                    j.rest_rotation.2,
                    j.rest_rotation.3,
                ],
                display_name: j.display_name.clone(),
            })
            .collect(),
    }
}

/// The ModelSpec construction checks: a spec that fails one is a broken
/// backbone, refused at start-up with the reason.
pub fn check_spec(spec: &ModelSpec) -> Result<(), String> {
    if spec.id.is_empty() {
        return Err("model id must not be empty".into());
    }
    if !(spec.fps.is_finite() && spec.fps > 0.0) {
        return Err(format!("fps must be a finite number > 0, got {}", spec.fps));
    }
    let skeleton = host_skeleton(&spec.canonical_skeleton);
    if skeleton.joints.is_empty() {
        return Err("canonical_skeleton needs at least one joint".into());
    }
    for j in &skeleton.joints {
        let n = j.name.chars().count();
        if n == 0 || n > 128 {
            return Err(format!(
                "joint name {:?} must have 1 to 128 characters",
                j.name
            ));
        }
        let finite = j
            .rest_translation
            .iter()
            .chain(&j.rest_rotation)
            .all(|x| x.is_finite());
        if !finite {
            return Err(format!(
                "joint {:?} has a non-finite rest transform",
                j.name
            ));
        }
    }
    if let Some(msg) = crate::validate::schema::topology_error(&skeleton) {
        return Err(format!("canonical_skeleton: {msg}"));
    }
    let floats = [
        ("native_clip_seconds", spec.native_clip_seconds),
        (
            "recommended_max_duration_seconds",
            spec.recommended_max_duration_seconds,
        ),
        (
            "limits.max_duration_seconds",
            spec.limits.max_duration_seconds,
        ),
    ];
    if let Some((name, v)) = floats.iter().find(|(_, v)| !v.is_finite()) {
        return Err(format!("{name} must be finite, got {v}"));
    }
    let l = &spec.limits;
    if l.max_reference_frames == Some(0) || l.max_video_bytes == Some(0) {
        return Err("max_reference_frames and max_video_bytes must be > 0 when set".into());
    }
    if l.max_video_seconds
        .is_some_and(|s| !(s.is_finite() && s > 0.0))
    {
        return Err("max_video_seconds must be a finite number > 0 when set".into());
    }
    for o in &spec.model_options {
        check_option(o).map_err(|e| format!("model option {:?}: {e}", o.name))?;
    }
    Ok(())
}

fn check_option(o: &ModelOption) -> Result<(), String> {
    let mut chars = o.name.chars();
    let name_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && o.name.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok {
        return Err("name must match ^[a-z][a-z0-9_]{0,39}$".into());
    }
    if o.title.as_ref().is_some_and(|t| t.chars().count() > 80) {
        return Err("title is longer than 80 characters".into());
    }
    if o.description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 400)
    {
        return Err("description is longer than 400 characters".into());
    }
    if let Some(values) = &o.values {
        if values.len() > 32 {
            return Err("more than 32 values".into());
        }
    }
    let needs_values = matches!(o.kind, ModelOptionType::Enum | ModelOptionType::Flags);
    if needs_values && o.values.as_ref().is_none_or(|v| v.is_empty()) {
        return Err("enum and flags options need a non-empty values list".into());
    }
    if o.minimum
        .into_iter()
        .chain(o.maximum)
        .any(|x| !x.is_finite())
    {
        return Err("minimum and maximum must be finite".into());
    }
    if let Some(text) = &o.default {
        serde_json::from_str::<Value>(text).map_err(|e| format!("default is not JSON: {e}"))?;
    }
    Ok(())
}
