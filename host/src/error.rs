//! The MMCP error envelope and its closed code set (mmcp.md §8); the HTTP
//! status of each code is `http::status`.

use serde_json::{json, Map, Value};

use crate::runtime::CallError;

/// The closed set of MMCP error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    SchemaValidation,
    UnknownModel,
    RetargetingUnsupported,
    UnsupportedConstraint,
    UnsupportedSegment,
    UnknownJoint,
    InvalidSkeleton,
    FrameOutOfRange,
    InvalidOptions,
    InvalidRequest,
    VersionUnsupported,
    Unauthorized,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
    InternalError,
    ResourceExhausted,
    ModelUnavailable,
    Timeout,
    /// Routing only (D11): not an MMCP code, never raised by a backbone.
    NotFound,
    /// Routing only (D11).
    MethodNotAllowed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::SchemaValidation => "schema_validation",
            ErrorCode::UnknownModel => "unknown_model",
            ErrorCode::RetargetingUnsupported => "retargeting_unsupported",
            ErrorCode::UnsupportedConstraint => "unsupported_constraint",
            ErrorCode::UnsupportedSegment => "unsupported_segment",
            ErrorCode::UnknownJoint => "unknown_joint",
            ErrorCode::InvalidSkeleton => "invalid_skeleton",
            ErrorCode::FrameOutOfRange => "frame_out_of_range",
            ErrorCode::InvalidOptions => "invalid_options",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::VersionUnsupported => "version_unsupported",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::ResourceExhausted => "resource_exhausted",
            ErrorCode::ModelUnavailable => "model_unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The code `as_str` names, if any.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        ALL_CODES.iter().copied().find(|code| code.as_str() == name)
    }

    /// Whether a client may retry after a delay (mmcp.md §8.4); such answers
    /// carry `Retry-After`.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::ResourceExhausted
                | ErrorCode::ModelUnavailable
                | ErrorCode::Timeout
        )
    }
}

/// Every code, for [`ErrorCode::parse`].
const ALL_CODES: [ErrorCode; 21] = [
    ErrorCode::SchemaValidation,
    ErrorCode::UnknownModel,
    ErrorCode::RetargetingUnsupported,
    ErrorCode::UnsupportedConstraint,
    ErrorCode::UnsupportedSegment,
    ErrorCode::UnknownJoint,
    ErrorCode::InvalidSkeleton,
    ErrorCode::FrameOutOfRange,
    ErrorCode::InvalidOptions,
    ErrorCode::InvalidRequest,
    ErrorCode::VersionUnsupported,
    ErrorCode::Unauthorized,
    ErrorCode::Forbidden,
    ErrorCode::PayloadTooLarge,
    ErrorCode::RateLimited,
    ErrorCode::InternalError,
    ErrorCode::ResourceExhausted,
    ErrorCode::ModelUnavailable,
    ErrorCode::Timeout,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
];

/// One protocol error: code, human message and a details object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Map<String, Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Sets the details; `details` must be a JSON object (anything else is
    /// dropped so the envelope's `details` stays an object).
    pub fn with_details(mut self, details: Value) -> Self {
        if let Value::Object(map) = details {
            self.details = map;
        }
        self
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InternalError, message)
    }

    pub fn invalid_options(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidOptions, message)
    }

    /// `{"error": {"code", "message", "details"}}`
    pub fn envelope(&self) -> Value {
        json!({
            "error": {
                "code": self.code.as_str(),
                "message": self.message,
                "details": Value::Object(self.details.clone()),
            }
        })
    }
}

impl ApiError {
    /// The error an [`ApiError::envelope`] holds, or `None` when `value` is
    /// not one (an unknown code included).
    pub fn from_envelope(value: &Value) -> Option<ApiError> {
        let error = value.get("error")?;
        let code = ErrorCode::parse(error.get("code")?.as_str()?)?;
        let message = error.get("message")?.as_str()?;
        let details = error.get("details").cloned().unwrap_or(json!({}));
        Some(ApiError::new(code, message).with_details(details))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// The one place a failed backbone call becomes a protocol envelope.
impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        match e {
            CallError::Timeout { deadline, cause } => {
                let mut details = json!({"deadline_seconds": deadline.as_secs_f64()});
                if let Some(cause) = cause {
                    details["cause"] = cause.into();
                }
                ApiError::new(
                    ErrorCode::Timeout,
                    format!(
                        "the backbone ran past its {:.3}s deadline",
                        deadline.as_secs_f64()
                    ),
                )
                .with_details(details)
            }
            CallError::Memory { limit_bytes } => ApiError::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "the backbone needed more than its {} MiB memory limit",
                    limit_bytes >> 20
                ),
            )
            .with_details(json!({"memory_limit_bytes": limit_bytes})),
            CallError::GpuQuota { limit_bytes } => ApiError::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "the backbone needed more than its {} MiB GPU memory quota",
                    limit_bytes >> 20
                ),
            )
            .with_details(json!({"gpu_memory_limit_bytes": limit_bytes})),
            CallError::ResultTooLarge { limit_bytes, bytes } => ApiError::internal(match bytes {
                Some(bytes) => format!(
                    "backbone returned a result larger than the {} MiB limit ({} MiB)",
                    limit_bytes >> 20,
                    bytes >> 20
                ),
                None => format!(
                    "backbone returned a result larger than the {} MiB limit",
                    limit_bytes >> 20
                ),
            }),
            CallError::Trap { cause } => ApiError::internal(format!("backbone failed: {cause}")),
            CallError::Guest(e) => e,
            CallError::Busy {
                model,
                instances,
                queue,
            } => ApiError::new(
                ErrorCode::ResourceExhausted,
                format!("model {model} is busy: {instances} requests running and {queue} waiting"),
            )
            .with_details(json!({"instances": instances, "queue": queue})),
            CallError::Unavailable { why } => ApiError::new(ErrorCode::ModelUnavailable, why),
            CallError::Host { why } => ApiError::internal(why),
        }
    }
}

/// Quotes a string as Python's `repr` does: the reference renders names in
/// messages that way (`model 'nope' is not registered`).
pub fn py_repr(s: &str) -> String {
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

/// Python's `repr()` of a JSON value as the reference holds it (`None`,
/// `True`, `'text'`, `[1, 2.5]`, `{'k': 'v'}`): its messages show values so.
pub fn py_value_repr(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) if n.is_f64() => py_float_repr(n.as_f64().unwrap_or(f64::NAN)),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_repr(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(py_value_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), py_value_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's float repr: shortest round-trip digits, positional between 1e-4
/// and 1e16, else `1.5e+16` style.
fn py_float_repr(x: f64) -> String {
    if x == 0.0 || (1e-4..1e16).contains(&x.abs()) {
        return format!("{x:?}");
    }
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_render_as_python_reprs() {
        use serde_json::json;
        let cases = [
            (json!(null), "None"),
            (json!(true), "True"),
            (json!(3), "3"),
            (json!(3.0), "3.0"),
            (json!(1.01), "1.01"),
            (json!(1e16), "1e+16"),
            (json!(1.5e-7), "1.5e-07"),
            (json!("it's"), "\"it's\""),
            (json!(["calm", 2, false]), "['calm', 2, False]"),
            (json!({"a": [null]}), "{'a': [None]}"),
        ];
        for (value, repr) in cases {
            assert_eq!(py_value_repr(&value), repr, "{value}");
        }
    }

    #[test]
    fn every_code_parses_back_and_envelopes_round_trip() {
        for code in ALL_CODES {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("teapot"), None);
        let e = ApiError::new(ErrorCode::Timeout, "slow").with_details(json!({"s": 1.5}));
        assert_eq!(ApiError::from_envelope(&e.envelope()), Some(e));
        assert_eq!(
            ApiError::from_envelope(&json!({"error": {"code": "teapot", "message": ""}})),
            None
        );
    }

    #[test]
    fn envelope_always_has_an_object_details() {
        let e = ApiError::new(ErrorCode::Timeout, "slow").with_details(json!(5));
        assert_eq!(
            e.envelope(),
            json!({"error": {"code": "timeout", "message": "slow", "details": {}}})
        );
    }

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(py_repr("nope"), "'nope'");
        assert_eq!(py_repr("it's"), "\"it's\"");
    }
}
