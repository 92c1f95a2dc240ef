//! The HTTP status of each MMCP error code (mmcp.md §8's table).

use hyper::StatusCode;

use crate::error::ErrorCode;

/// The status an envelope with `code` is sent with.
pub fn of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::SchemaValidation => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::UnknownModel
        | ErrorCode::RetargetingUnsupported
        | ErrorCode::UnsupportedConstraint
        | ErrorCode::UnsupportedSegment
        | ErrorCode::UnknownJoint
        | ErrorCode::InvalidSkeleton
        | ErrorCode::FrameOutOfRange
        | ErrorCode::InvalidOptions
        | ErrorCode::InvalidRequest
        | ErrorCode::VersionUnsupported => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::ResourceExhausted | ErrorCode::ModelUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_matches_the_spec() {
        use ErrorCode::*;
        let table = [
            (SchemaValidation, 422),
            (UnknownModel, 400),
            (RetargetingUnsupported, 400),
            (UnsupportedConstraint, 400),
            (UnsupportedSegment, 400),
            (UnknownJoint, 400),
            (InvalidSkeleton, 400),
            (FrameOutOfRange, 400),
            (InvalidOptions, 400),
            (InvalidRequest, 400),
            (VersionUnsupported, 400),
            (Unauthorized, 401),
            (Forbidden, 403),
            (PayloadTooLarge, 413),
            (RateLimited, 429),
            (InternalError, 500),
            (ResourceExhausted, 503),
            (ModelUnavailable, 503),
            (Timeout, 504),
        ];
        for (code, status) in table {
            assert_eq!(of(code).as_u16(), status, "{}", code.as_str());
        }
    }
}
