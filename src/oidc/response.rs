//! The redirect back to the client: an authorization code or an error, with `state` and the
//! `iss` parameter of RFC 9207 (so a client talking to several servers can tell us apart).
//! Parameters are added with `url`'s encoder, never by string formatting.

use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use super::error::OAuthError;
use crate::model::client::VerifiedRedirectUri;

fn redirect(to: &VerifiedRedirectUri, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(to.as_str()) else {
        // Registered URIs are validated as URLs, so this cannot happen; never redirect blind.
        return (axum::http::StatusCode::BAD_REQUEST, "invalid redirect URI").into_response();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    // 303 makes the browser follow with GET even after our POST (RFC 9700 §4.12).
    Redirect::to(url.as_str()).into_response()
}

pub fn code(to: &VerifiedRedirectUri, code: &str, state: Option<&str>, issuer: &str) -> Response {
    let mut params = vec![("code", code)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    redirect(to, &params)
}

pub fn error(
    to: &VerifiedRedirectUri,
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> Response {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_ref()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    redirect(to, &params)
}
