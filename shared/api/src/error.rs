//! The error body every failure carries, and the device flow's OAuth errors.

use serde::{Deserialize, Serialize};

/// `{"error": {"code", "message"}}`: the body of every 4xx and 5xx.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, for programs: `not_found`, `quota_exceeded`, `rate_limited`, …
    pub code: String,
    /// For people.
    pub message: String,
}

/// An RFC 8628 token endpoint error (`POST /v1/device/token` answers 400 with one).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthError {
    /// `authorization_pending`, `slow_down`, `expired_token`, `access_denied`, `invalid_grant`,
    /// `unsupported_grant_type`.
    pub error: String,
    pub error_description: String,
}
