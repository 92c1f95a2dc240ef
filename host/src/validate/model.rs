//! Steps V9 and M1–M11 (mmcp.md §6.2): what a request must satisfy for the
//! model it names. Each check is one function, run in the spec's order.

use serde_json::{json, Value};

use crate::bindings::{ModelOptionType, ModelSpec};
use crate::error::{py_repr, py_value_repr, ApiError, ErrorCode};
use crate::request::{Constraint, GenerateRequest, Segment, Skeleton};

/// Runs M1–M11 in order; the first failure is the answer.
pub fn check(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    retargeting(req, spec)?;
    segment_types(req, spec)?;
    motion_references(req, spec)?;
    video_references(req, spec)?;
    model_options(req, spec)?;
    keyframe_budget(req, spec)?;
    loop_option(req, spec)?;
    constraints(req, spec)?;
    constraint_count(req, spec)?;
    num_samples(req, spec)?;
    prompt_lengths(req, spec)?;
    duration(req, spec)?;
    frame_range(req)
}

fn names_match(skeleton: &Skeleton, spec: &ModelSpec) -> bool {
    skeleton.names().eq(spec
        .canonical_skeleton
        .joints
        .iter()
        .map(|j| j.name.as_str()))
}

fn retargeting_unsupported() -> ApiError {
    ApiError::new(
        ErrorCode::RetargetingUnsupported,
        "this model does not support retargeting; send the canonical skeleton verbatim from /capabilities",
    )
}

/// M1: without retargeting, the request's joint names in order must be the
/// canonical ones (rest transforms are not compared).
fn retargeting(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    if spec.supports_retargeting || names_match(&req.skeleton, spec) {
        Ok(())
    } else {
        Err(retargeting_unsupported())
    }
}

pub fn unsupported_segment(kind: &str, spec: &ModelSpec) -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedSegment,
        format!(
            "segment type {} is not supported by this model",
            py_repr(kind)
        ),
    )
    .with_details(json!({"supported_segments": spec.supported_segments}))
}

/// M2 (also enforced earlier by the gate, V6).
fn segment_types(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    match req
        .segments
        .iter()
        .find(|s| !spec.supported_segments.iter().any(|t| t == s.kind()))
    {
        Some(s) => Err(unsupported_segment(s.kind(), spec)),
        None => Ok(()),
    }
}

fn unknown_joint(joint: &str, skeleton: &Skeleton, which: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownJoint,
        format!("joint {} is not in the {which}", py_repr(joint)),
    )
    .with_details(json!({"skeleton_joints": skeleton.sorted_names()}))
}

/// M3a: every motion_reference segment, all four checks per segment in turn.
fn motion_references(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    for (i, segment) in req.segments.iter().enumerate() {
        let Segment::MotionReference(m) = segment else {
            continue;
        };
        if let Some(own) = &m.skeleton {
            if !spec.supports_retargeting && !names_match(own, spec) {
                return Err(retargeting_unsupported());
            }
        }
        let (clip, which) = match &m.skeleton {
            Some(own) => (own, "motion_reference skeleton"),
            None => (&req.skeleton, "request skeleton"),
        };
        if let Some(name) = m.joint_names.iter().find(|n| !clip.contains(n)) {
            return Err(unknown_joint(name, clip, which));
        }
        // the joint with no parent, wherever the skeleton lists it (C195)
        let root = clip
            .joints
            .iter()
            .find(|j| j.parent.is_none())
            .map_or("", |j| j.name.as_str());
        if !m.joint_names.iter().any(|n| n == root) {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "motion_reference must include the {which}'s root joint {}",
                    py_repr(root)
                ),
            )
            .with_details(json!({"root_joint": root, "segment": i})));
        }
        let frames = m.rotations.len();
        if let Some(max) = spec.limits.max_reference_frames {
            if frames > max as usize {
                return Err(ApiError::invalid_options(format!(
                    "motion_reference segment {i} has {frames} frames; max_reference_frames is {max}"
                ))
                .with_details(json!({"max_reference_frames": max, "reference_frames": frames, "segment": i})));
            }
        }
    }
    Ok(())
}

/// M3b: every video_reference segment, after all motion references.
fn video_references(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    for (i, segment) in req.segments.iter().enumerate() {
        let Segment::VideoReference(v) = segment else {
            continue;
        };
        if let (Some(max), Some(size)) = (spec.limits.max_video_bytes, v.video.num_bytes()) {
            if size > max {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("video_reference segment {i} carries {size} bytes of video; max_video_bytes is {max}"),
                )
                .with_details(json!({"max_video_bytes": max, "video_bytes": size, "segment": i})));
            }
        }
        if let (Some(max), Some(seconds)) = (spec.limits.max_video_seconds, v.trimmed_seconds()) {
            if seconds > max {
                return Err(ApiError::invalid_options(format!(
                    "video_reference reads {}s of video; max_video_seconds is {}",
                    py_num(seconds),
                    py_num(max)
                ))
                .with_details(
                    json!({"max_video_seconds": max, "video_seconds": seconds, "segment": i}),
                ));
            }
        }
    }
    Ok(())
}

/// Python's `{:g}`-like spelling the reference uses for seconds (`6`, `2.5`).
fn py_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// M4: sent model options must be declared, and their values valid.
fn model_options(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    let Some(sent) = req.options.as_ref().and_then(|o| o.model_options.as_ref()) else {
        return Ok(());
    };
    if spec.model_options.is_empty() {
        let mut names: Vec<&String> = sent.keys().collect();
        names.sort();
        return Err(
            ApiError::invalid_options("this model declares no model_options")
                .with_details(json!({"model": spec.id, "sent": names})),
        );
    }
    for (name, value) in sent {
        let Some(option) = spec.model_options.iter().find(|o| &o.name == name) else {
            let mut declared: Vec<&String> = spec.model_options.iter().map(|o| &o.name).collect();
            declared.sort();
            return Err(ApiError::invalid_options(format!(
                "this model has no option {}",
                py_repr(name)
            ))
            .with_details(json!({"model": spec.id, "options": declared})));
        };
        if let Err(why) = option_value(
            option.kind,
            option.minimum,
            option.maximum,
            option.values.as_deref(),
            value,
        ) {
            return Err(
                ApiError::invalid_options(format!("options.model_options.{name}: {why}"))
                    .with_details(json!({"model": spec.id, "option": name, "value": value})),
            );
        }
    }
    Ok(())
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// The value rules of mmcp.md §6.2 M4; no coercion.
fn option_value(
    kind: ModelOptionType,
    minimum: Option<f64>,
    maximum: Option<f64>,
    values: Option<&[String]>,
    value: &Value,
) -> Result<(), String> {
    let listed = |s: &str| values.unwrap_or_default().iter().any(|v| v == s);
    let shown = |s: &[String]| py_value_repr(&json!(s));
    match kind {
        ModelOptionType::Boolean => match value {
            Value::Bool(_) => Ok(()),
            v => Err(format!("expected a boolean, got {}", kind_name(v))),
        },
        ModelOptionType::Number | ModelOptionType::Integer => {
            let Value::Number(n) = value else {
                // The reference's wording, "a integer" included.
                let wanted = if kind == ModelOptionType::Integer {
                    "integer"
                } else {
                    "number"
                };
                return Err(format!("expected a {wanted}, got {}", kind_name(value)));
            };
            let x = n.as_f64().unwrap_or(f64::NAN);
            if kind == ModelOptionType::Integer && x.fract() != 0.0 {
                return Err(format!("expected an integer, got {n}"));
            }
            if let Some(min) = minimum.filter(|&m| x < m) {
                return Err(format!("{n} is below the minimum {min:?}"));
            }
            if let Some(max) = maximum.filter(|&m| x > m) {
                return Err(format!("{n} is above the maximum {max:?}"));
            }
            Ok(())
        }
        ModelOptionType::Enum => match value {
            Value::String(s) if listed(s) => Ok(()),
            v => Err(format!(
                "{} is not one of {}",
                py_value_repr(v),
                shown(values.unwrap_or_default())
            )),
        },
        ModelOptionType::Flags => {
            let Value::Array(items) = value else {
                return Err(format!(
                    "expected a list of flags, got {}",
                    kind_name(value)
                ));
            };
            let bad: Vec<Value> = items
                .iter()
                .filter(|v| !v.as_str().is_some_and(listed))
                .cloned()
                .collect();
            if !bad.is_empty() {
                return Err(format!(
                    "{} not among {}",
                    py_value_repr(&Value::Array(bad)),
                    shown(values.unwrap_or_default())
                ));
            }
            let mut seen = std::collections::HashSet::new();
            if !items.iter().all(|v| seen.insert(v.as_str())) {
                return Err("the same flag is listed twice".into());
            }
            Ok(())
        }
    }
}

/// M5
fn keyframe_budget(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    let sent = req
        .options
        .as_ref()
        .is_some_and(|o| o.keyframe_budget.is_some());
    if sent && !spec.supports_keyframe_reduction {
        return Err(ApiError::invalid_options(
            "this model does not support options.keyframe_budget",
        )
        .with_details(json!({"model": spec.id})));
    }
    Ok(())
}

/// M6
fn loop_option(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    if !req.options.as_ref().is_some_and(|o| o.loop_) {
        return Ok(());
    }
    if !spec.supports_loop {
        return Err(
            ApiError::invalid_options("this model does not support options.loop")
                .with_details(json!({"model": spec.id})),
        );
    }
    let n = req.segments.len();
    if n != 1 {
        return Err(ApiError::invalid_options(format!(
            "options.loop needs exactly one segment; got {n}"
        ))
        .with_details(json!({"segments": n})));
    }
    Ok(())
}

/// M7: per constraint, in order: type, joints, frames.
fn constraints(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    let total = req.total_frames();
    for c in &req.constraints {
        if !spec.supported_constraints.iter().any(|t| t == c.kind()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedConstraint,
                format!(
                    "constraint type {} is not supported by this model",
                    py_repr(c.kind())
                ),
            )
            .with_details(json!({"supported_constraints": spec.supported_constraints})));
        }
        let joints: Vec<&str> = match c {
            Constraint::EffectorTarget { joint, .. } => vec![joint],
            Constraint::PoseKeyframe {
                joint_rotations, ..
            } => joint_rotations.iter().map(|(n, _)| n.as_str()).collect(),
            _ => Vec::new(),
        };
        if let Some(j) = joints.into_iter().find(|j| !req.skeleton.contains(j)) {
            return Err(unknown_joint(j, &req.skeleton, "request skeleton"));
        }
        if let Some(f) = c.frames().into_iter().find(|&f| f < 0 || f >= total) {
            return Err(frame_out_of_range(f, total));
        }
    }
    Ok(())
}

fn frame_out_of_range(frame: i64, total: i64) -> ApiError {
    ApiError::new(
        ErrorCode::FrameOutOfRange,
        format!("frame {frame} is outside [0, {}]", total - 1),
    )
    .with_details(json!({"frame": frame, "total_frames": total}))
}

/// M8
fn constraint_count(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    let (n, max) = (
        req.constraints.len(),
        spec.limits.max_constraints_per_request as usize,
    );
    if n > max {
        return Err(ApiError::invalid_options(format!(
            "too many constraints: {n} > {max}"
        )));
    }
    Ok(())
}

/// M9
fn num_samples(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    let n = req.options.as_ref().map_or(1, |o| o.num_samples);
    let max = spec.limits.max_num_samples as i64;
    if n > max {
        return Err(ApiError::invalid_options(format!(
            "num_samples {n} exceeds max_num_samples {max}"
        )));
    }
    Ok(())
}

/// M10: prompt length in code points, text and pose segments.
fn prompt_lengths(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    let max = spec.limits.max_prompt_length as usize;
    for prompt in req.segments.iter().filter_map(Segment::prompt) {
        let n = prompt.chars().count();
        if n > max {
            return Err(ApiError::invalid_options(format!(
                "prompt length {n} exceeds max_prompt_length {max}"
            )));
        }
    }
    Ok(())
}

/// M11: `total_frames / effective_fps` strictly above the limit is refused.
fn duration(req: &GenerateRequest, spec: &ModelSpec) -> Result<(), ApiError> {
    let fps = req.effective_fps(spec.fps);
    let seconds = req.total_frames() as f64 / fps;
    let max = spec.limits.max_duration_seconds;
    if seconds > max {
        return Err(ApiError::invalid_options(format!(
            "total duration {seconds:.2}s exceeds max_duration_seconds {max:?}"
        )));
    }
    Ok(())
}

/// Beyond the reference: the WIT carries frame counts as u32. Only reachable
/// with an absurd `timing.fps`; refused rather than truncated.
fn frame_range(req: &GenerateRequest) -> Result<(), ApiError> {
    let total = req.total_frames();
    if total > u32::MAX as i64 {
        return Err(ApiError::invalid_options(format!(
            "total_frames {total} exceeds the most this server generates ({})",
            u32::MAX
        )));
    }
    Ok(())
}
