//! Dynamic client registration (RFC 7591) and client configuration management (RFC 7592).
//!
//! Off unless `registration.enabled`. An app registers by POSTing its metadata to `/register`
//! with an initial access token (RFC 7591 §3: `idp admin-token create --scope register`);
//! it gets its credentials and a registration access token with which it reads (GET),
//! replaces (PUT) and deletes (DELETE) its registration at `/register/{client_id}`.
//! Self-registered apps are never first-party. Invalid metadata is answered with
//! `invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2) and writes nothing.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ErrorCode, JsonError, OAuthError};
use crate::{
    admin::{
        self, Actor, AdminError,
        clients::{ClientCredentials, NewClient},
        tokens::TokenScope,
    },
    app::AppState,
    crypto::random,
    model::client::{Client, GrantType, TokenEndpointAuthMethod, validate_redirect_uri},
    routes, store,
};

/// The client metadata of RFC 7591 §2 that we honour. Anything else is ignored, as §2
/// requires of unrecognised metadata.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Metadata {
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    logo_uri: Option<String>,
    policy_uri: Option<String>,
    tos_uri: Option<String>,
    id_token_signed_response_alg: Option<String>,
    backchannel_logout_uri: Option<String>,
    dpop_bound_access_tokens: Option<bool>,
    require_pushed_authorization_requests: Option<bool>,
    // RFC 7592 §2.2: sent back on update, checked.
    client_id: Option<String>,
    client_secret: Option<String>,
    registration_access_token: Option<Value>,
    registration_client_uri: Option<Value>,
    client_id_issued_at: Option<Value>,
    client_secret_expires_at: Option<Value>,
}

fn metadata_error(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

fn invalid_token() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidToken,
        "the access token is unknown, revoked or expired",
    )
}

fn internal(e: impl Into<anyhow::Error>) -> OAuthError {
    OAuthError::internal("client registration", e)
}

/// The service layer's refusals, as RFC 7591 errors.
fn refused(e: AdminError) -> OAuthError {
    match e {
        AdminError::Invalid(message) => metadata_error(message),
        AdminError::NotFound(_) => invalid_token(),
        AdminError::Internal(e) => internal(e),
    }
}

/// The bearer token of the request, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// Reads a JSON object body.
fn metadata(headers: &HeaderMap, body: &[u8]) -> Result<Metadata, OAuthError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(OAuthError::invalid_request(
            "send the client metadata as application/json",
        ));
    }
    serde_json::from_slice::<Metadata>(body)
        .map_err(|e| metadata_error(format!("the client metadata could not be read: {e}")))
}

/// Applies registration metadata to `new`: what a client may say about itself. What only an
/// admin sets (first-party, minimum acr, token lifetimes) stays as it is.
fn apply(m: Metadata, new: &mut NewClient) -> Result<(), OAuthError> {
    if m.registration_access_token.is_some()
        || m.registration_client_uri.is_some()
        || m.client_id_issued_at.is_some()
        || m.client_secret_expires_at.is_some()
    {
        // RFC 7592 §2.2: the server's own fields are not the client's to send.
        return Err(metadata_error(
            "registration_access_token, registration_client_uri, client_id_issued_at and client_secret_expires_at are set by the server",
        ));
    }
    // Checked first so that a bad redirect URI gets its own error code (RFC 7591 §3.2.2).
    for uri in m.redirect_uris.iter().chain(&m.post_logout_redirect_uris) {
        validate_redirect_uri(uri)
            .map_err(|why| OAuthError::new(ErrorCode::InvalidRedirectUri, why))?;
    }
    if let Some(types) = &m.response_types
        && types.iter().any(|t| t != "code")
    {
        return Err(metadata_error("the only response type is code"));
    }
    let auth_method = match m.token_endpoint_auth_method.as_deref() {
        None => TokenEndpointAuthMethod::ClientSecretBasic,
        Some(name) => TokenEndpointAuthMethod::parse(name).ok_or_else(|| {
            metadata_error(format!("unsupported token_endpoint_auth_method {name:?}"))
        })?,
    };
    if let Some(grants) = &m.grant_types {
        new.grant_types = grants
            .iter()
            .map(|g| {
                GrantType::parse(g)
                    .ok_or_else(|| metadata_error(format!("unsupported grant type {g:?}")))
            })
            .collect::<Result<_, _>>()?;
    } else {
        new.grant_types = Vec::new();
    }
    new.name = m
        .client_name
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            m.redirect_uris
                .first()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
        })
        .unwrap_or_else(|| "Unnamed app".into());
    new.redirect_uris = m.redirect_uris;
    new.post_logout_redirect_uris = m.post_logout_redirect_uris;
    new.public = auth_method == TokenEndpointAuthMethod::None;
    new.auth_method = Some(auth_method);
    // RFC 7591 §2 `scope`: what the client may ask for. Only a client_credentials client's
    // registered scopes limit anything (its tokens carry them); a client that signs users in
    // asks for the OpenID scopes at authorization whatever it registered, so for it the
    // field is accepted and not kept (the server may replace requested metadata, §3.2.1).
    new.scopes = match m.scope {
        Some(scope) if new.grant_types.contains(&GrantType::ClientCredentials) => {
            scope.split_whitespace().map(str::to_owned).collect()
        }
        _ => Vec::new(),
    };
    new.jwks = m.jwks.map(|j| j.to_string());
    new.jwks_uri = m.jwks_uri;
    new.logo_uri = m.logo_uri;
    new.policy_uri = m.policy_uri;
    new.tos_uri = m.tos_uri;
    new.id_token_signed_response_alg = match m.id_token_signed_response_alg.as_deref() {
        None => crate::crypto::keys::SigningAlg::Es256,
        Some(alg) => alg.parse().map_err(metadata_error)?,
    };
    new.backchannel_logout_uri = m.backchannel_logout_uri;
    new.dpop_bound = m.dpop_bound_access_tokens.unwrap_or(false);
    new.require_par = m.require_pushed_authorization_requests.unwrap_or(false);
    Ok(())
}

/// The client's registration as RFC 7591 §3.2.1 / RFC 7592 §3 return it.
fn response_body(state: &AppState, credentials: &ClientCredentials, token: Option<&str>) -> Value {
    let client: &Client = &credentials.client;
    let mut body = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "token_endpoint_auth_method": client.token_endpoint_auth_method.as_str(),
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "id_token_signed_response_alg": client.id_token_signed_response_alg.as_str(),
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "registration_client_uri": format!(
            "{}{}",
            state.config.issuer,
            routes::REGISTER_CLIENT.replace("{client_id}", &client.client_id)
        ),
    });
    if client.grant_types.contains(&GrantType::AuthorizationCode) {
        body["response_types"] = json!(["code"]);
    }
    let optional = [
        ("scope", client.scope.clone()),
        ("jwks_uri", client.jwks_uri.clone()),
        ("logo_uri", client.logo_uri.clone()),
        ("policy_uri", client.policy_uri.clone()),
        ("tos_uri", client.tos_uri.clone()),
        (
            "backchannel_logout_uri",
            client.backchannel_logout_uri.clone(),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            body[name] = value.into();
        }
    }
    if let Some(jwks) = client
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
    {
        body["jwks"] = jwks;
    }
    if let Some(secret) = &credentials.client_secret {
        body["client_secret"] = secret.clone().into();
        // RFC 7591 §3.2.1: 0 means it does not expire.
        body["client_secret_expires_at"] = 0.into();
    }
    if let Some(token) = token {
        body["registration_access_token"] = token.into();
    }
    body
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn disabled() -> Response {
    let mut response = JsonError(OAuthError::invalid_request(
        "dynamic client registration is not enabled on this server",
    ))
    .into_response();
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// RFC 7591 §3.1: register a client.
pub async fn post_register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.config.registration.enabled {
        return disabled();
    }
    async {
        let token = bearer(&headers).ok_or_else(invalid_token)?;
        let initial = admin::tokens::authenticate(&state.db, token, TokenScope::Register)
            .await
            .map_err(refused)?
            .ok_or_else(invalid_token)?;
        let m = metadata(&headers, &body)?;
        if m.client_id.is_some() || m.client_secret.is_some() {
            return Err(metadata_error(
                "client_id and client_secret are issued by the server",
            ));
        }
        let mut new = NewClient::new("");
        apply(m, &mut new)?;
        let actor = Actor::Token { id: initial.id };
        let (credentials, registration_token) = admin::clients::register(&state.db, &actor, new)
            .await
            .map_err(refused)?;
        tracing::info!(client = %credentials.client.client_id, "client registered itself");
        Ok(answer(
            StatusCode::CREATED,
            response_body(&state, &credentials, Some(&registration_token)),
        ))
    }
    .await
    .unwrap_or_else(|e: OAuthError| JsonError(e).into_response())
}

/// A client that presented its registration access token (RFC 7592 §2), with the token's
/// stored digest.
struct Registered {
    client: Client,
    token_hash: String,
}

/// The client whose registration access token the request carries (RFC 7592 §2): anything
/// else, including a client that does not exist, is `invalid_token`.
async fn registered_client(
    state: &AppState,
    headers: &HeaderMap,
    client_id: Result<Path<String>, PathRejection>,
) -> Result<Registered, OAuthError> {
    // A path that is not even a client id (not UTF-8) names no client either.
    let Ok(Path(client_id)) = client_id else {
        return Err(invalid_token());
    };
    let client_id = client_id.as_str();
    let token = bearer(headers).ok_or_else(invalid_token)?;
    let stored = store::clients::registration_token_hash(&state.db, client_id)
        .await
        .map_err(internal)?
        .ok_or_else(invalid_token)?;
    if !random::verify_digest(token, &stored) {
        return Err(invalid_token());
    }
    let client = store::clients::get(&state.db, client_id)
        .await
        .map_err(internal)?
        .ok_or_else(invalid_token)?;
    Ok(Registered {
        client,
        token_hash: stored,
    })
}

/// A new registration access token for the client, replacing the one it presented.
///
/// RFC 7592 §3 requires `registration_access_token` in every client information response,
/// and we keep only digests, so each read or update hands out a new token (§2.1, §2.2: the
/// client then discards the previous one). Of two requests with the same token only one
/// gets a new token; the other is `invalid_token`.
async fn rotate_registration_token(
    state: &AppState,
    registered: &Registered,
) -> Result<String, OAuthError> {
    let token = random::secret();
    let replaced = store::clients::replace_registration_token(
        &state.db,
        &registered.client.client_id,
        &registered.token_hash,
        &random::digest(&token),
    )
    .await
    .map_err(internal)?;
    if replaced {
        Ok(token)
    } else {
        Err(invalid_token())
    }
}

/// RFC 7592 §2.1: read the registration.
pub async fn get_registration(
    State(state): State<AppState>,
    headers: HeaderMap,
    client_id: Result<Path<String>, PathRejection>,
) -> Response {
    if !state.config.registration.enabled {
        return disabled();
    }
    async {
        let registered = registered_client(&state, &headers, client_id).await?;
        let token = rotate_registration_token(&state, &registered).await?;
        let credentials = ClientCredentials {
            client: registered.client,
            client_secret: None,
        };
        Ok(answer(
            StatusCode::OK,
            response_body(&state, &credentials, Some(&token)),
        ))
    }
    .await
    .unwrap_or_else(|e: OAuthError| JsonError(e).into_response())
}

/// RFC 7592 §2.2: replace the registration's metadata.
pub async fn put_registration(
    State(state): State<AppState>,
    headers: HeaderMap,
    client_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    if !state.config.registration.enabled {
        return disabled();
    }
    async {
        let registered = registered_client(&state, &headers, client_id).await?;
        let client = &registered.client;
        let m = metadata(&headers, &body)?;
        if m.client_id.as_deref() != Some(client.client_id.as_str()) {
            return Err(OAuthError::invalid_request(
                "the body's client_id must be this client's",
            ));
        }
        if let Some(secret) = &m.client_secret
            && !client
                .secret_hash
                .as_deref()
                .is_some_and(|hash| random::verify_digest(secret, hash))
        {
            return Err(OAuthError::invalid_request(
                "the body's client_secret is not this client's",
            ));
        }
        let mut new = NewClient::from_client(client);
        apply(m, &mut new)?;
        new.first_party = false;
        let actor = Actor::Client {
            client_id: client.client_id.clone(),
        };
        let updated = admin::clients::update(&state.db, &actor, &client.client_id, new)
            .await
            .map_err(refused)?;
        // After the update, so that a refused update leaves the client its token.
        let token = rotate_registration_token(&state, &registered).await?;
        Ok(answer(
            StatusCode::OK,
            response_body(&state, &updated, Some(&token)),
        ))
    }
    .await
    .unwrap_or_else(|e: OAuthError| JsonError(e).into_response())
}

/// RFC 7592 §2.3: delete the registration (and everything issued to the client).
pub async fn delete_registration(
    State(state): State<AppState>,
    headers: HeaderMap,
    client_id: Result<Path<String>, PathRejection>,
) -> Response {
    if !state.config.registration.enabled {
        return disabled();
    }
    async {
        let client = registered_client(&state, &headers, client_id).await?.client;
        let actor = Actor::Client {
            client_id: client.client_id.clone(),
        };
        admin::clients::remove(&state.db, &actor, &client.client_id)
            .await
            .map_err(refused)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await
    .unwrap_or_else(|e: OAuthError| JsonError(e).into_response())
}
