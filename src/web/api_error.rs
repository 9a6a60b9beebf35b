//! Errors of the JSON APIs behind the hosted pages (passkey ceremonies, account API):
//! `{"error": code, "message": text for a person}` with a fitting status.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// A JSON request body, with the rejection kept so it becomes our error rather than axum's.
pub type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The body, or a 400 that says why it could not be read.
pub fn json_body<T>(body: JsonBody<T>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| {
        ApiError::bad_request(format!("The request could not be read: {}", e.body_text()))
    })
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds until a blocked caller may try again (`Retry-After`, RFC 9110 §10.2.3).
    pub retry_after: Option<i64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "This page has expired. Reload it and try again.",
        )
    }

    pub fn not_signed_in() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_signed_in", "Sign in first.")
    }

    pub fn sign_in_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "sign_in_expired",
            "This sign-in is no longer valid. Go back to the application and sign in again.",
        )
    }

    pub fn passkeys_unavailable() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "passkeys_unavailable",
            "Passkeys are not available on this server.",
        )
    }
}

impl ApiError {
    /// Adds `Retry-After` (with a 429).
    pub fn retry_after(mut self, seconds: i64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl<E: Into<anyhow::Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        let e = e.into();
        if crate::store::is_unavailable(&e) {
            tracing::warn!(error = format!("{e:#}"), "the database is unavailable");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "We cannot serve you right now. Please try again in a minute.",
            );
        }
        tracing::error!(error = format!("{e:#}"), "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Something went wrong on our side. Please try again.",
        )
    }
}
