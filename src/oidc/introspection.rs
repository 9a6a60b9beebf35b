//! Token introspection (RFC 7662) for resource servers, which authenticate as clients. Any
//! token that is not active for us (expired, revoked, malformed, from another issuer) gets
//! just `{"active": false}`, without saying which (§2.2). Active access tokens report `acr`
//! and `auth_time`, so a resource server can ask for step-up (RFC 9470).

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    client_auth,
    error::{ErrorCode, JsonError, OAuthError},
    form::FormParams,
    tokens::{ACCESS_TOKEN_TYP, access_token_audience, is_client_credentials_token},
};
use crate::{
    app::AppState,
    crypto::random,
    model::{client::ClientType, now},
    store::{self, tokens::AccessTokenState},
};

fn internal(e: impl Into<anyhow::Error>) -> OAuthError {
    OAuthError::internal("introspection", e)
}

pub async fn post_introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match introspect(&state, &headers, &body).await {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => JsonError(error).into_response(),
    }
}

async fn introspect(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let form = FormParams::parse(headers, body)?;
    let caller = client_auth::authenticate(state, headers, |name| form.get(name)).await?;
    // Resource servers hold a secret; a public client could only use this to probe tokens.
    if caller.client_type != ClientType::Confidential {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "introspection needs a confidential client",
        ));
    }
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("the token parameter is missing"))?;
    let inactive = json!({"active": false});
    let now = now();

    // An access token: our signature, our issuer, an unrevoked record, a live grant.
    if let Ok((typ, claims)) = state.keys.verify(&token) {
        let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
        if typ.as_deref() != Some(ACCESS_TOKEN_TYP)
            || str_claim("iss") != Some(state.config.issuer.as_str())
        {
            return Ok(inactive);
        }
        let Some(jti) = str_claim("jti") else {
            return Ok(inactive);
        };
        let (scope, client_id, expires_at, username) =
            match store::tokens::access_token_state(&state.db, jti, now)
                .await
                .map_err(internal)?
            {
                AccessTokenState::Inactive => return Ok(inactive),
                AccessTokenState::Active { record, user } => (
                    record.scope,
                    record.client_id,
                    record.expires_at,
                    user.map(|u| u.username),
                ),
                // Unrecorded: a client_credentials token is live until it expires, as long
                // as its client exists; a user token without a record expired long ago.
                AccessTokenState::Unrecorded => {
                    let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
                    let Some(client_id) = str_claim("client_id") else {
                        return Ok(inactive);
                    };
                    if !is_client_credentials_token(&claims)
                        || expires_at <= now
                        || store::clients::get(&state.db, client_id)
                            .await
                            .map_err(internal)?
                            .is_none()
                    {
                        return Ok(inactive);
                    }
                    let scope = str_claim("scope").unwrap_or_default().to_owned();
                    (scope, client_id.to_owned(), expires_at, None)
                }
            };
        let mut answer = json!({
            "active": true,
            "token_type": "Bearer",
            "scope": scope,
            "client_id": client_id,
            "username": username,
            "sub": claims.get("sub"),
            "aud": access_token_audience(state),
            "iss": state.config.issuer,
            "exp": expires_at,
            "iat": claims.get("iat"),
            "jti": jti,
            "acr": claims.get("acr"),
            "amr": claims.get("amr"),
            "auth_time": claims.get("auth_time"),
            // RFC 9449 §6.2: the key a DPoP-bound token is bound to.
            "cnf": claims.get("cnf"),
        });
        if claims.contains_key("cnf") {
            answer["token_type"] = "DPoP".into();
        }
        // A client_credentials token has no user: leave out what would be null.
        if let Some(fields) = answer.as_object_mut() {
            fields.retain(|_, v| !v.is_null());
        }
        return Ok(answer);
    }

    // A refresh token: known by its digest, unused, within its grant's life.
    let Some((grant, expires_at)) =
        store::tokens::usable_refresh_token(&state.db, &random::digest(&token), now)
            .await
            .map_err(internal)?
    else {
        return Ok(inactive);
    };
    let auth = &grant.authentication;
    Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": grant.scope,
        "client_id": grant.client_id,
        "sub": auth.user_id,
        "iss": state.config.issuer,
        "exp": expires_at,
        "acr": auth.acr(&state.config.acr_ladder()),
        "auth_time": auth.auth_time,
    }))
}
