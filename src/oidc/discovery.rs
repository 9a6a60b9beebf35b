//! OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414 §2) and the JWK Set. Both list
//! only what this server actually does.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::authorize_request::PROMPT_VALUES_SUPPORTED;
use crate::{app::AppState, config::Config, crypto::keys::SigningAlg, model::scope, routes};

/// Claims the userinfo endpoint can release (OIDC Core §5.1), plus the ID token's own.
const CLAIMS_SUPPORTED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "at_hash",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
];

/// The metadata document. It depends on the configuration only, so it is made once at start
/// (`AppState::discovery_json`).
pub fn document(config: &Config) -> serde_json::Value {
    let issuer = &config.issuer;
    let url = |path: &str| format!("{issuer}{path}");
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": url(routes::AUTHORIZE),
        "token_endpoint": url(routes::TOKEN),
        "userinfo_endpoint": url(routes::USERINFO),
        "jwks_uri": url(routes::JWKS),
        "revocation_endpoint": url(routes::REVOKE),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint": url(routes::INTROSPECT),
        "end_session_endpoint": url(routes::END_SESSION),
        "pushed_authorization_request_endpoint": url(routes::PAR),
        "require_pushed_authorization_requests": config.require_pushed_authorization_requests,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        // RFC 8414 §2: required wherever private_key_jwt is listed.
        "revocation_endpoint_auth_signing_alg_values_supported": super::client_assertion::SIGNING_ALGS,
        "introspection_endpoint_auth_signing_alg_values_supported": super::client_assertion::SIGNING_ALGS,
        "scopes_supported": scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": super::client_assertion::SIGNING_ALGS,
        "dpop_signing_alg_values_supported": super::dpop::SIGNING_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS_SUPPORTED,
        "acr_values_supported": config.acr_ladder().supported(),
        "prompt_values_supported": PROMPT_VALUES_SUPPORTED,
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        // Discovery §3: this one defaults to true, so it must be stated.
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    });
    if config.registration.enabled {
        // RFC 8414 §2: only when registration is on.
        document["registration_endpoint"] = url(routes::REGISTER).into();
    }
    document
}

pub async fn get_discovery(State(state): State<AppState>) -> Response {
    (
        [
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        state.discovery_json.clone(),
    )
        .into_response()
}

pub async fn get_jwks(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CACHE_CONTROL,
                HeaderValue::from_str(&format!(
                    "public, max-age={}",
                    crate::config::JWKS_MAX_AGE.as_secs()
                ))
                .expect("a valid header"),
            ),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            ),
        ],
        state.keys.jwks_json(),
    )
        .into_response()
}
