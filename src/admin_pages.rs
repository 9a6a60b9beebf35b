//! The admin web pages (`/admin`): clients (list, register, delete), users (search, disable,
//! enable, sign out everywhere) and the audit log, over the same service layer as the CLI and
//! the admin API. Only admins (`idp user grant-admin`) whose sign-in used a passkey (`phr`)
//! get in; every form carries the session's CSRF token and every change is an audit event
//! naming the admin.

use axum::{
    Form, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    account::SignedIn,
    admin::{self, Actor, AdminError, clients::NewClient},
    app::AppState,
    login::{self, assurance::Level},
    store::{self, security_events::EventFilter},
    web::{csrf, page_error::PageError},
};

pub const ADMIN: &str = "/admin";
const CLIENTS: &str = "/admin/clients";
const CLIENT_DELETE: &str = "/admin/clients/delete";
const USER_ACTION: &str = "/admin/users/action";
const FLASH_KEY: &str = "admin_flash";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(ADMIN, get(get_admin))
        .route(CLIENTS, post(post_client))
        .route(CLIENT_DELETE, post(post_client_delete))
        .route(USER_ACTION, post(post_user_action))
}

/// The admin signed in to this browser, or the page to show instead.
async fn admin(
    state: &AppState,
    session: &Session,
) -> Result<Result<SignedIn, Response>, PageError> {
    let Some(signed_in) = SignedIn::of(state, session).await? else {
        let url = login::start_account_sign_in(state, session).await?;
        return Ok(Err(Redirect::to(&url).into_response()));
    };
    if !signed_in.user.is_admin {
        return Err(PageError::user(
            StatusCode::FORBIDDEN,
            "Not an admin",
            "This account cannot administer this server.",
        ));
    }
    if !signed_in.authentication.satisfies(Level::Phr) {
        return Err(PageError::user(
            StatusCode::FORBIDDEN,
            "Sign in with a passkey",
            "Administration needs a sign-in with a passkey. Sign out, then sign in again with your passkey.",
        ));
    }
    Ok(Ok(signed_in))
}

/// The admin behind a form, once the form's CSRF token checks out.
async fn admin_posting(
    state: &AppState,
    session: &Session,
    csrf_token: &str,
) -> Result<Result<SignedIn, Response>, PageError> {
    let signed_in = admin(state, session).await?;
    if signed_in.is_ok() && !csrf::verify(session, csrf_token).await {
        return Err(PageError::form_expired());
    }
    Ok(signed_in)
}

#[derive(Deserialize)]
pub struct AdminQuery {
    /// User search.
    q: Option<String>,
    /// Audit log page: events older than this id.
    before: Option<i64>,
}

async fn get_admin(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<AdminQuery>,
) -> Response {
    async {
        let _admin = match admin(&state, &session).await? {
            Ok(admin) => admin,
            Err(redirect) => return Ok(redirect),
        };
        let message: Option<String> = session.remove(FLASH_KEY).await?;
        render(
            &state,
            &session,
            &query,
            message.as_deref(),
            None,
            StatusCode::OK,
        )
        .await
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

async fn render(
    state: &AppState,
    session: &Session,
    query: &AdminQuery,
    message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let clients = admin::clients::list(&state.db).await.map_err(internal)?;
    let clients: Vec<_> = clients
        .into_iter()
        .map(|c| {
            context! {
                client_id => c.client_id,
                name => c.name,
                kind => match c.client_type {
                    crate::model::client::ClientType::Confidential => "confidential",
                    crate::model::client::ClientType::Public => "public",
                },
                first_party => c.first_party,
                redirect_uris => c.redirect_uris,
            }
        })
        .collect();
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let users = store::users::search(&state.db, search, 100, 0).await?;
    const PAGE: u64 = 50;
    let filter = EventFilter {
        before_id: query.before,
        ..Default::default()
    };
    let mut events = store::security_events::query(&state.db, &filter, PAGE + 1, false).await?;
    let more = events.len() as u64 > PAGE;
    events.truncate(PAGE as usize);
    let older = more.then(|| events.last().map(|e| e.id)).flatten();
    Ok(state.templates.render(
        status,
        "admin.html",
        context! {
            csrf_token => csrf::token(session).await?,
            clients => clients,
            users => Serde(&users),
            search => search,
            events => Serde(&events),
            older => older,
            message => message,
            error => error,
        },
    ))
}

fn internal(e: AdminError) -> PageError {
    match e {
        AdminError::Internal(e) => PageError::Internal(e),
        other => PageError::Internal(anyhow::anyhow!("{other}")),
    }
}

#[derive(Deserialize)]
pub struct ClientForm {
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

async fn post_client(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<ClientForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Ok(Form(form)) = form else {
            return Err(PageError::form_expired());
        };
        let signed_in = match admin_posting(&state, &session, &form.csrf_token).await? {
            Ok(admin) => admin,
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
        let actor = Actor::Admin {
            user_id: signed_in.user.id.clone(),
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
            Err(AdminError::Invalid(why)) => {
                let query = AdminQuery {
                    q: None,
                    before: None,
                };
                render(
                    &state,
                    &session,
                    &query,
                    None,
                    Some(&why),
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
            Err(e) => Err(internal(e)),
        }
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

#[derive(Deserialize)]
pub struct ClientDeleteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: String,
}

async fn post_client_delete(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<ClientDeleteForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Ok(Form(form)) = form else {
            return Err(PageError::form_expired());
        };
        let signed_in = match admin_posting(&state, &session, &form.csrf_token).await? {
            Ok(admin) => admin,
            Err(redirect) => return Ok(redirect),
        };
        let actor = Actor::Admin {
            user_id: signed_in.user.id,
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

#[derive(Deserialize)]
pub struct UserActionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    user_id: String,
    /// The button pressed: `disable`, `enable`, `sign-out`, `require-passkey`,
    /// `passkey-not-required`, `reset` or `recovery-link`.
    #[serde(default)]
    action: String,
}

async fn post_user_action(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<UserActionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Ok(Form(form)) = form else {
            return Err(PageError::form_expired());
        };
        let signed_in = match admin_posting(&state, &session, &form.csrf_token).await? {
            Ok(admin) => admin,
            Err(redirect) => return Ok(redirect),
        };
        let actor = Actor::Admin {
            user_id: signed_in.user.id,
        };
        let user = match admin::users::get(&state.db, &form.user_id).await {
            Ok(user) => user,
            Err(AdminError::NotFound(why)) => {
                session.insert(FLASH_KEY, why).await?;
                return Ok(Redirect::to(ADMIN).into_response());
            }
            Err(e) => return Err(internal(e)),
        };
        let db = &state.db;
        if form.action == "recovery-link" {
            let lifetime = std::time::Duration::from_secs(24 * 3600);
            let (link, expires_at) = match admin::users::recovery_link(
                db,
                &actor,
                &state.config.issuer,
                &user.username,
                lifetime,
            )
            .await
            {
                Ok(made) => made,
                Err(AdminError::Invalid(why)) => {
                    session.insert(FLASH_KEY, why).await?;
                    return Ok(Redirect::to(ADMIN).into_response());
                }
                Err(e) => return Err(internal(e)),
            };
            // Shown once, never stored in clear (not even in the flash message).
            return Ok(state.templates.render(
                StatusCode::CREATED,
                "admin_recovery_link.html",
                context! { username => user.username, link => link, expires_at => expires_at },
            ));
        }
        let (result, done) = match form.action.as_str() {
            "disable" => (
                admin::users::set_disabled(db, &actor, &user.username, true).await,
                "disabled",
            ),
            "enable" => (
                admin::users::set_disabled(db, &actor, &user.username, false).await,
                "enabled",
            ),
            "sign-out" => (
                admin::users::sign_out_everywhere(db, &actor, &user.username).await,
                "signed out everywhere",
            ),
            "require-passkey" => (
                admin::users::set_require_passkey(db, &actor, &user.username, true).await,
                "must add a passkey at their next sign-in",
            ),
            "passkey-not-required" => (
                admin::users::set_require_passkey(db, &actor, &user.username, false).await,
                "no longer has to add a passkey",
            ),
            "reset" => (
                admin::users::reset_factors(db, &actor, &user.username, Default::default()).await,
                "has no passkeys, authenticator app or recovery codes any more",
            ),
            _ => {
                return Err(PageError::user(
                    StatusCode::BAD_REQUEST,
                    "Unknown action",
                    "Go back to the admin page and press one of its buttons.",
                ));
            }
        };
        result.map_err(internal)?;
        session
            .insert(FLASH_KEY, format!("{} {done}.", user.username))
            .await?;
        Ok(Redirect::to(ADMIN).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
