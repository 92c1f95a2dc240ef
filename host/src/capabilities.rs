//! `GET /capabilities` (mmcp.md §3) and the construction checks a backbone's
//! ModelSpec must pass at load time (backbone-contract.md §2).

use serde::Serialize;
use serde_json::Value;

use crate::bindings::{Chunking, ModelOption, ModelOptionType, ModelSpec, WitSkeleton};
use crate::request::{Joint, Skeleton};

pub const PROTOCOL_VERSION: &str = "1.4";

/// `GET /capabilities`: the keys of mmcp.md §3.1 in order.
#[derive(Serialize)]
pub struct Document<'a> {
    protocol_version: &'static str,
    rotation_format: &'static str,
    coordinate_system: &'static str,
    units: &'static str,
    response_formats: [&'static str; 2],
    models: Vec<ModelEntry<'a>>,
}

/// The whole document, models in registration order.
pub fn document<'a>(specs: impl Iterator<Item = &'a ModelSpec>) -> Document<'a> {
    Document {
        protocol_version: PROTOCOL_VERSION,
        rotation_format: "quaternion_xyzw",
        coordinate_system: "right_handed_y_up",
        units: "meters",
        // GLB on `Accept: model/gltf-binary` (mmcp.md §10.2).
        response_formats: ["gltf_2.0_json", "gltf_2.0_binary"],
        models: specs.map(model_entry).collect(),
    }
}

/// One model entry: the keys of mmcp.md §3.2 in order, and no others.
#[derive(Serialize)]
pub struct ModelEntry<'a> {
    id: &'a str,
    fps: f64,
    canonical_skeleton: CanonicalSkeleton<'a>,
    supports_retargeting: bool,
    supports_joint_translation: bool,
    /// The host runs such a model's requests as async jobs (D10, `jobs`).
    supports_async: bool,
    supports_segment_seed: bool,
    supports_loop: bool,
    supports_keyframe_reduction: bool,
    /// Omitted entirely when the model declares none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    model_options: Vec<OptionEntry<'a>>,
    supports_motion_reference_mixed: bool,
    supports_batch: bool,
    /// The host computes every model's trajectories (gltf-output.md §7.2
    /// option a), whatever the backbone claims, as the reference does.
    supports_trajectory: bool,
    supported_constraints: &'a [String],
    supported_segments: &'a [String],
    supported_guidance_types: &'a [String],
    predicted_contact_joints: &'a [String],
    native_clip_seconds: f64,
    chunking: &'static str,
    recommended_max_duration_seconds: f64,
    limits: LimitsEntry,
}

pub fn model_entry(spec: &ModelSpec) -> ModelEntry<'_> {
    ModelEntry {
        id: &spec.id,
        fps: spec.fps,
        canonical_skeleton: CanonicalSkeleton {
            joints: spec
                .canonical_skeleton
                .joints
                .iter()
                .map(|j| {
                    let (x, y, z) = j.rest_translation;
                    let (qx, qy, qz, qw) = j.rest_rotation;
                    CanonicalJoint {
                        name: &j.name,
                        parent: j.parent.as_deref(),
                        rest_translation: [x, y, z],
                        rest_rotation: [qx, qy, qz, qw],
                        display_name: j.display_name.as_deref(),
                    }
                })
                .collect(),
            coordinate_system: "right_handed_y_up",
            units: "meters",
        },
        supports_retargeting: spec.supports_retargeting,
        supports_joint_translation: spec.supports_joint_translation,
        supports_async: spec.supports_async,
        supports_segment_seed: spec.supports_segment_seed,
        supports_loop: spec.supports_loop,
        supports_keyframe_reduction: spec.supports_keyframe_reduction,
        model_options: spec.model_options.iter().map(option_entry).collect(),
        supports_motion_reference_mixed: spec
            .supported_segments
            .iter()
            .any(|s| s == "motion_reference"),
        supports_batch: true,
        supports_trajectory: true,
        supported_constraints: &spec.supported_constraints,
        supported_segments: &spec.supported_segments,
        supported_guidance_types: &spec.supported_guidance_types,
        predicted_contact_joints: &spec.predicted_contact_joints,
        native_clip_seconds: spec.native_clip_seconds,
        chunking: match spec.chunking {
            Chunking::None => "none",
            Chunking::Stitched => "stitched",
        },
        recommended_max_duration_seconds: spec.recommended_max_duration_seconds,
        limits: limits_entry(spec),
    }
}

/// The canonical skeleton, every joint with its `display_name` key.
#[derive(Serialize)]
struct CanonicalSkeleton<'a> {
    joints: Vec<CanonicalJoint<'a>>,
    coordinate_system: &'static str,
    units: &'static str,
}

#[derive(Serialize)]
struct CanonicalJoint<'a> {
    name: &'a str,
    parent: Option<&'a str>,
    rest_translation: [f64; 3],
    rest_rotation: [f64; 4],
    display_name: Option<&'a str>,
}

/// mmcp.md §3.3; the video and reference keys only when the model sets them.
#[derive(Serialize)]
struct LimitsEntry {
    max_duration_seconds: f64,
    max_num_samples: u32,
    max_constraints_per_request: u32,
    max_prompt_length: u32,
    max_request_bytes: u64,
    max_batch_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_reference_frames: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_video_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_video_seconds: Option<f64>,
}

fn limits_entry(spec: &ModelSpec) -> LimitsEntry {
    let l = &spec.limits;
    LimitsEntry {
        max_duration_seconds: l.max_duration_seconds,
        max_num_samples: l.max_num_samples,
        max_constraints_per_request: l.max_constraints_per_request,
        max_prompt_length: l.max_prompt_length,
        max_request_bytes: l.max_request_bytes,
        max_batch_size: l.max_batch_size,
        max_reference_frames: l.max_reference_frames,
        max_video_bytes: l.max_video_bytes,
        max_video_seconds: l.max_video_seconds,
    }
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

/// A model option (mmcp.md §3.4), every key present.
#[derive(Serialize)]
struct OptionEntry<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a Option<String>,
    description: &'a Option<String>,
    /// The backbone's JSON text, parsed (`null` when it is not JSON).
    default: Value,
    minimum: Option<f64>,
    maximum: Option<f64>,
    values: &'a Option<Vec<String>>,
}

fn option_entry(o: &ModelOption) -> OptionEntry<'_> {
    OptionEntry {
        name: &o.name,
        kind: option_type_name(o.kind),
        title: &o.title,
        description: &o.description,
        default: o
            .default
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .unwrap_or(Value::Null),
        minimum: o.minimum,
        maximum: o.maximum,
        values: &o.values,
    }
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
