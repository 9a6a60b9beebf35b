//! Token revocation (RFC 7009). A client revokes its own access or refresh tokens; revoking a
//! refresh token revokes its whole grant (every token issued under it). Tokens we do not know
//! are answered with 200, as §2.2 requires; a token issued to another client is refused.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    client_auth,
    error::{JsonError, OAuthError},
    form::FormParams,
    tokens::{ACCESS_TOKEN_TYP, is_client_credentials_token},
};
use crate::{
    app::AppState,
    crypto::random,
    model::now,
    store::{self, tokens::AccessTokenRecord},
};

fn internal(e: impl Into<anyhow::Error>) -> OAuthError {
    OAuthError::internal("revocation", e)
}

fn not_yours() -> OAuthError {
    OAuthError::invalid_request("this token was not issued to the client revoking it")
}

pub async fn post_revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match revoke(&state, &headers, &body).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => JsonError(error).into_response(),
    }
}

async fn revoke(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let form = FormParams::parse(headers, body)?;
    let client = client_auth::authenticate(state, headers, |name| form.get(name)).await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("the token parameter is missing"))?;
    let now = now();

    // `token_type_hint` only speeds up the search (§2.1), so both kinds are tried.
    if let Ok((typ, claims)) = state.keys.verify(&token) {
        let Some(jti) = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|_| typ.as_deref() == Some(ACCESS_TOKEN_TYP))
        else {
            return Ok(());
        };
        match store::tokens::find_access_token(&state.db, jti)
            .await
            .map_err(internal)?
        {
            Some((record, _)) => {
                if record.client_id != client.client_id {
                    return Err(not_yours());
                }
                store::tokens::revoke_access_token(&state.db, jti, now)
                    .await
                    .map_err(internal)?;
            }
            // A client_credentials token is not recorded when issued: its revocation is,
            // until it would have expired anyway.
            None => {
                let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
                if !is_client_credentials_token(&claims) || expires_at <= now {
                    // Expired, or gone with its client: nothing to revoke (§2.2: still 200).
                    return Ok(());
                }
                if claims.get("client_id").and_then(Value::as_str) != Some(&client.client_id) {
                    return Err(not_yours());
                }
                let record = AccessTokenRecord {
                    jti: jti.to_owned(),
                    grant_id: None,
                    client_id: client.client_id.clone(),
                    user_id: None,
                    scope: claims
                        .get("scope")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    expires_at,
                };
                store::tokens::insert_revoked_access_token(&state.db, &record, now)
                    .await
                    .map_err(internal)?;
            }
        }
        return Ok(());
    }
    if let Some((grant_id, owner)) =
        store::tokens::refresh_token_grant(&state.db, &random::digest(&token))
            .await
            .map_err(internal)?
    {
        if owner != client.client_id {
            return Err(not_yours());
        }
        store::tokens::revoke_grant(&state.db, &grant_id, now)
            .await
            .map_err(internal)?;
    }
    Ok(())
}
