//! Token endpoint (RFC 6749 §3.2): the `authorization_code` grant (§4.1.3, OIDC Core §3.1.3)
//! and the `refresh_token` grant (§6) with rotation. Responses are JSON, never cached.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use sea_orm::TransactionTrait;

use super::{
    client_auth, dpop,
    error::{ErrorCode, JsonError, OAuthError},
    form::FormParams,
    pkce,
    tokens::{self, RefreshTokenIssue, TokenResponse},
};
use crate::{
    app::AppState,
    crypto::random,
    model::{
        client::{Client, ClientType, GrantType},
        now,
        scope::Scopes,
    },
    routes,
    store::{
        self, attempts,
        tokens::{CodeLookup, Grant, RefreshLookup},
    },
    web::client_origin::ClientOrigin,
};

fn too_many(seconds: i64) -> Response {
    let mut response = JsonError(OAuthError::new(
        ErrorCode::TooManyRequests,
        "too many failed client authentications from this address; try again later",
    ))
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

fn internal(e: impl Into<anyhow::Error>) -> OAuthError {
    OAuthError::internal("token request", e)
}

/// Failed client authentications from one address: after 20, a minute's wait, doubling up to
/// an hour. A guessed secret or a flood of junk assertions is slowed down; a client that
/// authenticates correctly is never blocked by someone else's failures on another address.
const ADDRESS_CLIENT_AUTH: attempts::Limit = attempts::Limit {
    block_after: 20,
    first_block: 60,
    max_block: 3600,
    forget_after: 3600,
};

pub async fn post_token(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let address_key = format!(
        "client_auth:ip:{}",
        origin.ip_address.as_deref().unwrap_or("-")
    );
    let now = now();
    match attempts::blocked_until(&state.db, &address_key, now).await {
        Ok(Some(until)) => return too_many(until - now),
        Ok(None) => {}
        Err(e) => return JsonError(internal(e)).into_response(),
    }
    let url = format!("{}{}", state.config.issuer, routes::TOKEN);
    let proof = match dpop::check(&state, &headers, "POST", &url, None).await {
        Ok(proof) => proof,
        Err(e) => {
            let mut response = JsonError(e.oauth()).into_response();
            if let Some(nonce) = e.nonce().and_then(|n| HeaderValue::from_str(n).ok()) {
                response.headers_mut().insert("dpop-nonce", nonce);
            }
            return response;
        }
    };
    let result = token(&state, &headers, &body, proof.as_ref()).await;
    if let Err(error) = &result
        && error.code == ErrorCode::InvalidClient
        && let Ok(Some(until)) =
            attempts::record_failure(&state.db, &address_key, ADDRESS_CLIENT_AUTH, now).await
    {
        return too_many(until - now);
    }
    match result {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            let h = response.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => JsonError(error).into_response(),
    }
}

async fn token(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    proof: Option<&dpop::Proof>,
) -> Result<TokenResponse, OAuthError> {
    let form = FormParams::parse(headers, body)?;
    let get = |name: &str| form.get(name);

    let client = client_auth::authenticate(state, headers, get).await?;
    // RFC 9449 §10.1 `dpop_bound_access_tokens`.
    if client.dpop_bound_access_tokens && proof.is_none() {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "this client must send a DPoP proof",
        ));
    }
    let jkt = proof.map(|p| p.jkt.as_str());
    match get("grant_type").as_deref() {
        None => Err(OAuthError::invalid_request(
            "the grant_type parameter is missing",
        )),
        Some(grant) => {
            let Some(grant) = GrantType::parse(grant) else {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    "supported grant types are authorization_code, refresh_token and client_credentials",
                ));
            };
            // RFC 6749 §5.2 `unauthorized_client`.
            if !client.allows(grant) {
                return Err(OAuthError::new(
                    ErrorCode::UnauthorizedClient,
                    format!("this client may not use the {} grant", grant.as_str()),
                ));
            }
            let issued = match grant {
                GrantType::AuthorizationCode => authorization_code(state, &client, &get, jkt).await,
                GrantType::RefreshToken => refresh_token(state, &client, &get, jkt).await,
                GrantType::ClientCredentials => client_credentials(state, &client, &get, jkt).await,
            };
            if issued.is_ok() {
                state.metrics.token_issued(grant.as_str());
            }
            issued
        }
    }
}

/// RFC 6749 §4.4: a confidential client asks for a token for itself. No user, so no ID
/// token and no refresh token (§4.4.3); the scopes are those registered for the client.
async fn client_credentials(
    state: &AppState,
    client: &Client,
    get: &impl Fn(&str) -> Option<String>,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let allowed = Scopes::parse(client.scope.as_deref().unwrap_or_default()).unwrap_or_default();
    let scope = match get("scope") {
        None => allowed,
        Some(raw) => {
            let requested = Scopes::parse(&raw).ok_or_else(|| {
                OAuthError::new(ErrorCode::InvalidScope, "the scope parameter is malformed")
            })?;
            if !requested.is_subset_of(&allowed) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "a requested scope is not registered for this client",
                ));
            }
            requested
        }
    };
    tokens::issue_for_client(state, client, &scope.to_string(), jkt).map_err(internal)
}

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6).
async fn authorization_code(
    state: &AppState,
    client: &Client,
    get: &impl Fn(&str) -> Option<String>,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let code =
        get("code").ok_or_else(|| OAuthError::invalid_request("the code parameter is missing"))?;
    let redirect_uri = get("redirect_uri")
        .ok_or_else(|| OAuthError::invalid_request("the redirect_uri parameter is missing"))?;
    let code_hash = random::digest(&code);
    let now = now();

    let record = match store::tokens::find_code(&state.db, &code_hash)
        .await
        .map_err(internal)?
    {
        CodeLookup::NotFound => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid",
            ));
        }
        CodeLookup::AlreadyUsed { grant_id } => {
            // RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
            if let Some(grant_id) = grant_id {
                store::tokens::revoke_grant(&state.db, &grant_id, now)
                    .await
                    .map_err(internal)?;
                tracing::warn!(grant = %grant_id, client = %client.client_id,
                    "authorization code replayed; revoked the tokens issued from it");
                record_reuse(state, &grant_id, &client.client_id, "authorization_code").await?;
            }
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        CodeLookup::Found(record) => record,
    };
    if record.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    if record.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&record.code_challenge, get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(&verifier, challenge) => {}
        (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("PKCE verification failed")),
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    ensure_user_enabled(state, &record.authentication.user_id).await?;

    let grant = Grant {
        id: random::id(),
        client_id: client.client_id.clone(),
        user_session_id: record.user_session_id.clone(),
        scope: record.scope.clone(),
        nonce: record.nonce.clone(),
        authentication: record.authentication.clone(),
        expires_at: now
            + client
                .refresh_token_lifetime
                .unwrap_or_else(|| state.config.tokens.refresh_token.as_secs())
                as i64,
        // RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key (a
        // confidential client's are already bound to its credentials).
        dpop_jkt: jkt
            .filter(|_| client.client_type == ClientType::Public)
            .map(str::to_owned),
    };
    let minted = tokens::mint(
        state,
        client,
        &grant,
        &grant.scope,
        grant.nonce.as_deref(),
        jkt,
        RefreshTokenIssue::Mint,
    )
    .map_err(internal)?;
    let _writer = state.sqlite_writer().await;
    let txn = state
        .db
        .begin_with_options(crate::store::WRITE)
        .await
        .map_err(internal)?;
    if !store::tokens::consume_code(&txn, &code_hash, &grant.id, now)
        .await
        .map_err(internal)?
    {
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used",
        ));
    }
    store::tokens::insert_grant(&txn, &grant, now)
        .await
        .map_err(internal)?;
    let response = minted.record(&txn).await.map_err(internal)?;
    txn.commit().await.map_err(internal)?;
    Ok(response)
}

/// RFC 6749 §6, with rotation: every use returns a new refresh token and retires the old one.
/// Presenting a retired token again means it leaked, so the whole grant is revoked.
async fn refresh_token(
    state: &AppState,
    client: &Client,
    get: &impl Fn(&str) -> Option<String>,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let token = get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("the refresh_token parameter is missing"))?;
    let token_hash = random::digest(&token);
    let now = now();
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid or expired");

    let grant_id = match store::tokens::find_refresh_token(&state.db, &token_hash, now)
        .await
        .map_err(internal)?
    {
        RefreshLookup::NotFound | RefreshLookup::Expired => return Err(invalid()),
        RefreshLookup::Used { grant_id } => {
            // Tokens of a grant revoked on purpose land here too: only a still-active grant
            // means a rotated token leaked.
            if store::tokens::revoke_grant(&state.db, &grant_id, now)
                .await
                .map_err(internal)?
            {
                tracing::warn!(grant = %grant_id, client = %client.client_id,
                    "a rotated refresh token was presented again; revoked its grant");
                record_reuse(state, &grant_id, &client.client_id, "refresh_token").await?;
            }
            return Err(invalid());
        }
        RefreshLookup::Found { grant_id } => grant_id,
    };
    let grant = store::tokens::active_grant(&state.db, &grant_id, now)
        .await
        .map_err(internal)?
        .ok_or_else(invalid)?;
    if grant.client_id != client.client_id {
        return Err(invalid());
    }
    if let Some(bound) = &grant.dpop_jkt
        && jkt != Some(bound.as_str())
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "the refresh token is bound to a DPoP key: send a proof made with it",
        ));
    }
    // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
    let scope = match get("scope") {
        None => grant.scope.clone(),
        Some(raw) => {
            let granted = Scopes::parse(&grant.scope).unwrap_or_default();
            let asked = Scopes::parse(&raw).filter(|s| !s.is_empty() && s.is_subset_of(&granted));
            asked
                .ok_or_else(|| {
                    OAuthError::new(
                        ErrorCode::InvalidScope,
                        "the scope exceeds what was granted",
                    )
                })?
                .to_string()
        }
    };
    ensure_user_enabled(state, &grant.authentication.user_id).await?;

    // FAPI 2.0 §5.3.2.1: sender-constrained refresh tokens need not rotate; a client may be
    // registered to keep its DPoP-bound one, whose idle lifetime then restarts instead.
    let rotate = grant.dpop_jkt.is_none() || client.rotate_dpop_bound_refresh_tokens;
    let refresh = if rotate {
        RefreshTokenIssue::Mint
    } else {
        RefreshTokenIssue::KeepPresented
    };
    let minted =
        tokens::mint(state, client, &grant, &scope, None, jkt, refresh).map_err(internal)?;
    let _writer = state.sqlite_writer().await;
    let txn = state
        .db
        .begin_with_options(crate::store::WRITE)
        .await
        .map_err(internal)?;
    let still_usable = if rotate {
        store::tokens::consume_refresh_token(&txn, &token_hash, now).await
    } else {
        let expires_at = tokens::refresh_token_expiry(state, &grant, now);
        store::tokens::extend_refresh_token(&txn, &token_hash, expires_at, now).await
    };
    if !still_usable.map_err(internal)? {
        return Err(invalid());
    }
    let response = minted.record(&txn).await.map_err(internal)?;
    txn.commit().await.map_err(internal)?;
    Ok(response)
}

/// A security event for the grant's user: a token of theirs was replayed (it may have leaked).
async fn record_reuse(
    state: &AppState,
    grant_id: &str,
    client_id: &str,
    token: &str,
) -> Result<(), OAuthError> {
    let user = store::tokens::grant_user(&state.db, grant_id)
        .await
        .map_err(internal)?;
    store::security_events::record(
        &state.db,
        user.as_deref(),
        store::security_events::kind::TOKEN_REUSED,
        Some(serde_json::json!({"token": token, "client_id": client_id, "grant": grant_id})),
    )
    .await
    .map_err(internal)
}

async fn ensure_user_enabled(state: &AppState, user_id: &str) -> Result<(), OAuthError> {
    match store::users::find_by_id(&state.db, user_id)
        .await
        .map_err(internal)?
    {
        Some(user) if !user.disabled => Ok(()),
        _ => Err(OAuthError::invalid_grant(
            "the user is disabled or no longer exists",
        )),
    }
}
