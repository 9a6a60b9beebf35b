//! Registering and managing OAuth clients.

use sea_orm::{DatabaseConnection, TransactionTrait};

use super::{Actor, AdminError, audit};
use crate::{
    crypto::{keys::SigningAlg, random},
    login::assurance::Level,
    model::{
        client::{Client, ClientType, GrantType, TokenEndpointAuthMethod, validate_redirect_uri},
        now,
        scope::{self, Scopes},
    },
    store::{self, security_events::kind},
};

pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return the browser (same rules as redirect URIs).
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub id_token_signed_response_alg: SigningAlg,
    /// The lowest level the client accepts.
    pub min_acr: Option<Level>,
    /// Grant types the client may use; empty means authorization code + refresh token.
    pub grant_types: Vec<GrantType>,
    /// Scopes a `client_credentials` client may ask for.
    pub scopes: Vec<String>,
    /// The client must push its authorization requests (RFC 9126).
    pub require_par: bool,
    /// How a confidential client authenticates [default: client_secret_basic].
    pub auth_method: Option<TokenEndpointAuthMethod>,
    /// A `private_key_jwt` client's public keys: a JWK Set...
    pub jwks: Option<String>,
    /// ...or an https URL serving it.
    pub jwks_uri: Option<String>,
    /// Access tokens only with a DPoP proof (RFC 9449).
    pub dpop_bound: bool,
    /// Where to POST logout tokens (Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// Refresh tokens without the `offline_access` scope.
    pub refresh_without_offline_access: bool,
    /// Keep DPoP-bound refresh tokens instead of rotating them.
    pub keep_dpop_refresh_tokens: bool,
    /// The operator's own application: no consent page.
    pub first_party: bool,
    /// Shown on the consent page: https URLs (http on loopback).
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// Overrides `tokens.access_token` for this client (1 minute to 1 day).
    pub access_token_lifetime: Option<std::time::Duration>,
    /// Overrides `tokens.refresh_token` for this client (1 minute to 400 days).
    pub refresh_token_lifetime: Option<std::time::Duration>,
}

impl NewClient {
    /// A confidential client named `name` with every other setting at its default (no
    /// redirect URI yet: set `redirect_uris` for a client that signs users in).
    pub fn new(name: &str) -> NewClient {
        NewClient {
            name: name.into(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            public: false,
            id_token_signed_response_alg: SigningAlg::Es256,
            min_acr: None,
            grant_types: Vec::new(),
            scopes: Vec::new(),
            require_par: false,
            auth_method: None,
            jwks: None,
            jwks_uri: None,
            dpop_bound: false,
            backchannel_logout_uri: None,
            refresh_without_offline_access: false,
            keep_dpop_refresh_tokens: false,
            first_party: false,
            logo_uri: None,
            policy_uri: None,
            tos_uri: None,
            access_token_lifetime: None,
            refresh_token_lifetime: None,
        }
    }

    /// The settings of an existing client, to change some and pass to [`update`].
    pub fn from_client(client: &Client) -> NewClient {
        NewClient {
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            public: client.client_type == ClientType::Public,
            id_token_signed_response_alg: client.id_token_signed_response_alg,
            min_acr: client.min_acr,
            grant_types: client.grant_types.clone(),
            scopes: client
                .scope
                .as_deref()
                .map(|s| s.split(' ').map(str::to_owned).collect())
                .unwrap_or_default(),
            require_par: client.require_pushed_authorization_requests,
            auth_method: Some(client.token_endpoint_auth_method),
            jwks: client.jwks.clone(),
            jwks_uri: client.jwks_uri.clone(),
            dpop_bound: client.dpop_bound_access_tokens,
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
            refresh_without_offline_access: client.refresh_tokens_without_offline_access,
            keep_dpop_refresh_tokens: !client.rotate_dpop_bound_refresh_tokens,
            first_party: client.first_party,
            logo_uri: client.logo_uri.clone(),
            policy_uri: client.policy_uri.clone(),
            tos_uri: client.tos_uri.clone(),
            access_token_lifetime: client
                .access_token_lifetime
                .map(std::time::Duration::from_secs),
            refresh_token_lifetime: client
                .refresh_token_lifetime
                .map(std::time::Duration::from_secs),
        }
    }
}

/// A client just created or re-keyed, with its secret in clear: shown once, never stored.
#[derive(Clone)]
pub struct ClientCredentials {
    pub client: Client,
    pub client_secret: Option<String>,
}

/// Validates and stores a new client. Nothing is written if any input is invalid.
pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewClient,
) -> Result<ClientCredentials, AdminError> {
    let (credentials, _) = store_new(db, actor, new, false).await?;
    Ok(credentials)
}

/// Registers a client that asked for it itself (RFC 7591): never first-party, and with a
/// registration access token (returned here once, stored as a digest) to read, change and
/// delete its registration later (RFC 7592).
pub async fn register(
    db: &DatabaseConnection,
    actor: &Actor,
    mut new: NewClient,
) -> Result<(ClientCredentials, String), AdminError> {
    new.first_party = false;
    let (credentials, token) = store_new(db, actor, new, true).await?;
    Ok((credentials, token.expect("asked for a registration token")))
}

/// Validates `new` and stores it with a new id and, for secret-based methods, a new secret;
/// with `registration_token`, also a registration access token. One transaction with its
/// audit event.
async fn store_new(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewClient,
    registration_token: bool,
) -> Result<(ClientCredentials, Option<String>), AdminError> {
    let mut client = validate(new, random::client_id(), now())?;
    let secret = client
        .token_endpoint_auth_method
        .uses_secret()
        .then(random::secret);
    client.secret_hash = secret.as_deref().map(random::digest);
    let token = registration_token.then(random::secret);
    let txn = db.begin_with_options(store::WRITE).await?;
    store::clients::create(&txn, &client).await?;
    let mut detail = describe(&client);
    if let Some(token) = &token {
        store::clients::set_registration_token(&txn, &client.client_id, &random::digest(token))
            .await?;
        detail["registered"] = true.into();
    }
    audit(&txn, actor, None, kind::CLIENT_CREATED, Some(detail)).await?;
    txn.commit().await?;
    Ok((
        ClientCredentials {
            client,
            client_secret: secret,
        },
        token,
    ))
}

/// Replaces the settings of an existing client (its id, secret and creation time stay).
/// A client moving to an authentication method that needs a secret gets a new one, returned
/// here once; one moving away from it loses its secret. Nothing is written if any input is
/// invalid.
pub async fn update(
    db: &DatabaseConnection,
    actor: &Actor,
    client_id: &str,
    new: NewClient,
) -> Result<ClientCredentials, AdminError> {
    let existing = get(db, client_id).await?;
    let mut client = validate(new, existing.client_id.clone(), existing.created_at)?;
    let secret = match (
        client.token_endpoint_auth_method.uses_secret(),
        existing.secret_hash,
    ) {
        (true, Some(hash)) => {
            client.secret_hash = Some(hash);
            None
        }
        (true, None) => {
            let secret = random::secret();
            client.secret_hash = Some(random::digest(&secret));
            Some(secret)
        }
        (false, _) => None,
    };
    let txn = db.begin_with_options(store::WRITE).await?;
    if !store::clients::update(&txn, &client, now()).await? {
        return Err(AdminError::NotFound(format!(
            "no client with id {client_id:?}"
        )));
    }
    audit(
        &txn,
        actor,
        None,
        kind::CLIENT_UPDATED,
        Some(describe(&client)),
    )
    .await?;
    txn.commit().await?;
    Ok(ClientCredentials {
        client,
        client_secret: secret,
    })
}

/// An https URL (http on a loopback host) for the consent page to link or show.
fn check_page_uri(what: &str, uri: &str) -> Result<(), AdminError> {
    let url = url::Url::parse(uri)
        .map_err(|_| AdminError::Invalid(format!("the {what} {uri:?} is not an absolute URL")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "the {what} {uri:?} must use https (http only on localhost)"
        )))
    }
}

fn check_lifetime(
    what: &str,
    lifetime: Option<std::time::Duration>,
    max: std::time::Duration,
) -> Result<Option<u64>, AdminError> {
    match lifetime {
        None => Ok(None),
        Some(d) if d.as_secs() >= 60 && d <= max => Ok(Some(d.as_secs())),
        Some(_) => Err(AdminError::Invalid(format!(
            "the {what} must be between 1 minute and {}",
            humantime::format_duration(max)
        ))),
    }
}

/// Checks every setting of `new` and builds the client it describes (without a secret).
fn validate(new: NewClient, client_id: String, created_at: i64) -> Result<Client, AdminError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() {
        return Err(AdminError::Invalid("the client name is empty".into()));
    }
    let mut grant_types: Vec<GrantType> = Vec::new();
    for grant in if new.grant_types.is_empty() {
        GrantType::DEFAULT.to_vec()
    } else {
        new.grant_types
    } {
        if !grant_types.contains(&grant) {
            grant_types.push(grant);
        }
    }
    let signs_users_in = grant_types.contains(&GrantType::AuthorizationCode);
    if grant_types.contains(&GrantType::RefreshToken) && !signs_users_in {
        return Err(AdminError::Invalid(
            "the refresh_token grant needs the authorization_code grant".into(),
        ));
    }
    if signs_users_in && new.redirect_uris.is_empty() {
        return Err(AdminError::Invalid(
            "at least one redirect URI is required".into(),
        ));
    }
    let has_uris = !new.redirect_uris.is_empty() || !new.post_logout_redirect_uris.is_empty();
    if !signs_users_in && has_uris {
        return Err(AdminError::Invalid(
            "redirect URIs need the authorization_code grant".into(),
        ));
    }
    let machine = grant_types.contains(&GrantType::ClientCredentials);
    if machine && new.public {
        // RFC 6749 §4.4: the client_credentials grant is for confidential clients only.
        return Err(AdminError::Invalid(
            "a public client cannot use the client_credentials grant".into(),
        ));
    }
    let scope = if new.scopes.is_empty() {
        None
    } else {
        if !machine {
            return Err(AdminError::Invalid(
                "--scope is for the client_credentials grant".into(),
            ));
        }
        let scopes = Scopes::parse(&new.scopes.join(" "))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                AdminError::Invalid("a scope has characters RFC 6749 §3.3 does not allow".into())
            })?;
        if let Some(user_scope) = scope::SUPPORTED.iter().find(|s| scopes.contains(s)) {
            return Err(AdminError::Invalid(format!(
                "{user_scope:?} is about a signed-in user; a client_credentials token has none"
            )));
        }
        Some(scopes.to_string())
    };
    let mut redirect_uris: Vec<String> = Vec::new();
    for uri in new.redirect_uris {
        validate_redirect_uri(&uri).map_err(AdminError::Invalid)?;
        if !redirect_uris.contains(&uri) {
            redirect_uris.push(uri);
        }
    }
    let mut post_logout_redirect_uris: Vec<String> = Vec::new();
    for uri in new.post_logout_redirect_uris {
        validate_redirect_uri(&uri)
            .map_err(|why| AdminError::Invalid(format!("post-logout {why}")))?;
        if !post_logout_redirect_uris.contains(&uri) {
            post_logout_redirect_uris.push(uri);
        }
    }
    let method = match (new.public, new.auth_method) {
        (true, None | Some(TokenEndpointAuthMethod::None)) => TokenEndpointAuthMethod::None,
        (true, Some(_)) => {
            return Err(AdminError::Invalid(
                "a public client does not authenticate (its auth method is none)".into(),
            ));
        }
        (false, None) => TokenEndpointAuthMethod::ClientSecretBasic,
        (false, Some(TokenEndpointAuthMethod::None)) => {
            return Err(AdminError::Invalid(
                "auth method none is for public clients (--public)".into(),
            ));
        }
        (false, Some(method)) => method,
    };
    let (jwks, jwks_uri) = if method == TokenEndpointAuthMethod::PrivateKeyJwt {
        match (new.jwks, new.jwks_uri) {
            (Some(jwks), None) => (
                Some(
                    crate::oidc::client_assertion::check_jwks(&jwks)
                        .map_err(AdminError::Invalid)?,
                ),
                None,
            ),
            (None, Some(uri)) => {
                crate::oidc::client_assertion::check_jwks_uri(&uri).map_err(AdminError::Invalid)?;
                (None, Some(uri))
            }
            _ => {
                return Err(AdminError::Invalid(
                    "private_key_jwt needs the client's public keys: a JWK Set file or a jwks_uri (one of them)".into(),
                ));
            }
        }
    } else {
        if new.jwks.is_some() || new.jwks_uri.is_some() {
            return Err(AdminError::Invalid(
                "a JWK Set is only for the private_key_jwt auth method".into(),
            ));
        }
        (None, None)
    };
    if let Some(uri) = &new.backchannel_logout_uri {
        // §2.2: an absolute https URL (http on loopback for development), no fragment.
        crate::oidc::client_assertion::check_jwks_uri(uri).map_err(|why| {
            AdminError::Invalid(why.replace("jwks_uri", "backchannel logout URI"))
        })?;
        if url::Url::parse(uri).is_ok_and(|u| u.fragment().is_some()) {
            return Err(AdminError::Invalid(
                "a backchannel logout URI has no fragment".into(),
            ));
        }
        if !signs_users_in {
            return Err(AdminError::Invalid(
                "back-channel logout is for clients that sign users in".into(),
            ));
        }
    }
    let backchannel_logout_uri = new.backchannel_logout_uri;
    let refreshes = grant_types.contains(&GrantType::RefreshToken);
    if new.refresh_without_offline_access && !refreshes {
        return Err(AdminError::Invalid(
            "refresh tokens without offline_access need the refresh_token grant".into(),
        ));
    }
    if new.keep_dpop_refresh_tokens && !refreshes {
        return Err(AdminError::Invalid(
            "keeping DPoP-bound refresh tokens needs the refresh_token grant".into(),
        ));
    }
    if new.keep_dpop_refresh_tokens && !new.public {
        // RFC 9449 §5: only a public client's refresh tokens are bound to its DPoP key; a
        // confidential client's are bound to its credentials and always rotate here.
        return Err(AdminError::Invalid(
            "only a public client's refresh tokens are DPoP-bound, so only a public client can keep them".into(),
        ));
    }
    for (what, uri) in [
        ("logo URI", &new.logo_uri),
        ("policy URI", &new.policy_uri),
        ("terms-of-service URI", &new.tos_uri),
    ] {
        if let Some(uri) = uri {
            check_page_uri(what, uri)?;
        }
    }
    let access_token_lifetime = check_lifetime(
        "access token lifetime",
        new.access_token_lifetime,
        std::time::Duration::from_secs(24 * 3600),
    )?;
    let refresh_token_lifetime = check_lifetime(
        "refresh token lifetime",
        new.refresh_token_lifetime,
        std::time::Duration::from_secs(400 * 24 * 3600),
    )?;
    if refresh_token_lifetime.is_some() && !refreshes {
        return Err(AdminError::Invalid(
            "a refresh token lifetime needs the refresh_token grant".into(),
        ));
    }
    let client_type = if method == TokenEndpointAuthMethod::None {
        ClientType::Public
    } else {
        ClientType::Confidential
    };
    Ok(Client {
        client_id,
        name,
        client_type,
        token_endpoint_auth_method: method,
        id_token_signed_response_alg: new.id_token_signed_response_alg,
        redirect_uris,
        post_logout_redirect_uris,
        min_acr: new.min_acr,
        grant_types,
        scope,
        require_pushed_authorization_requests: new.require_par,
        jwks,
        jwks_uri,
        dpop_bound_access_tokens: new.dpop_bound,
        backchannel_logout_uri,
        refresh_tokens_without_offline_access: new.refresh_without_offline_access,
        rotate_dpop_bound_refresh_tokens: !new.keep_dpop_refresh_tokens,
        first_party: new.first_party,
        logo_uri: new.logo_uri,
        policy_uri: new.policy_uri,
        tos_uri: new.tos_uri,
        access_token_lifetime,
        refresh_token_lifetime,
        secret_hash: None,
        created_at,
    })
}

pub async fn get(db: &DatabaseConnection, client_id: &str) -> Result<Client, AdminError> {
    store::clients::get(db, client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client with id {client_id:?}")))
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<Client>, AdminError> {
    Ok(store::clients::list(db).await?)
}

/// Deletes a client with everything issued to it.
pub async fn remove(
    db: &DatabaseConnection,
    actor: &Actor,
    client_id: &str,
) -> Result<(), AdminError> {
    let txn = db.begin_with_options(store::WRITE).await?;
    if !store::clients::remove(&txn, client_id).await? {
        return Err(AdminError::NotFound(format!(
            "no client with id {client_id:?}"
        )));
    }
    let detail = serde_json::json!({ "client_id": client_id });
    audit(&txn, actor, None, kind::CLIENT_DELETED, Some(detail)).await?;
    txn.commit().await?;
    Ok(())
}

/// What an audit event says about a client.
fn describe(client: &Client) -> serde_json::Value {
    serde_json::json!({ "client_id": client.client_id, "name": client.name })
}

/// Replaces a confidential client's secret; the old one stops working at once.
pub async fn rotate_secret(
    db: &DatabaseConnection,
    actor: &Actor,
    client_id: &str,
) -> Result<ClientCredentials, AdminError> {
    let client = get(db, client_id).await?;
    if client.client_type == ClientType::Public {
        return Err(AdminError::Invalid(format!(
            "client {client_id:?} is public and has no secret"
        )));
    }
    if !client.token_endpoint_auth_method.uses_secret() {
        return Err(AdminError::Invalid(format!(
            "client {client_id:?} authenticates with {} and has no secret",
            client.token_endpoint_auth_method.as_str()
        )));
    }
    let secret = random::secret();
    let txn = db.begin_with_options(store::WRITE).await?;
    if !store::clients::set_secret_hash(&txn, client_id, &random::digest(&secret)).await? {
        return Err(AdminError::NotFound(format!(
            "no client with id {client_id:?}"
        )));
    }
    audit(
        &txn,
        actor,
        None,
        kind::CLIENT_SECRET_ROTATED,
        Some(describe(&client)),
    )
    .await?;
    txn.commit().await?;
    Ok(ClientCredentials {
        client,
        client_secret: Some(secret),
    })
}
