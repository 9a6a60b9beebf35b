//! The self-service account console: the signed-in user's passkeys (add, rename, delete) as
//! hosted pages and as a JSON API for apps, and signing out.

pub mod delete;
pub mod passkeys;
pub mod second_factors;
pub mod security;

use axum::{
    Form, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    app::AppState,
    login::{self, assurance::Authentication, session},
    model::{now, user::User},
    routes, store,
    web::{csrf, page_error::PageError},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(routes::ACCOUNT, get(get_account))
        .route(routes::ACCOUNT_REAUTHENTICATE, get(get_reauthenticate))
        .route(routes::LOGOUT, post(post_logout))
        .route(
            routes::ACCOUNT_DELETE,
            get(delete::get_delete).post(delete::post_delete),
        )
        .route(routes::ACCOUNT_PASSKEY_RENAME, post(passkeys::post_rename))
        .route(routes::ACCOUNT_PASSKEY_DELETE, post(passkeys::post_delete))
        .route(
            routes::ACCOUNT_TOTP,
            get(second_factors::get_totp).post(second_factors::post_totp),
        )
        .route(
            routes::ACCOUNT_TOTP_REMOVE,
            post(second_factors::post_remove_totp),
        )
        .route(
            routes::ACCOUNT_RECOVERY_CODES,
            post(second_factors::post_regenerate_recovery_codes),
        )
        .route(routes::ACCOUNT_PASSWORD, post(security::post_password))
        .route(routes::ACCOUNT_APP_REVOKE, post(security::post_revoke_app))
        .route(
            routes::ACCOUNT_SESSIONS_REVOKE_OTHERS,
            post(security::post_revoke_other_sessions),
        )
        .route(routes::API_PASSKEYS, get(passkeys::api_list))
        .route(
            routes::API_PASSKEY,
            axum::routing::patch(passkeys::api_rename).delete(passkeys::api_delete),
        )
        .route(
            routes::API_PASSKEY_REGISTER_BEGIN,
            post(passkeys::api_register_begin),
        )
        .route(
            routes::API_PASSKEY_REGISTER_FINISH,
            post(passkeys::api_register_finish),
        )
}

/// The signed-in user of this browser, with their session id and sign-in.
pub struct SignedIn {
    pub sid: String,
    pub user: User,
    pub authentication: Authentication,
}

impl SignedIn {
    pub async fn of(state: &AppState, session: &Session) -> anyhow::Result<Option<SignedIn>> {
        let Some((sid, authentication)) = session::current(state, session).await? else {
            return Ok(None);
        };
        let Some(user) = store::users::find_by_id(&state.db, &authentication.user_id).await? else {
            return Ok(None);
        };
        Ok(Some(SignedIn {
            sid,
            user,
            authentication,
        }))
    }

    /// Whether the sign-in is recent enough to add a sign-in method.
    pub fn is_recent(&self, state: &AppState) -> bool {
        now() - self.authentication.auth_time
            <= state.config.session.reauthentication_window.as_secs() as i64
    }
}

const FLASH_KEY: &str = "account_flash";
const NEW_CODES_KEY: &str = "new_recovery_codes";

/// Keeps a new set of recovery codes for the next account page, which shows them once.
pub async fn show_recovery_codes(session: &Session, codes: Vec<String>) -> anyhow::Result<()> {
    session.insert(NEW_CODES_KEY, codes).await?;
    Ok(())
}

/// Keeps a message for the next account page, so a refused form can redirect back to
/// `/account` (post/redirect/get) and a reload never re-sends it.
pub async fn flash(session: &Session, message: &str) -> anyhow::Result<()> {
    session.insert(FLASH_KEY, message).await?;
    Ok(())
}

/// The recovery codes waiting to be shown, removed from the session: they are shown once.
pub async fn take_new_recovery_codes(session: &Session) -> anyhow::Result<Option<Vec<String>>> {
    Ok(session.remove(NEW_CODES_KEY).await?)
}

/// A `data:` URL of a text file with the codes, for the page's download link.
pub fn recovery_codes_download(state: &AppState, username: &str, codes: &[String]) -> String {
    let body = format!(
        "Recovery codes for {username} at {}\nEach code works once.\n\n{}\n",
        state.config.issuer,
        codes.join("\n")
    );
    format!(
        "data:text/plain;charset=utf-8,{}",
        percent_encoding::utf8_percent_encode(&body, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// Renders the account page with an optional message.
pub async fn render_account(
    state: &AppState,
    session: &Session,
    signed_in: &SignedIn,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let user_id = &signed_in.user.id;
    let passkeys = store::passkeys::list(&state.db, user_id).await?;
    let factors = store::factors::of(&state.db, user_id).await?;
    let totp = store::totp::active(&state.db, &state.secrets, user_id).await?;
    let now = now();
    let sessions: Vec<_> = store::user_sessions::active_for_user(&state.db, user_id, now)
        .await?
        .into_iter()
        .map(|s| {
            context! {
                current => s.id == signed_in.sid,
                created_at => s.created_at,
                ip_address => s.ip_address,
                user_agent => s.user_agent,
                amr => s.amr.join(" "),
            }
        })
        .collect();
    let events: Vec<_> = store::security_events::recent(&state.db, user_id, Some(20))
        .await?
        .into_iter()
        .map(|e| {
            context! {
                what => store::security_events::describe(&e.kind, e.detail.as_deref()),
                detail => e.detail,
                at => e.created_at,
            }
        })
        .collect();
    let apps = store::consents::for_user(&state.db, user_id).await?;
    let new_codes = take_new_recovery_codes(session).await?;
    let codes_text = new_codes
        .as_ref()
        .map(|codes| recovery_codes_download(state, &signed_in.user.username, codes));
    Ok(state.templates.render(
        status,
        "account.html",
        context! {
            user => Serde(signed_in.user.clone()),
            passkeys => Serde(passkeys::listing(state, &passkeys)),
            has_password => factors.password,
            has_second_factor => factors.has_second_factor(),
            totp => totp.map(|t| context! { created_at => t.created_at, last_used_at => t.last_used_at }),
            recovery_codes_left => factors.recovery_codes,
            new_codes => new_codes,
            sessions => sessions,
            apps => Serde(apps),
            events => events,
            new_codes_download => codes_text,
            passkeys_enabled => state.passkeys.is_some(),
            csrf_token => csrf::token(session).await?,
            error => error,
            amr => signed_in.authentication.amr(),
        },
    ))
}

async fn get_account(State(state): State<AppState>, session: Session) -> Response {
    async {
        match SignedIn::of(&state, &session).await? {
            Some(signed_in) => {
                let message: Option<String> = session.remove(FLASH_KEY).await?;
                render_account(
                    &state,
                    &session,
                    &signed_in,
                    StatusCode::OK,
                    message.as_deref(),
                )
                .await
            }
            None => Ok(
                Redirect::to(&login::start_account_sign_in(&state, &session).await?)
                    .into_response(),
            ),
        }
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

/// Asks a signed-in user to sign in again (before sensitive changes).
async fn get_reauthenticate(State(state): State<AppState>, session: Session) -> Response {
    match login::start_account_sign_in(&state, &session).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => PageError::from(e).render(&state),
    }
}

/// The signed-in user behind a form that carries only the page's CSRF token. `Ok(None)`:
/// nobody is signed in (the caller sends the browser to the account page); a missing or wrong
/// token is `form_expired`.
pub(crate) async fn signed_in_form(
    state: &AppState,
    session: &Session,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Result<Option<SignedIn>, PageError> {
    let Some(signed_in) = SignedIn::of(state, session).await? else {
        return Ok(None);
    };
    let token = form.map(|Form(f)| f.csrf_token).unwrap_or_default();
    if !csrf::verify(session, &token).await {
        return Err(PageError::form_expired());
    }
    Ok(Some(signed_in))
}

/// A form that carries nothing but the session's CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf_token: String,
}

/// Signs this browser out: its session row is revoked and the browser session emptied.
async fn post_logout(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let token = form.map(|Form(f)| f.csrf_token).unwrap_or_default();
        if !csrf::verify(&session, &token).await {
            return Err(PageError::form_expired());
        }
        session::sign_out(&state, &session).await?;
        Ok(state
            .templates
            .render(StatusCode::OK, "signed_out.html", context! {}))
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
