//! OAuth 2.0 / OIDC errors and how each is rendered: RFC 6749 §4.1.2.1 (authorization
//! endpoint), §5.2 (token endpoint), RFC 6750 §3.1 (bearer resources), OIDC Core §3.1.2.6.

use std::borrow::Cow;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::model::client::VerifiedRedirectUri;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    LoginRequired,
    InteractionRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user has not consented.
    ConsentRequired,
    /// OpenID Connect Core Unmet Authentication Requirements 1.0 §3.
    UnmetAuthenticationRequirements,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    InvalidToken,
    InsufficientScope,
    /// RFC 9449 §5, §7.1.
    InvalidDpopProof,
    /// RFC 9449 §8: retry with the nonce in the `DPoP-Nonce` header.
    UseDpopNonce,
    /// Too many failures from this address: HTTP 429 with `Retry-After` (RFC 6585 §4).
    TooManyRequests,
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    InvalidClientMetadata,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::ConsentRequired => "consent_required",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::TooManyRequests => "too_many_requests",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
        }
    }
}

/// An error with a code from the specs and a description that is safe to show: it never
/// contains secrets or internal detail.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// An internal failure, already logged by the caller; the client sees no detail.
    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "internal error")
    }

    /// Logs a failure of `what` and answers it: `temporarily_unavailable` (503) while the
    /// database cannot be reached, `server_error` (500) for anything else.
    pub fn internal(what: &str, e: impl Into<anyhow::Error>) -> Self {
        let e = e.into();
        if crate::store::is_unavailable(&e) {
            tracing::warn!(
                error = format!("{e:#}"),
                "{what}: the database is unavailable"
            );
            Self::new(
                ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable; try again shortly",
            )
        } else {
            tracing::error!(error = format!("{e:#}"), "{what} failed");
            Self::server_error()
        }
    }
}

/// Errors of the authorization endpoint. Where the error goes is decided when it is built: a
/// redirect needs a [`VerifiedRedirectUri`], which only a registered-URI match creates.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Unknown client or missing/unregistered redirect URI: shown on our own page, never
    /// redirected (RFC 6749 §4.1.2.1).
    Render(OAuthError),
    /// Sent back to the client with `state` and `iss` (RFC 9207).
    Redirect {
        to: VerifiedRedirectUri,
        state: Option<String>,
        error: OAuthError,
    },
}

/// Errors of JSON endpoints (token, userinfo): rendered with the status RFC 6749 §5.2 and
/// RFC 6750 §3.1 prescribe, and `Cache-Control: no-store`.
#[derive(Debug)]
pub struct JsonError(pub OAuthError);

impl From<OAuthError> for JsonError {
    fn from(error: OAuthError) -> Self {
        JsonError(error)
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        let error = self.0;
        let code = error.code;
        let (status, challenge) = match code {
            // RFC 6749 §5.2: 401 with a challenge for the scheme the client may use. We send
            // it whichever method the client tried, which the RFC allows.
            ErrorCode::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                Some(r#"Basic realm="idp""#.to_owned()),
            ),
            ErrorCode::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some(format!(
                    r#"Bearer error="invalid_token", error_description="{}""#,
                    error.description.replace(['"', '\\'], "")
                )),
            ),
            ErrorCode::InsufficientScope => (
                StatusCode::FORBIDDEN,
                Some(r#"Bearer error="insufficient_scope""#.to_owned()),
            ),
            ErrorCode::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, None),
            ErrorCode::TemporarilyUnavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
            ErrorCode::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, None),
            _ => (StatusCode::BAD_REQUEST, None),
        };
        let mut response = (
            status,
            Json(json!({
                "error": code.as_str(),
                "error_description": error.description,
            })),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// A bearer-protected resource was called without any token: RFC 6750 §3.1 says the
/// challenge then carries no error code.
pub fn missing_bearer_token() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_request", "error_description": "no access token"})),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="idp""#),
    );
    response
}
