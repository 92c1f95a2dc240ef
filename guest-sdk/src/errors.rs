//! Constructors for the protocol errors a backbone raises, mirroring the
//! reference SDK's (same codes, details and message wording).

use serde_json::{json, Map, Value};

use crate::{ErrorCode, ProtocolError};

impl ProtocolError {
    /// An error with this code and message and empty details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            details: String::new(),
        }
    }

    /// Replaces the details. Anything that is not a JSON object is wrapped as
    /// `{"value": ...}` so the envelope's `details` is always an object.
    pub fn with_details(mut self, details: Value) -> Self {
        let object = match details {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                let mut map = Map::new();
                map.insert("value".into(), other);
                map
            }
        };
        self.details = Value::Object(object).to_string();
        self
    }

    /// The details as a JSON object (`{}` when none were set).
    pub fn details_json(&self) -> Map<String, Value> {
        serde_json::from_str(&self.details).unwrap_or_default()
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }

    pub fn invalid_options(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidOptions, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn model_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ModelUnavailable, message)
    }

    pub fn resource_exhausted(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceExhausted, message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Timeout, message)
    }

    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, message)
    }

    pub fn unknown_model(model_id: &str, available: &[String]) -> Self {
        Self::new(
            ErrorCode::UnknownModel,
            format!(
                "model {} is not registered with this server",
                py_repr(model_id)
            ),
        )
        .with_details(json!({ "available_models": available }))
    }

    pub fn unsupported_constraint(kind: &str, supported: &[String]) -> Self {
        Self::new(
            ErrorCode::UnsupportedConstraint,
            format!(
                "constraint type {} is not supported by this model",
                py_repr(kind)
            ),
        )
        .with_details(json!({ "supported_constraints": supported }))
    }

    pub fn unsupported_segment(kind: &str, supported: &[String]) -> Self {
        Self::new(
            ErrorCode::UnsupportedSegment,
            format!(
                "segment type {} is not supported by this model",
                py_repr(kind)
            ),
        )
        .with_details(json!({ "supported_segments": supported }))
    }

    /// `skeleton` names the skeleton searched: "request skeleton" or
    /// "motion_reference skeleton".
    pub fn unknown_joint(joint: &str, skeleton_joints: &[String], skeleton: &str) -> Self {
        let mut sorted = skeleton_joints.to_vec();
        sorted.sort();
        Self::new(
            ErrorCode::UnknownJoint,
            format!("joint {} is not in the {skeleton}", py_repr(joint)),
        )
        .with_details(json!({ "skeleton_joints": sorted }))
    }

    pub fn frame_out_of_range(frame: i64, total_frames: u64) -> Self {
        Self::new(
            ErrorCode::FrameOutOfRange,
            format!("frame {frame} is outside [0, {}]", total_frames as i64 - 1),
        )
        .with_details(json!({ "frame": frame, "total_frames": total_frames }))
    }

    pub fn retargeting_unsupported() -> Self {
        Self::new(
            ErrorCode::RetargetingUnsupported,
            "this model does not support retargeting; send the canonical skeleton verbatim from /capabilities",
        )
    }

    pub fn version_unsupported(requested: &str) -> Self {
        Self::new(
            ErrorCode::VersionUnsupported,
            format!(
                "protocol_version {} is not supported by this server",
                py_repr(requested)
            ),
        )
        .with_details(json!({ "supported_majors": ["1"] }))
    }
}

/// Quotes a string the way Python's `repr` does, which is how the reference
/// renders names inside messages.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_quote_like_python() {
        assert_eq!(py_repr("Hips"), "'Hips'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'\"b"), "'a\\'\"b'");
    }

    #[test]
    fn constructors_carry_reference_details() {
        let e = ProtocolError::frame_out_of_range(3, 3);
        assert_eq!(e.code, ErrorCode::FrameOutOfRange);
        assert_eq!(e.message, "frame 3 is outside [0, 2]");
        assert_eq!(
            e.details_json(),
            json!({"frame": 3, "total_frames": 3})
                .as_object()
                .unwrap()
                .clone()
        );

        let e = ProtocolError::unknown_joint(
            "Hand",
            &["Spine".into(), "Hips".into()],
            "request skeleton",
        );
        assert_eq!(e.message, "joint 'Hand' is not in the request skeleton");
        assert_eq!(
            e.details_json()["skeleton_joints"],
            json!(["Hips", "Spine"])
        );

        let e = ProtocolError::version_unsupported("2.0");
        assert_eq!(
            e.message,
            "protocol_version '2.0' is not supported by this server"
        );
        assert_eq!(e.details_json()["supported_majors"], json!(["1"]));
    }

    #[test]
    fn details_are_always_an_object() {
        assert!(ProtocolError::internal("x").details_json().is_empty());
        let e = ProtocolError::internal("x").with_details(json!(3));
        assert_eq!(e.details_json()["value"], json!(3));
    }
}
