//! P2–P5: the body cap, enforced while reading (D8), and JSON decoding.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::HeaderMap;
use serde_json::{json, Value};

use crate::error::{ApiError, ErrorCode};

/// Longest JSON-error message, as the reference truncates it.
const MAX_JSON_MESSAGE: usize = 500;

/// Reads at most `cap` bytes within `deadline`; more is refused without
/// reading further, and a body still arriving at the deadline is refused
/// (a slow-but-steady upload within the cap finishes well before it).
pub async fn read_capped<B: super::ReqBody>(
    headers: &HeaderMap,
    body: B,
    cap: u64,
    deadline: Duration,
) -> Result<Bytes, ApiError> {
    let mut buf = BytesMut::new();
    match tokio::time::timeout(deadline, read_into(&mut buf, headers, body, cap)).await {
        Ok(read) => read.map(|()| buf.freeze()),
        Err(_) => Err(ApiError::new(
            ErrorCode::Timeout,
            format!(
                "the request body did not arrive within the {}s body deadline ({} bytes received)",
                deadline.as_secs_f64(),
                buf.len()
            ),
        )
        .with_details(json!({"body_timeout_seconds": deadline.as_secs_f64()}))),
    }
}

async fn read_into<B: super::ReqBody>(
    buf: &mut BytesMut,
    headers: &HeaderMap,
    mut body: B,
    cap: u64,
) -> Result<(), ApiError> {
    if let Some(value) = headers.get(hyper::header::CONTENT_LENGTH) {
        let declared = value
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::new(ErrorCode::SchemaValidation, "invalid Content-Length"))?;
        if declared > cap {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body is {declared} bytes; max_request_bytes is {cap}"),
            )
            .with_details(json!({"max_request_bytes": cap, "request_bytes": declared})));
        }
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                ErrorCode::SchemaValidation,
                format!("could not read the request body: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > cap {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("request body is more than {cap} bytes; max_request_bytes is {cap}"),
                )
                .with_details(json!({"max_request_bytes": cap})));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(())
}

/// Strict RFC 8259 UTF-8 JSON (a leading BOM is skipped). `NaN`, `Infinity`,
/// out-of-range numbers and nesting past 128 levels are refused (D3).
pub fn decode(bytes: &[u8]) -> Result<Value, ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes).map_err(|e| {
        let mut message = format!("request body is not valid JSON: {e}");
        if message.len() > MAX_JSON_MESSAGE {
            let mut end = MAX_JSON_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        ApiError::new(ErrorCode::SchemaValidation, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_decoding_is_strict() {
        assert!(decode(b"{}").is_ok());
        assert!(decode(b"\xEF\xBB\xBF{}").is_ok());
        for bad in [
            &b""[..],
            b"{nope",
            b"[NaN]",
            b"[Infinity]",
            b"[1e400]",
            b"\xff",
            b"\"\\ud800\"",
        ] {
            let e = decode(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::SchemaValidation);
            assert!(e.message.starts_with("request body is not valid JSON: "));
            assert!(e.details.is_empty());
        }
        let deep = "[".repeat(50_000);
        assert!(decode(deep.as_bytes()).unwrap_err().message.len() <= MAX_JSON_MESSAGE);
    }
}
