//! `/admin/api/v1/clients`: register, list, show, replace, delete clients and rotate their
//! secrets. Client metadata uses the RFC 7591 §2 names where one exists.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode},
    response::Response,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use utoipa::ToSchema;

use super::{ErrorBody, admin_error, authorize, error_response, json};
use crate::{
    admin::{
        self,
        clients::{ClientCredentials, NewClient},
    },
    app::AppState,
    config::Config,
    model::client::{Client, ClientType, GrantType, TokenEndpointAuthMethod},
    web::api_error::{ApiError, JsonBody, json_body},
};

/// A client's settings, as written (POST, PUT) and read.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientMetadata {
    /// Shown to users on the sign-in and consent pages.
    pub client_name: String,
    /// Matched exactly: https, http on a loopback host, or a private-use scheme
    /// (`com.example.app:/cb`, RFC 8252).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return the browser.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic` (default), `client_secret_post`, `private_key_jwt`, or `none`
    /// for a public client.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Any of `authorization_code`, `refresh_token`, `client_credentials` [default: the
    /// first two].
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Space-separated scopes a `client_credentials` client may ask for.
    #[serde(default)]
    pub scope: Option<String>,
    /// `ES256` (default) or `RS256`.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// The lowest acr the client accepts, one of the server's `acr_values_supported`.
    #[serde(default)]
    pub minimum_acr: Option<String>,
    /// The client must push its authorization requests (RFC 9126 §6).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// `private_key_jwt`: the client's public keys, a JWK Set...
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// ...or the https URL serving it.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Access tokens only with a DPoP proof (RFC 9449 §5.2).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// Back-Channel Logout 1.0 endpoint of the client.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Refresh tokens without the `offline_access` scope.
    #[serde(default)]
    pub refresh_tokens_without_offline_access: bool,
    /// Rotate DPoP-bound refresh tokens on use [default: true].
    #[serde(default = "yes")]
    pub rotate_dpop_bound_refresh_tokens: bool,
    /// The operator's own application: users are not asked for consent.
    #[serde(default)]
    pub first_party: bool,
    /// Shown on the consent page.
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub policy_uri: Option<String>,
    #[serde(default)]
    pub tos_uri: Option<String>,
    /// Seconds; the server's default when absent.
    #[serde(default)]
    pub access_token_lifetime: Option<u64>,
    /// Seconds; the server's default when absent.
    #[serde(default)]
    pub refresh_token_lifetime: Option<u64>,
}

fn yes() -> bool {
    true
}

/// A registered client.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    /// `confidential` or `public`.
    pub client_type: String,
    /// Unix time.
    pub created_at: i64,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// A client just registered or re-keyed, with its secret: shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientWithSecret {
    pub client: ClientView,
    /// Only for `client_secret_basic` / `client_secret_post` clients, and only when new.
    pub client_secret: Option<String>,
}

pub fn view(config: &Config, client: &Client) -> ClientView {
    let ladder = config.acr_ladder();
    ClientView {
        client_id: client.client_id.clone(),
        client_type: match client.client_type {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
        .into(),
        created_at: client.created_at,
        metadata: ClientMetadata {
            client_name: client.name.clone(),
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            token_endpoint_auth_method: Some(client.token_endpoint_auth_method.as_str().into()),
            grant_types: client
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            scope: client.scope.clone(),
            id_token_signed_response_alg: Some(client.id_token_signed_response_alg.as_str().into()),
            minimum_acr: client.min_acr.map(|l| ladder.name(l).to_owned()),
            require_pushed_authorization_requests: client.require_pushed_authorization_requests,
            jwks: client
                .jwks
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok()),
            jwks_uri: client.jwks_uri.clone(),
            dpop_bound_access_tokens: client.dpop_bound_access_tokens,
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
            refresh_tokens_without_offline_access: client.refresh_tokens_without_offline_access,
            rotate_dpop_bound_refresh_tokens: client.rotate_dpop_bound_refresh_tokens,
            first_party: client.first_party,
            logo_uri: client.logo_uri.clone(),
            policy_uri: client.policy_uri.clone(),
            tos_uri: client.tos_uri.clone(),
            access_token_lifetime: client.access_token_lifetime,
            refresh_token_lifetime: client.refresh_token_lifetime,
        },
    }
}

fn with_secret(config: &Config, credentials: &ClientCredentials) -> ClientWithSecret {
    ClientWithSecret {
        client: view(config, &credentials.client),
        client_secret: credentials.client_secret.clone(),
    }
}

/// Turns the metadata into the service layer's input, refusing unknown values.
pub fn new_client(config: &Config, m: ClientMetadata) -> Result<NewClient, ApiError> {
    let invalid =
        |message: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message);
    let auth_method = match m.token_endpoint_auth_method.as_deref() {
        None => None,
        Some(name) => Some(TokenEndpointAuthMethod::parse(name).ok_or_else(|| {
            invalid(format!(
                "unknown token_endpoint_auth_method {name:?}; use client_secret_basic, client_secret_post, private_key_jwt or none"
            ))
        })?),
    };
    let grant_types = m
        .grant_types
        .iter()
        .map(|g| {
            GrantType::parse(g).ok_or_else(|| {
                invalid(format!(
                    "unknown grant type {g:?}; use authorization_code, refresh_token or client_credentials"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let id_token_signed_response_alg = match m.id_token_signed_response_alg.as_deref() {
        None => crate::crypto::keys::SigningAlg::Es256,
        Some(alg) => alg.parse().map_err(invalid)?,
    };
    let ladder = config.acr_ladder();
    let min_acr = match m.minimum_acr.as_deref() {
        None => None,
        Some(name) => Some(ladder.level(name).ok_or_else(|| {
            invalid(format!(
                "unknown minimum_acr {name:?}; use one of: {}",
                ladder.supported().join(", ")
            ))
        })?),
    };
    Ok(NewClient {
        name: m.client_name,
        redirect_uris: m.redirect_uris,
        post_logout_redirect_uris: m.post_logout_redirect_uris,
        public: auth_method == Some(TokenEndpointAuthMethod::None),
        id_token_signed_response_alg,
        min_acr,
        grant_types,
        scopes: m
            .scope
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        require_par: m.require_pushed_authorization_requests,
        auth_method,
        jwks: m.jwks.map(|j| j.to_string()),
        jwks_uri: m.jwks_uri,
        dpop_bound: m.dpop_bound_access_tokens,
        backchannel_logout_uri: m.backchannel_logout_uri,
        refresh_without_offline_access: m.refresh_tokens_without_offline_access,
        keep_dpop_refresh_tokens: !m.rotate_dpop_bound_refresh_tokens,
        first_party: m.first_party,
        logo_uri: m.logo_uri,
        policy_uri: m.policy_uri,
        tos_uri: m.tos_uri,
        access_token_lifetime: m.access_token_lifetime.map(std::time::Duration::from_secs),
        refresh_token_lifetime: m.refresh_token_lifetime.map(std::time::Duration::from_secs),
    })
}

/// List every client.
#[utoipa::path(get, path = "/admin/api/v1/clients", tag = "clients",
    responses(
        (status = 200, description = "Every client, oldest first", body = Vec<ClientView>),
        (status = 401, description = "No valid admin token or session", body = ErrorBody),
        (status = 403, description = "Not an admin, not signed in with a passkey, or no CSRF token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
) -> Response {
    async {
        authorize(&state, &session, &method, &headers).await?;
        let clients = admin::clients::list(&state.db).await.map_err(admin_error)?;
        let views: Vec<_> = clients.iter().map(|c| view(&state.config, c)).collect();
        Ok(json(StatusCode::OK, &views))
    }
    .await
    .unwrap_or_else(error_response)
}

/// Register a client. A confidential client's secret is in this answer only.
#[utoipa::path(post, path = "/admin/api/v1/clients", tag = "clients",
    request_body = ClientMetadata,
    responses(
        (status = 201, description = "Registered", body = ClientWithSecret),
        (status = 400, description = "Invalid metadata; nothing was written", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    body: JsonBody<ClientMetadata>,
) -> Response {
    async {
        let caller = authorize(&state, &session, &method, &headers).await?;
        let new = new_client(&state.config, json_body(body)?)?;
        let created = admin::clients::create(&state.db, &caller.actor, new)
            .await
            .map_err(admin_error)?;
        Ok(json(
            StatusCode::CREATED,
            &with_secret(&state.config, &created),
        ))
    }
    .await
    .unwrap_or_else(error_response)
}

/// One client.
#[utoipa::path(get, path = "/admin/api/v1/clients/{id}", tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    responses(
        (status = 200, body = ClientView),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    async {
        authorize(&state, &session, &method, &headers).await?;
        let client = admin::clients::get(&state.db, &id)
            .await
            .map_err(admin_error)?;
        Ok(json(StatusCode::OK, &view(&state.config, &client)))
    }
    .await
    .unwrap_or_else(error_response)
}

/// Replace a client's settings (all of them: send the whole metadata). Its id, secret and
/// creation time stay; a client moving to a secret-based method gets a new secret, here.
#[utoipa::path(put, path = "/admin/api/v1/clients/{id}", tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    request_body = ClientMetadata,
    responses(
        (status = 200, body = ClientWithSecret),
        (status = 400, description = "Invalid metadata; nothing was written", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: JsonBody<ClientMetadata>,
) -> Response {
    async {
        let caller = authorize(&state, &session, &method, &headers).await?;
        let new = new_client(&state.config, json_body(body)?)?;
        let updated = admin::clients::update(&state.db, &caller.actor, &id, new)
            .await
            .map_err(admin_error)?;
        Ok(json(StatusCode::OK, &with_secret(&state.config, &updated)))
    }
    .await
    .unwrap_or_else(error_response)
}

/// Delete a client with every code and token issued to it.
#[utoipa::path(delete, path = "/admin/api/v1/clients/{id}", tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    async {
        let caller = authorize(&state, &session, &method, &headers).await?;
        admin::clients::remove(&state.db, &caller.actor, &id)
            .await
            .map_err(admin_error)?;
        Ok(axum::response::IntoResponse::into_response(
            StatusCode::NO_CONTENT,
        ))
    }
    .await
    .unwrap_or_else(error_response)
}

/// Replace a confidential client's secret; the old one stops working at once.
#[utoipa::path(post, path = "/admin/api/v1/clients/{id}/secret", tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    responses(
        (status = 200, body = ClientWithSecret),
        (status = 400, description = "The client has no secret (public or private_key_jwt)", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    async {
        let caller = authorize(&state, &session, &method, &headers).await?;
        let rotated = admin::clients::rotate_secret(&state.db, &caller.actor, &id)
            .await
            .map_err(admin_error)?;
        Ok(json(StatusCode::OK, &with_secret(&state.config, &rotated)))
    }
    .await
    .unwrap_or_else(error_response)
}
