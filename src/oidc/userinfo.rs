//! UserInfo endpoint (OIDC Core §5.3): GET or POST with a bearer access token (RFC 6750 §2.1
//! header, or §2.2 form body on POST), answering the claims the token's scopes release
//! (OIDC Core §5.4).

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{
    dpop,
    error::{ErrorCode, JsonError, OAuthError, missing_bearer_token},
    tokens::{ACCESS_TOKEN_TYP, access_token_audience, is_client_credentials_token},
};
use crate::{
    app::AppState,
    model::{
        now,
        scope::{self, Scopes},
    },
    store::{self, tokens::AccessTokenState},
};

pub async fn get_userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo(&state, &headers, "GET", None).await
}

pub async fn post_userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form_token = if is_form {
        super::form::decode(&body).and_then(|p| {
            p.into_iter()
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v)
        })
    } else {
        None
    };
    userinfo(&state, &headers, "POST", form_token).await
}

fn invalid_token(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

/// A DPoP failure at this resource: 401 with a `DPoP` challenge (RFC 9449 §7.1), and a new
/// nonce when one is needed.
fn dpop_error(error: &dpop::ProofError) -> Response {
    let mut response = dpop_challenged(error.oauth());
    *response.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
    if let Some(nonce) = error.nonce().and_then(|n| HeaderValue::from_str(n).ok()) {
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    response
}

async fn userinfo(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    form_token: Option<String>,
) -> Response {
    // RFC 6750 `Bearer`, or RFC 9449 §7.1 `DPoP` for a sender-constrained token.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop")
        });
    let uses_dpop = authorization.is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("dpop"));
    let header_token = authorization.map(|(_, token)| token.trim().to_owned());
    let token = match (header_token, form_token) {
        (Some(_), Some(_)) => {
            // RFC 6750 §2: a client MUST NOT use more than one method.
            return JsonError(OAuthError::invalid_request(
                "send the access token in one place only",
            ))
            .into_response();
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            // RFC 9449 §7.1: a resource that takes both schemes may challenge with both.
            let mut response = missing_bearer_token();
            let dpop = format!(r#"DPoP algs="{}""#, dpop::SIGNING_ALGS.join(" "));
            if let Ok(value) = HeaderValue::from_str(&dpop) {
                response
                    .headers_mut()
                    .append(header::WWW_AUTHENTICATE, value);
            }
            return response;
        }
    };
    let proof = if uses_dpop {
        let url = format!("{}{}", state.config.issuer, crate::routes::USERINFO);
        match dpop::check(state, headers, method, &url, Some(&token)).await {
            Ok(Some(proof)) => Some(proof),
            Ok(None) => {
                return dpop_error(&dpop::ProofError::Invalid(
                    "the DPoP scheme needs a DPoP proof",
                ));
            }
            Err(e) => return dpop_error(&e),
        }
    } else {
        None
    };
    match claims(state, &token, proof.as_ref()).await {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) if uses_dpop || error.description == DPOP_BOUND_AS_BEARER => {
            dpop_challenged(error)
        }
        Err(error) => JsonError(error).into_response(),
    }
}

/// Why a DPoP-bound token sent with the Bearer scheme is refused.
const DPOP_BOUND_AS_BEARER: &str =
    "the access token is DPoP-bound: use the DPoP scheme with a proof";

/// An error about a token used (or to be used) with the DPoP scheme: its challenge is a
/// `DPoP` one with the algorithms we accept (RFC 9449 §7.1), not a `Bearer` one.
fn dpop_challenged(error: OAuthError) -> Response {
    let challenge = format!(
        r#"DPoP error="{}", error_description="{}", algs="{}""#,
        error.code.as_str(),
        error.description.replace(['"', '\\'], ""),
        dpop::SIGNING_ALGS.join(" ")
    );
    let mut response = JsonError(error).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

async fn claims(
    state: &AppState,
    token: &str,
    proof: Option<&dpop::Proof>,
) -> Result<Map<String, Value>, OAuthError> {
    let now = now();
    let (typ, claims) = state
        .keys
        .verify(token)
        .map_err(|_| invalid_token("the access token is invalid"))?;
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let valid = typ.as_deref() == Some(ACCESS_TOKEN_TYP)
        && str_claim("iss") == Some(state.config.issuer.as_str())
        && str_claim("aud") == Some(access_token_audience(state).as_str())
        && claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|exp| exp > now);
    if !valid {
        return Err(invalid_token("the access token is invalid or expired"));
    }
    // A DPoP-bound token needs a proof with its key; a bearer token is not used with DPoP.
    let bound_to = claims
        .get("cnf")
        .and_then(|c| c.get("jkt"))
        .and_then(Value::as_str);
    match (bound_to, proof) {
        (None, None) => {}
        (Some(jkt), Some(proof)) if proof.jkt == jkt => {}
        (Some(_), None) => {
            return Err(invalid_token(DPOP_BOUND_AS_BEARER));
        }
        _ => return Err(invalid_token("the DPoP proof is not for this access token")),
    }
    let jti = str_claim("jti").ok_or_else(|| invalid_token("the access token is invalid"))?;
    let internal = |e: sea_orm::DbErr| OAuthError::internal("userinfo lookup", e);
    // The signature proves we issued it; the record says it is not revoked (nor its grant,
    // nor its user disabled).
    let (scope, user) = match store::tokens::access_token_state(&state.db, jti, now)
        .await
        .map_err(internal)?
    {
        AccessTokenState::Active { record, user } => (record.scope, user),
        // A client_credentials token (never recorded): it names no user.
        AccessTokenState::Unrecorded if is_client_credentials_token(&claims) => {
            (str_claim("scope").unwrap_or_default().to_owned(), None)
        }
        AccessTokenState::Unrecorded | AccessTokenState::Inactive => {
            return Err(invalid_token("the access token was revoked or has expired"));
        }
    };
    let scopes = Scopes::parse(&scope).unwrap_or_default();
    if !scopes.contains(scope::OPENID) {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token lacks the openid scope",
        ));
    }
    let user = user.ok_or_else(|| invalid_token("the access token names no user"))?;

    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id));
    if scopes.contains(scope::PROFILE) {
        out.insert("preferred_username".into(), json!(user.username));
        if let Some(name) = &user.name {
            out.insert("name".into(), json!(name));
        }
        out.insert("updated_at".into(), json!(user.updated_at));
    }
    if let Some(email) = user
        .email
        .as_ref()
        .filter(|_| scopes.contains(scope::EMAIL))
    {
        out.insert("email".into(), json!(email));
        // Addresses are entered by operators and never confirmed by us.
        out.insert("email_verified".into(), json!(false));
    }
    Ok(out)
}
