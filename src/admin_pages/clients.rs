//! The clients on the admin pages: register, a page per client (settings, secret rotation),
//! delete.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    ADMIN, AdminForm, FLASH_KEY, Posted, admin_form, internal, render_invalid, signed_in_admin,
};
use crate::{
    admin::{self, AdminError, clients::NewClient},
    app::AppState,
    crypto::keys::SigningAlg,
    login::assurance::Level,
    model::client::{Client, ClientType, GrantType},
    web::{csrf, page_error::PageError},
};

#[derive(Deserialize)]
pub(super) struct ClientForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    /// One per line.
    #[serde(default)]
    redirect_uris: String,
    /// `confidential` or `public`.
    #[serde(default)]
    kind: String,
    /// A checkbox: present when ticked.
    first_party: Option<String>,
    #[serde(default)]
    logo_uri: String,
}

impl AdminForm for ClientForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub(super) async fn post_client(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<ClientForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Posted { form, actor, .. } = match admin_form(&state, &session, form).await? {
            Ok(posted) => posted,
            Err(redirect) => return Ok(redirect),
        };
        let new = NewClient {
            redirect_uris: form
                .redirect_uris
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            public: form.kind == "public",
            first_party: form.first_party.is_some(),
            logo_uri: Some(form.logo_uri.trim().to_owned()).filter(|u| !u.is_empty()),
            ..NewClient::new(&form.name)
        };
        match admin::clients::create(&state.db, &actor, new).await {
            Ok(created) => Ok(state.templates.render(
                StatusCode::CREATED,
                "admin_client_created.html",
                context! {
                    name => created.client.name,
                    client_id => created.client.client_id,
                    client_secret => created.client_secret,
                },
            )),
            Err(AdminError::Invalid(why)) => render_invalid(&state, &session, &why).await,
            Err(e) => Err(internal(e)),
        }
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

#[derive(Deserialize)]
pub(super) struct ClientDeleteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: String,
}

impl AdminForm for ClientDeleteForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub(super) async fn post_client_delete(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<ClientDeleteForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Posted { form, actor, .. } = match admin_form(&state, &session, form).await? {
            Ok(posted) => posted,
            Err(redirect) => return Ok(redirect),
        };
        let message = match admin::clients::remove(&state.db, &actor, &form.client_id).await {
            Ok(()) => "Client deleted.".to_owned(),
            Err(AdminError::NotFound(why) | AdminError::Invalid(why)) => why,
            Err(e) => return Err(internal(e)),
        };
        session.insert(FLASH_KEY, message).await?;
        Ok(Redirect::to(ADMIN).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

fn client_page(client_id: &str) -> String {
    // Only ids of stored clients get here: 32 hex digits, nothing to escape.
    format!("{}/{client_id}", super::CLIENTS)
}

/// The settings form's fields as text, from a stored client or from a refused submission.
#[derive(Debug, Default, serde::Serialize)]
struct SettingsView {
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_authorization_code: bool,
    grant_refresh_token: bool,
    grant_client_credentials: bool,
    scopes: String,
    id_token_alg: String,
    min_acr: String,
    access_token_lifetime: String,
    refresh_token_lifetime: String,
    first_party: bool,
    require_par: bool,
    dpop_bound: bool,
    logo_uri: String,
    policy_uri: String,
    tos_uri: String,
}

impl SettingsView {
    fn of(client: &Client) -> SettingsView {
        let lifetime = |seconds: Option<u64>| {
            seconds
                .map(|s| humantime::format_duration(std::time::Duration::from_secs(s)).to_string())
                .unwrap_or_default()
        };
        let grants = &client.grant_types;
        SettingsView {
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.join("\n"),
            post_logout_redirect_uris: client.post_logout_redirect_uris.join("\n"),
            grant_authorization_code: grants.contains(&GrantType::AuthorizationCode),
            grant_refresh_token: grants.contains(&GrantType::RefreshToken),
            grant_client_credentials: grants.contains(&GrantType::ClientCredentials),
            scopes: client.scope.clone().unwrap_or_default(),
            id_token_alg: client.id_token_signed_response_alg.as_str().into(),
            min_acr: client.min_acr.map(|l| l.key()).unwrap_or_default().into(),
            access_token_lifetime: lifetime(client.access_token_lifetime),
            refresh_token_lifetime: lifetime(client.refresh_token_lifetime),
            first_party: client.first_party,
            require_par: client.require_pushed_authorization_requests,
            dpop_bound: client.dpop_bound_access_tokens,
            logo_uri: client.logo_uri.clone().unwrap_or_default(),
            policy_uri: client.policy_uri.clone().unwrap_or_default(),
            tos_uri: client.tos_uri.clone().unwrap_or_default(),
        }
    }

    fn of_form(form: &ClientSettingsForm) -> SettingsView {
        SettingsView {
            name: form.name.clone(),
            redirect_uris: form.redirect_uris.clone(),
            post_logout_redirect_uris: form.post_logout_redirect_uris.clone(),
            grant_authorization_code: form.grant_authorization_code.is_some(),
            grant_refresh_token: form.grant_refresh_token.is_some(),
            grant_client_credentials: form.grant_client_credentials.is_some(),
            scopes: form.scopes.clone(),
            id_token_alg: form.id_token_alg.clone(),
            min_acr: form.min_acr.clone(),
            access_token_lifetime: form.access_token_lifetime.clone(),
            refresh_token_lifetime: form.refresh_token_lifetime.clone(),
            first_party: form.first_party.is_some(),
            require_par: form.require_par.is_some(),
            dpop_bound: form.dpop_bound.is_some(),
            logo_uri: form.logo_uri.clone(),
            policy_uri: form.policy_uri.clone(),
            tos_uri: form.tos_uri.clone(),
        }
    }
}

/// The client's page: what it is, its settings form, secret rotation and deletion.
async fn render_client(
    state: &AppState,
    session: &Session,
    client: &Client,
    settings: &SettingsView,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let message: Option<String> = session.remove(FLASH_KEY).await?;
    Ok(state.templates.render(
        status,
        "admin_client.html",
        context! {
            csrf_token => csrf::token(session).await?,
            client_id => client.client_id.clone(),
            kind => match client.client_type {
                ClientType::Confidential => "confidential",
                ClientType::Public => "public",
            },
            auth_method => client.token_endpoint_auth_method.as_str(),
            has_secret => client.client_type == ClientType::Confidential
                && client.token_endpoint_auth_method.uses_secret(),
            created_at => client.created_at,
            settings => Serde(settings),
            levels => Level::ALL.map(Level::key),
            algs => SigningAlg::ALL.map(SigningAlg::as_str),
            message => message,
            error => error,
        },
    ))
}

/// The client with id `id`, or the page saying there is none.
async fn find_client(state: &AppState, id: &str) -> Result<Client, PageError> {
    match admin::clients::get(&state.db, id).await {
        Ok(client) => Ok(client),
        Err(AdminError::NotFound(_)) => Err(PageError::user(
            StatusCode::NOT_FOUND,
            "No such client",
            "There is no client with this id (any more). Go back to the admin page.",
        )),
        Err(e) => Err(internal(e)),
    }
}

pub(super) async fn get_client(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    async {
        if let Err(redirect) = signed_in_admin(&state, &session).await? {
            return Ok(redirect);
        }
        let client = find_client(&state, &id).await?;
        let settings = SettingsView::of(&client);
        render_client(&state, &session, &client, &settings, None, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

#[derive(Deserialize)]
pub(super) struct ClientSettingsForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    /// One per line, as the two below.
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    /// Checkboxes: present when ticked.
    grant_authorization_code: Option<String>,
    grant_refresh_token: Option<String>,
    grant_client_credentials: Option<String>,
    /// Space-separated.
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    id_token_alg: String,
    /// A level key, or empty for none.
    #[serde(default)]
    min_acr: String,
    /// A duration such as `15m`, or empty for the server's default.
    #[serde(default)]
    access_token_lifetime: String,
    #[serde(default)]
    refresh_token_lifetime: String,
    first_party: Option<String>,
    require_par: Option<String>,
    dpop_bound: Option<String>,
    #[serde(default)]
    logo_uri: String,
    #[serde(default)]
    policy_uri: String,
    #[serde(default)]
    tos_uri: String,
}

impl AdminForm for ClientSettingsForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// The client's settings with the form's applied; what the form does not show (keys,
/// back-channel logout, refresh policies) stays as it is.
fn apply(form: &ClientSettingsForm, client: &Client) -> Result<NewClient, String> {
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let optional = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    let lifetime = |what: &str, text: &str| -> Result<Option<std::time::Duration>, String> {
        match text.trim() {
            "" => Ok(None),
            text => humantime::parse_duration(text)
                .map(Some)
                .map_err(|e| format!("{what}: {e} (write e.g. 15m, 1h, 30d)")),
        }
    };
    let mut new = NewClient::from_client(client);
    new.name = form.name.trim().to_owned();
    new.redirect_uris = lines(&form.redirect_uris);
    new.post_logout_redirect_uris = lines(&form.post_logout_redirect_uris);
    new.grant_types = [
        (
            form.grant_authorization_code.is_some(),
            GrantType::AuthorizationCode,
        ),
        (form.grant_refresh_token.is_some(), GrantType::RefreshToken),
        (
            form.grant_client_credentials.is_some(),
            GrantType::ClientCredentials,
        ),
    ]
    .into_iter()
    .filter_map(|(ticked, grant)| ticked.then_some(grant))
    .collect();
    if new.grant_types.is_empty() {
        return Err("Tick at least one grant type.".into());
    }
    new.scopes = form.scopes.split_whitespace().map(str::to_owned).collect();
    new.id_token_signed_response_alg = form.id_token_alg.parse()?;
    new.min_acr = match form.min_acr.as_str() {
        "" => None,
        key => Some(Level::from_key(key).ok_or_else(|| format!("unknown level {key:?}"))?),
    };
    new.access_token_lifetime = lifetime("Access token lifetime", &form.access_token_lifetime)?;
    new.refresh_token_lifetime = lifetime("Refresh token lifetime", &form.refresh_token_lifetime)?;
    new.first_party = form.first_party.is_some();
    new.require_par = form.require_par.is_some();
    new.dpop_bound = form.dpop_bound.is_some();
    new.logo_uri = optional(&form.logo_uri);
    new.policy_uri = optional(&form.policy_uri);
    new.tos_uri = optional(&form.tos_uri);
    Ok(new)
}

pub(super) async fn post_client_settings(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    form: Result<Form<ClientSettingsForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Posted { form, actor, .. } = match admin_form(&state, &session, form).await? {
            Ok(posted) => posted,
            Err(redirect) => return Ok(redirect),
        };
        let client = find_client(&state, &id).await?;
        let refused = |why: String| {
            let state = state.clone();
            let session = session.clone();
            let client = client.clone();
            let settings = SettingsView::of_form(&form);
            async move {
                render_client(
                    &state,
                    &session,
                    &client,
                    &settings,
                    Some(&why),
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
        };
        let new = match apply(&form, &client) {
            Ok(new) => new,
            Err(why) => return refused(why).await,
        };
        match admin::clients::update(&state.db, &actor, &client.client_id, new).await {
            Ok(_) => {
                session.insert(FLASH_KEY, "Settings saved.").await?;
                Ok(Redirect::to(&client_page(&client.client_id)).into_response())
            }
            Err(AdminError::Invalid(why)) => refused(why).await,
            Err(e) => Err(internal(e)),
        }
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

impl AdminForm for CsrfForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// A new secret for a confidential client, shown once; the old one stops working at once.
pub(super) async fn post_rotate_secret(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Posted { actor, .. } = match admin_form(&state, &session, form).await? {
            Ok(posted) => posted,
            Err(redirect) => return Ok(redirect),
        };
        let client = find_client(&state, &id).await?;
        match admin::clients::rotate_secret(&state.db, &actor, &client.client_id).await {
            Ok(rotated) => Ok(state.templates.render(
                StatusCode::OK,
                "admin_client_created.html",
                context! {
                    rotated => true,
                    name => rotated.client.name,
                    client_id => rotated.client.client_id,
                    client_secret => rotated.client_secret,
                },
            )),
            Err(AdminError::Invalid(why)) => {
                session.insert(FLASH_KEY, why).await?;
                Ok(Redirect::to(&client_page(&client.client_id)).into_response())
            }
            Err(e) => Err(internal(e)),
        }
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
