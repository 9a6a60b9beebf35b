//! The users on the admin pages: add, a page per user (sign-in methods, events) and the
//! actions on them.

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
    ADMIN, AdminForm, FLASH_KEY, Posted, USERS, admin_form, internal, render_invalid,
    signed_in_admin,
};
use crate::{
    admin::{self, AdminError},
    app::AppState,
    store::{self, security_events::EventFilter},
    web::{csrf, page_error::PageError},
};

#[derive(Deserialize)]
pub(super) struct NewUserForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

impl AdminForm for NewUserForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Adds a user without a password: the admin then makes them a recovery link, with which
/// they add a passkey (or hands over an invitation from `idp user invite` instead).
pub(super) async fn post_user(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<NewUserForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Posted { form, actor, .. } = match admin_form(&state, &session, form).await? {
            Ok(posted) => posted,
            Err(redirect) => return Ok(redirect),
        };
        let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let new = admin::users::NewUser {
            username: form.username.trim().to_owned(),
            name: optional(&form.name),
            email: optional(&form.email),
            password: None,
        };
        match admin::users::create(&state.db, &actor, &state.passwords, new).await {
            Ok(user) => {
                session
                    .insert(
                        FLASH_KEY,
                        format!(
                            "{} added. Make a recovery link and give it to them: with it they add a passkey and sign in.",
                            user.username
                        ),
                    )
                    .await?;
                Ok(Redirect::to(&user_page(&user.id)).into_response())
            }
            Err(AdminError::Invalid(why)) => render_invalid(&state, &session, &why).await,
            Err(e) => Err(internal(e)),
        }
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

fn user_page(user_id: &str) -> String {
    // User ids are UUIDs: nothing to escape.
    format!("{USERS}/{user_id}")
}

/// One user: who they are, what they sign in with (never a secret), their recent events, and
/// the actions.
pub(super) async fn get_user(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    async {
        let signed_in = match signed_in_admin(&state, &session).await? {
            Ok(admin) => admin,
            Err(redirect) => return Ok(redirect),
        };
        let user = match admin::users::get(&state.db, &id).await {
            Ok(user) => user,
            Err(AdminError::NotFound(_)) => {
                return Err(PageError::user(
                    StatusCode::NOT_FOUND,
                    "No such user",
                    "There is no user with this id (any more). Go back to the admin page and search.",
                ));
            }
            Err(e) => return Err(internal(e)),
        };
        let methods = admin::users::sign_in_methods(&state.db, &state.secrets, &user.id)
            .await
            .map_err(internal)?;
        let filter = EventFilter {
            user_id: Some(user.id.clone()),
            ..Default::default()
        };
        let events = store::security_events::query(&state.db, &filter, 20, false).await?;
        let message: Option<String> = session.remove(FLASH_KEY).await?;
        Ok(state.templates.render(
            StatusCode::OK,
            "admin_user.html",
            context! {
                csrf_token => csrf::token(&session).await?,
                u => Serde(&user),
                is_self => user.id == signed_in.user.id,
                methods => Serde(&methods.methods),
                recovery_codes_left => methods.recovery_codes_left,
                events => Serde(&events),
                message => message,
            },
        ))
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

#[derive(Deserialize)]
pub(super) struct UserActionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    user_id: String,
    /// The button pressed: `disable`, `enable`, `sign-out`, `require-passkey`,
    /// `passkey-not-required`, `reset`, `recovery-link` or `delete`.
    #[serde(default)]
    action: String,
    /// `user` when the form is on the user's own page: go back there.
    #[serde(default)]
    return_to: String,
}

impl AdminForm for UserActionForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// What an admin may not do to their own account from these pages: each would lock them out
/// of administration (the CLI can still do it).
const NOT_TO_ONESELF: &[&str] = &["disable", "reset", "delete"];

pub(super) async fn post_user_action(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<UserActionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Posted { form, admin, actor } = match admin_form(&state, &session, form).await? {
            Ok(posted) => posted,
            Err(redirect) => return Ok(redirect),
        };
        let is_self = admin.user.id == form.user_id;
        let user = match admin::users::get(&state.db, &form.user_id).await {
            Ok(user) => user,
            Err(AdminError::NotFound(why)) => {
                session.insert(FLASH_KEY, why).await?;
                return Ok(Redirect::to(ADMIN).into_response());
            }
            Err(e) => return Err(internal(e)),
        };
        let back = if form.return_to == "user" {
            user_page(&user.id)
        } else {
            ADMIN.to_owned()
        };
        if is_self && NOT_TO_ONESELF.contains(&form.action.as_str()) {
            session
                .insert(
                    FLASH_KEY,
                    "You cannot do that to your own account here: another admin can, or the CLI.",
                )
                .await?;
            return Ok(Redirect::to(&back).into_response());
        }
        let db = &state.db;
        // The clients of the sessions an action ends are told once it is done.
        let logouts = if ["disable", "sign-out", "reset", "delete"].contains(&form.action.as_str())
        {
            crate::oidc::backchannel::before_ending_sessions(&state, &user.id, None).await
        } else {
            Vec::new()
        };
        // What the admin is told when the action could not be done: the user went away
        // meanwhile, or the action does not apply to them.
        let refused = |e: AdminError| match e {
            AdminError::NotFound(why) | AdminError::Invalid(why) => Ok(why),
            e => Err(internal(e)),
        };
        if form.action == "delete" {
            let message = match admin::users::delete_user(db, &actor, &user.id).await {
                Ok(true) => {
                    crate::oidc::backchannel::send(&state, logouts);
                    format!("{} deleted.", user.username)
                }
                Ok(false) => format!("{} was already deleted.", user.username),
                Err(e) => refused(e)?,
            };
            session.insert(FLASH_KEY, message).await?;
            return Ok(Redirect::to(ADMIN).into_response());
        }
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
                Err(e) => {
                    session.insert(FLASH_KEY, refused(e)?).await?;
                    return Ok(Redirect::to(&back).into_response());
                }
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
        let message = match result {
            Ok(()) => {
                crate::oidc::backchannel::send(&state, logouts);
                format!("{} {done}.", user.username)
            }
            Err(e) => refused(e)?,
        };
        session.insert(FLASH_KEY, message).await?;
        Ok(Redirect::to(&back).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
