//! The redirect back to the client: an authorization code or an error, with `state` and the
//! `iss` parameter of RFC 9207 (so a client talking to several servers can tell us apart).
//! Parameters are added with `url`'s encoder, never by string formatting.

use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use super::error::OAuthError;
use crate::model::client::VerifiedRedirectUri;

fn with_params(to: &VerifiedRedirectUri, params: &[(&str, &str)]) -> Option<String> {
    // Registered URIs are validated as URLs, so parsing cannot fail; if it did, we would
    // rather fail than redirect blind.
    let mut url = Url::parse(to.as_str()).ok()?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    Some(url.into())
}

fn redirect_to(url: Option<String>) -> Response {
    match url {
        // 303 makes the browser follow with GET even after our POST (RFC 9700 §4.12).
        Some(url) => Redirect::to(&url).into_response(),
        None => (axum::http::StatusCode::BAD_REQUEST, "invalid redirect URI").into_response(),
    }
}

/// The authorization response URL carrying `code`.
pub fn code_url(
    to: &VerifiedRedirectUri,
    code: &str,
    state: Option<&str>,
    issuer: &str,
) -> Option<String> {
    let mut params = vec![("code", code)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    with_params(to, &params)
}

pub fn code(to: &VerifiedRedirectUri, code: &str, state: Option<&str>, issuer: &str) -> Response {
    redirect_to(code_url(to, code, state, issuer))
}

/// The authorization response URL carrying `error`.
pub fn error_url(
    to: &VerifiedRedirectUri,
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> Option<String> {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_ref()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    with_params(to, &params)
}

pub fn error(
    to: &VerifiedRedirectUri,
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> Response {
    redirect_to(error_url(to, error, state, issuer))
}
