//! Step V7: the request schema (mmcp.md §4). Every violation is collected;
//! per-object rules run only when that object's own fields are valid, and the
//! top-level cross-field rules only when every top-level field is.

use serde_json::{json, Value};

use super::fields::*;
use crate::request::*;

const SEGMENT_TAGS: &str = "'text', 'unconditioned', 'pose', 'motion_reference', 'video_reference'";
const CONSTRAINT_TAGS: &str = "'root_path', 'effector_target', 'pose_keyframe', 'ground_height'";

/// Parses a single generate request, or returns every violation found.
pub fn parse_request(body: &Value) -> Result<GenerateRequest, Errors> {
    let mut errs = Errors::default();
    let parsed = request(body, &mut errs);
    match parsed {
        Some(req) if errs.is_empty() => Ok(req),
        _ => Err(errs),
    }
}

fn request(body: &Value, errs: &mut Errors) -> Option<GenerateRequest> {
    let obj = Object::model(body, vec![], "GenerateRequest", errs)?;
    let before = errs.len();
    obj.closed(
        &[
            "protocol_version",
            "model",
            "skeleton",
            "segments",
            "constraints",
            "duration_frames",
            "timing",
            "options",
        ],
        errs,
    );

    let protocol_version = obj
        .required("protocol_version", errs)
        .and_then(|v| protocol_version(v, obj.field_loc("protocol_version"), errs));
    let model = obj
        .required("model", errs)
        .and_then(|v| string(v, obj.field_loc("model"), errs));
    let skeleton = obj
        .required("skeleton", errs)
        .and_then(|v| skeleton(v, obj.field_loc("skeleton"), errs));
    let segments = match obj.map.get("segments") {
        None => Some(Vec::new()),
        Some(v) => list(v, obj.field_loc("segments"), 0, errs, segment),
    };
    let constraints = match obj.map.get("constraints") {
        None => Some(Vec::new()),
        Some(v) => list(v, obj.field_loc("constraints"), 0, errs, constraint),
    };
    let duration_frames = optional(obj.get("duration_frames"), |v| {
        int_in(v, obj.field_loc("duration_frames"), &[Bound::Gt(0.0)], errs)
    });
    let timing_fps = optional(obj.get("timing"), |v| {
        timing(v, obj.field_loc("timing"), errs)
    });
    let options = optional(obj.get("options"), |v| {
        options(v, obj.field_loc("options"), errs)
    });

    if errs.len() > before {
        return None;
    }
    let (segments, constraints, duration_frames) = (segments?, constraints?, duration_frames?);
    let cross = if segments.is_empty() && constraints.is_empty() {
        Some("at least one of `segments` or `constraints` must be non-empty")
    } else if segments.is_empty() && duration_frames.is_none() {
        Some("`duration_frames` is required when `segments` is empty")
    } else if !segments.is_empty() && duration_frames.is_some() {
        Some("`duration_frames` is forbidden when `segments` is non-empty")
    } else {
        None
    };
    if let Some(msg) = cross {
        errs.value_error(vec![], msg);
        return None;
    }
    Some(GenerateRequest {
        protocol_version: protocol_version?,
        model: model?,
        skeleton: skeleton?,
        segments,
        constraints,
        duration_frames,
        timing_fps: timing_fps?,
        options: options?,
    })
}

/// Reads an optional field: absent or null → `Some(None)`; invalid → `None`.
fn optional<T>(v: Option<&Value>, read: impl FnOnce(&Value) -> Option<T>) -> Option<Option<T>> {
    match v {
        None => Some(None),
        Some(v) => read(v).map(Some),
    }
}

/// `^\d+\.\d+$` over ASCII digits (mmcp.md §9 allows restricting to ASCII).
pub fn is_version(s: &str) -> bool {
    match s.split_once('.') {
        Some((major, minor)) => {
            let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            digits(major) && digits(minor)
        }
        None => false,
    }
}

fn protocol_version(v: &Value, loc: Loc, errs: &mut Errors) -> Option<String> {
    let s = string(v, loc.clone(), errs)?;
    if is_version(&s) {
        Some(s)
    } else {
        errs.push(
            "string_pattern_mismatch",
            loc,
            "String should match pattern '^\\d+\\.\\d+$'",
            Some(json!({"pattern": "^\\d+\\.\\d+$"})),
        );
        None
    }
}

pub fn skeleton(v: &Value, loc: Loc, errs: &mut Errors) -> Option<Skeleton> {
    let obj = Object::model(v, loc.clone(), "Skeleton", errs)?;
    let before = errs.len();
    obj.closed(&["joints", "coordinate_system", "units"], errs);
    let joints = obj
        .required("joints", errs)
        .and_then(|v| list(v, obj.field_loc("joints"), 1, errs, joint));
    if let Some(v) = obj.map.get("coordinate_system") {
        literal(
            v,
            obj.field_loc("coordinate_system"),
            &[("right_handed_y_up", ())],
            errs,
        );
    }
    if let Some(v) = obj.map.get("units") {
        literal(v, obj.field_loc("units"), &[("meters", ())], errs);
    }
    if errs.len() > before {
        return None;
    }
    let skeleton = Skeleton { joints: joints? };
    if let Some(msg) = topology_error(&skeleton) {
        errs.topology(loc, msg);
        return None;
    }
    Some(skeleton)
}

/// The first topology rule a skeleton breaks (mmcp.md §4.2), in rule order.
pub fn topology_error(skeleton: &Skeleton) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    if !skeleton.joints.iter().all(|j| seen.insert(j.name.as_str())) {
        return Some("joint names must be unique within the skeleton".into());
    }
    let roots = skeleton
        .joints
        .iter()
        .filter(|j| j.parent.is_none())
        .count();
    if roots != 1 {
        return Some(format!(
            "exactly one joint must have parent=null; got {roots}"
        ));
    }
    let mut defined = std::collections::HashSet::new();
    for j in &skeleton.joints {
        if let Some(parent) = &j.parent {
            if !defined.contains(parent.as_str()) {
                return Some(format!(
                    "joint {} references parent {} that is not defined or appears later in the joints list",
                    crate::error::py_repr(&j.name),
                    crate::error::py_repr(parent)
                ));
            }
        }
        defined.insert(j.name.as_str());
    }
    None
}

fn joint(v: &Value, loc: Loc, errs: &mut Errors) -> Option<Joint> {
    let obj = Object::model(v, loc, "Joint", errs)?;
    obj.closed(
        &[
            "name",
            "parent",
            "rest_translation",
            "rest_rotation",
            "display_name",
        ],
        errs,
    );
    let name = obj
        .required("name", errs)
        .and_then(|v| string_len(v, obj.field_loc("name"), 1, Some(128), errs));
    let parent = optional(obj.get("parent"), |v| {
        string(v, obj.field_loc("parent"), errs)
    });
    let rest_translation = obj
        .required("rest_translation", errs)
        .and_then(|v| tuple::<3>(v, obj.field_loc("rest_translation"), errs));
    let rest_rotation = obj
        .required("rest_rotation", errs)
        .and_then(|v| tuple::<4>(v, obj.field_loc("rest_rotation"), errs));
    let display_name = optional(obj.get("display_name"), |v| {
        string_len(v, obj.field_loc("display_name"), 0, Some(256), errs)
    });
    Some(Joint {
        name: name?,
        parent: parent?,
        rest_translation: rest_translation?,
        rest_rotation: rest_rotation?,
        display_name: display_name?,
    })
}

/// Resolves a tagged-union member: the object and its tag, or the tag error.
fn tagged<'a>(
    v: &'a Value,
    loc: &Loc,
    tags: &str,
    errs: &mut Errors,
) -> Option<(Object<'a>, String)> {
    let Value::Object(map) = v else {
        errs.push(
            "model_attributes_type",
            loc.clone(),
            "Input should be a valid dictionary or object to extract fields from",
            None,
        );
        return None;
    };
    match map.get("type") {
        None => {
            errs.push(
                "union_tag_not_found",
                loc.clone(),
                "Unable to extract tag using discriminator 'type'",
                Some(json!({"discriminator": "'type'"})),
            );
            None
        }
        Some(tag) => {
            let tag_text = match tag {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let known = tags.split(", ").any(|t| t.trim_matches('\'') == tag_text);
            if tag.is_string() && known {
                let obj = Object {
                    map,
                    loc: at(loc, tag_text.as_str()),
                };
                Some((obj, tag_text))
            } else {
                // A non-string tag (an array, an object) is an unknown tag (D4).
                errs.push(
                    "union_tag_invalid",
                    loc.clone(),
                    format!(
                        "Input tag '{tag_text}' found using 'type' does not match any of the expected tags: {tags}"
                    ),
                    Some(json!({"discriminator": "'type'", "tag": tag_text, "expected_tags": tags})),
                );
                None
            }
        }
    }
}

fn seed(obj: &Object, errs: &mut Errors) -> Option<Option<i64>> {
    optional(obj.get("seed"), |v| integer(v, obj.field_loc("seed"), errs))
}

fn duration(obj: &Object, errs: &mut Errors) -> Option<i64> {
    obj.required("duration_frames", errs)
        .and_then(|v| int_in(v, obj.field_loc("duration_frames"), &[Bound::Gt(0.0)], errs))
}

fn language(obj: &Object, errs: &mut Errors) -> Option<Option<String>> {
    match obj.map.get("language") {
        None => Some(Some("en".into())),
        Some(Value::Null) => Some(None),
        Some(v) => string(v, obj.field_loc("language"), errs).map(Some),
    }
}

fn prompt(obj: &Object, errs: &mut Errors) -> Option<String> {
    obj.required("prompt", errs)
        .and_then(|v| string_len(v, obj.field_loc("prompt"), 1, None, errs))
}

fn segment(v: &Value, loc: Loc, errs: &mut Errors) -> Option<Segment> {
    let (obj, tag) = tagged(v, &loc, SEGMENT_TAGS, errs)?;
    match tag.as_str() {
        "text" => {
            obj.closed(
                &["type", "prompt", "duration_frames", "language", "seed"],
                errs,
            );
            let prompt = prompt(&obj, errs);
            let duration_frames = duration(&obj, errs);
            let language = language(&obj, errs);
            let seed = seed(&obj, errs);
            Some(Segment::Text {
                prompt: prompt?,
                duration_frames: duration_frames?,
                language: language?,
                seed: seed?,
            })
        }
        "unconditioned" => {
            obj.closed(&["type", "duration_frames", "seed"], errs);
            let duration_frames = duration(&obj, errs);
            let seed = seed(&obj, errs);
            Some(Segment::Unconditioned {
                duration_frames: duration_frames?,
                seed: seed?,
            })
        }
        "pose" => {
            obj.closed(&["type", "prompt", "language"], errs);
            let prompt = prompt(&obj, errs);
            let language = language(&obj, errs);
            Some(Segment::Pose {
                prompt: prompt?,
                language: language?,
            })
        }
        "motion_reference" => motion_reference(&obj, errs).map(Segment::MotionReference),
        _ => video_reference(&obj, errs).map(Segment::VideoReference),
    }
}

fn motion_reference(obj: &Object, errs: &mut Errors) -> Option<MotionReference> {
    let before = errs.len();
    obj.closed(
        &[
            "type",
            "duration_frames",
            "skeleton",
            "joint_names",
            "rotations",
            "root_positions",
            "fps",
            "seed",
        ],
        errs,
    );
    let duration_frames = duration(obj, errs);
    let skel = optional(obj.get("skeleton"), |v| {
        skeleton(v, obj.field_loc("skeleton"), errs)
    });
    let joint_names = obj.required("joint_names", errs).and_then(|v| {
        list(v, obj.field_loc("joint_names"), 1, errs, |v, l, e| {
            string(v, l, e)
        })
    });
    let rotations = obj.required("rotations", errs).and_then(|v| {
        list(v, obj.field_loc("rotations"), 2, errs, |v, l, e| {
            list(v, l, 0, e, tuple::<4>)
        })
    });
    let root_positions = obj.required("root_positions", errs).and_then(|v| {
        list(v, obj.field_loc("root_positions"), 2, errs, |v, l, e| {
            tuple::<3>(v, l, e)
        })
    });
    let fps = obj
        .required("fps", errs)
        .and_then(|v| number_in(v, obj.field_loc("fps"), &[Bound::Gt(0.0)], errs));
    let seed = seed(obj, errs);
    if errs.len() > before {
        return None;
    }
    let m = MotionReference {
        duration_frames: duration_frames?,
        skeleton: skel?,
        joint_names: joint_names?,
        rotations: rotations?,
        root_positions: root_positions?,
        fps: fps?,
        seed: seed?,
    };
    let mut unique = std::collections::HashSet::new();
    let rule = if !m.joint_names.iter().all(|n| unique.insert(n)) {
        Some("joint_names must be unique".to_string())
    } else if m.root_positions.len() != m.rotations.len() {
        Some(format!(
            "root_positions must have {} entries (one per frame), got {}",
            m.rotations.len(),
            m.root_positions.len()
        ))
    } else {
        m.rotations
            .iter()
            .position(|frame| frame.len() != m.joint_names.len())
            .map(|i| {
                format!(
                    "rotations[{i}] must have {} quaternions (one per joint name), got {}",
                    m.joint_names.len(),
                    m.rotations[i].len()
                )
            })
    };
    if let Some(msg) = rule {
        errs.value_error(obj.loc.clone(), &msg);
        return None;
    }
    Some(m)
}

fn video_reference(obj: &Object, errs: &mut Errors) -> Option<VideoReference> {
    let before = errs.len();
    obj.closed(
        &[
            "type",
            "duration_frames",
            "video",
            "start_s",
            "end_s",
            "fps",
            "seed",
        ],
        errs,
    );
    let duration_frames = duration(obj, errs);
    let video = obj
        .required("video", errs)
        .and_then(|v| video(v, obj.field_loc("video"), errs));
    let start_s = optional(obj.get("start_s"), |v| {
        number_in(v, obj.field_loc("start_s"), &[Bound::Ge(0.0)], errs)
    });
    let end_s = optional(obj.get("end_s"), |v| {
        number_in(v, obj.field_loc("end_s"), &[Bound::Gt(0.0)], errs)
    });
    let fps = optional(obj.get("fps"), |v| {
        number_in(v, obj.field_loc("fps"), &[Bound::Gt(0.0)], errs)
    });
    let seed = seed(obj, errs);
    if errs.len() > before {
        return None;
    }
    let (start_s, end_s) = (start_s?, end_s?);
    if let (Some(start), Some(end)) = (start_s, end_s) {
        if start >= end {
            errs.value_error(obj.loc.clone(), "start_s must be less than end_s");
            return None;
        }
    }
    Some(VideoReference {
        duration_frames: duration_frames?,
        video: video?,
        start_s,
        end_s,
        fps: fps?,
        seed: seed?,
    })
}

const MEDIA_TYPES: [(&str, MediaType); 3] = [
    ("video/mp4", MediaType::Mp4),
    ("video/quicktime", MediaType::Quicktime),
    ("video/webm", MediaType::Webm),
];

fn video(v: &Value, loc: Loc, errs: &mut Errors) -> Option<Video> {
    let obj = Object::model(v, loc.clone(), "VideoSource", errs)?;
    let before = errs.len();
    obj.closed(&["url", "data", "media_type"], errs);
    let url = optional(obj.get("url"), |v| {
        string_len(v, obj.field_loc("url"), 1, None, errs)
    });
    let data = optional(obj.get("data"), |v| {
        string_len(v, obj.field_loc("data"), 1, None, errs)
    });
    let media_type = optional(obj.get("media_type"), |v| {
        literal(v, obj.field_loc("media_type"), &MEDIA_TYPES, errs)
    });
    if errs.len() > before {
        return None;
    }
    let (url, data, media_type) = (url?, data?, media_type?);
    let rule: Result<Video, String> = match (url, data) {
        (Some(_), Some(_)) | (None, None) => Err("video needs exactly one of `url` or `data`".into()),
        (Some(_), None) if media_type.is_some() => Err("`media_type` goes with `data`, not `url`".into()),
        (Some(url), None) => url_rule(&url).map(|_| Video::Url(url)),
        (None, Some(data)) => match media_type {
            None => Err(
                "video.data needs a `media_type`, one of ['video/mp4', 'video/quicktime', 'video/webm']"
                    .into(),
            ),
            Some(media_type) => base64_rule(&data).map(|_| Video::Data { base64: data, media_type }),
        },
    };
    match rule {
        Ok(video) => Some(video),
        Err(msg) => {
            errs.value_error(loc, &msg);
            None
        }
    }
}

/// The URL rule of mmcp.md §4.3.5, in its order.
pub fn url_rule(url: &str) -> Result<(), String> {
    if url.chars().count() > 4096 {
        return Err("video.url is longer than 4096 characters".into());
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || (c as u32) < 0x20 || c as u32 == 0x7f)
    {
        return Err("video.url must not contain whitespace or control characters".into());
    }
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err("video.url must be an https URL".into());
    };
    if !scheme.eq_ignore_ascii_case("https") {
        return Err("video.url must be an https URL".into());
    }
    let authority = rest
        .strip_prefix("//")
        .map(|r| r.split(['/', '?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    if authority.contains('@') {
        return Err("video.url must not carry user info".into());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => ("", None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("video.url needs a host".into());
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && matches!(port.parse::<u32>(), Ok(1..=65535));
        if !valid {
            return Err("video.url has an invalid port".into());
        }
    }
    Ok(())
}

/// Standard padded base64 without whitespace (mmcp.md §4.3.5).
pub fn base64_rule(data: &str) -> Result<(), String> {
    let bytes = data.as_bytes();
    let body = data.trim_end_matches('=');
    let pad = bytes.len() - body.len();
    let valid = bytes.len() % 4 == 0
        && pad <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    let decoded = (bytes.len() / 4 * 3).saturating_sub(pad);
    if !valid {
        Err("video.data must be standard base64 (RFC 4648 alphabet, padded, no whitespace)".into())
    } else if decoded == 0 {
        Err("video.data decodes to no bytes".into())
    } else {
        Ok(())
    }
}

fn frames(obj: &Object, errs: &mut Errors) -> Option<Vec<i64>> {
    obj.required("frames", errs).and_then(|v| {
        list(v, obj.field_loc("frames"), 1, errs, |v, l, e| {
            integer(v, l, e)
        })
    })
}

fn constraint(v: &Value, loc: Loc, errs: &mut Errors) -> Option<Constraint> {
    let (obj, tag) = tagged(v, &loc, CONSTRAINT_TAGS, errs)?;
    let before = errs.len();
    match tag.as_str() {
        "root_path" => {
            obj.closed(&["type", "frames", "positions_xz", "heading_radians"], errs);
            let frames = frames(&obj, errs);
            let positions_xz = obj.required("positions_xz", errs).and_then(|v| {
                list(v, obj.field_loc("positions_xz"), 1, errs, |v, l, e| {
                    tuple::<2>(v, l, e)
                })
            });
            let heading = optional(obj.get("heading_radians"), |v| {
                list(v, obj.field_loc("heading_radians"), 0, errs, |v, l, e| {
                    number(v, l, e)
                })
            });
            if errs.len() > before {
                return None;
            }
            let (frames, positions_xz, heading_radians) = (frames?, positions_xz?, heading?);
            let rule = if positions_xz.len() != frames.len() {
                Some(format!(
                    "positions_xz must have length {}, got {}",
                    frames.len(),
                    positions_xz.len()
                ))
            } else if let Some(h) = heading_radians.as_ref().filter(|h| h.len() != frames.len()) {
                Some(format!(
                    "heading_radians must have length {}, got {}",
                    frames.len(),
                    h.len()
                ))
            } else if frames.windows(2).any(|w| w[0] >= w[1]) {
                Some("frames must be strictly ascending".into())
            } else {
                None
            };
            if let Some(msg) = rule {
                errs.value_error(obj.loc.clone(), &msg);
                return None;
            }
            Some(Constraint::RootPath {
                frames,
                positions_xz,
                heading_radians,
            })
        }
        "effector_target" => {
            obj.closed(&["type", "joint", "frames", "positions", "rotations"], errs);
            let joint = obj
                .required("joint", errs)
                .and_then(|v| string(v, obj.field_loc("joint"), errs));
            let frames = frames(&obj, errs);
            let positions = obj.required("positions", errs).and_then(|v| {
                list(v, obj.field_loc("positions"), 1, errs, |v, l, e| {
                    tuple::<3>(v, l, e)
                })
            });
            let rotations = optional(obj.get("rotations"), |v| {
                list(v, obj.field_loc("rotations"), 0, errs, |v, l, e| {
                    tuple::<4>(v, l, e)
                })
            });
            if errs.len() > before {
                return None;
            }
            let (joint, frames, positions, rotations) = (joint?, frames?, positions?, rotations?);
            let rule = if positions.len() != frames.len() {
                Some(format!(
                    "positions must have length {}, got {}",
                    frames.len(),
                    positions.len()
                ))
            } else {
                rotations
                    .as_ref()
                    .filter(|r| r.len() != frames.len())
                    .map(|r| {
                        format!(
                            "rotations must have length {}, got {}",
                            frames.len(),
                            r.len()
                        )
                    })
            };
            if let Some(msg) = rule {
                errs.value_error(obj.loc.clone(), &msg);
                return None;
            }
            Some(Constraint::EffectorTarget {
                joint,
                frames,
                positions,
                rotations,
            })
        }
        "pose_keyframe" => {
            obj.closed(
                &[
                    "type",
                    "frame",
                    "joint_rotations",
                    "root_position",
                    "fill_mode",
                ],
                errs,
            );
            let frame = obj
                .required("frame", errs)
                .and_then(|v| int_in(v, obj.field_loc("frame"), &[Bound::Ge(0.0)], errs));
            let joint_rotations = obj
                .required("joint_rotations", errs)
                .and_then(|v| joint_rotations(v, obj.field_loc("joint_rotations"), errs));
            let root_position = optional(obj.get("root_position"), |v| {
                tuple::<3>(v, obj.field_loc("root_position"), errs)
            });
            let fill_mode = match obj.map.get("fill_mode") {
                None => Some(FillMode::Generate),
                Some(v) => literal(
                    v,
                    obj.field_loc("fill_mode"),
                    &[("rest", FillMode::Rest), ("generate", FillMode::Generate)],
                    errs,
                ),
            };
            Some(Constraint::PoseKeyframe {
                frame: frame?,
                joint_rotations: joint_rotations?,
                root_position: root_position?,
                fill_mode: fill_mode?,
            })
        }
        _ => {
            obj.closed(&["type", "points"], errs);
            let points = obj.required("points", errs).and_then(|v| {
                list(v, obj.field_loc("points"), 1, errs, |v, l, e| {
                    tuple::<3>(v, l, e)
                })
            });
            Some(Constraint::GroundHeight { points: points? })
        }
    }
}

fn joint_rotations(v: &Value, loc: Loc, errs: &mut Errors) -> Option<Vec<(String, [f64; 4])>> {
    let Value::Object(map) = v else {
        errs.push("dict_type", loc, "Input should be a valid dictionary", None);
        return None;
    };
    let mut out = Vec::with_capacity(map.len());
    let mut ok = true;
    for (name, q) in map {
        match tuple::<4>(q, at(&loc, name.as_str()), errs) {
            Some(q) => out.push((name.clone(), q)),
            None => ok = false,
        }
    }
    if map.is_empty() {
        errs.push(
            "too_short",
            loc,
            "Dictionary should have at least 1 item after validation, not 0",
            Some(json!({"field_type": "Dictionary", "min_length": 1, "actual_length": 0})),
        );
        return None;
    }
    ok.then_some(out)
}

fn timing(v: &Value, loc: Loc, errs: &mut Errors) -> Option<f64> {
    let obj = Object::model(v, loc, "Timing", errs)?;
    obj.closed(&["fps"], errs);
    obj.required("fps", errs)
        .and_then(|v| number_in(v, obj.field_loc("fps"), &[Bound::Gt(0.0)], errs))
}

fn options(v: &Value, loc: Loc, errs: &mut Errors) -> Option<Options> {
    let obj = Object::model(v, loc, "Options", errs)?;
    obj.closed(
        &[
            "diffusion_steps",
            "num_samples",
            "seed",
            "post_processing",
            "transition_frames",
            "guidance",
            "loop",
            "keyframe_budget",
            "model_options",
        ],
        errs,
    );
    let d = Options::default();
    let int_field =
        |key: &str, default: i64, bounds: &[Bound], errs: &mut Errors| match obj.map.get(key) {
            None => Some(default),
            Some(v) => int_in(v, obj.field_loc(key), bounds, errs),
        };
    let diffusion_steps = int_field(
        "diffusion_steps",
        d.diffusion_steps,
        &[Bound::Ge(1.0), Bound::Le(500.0)],
        errs,
    );
    let num_samples = int_field(
        "num_samples",
        d.num_samples,
        &[Bound::Ge(1.0), Bound::Le(16.0)],
        errs,
    );
    let seed = optional(obj.get("seed"), |v| integer(v, obj.field_loc("seed"), errs));
    let bool_field = |key: &str, default: bool, errs: &mut Errors| match obj.map.get(key) {
        None => Some(default),
        Some(v) => boolean(v, obj.field_loc(key), errs),
    };
    let post_processing = bool_field("post_processing", d.post_processing, errs);
    let transition_frames = int_field(
        "transition_frames",
        d.transition_frames,
        &[Bound::Ge(0.0), Bound::Le(60.0)],
        errs,
    );
    let guidance = optional(obj.get("guidance"), |v| {
        guidance(v, obj.field_loc("guidance"), errs)
    });
    let loop_ = bool_field("loop", d.loop_, errs);
    let keyframe_budget = optional(obj.get("keyframe_budget"), |v| {
        number_in(v, obj.field_loc("keyframe_budget"), &[Bound::Gt(0.0)], errs)
    });
    let model_options = optional(obj.get("model_options"), |v| match v {
        Value::Object(map) => Some(map.clone()),
        _ => {
            errs.push(
                "dict_type",
                obj.field_loc("model_options"),
                "Input should be a valid dictionary",
                None,
            );
            None
        }
    });
    Some(Options {
        diffusion_steps: diffusion_steps?,
        num_samples: num_samples?,
        seed: seed?,
        post_processing: post_processing?,
        transition_frames: transition_frames?,
        guidance: guidance?,
        loop_: loop_?,
        keyframe_budget: keyframe_budget?,
        model_options: model_options?.filter(|m| !m.is_empty()),
    })
}

fn guidance(v: &Value, loc: Loc, errs: &mut Errors) -> Option<Guidance> {
    let obj = Object::model(v, loc.clone(), "Guidance", errs)?;
    let before = errs.len();
    obj.closed(&["type", "weight"], errs);
    let kind = obj.required("type", errs).and_then(|v| {
        literal(
            v,
            obj.field_loc("type"),
            &[
                ("nocfg", GuidanceType::Nocfg),
                ("regular", GuidanceType::Regular),
                ("separated", GuidanceType::Separated),
            ],
            errs,
        )
    });
    let weight = match obj.map.get("weight") {
        None => Some(Vec::new()),
        Some(v) => list(v, obj.field_loc("weight"), 0, errs, |v, l, e| {
            number(v, l, e)
        }),
    };
    if errs.len() > before {
        return None;
    }
    let (kind, weight) = (kind?, weight?);
    let (want, name) = match kind {
        GuidanceType::Nocfg => (0, "nocfg"),
        GuidanceType::Regular => (1, "regular"),
        GuidanceType::Separated => (2, "separated"),
    };
    if weight.len() != want {
        errs.value_error(
            loc,
            &format!(
                "guidance.weight must have length {want} for type='{name}', got {}",
                weight.len()
            ),
        );
        return None;
    }
    Some(Guidance { kind, weight })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ascii_digits_dot_digits() {
        for ok in ["1.4", "1.0", "01.4", "1.99"] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in ["1", "1.4.0", "v1.0", " 1.0", "1.4\n", "١.٤", ".4", "1."] {
            assert!(!is_version(bad), "{bad:?}");
        }
    }

    #[test]
    fn url_rule_follows_the_spec_order() {
        assert!(url_rule("https://cdn.example.com/a.mp4").is_ok());
        assert!(url_rule("HTTPS://cdn.example.com/a.mp4").is_ok());
        assert!(url_rule("https://[::1]:443/a").is_ok());
        for bad in [
            "http://cdn.example.com/a.mp4",
            "https://user:pw@cdn.example.com/a",
            "https:///a",
            "https://h:99999/a",
            "https://h:0/a",
            "https://h:x/a",
            "https://h/a b",
        ] {
            assert!(url_rule(bad).is_err(), "{bad}");
        }
        assert!(url_rule(&format!("https://h/{}", "a".repeat(4096))).is_err());
    }

    #[test]
    fn base64_rule_is_standard_padded() {
        assert!(base64_rule("QUJD").is_ok());
        assert!(base64_rule("QUI=").is_ok());
        for bad in ["QUJ", "====", "QU-_", "QU\nJD", "QU JD", "Q=JD"] {
            assert!(base64_rule(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn inline_video_size_is_arithmetic() {
        let v = Video::Data {
            base64: "QUI=".into(),
            media_type: MediaType::Mp4,
        };
        assert_eq!(v.num_bytes(), Some(2));
    }
}
