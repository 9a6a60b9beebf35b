//! Client authentication at the token endpoint (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` (RFC 7523, see `client_assertion`), and `none`
//! for public clients.
//! - a client uses exactly one method per request (RFC 6749 §2.3);
//! - Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1);
//! - confidential clients must present their secret; public clients must not present one.

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};

use super::error::{ErrorCode, OAuthError};
use crate::{
    app::AppState,
    crypto::random,
    model::client::{Client, ClientType},
    store,
};

fn invalid_client(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

/// Reads `Authorization: Basic ...`. `Ok(None)` when the header is absent or another scheme.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid_client("malformed Authorization header"))?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(invalid_client("malformed Authorization header"));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| invalid_client("malformed Basic credentials"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| invalid_client("malformed Basic credentials"))?;
    // application/x-www-form-urlencoded, as RFC 6749 §2.3.1 (Appendix B) requires.
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|v| v.into_owned())
            .map_err(|_| invalid_client("malformed Basic credentials"))
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

/// Authenticates the client of a token request from its headers and form parameters.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form_value: impl Fn(&str) -> Option<String>,
) -> Result<Client, OAuthError> {
    let basic = basic_credentials(headers)?;
    let form_id = form_value("client_id");
    let form_secret = form_value("client_secret");
    let assertion_type = form_value("client_assertion_type");
    if let Some(assertion) = form_value("client_assertion") {
        if basic.is_some() || form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use only one client authentication method",
            ));
        }
        if assertion_type.as_deref() != Some(super::client_assertion::JWT_BEARER) {
            return Err(invalid_client("unsupported client_assertion_type"));
        }
        return super::client_assertion::authenticate(state, form_id, &assertion).await;
    }

    let (client_id, secret) = match (basic, form_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use only one client authentication method",
            ));
        }
        (Some((id, secret)), None) => {
            if form_id.as_deref().is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Authorization header",
                ));
            }
            (id, Some(secret))
        }
        (None, secret) => match form_id {
            Some(id) => (id, secret),
            None => return Err(invalid_client("client authentication is required")),
        },
    };

    let client = store::clients::get(&state.db, &client_id)
        .await
        .map_err(|e| OAuthError::internal("loading a client", e))?
        .ok_or_else(|| invalid_client("client authentication failed"))?;
    match (client.client_type, secret, &client.secret_hash) {
        (ClientType::Confidential, Some(secret), Some(hash))
            if random::verify_digest(&secret, hash) =>
        {
            Ok(client)
        }
        (ClientType::Public, None, _) => Ok(client),
        _ => Err(invalid_client("client authentication failed")),
    }
}
