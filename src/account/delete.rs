//! Deleting one's own account. It needs a recent sign-in with the account's strongest factor
//! (a passkey if it has one; else a second factor if it has one), so a borrowed, unlocked
//! browser or a stolen password alone cannot destroy the account.

use axum::{
    Form,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use tower_sessions::Session;

use super::{CsrfForm, SignedIn};
use crate::{
    admin,
    app::AppState,
    login::{self, assurance::Level},
    routes, store,
    web::{csrf, page_error::PageError},
};

/// The level a sign-in must reach to delete the account, and how to tell the user.
async fn strongest(state: &AppState, user_id: &str) -> anyhow::Result<(Level, &'static str)> {
    let factors = store::factors::of(&state.db, user_id).await?;
    Ok(if factors.passkeys > 0 && state.passkeys.is_some() {
        (Level::Phr, "your passkey")
    } else if factors.totp {
        (Level::Mfa, "your password and authenticator app")
    } else {
        (Level::Pwd, "your password")
    })
}

/// Whether this sign-in may delete the account now.
async fn may_delete(
    state: &AppState,
    signed_in: &SignedIn,
) -> anyhow::Result<(bool, &'static str)> {
    let (level, how) = strongest(state, &signed_in.user.id).await?;
    Ok((
        signed_in.is_recent(state) && signed_in.authentication.satisfies(level),
        how,
    ))
}

async fn render(
    state: &AppState,
    session: &Session,
    signed_in: &SignedIn,
) -> Result<Response, PageError> {
    let (confirmed, how) = may_delete(state, signed_in).await?;
    Ok(state.templates.render(
        StatusCode::OK,
        "delete_account.html",
        context! {
            username => signed_in.user.username.clone(),
            confirmed => confirmed,
            strongest => how,
            csrf_token => csrf::token(session).await?,
        },
    ))
}

pub async fn get_delete(State(state): State<AppState>, session: Session) -> Response {
    async {
        match SignedIn::of(&state, &session).await? {
            Some(signed_in) => render(&state, &session, &signed_in).await,
            None => Ok(
                Redirect::to(&login::start_account_sign_in(&state, &session).await?)
                    .into_response(),
            ),
        }
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

pub async fn post_delete(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Some(signed_in) = super::signed_in_form(&state, &session, form).await? else {
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        };
        if !may_delete(&state, &signed_in).await?.0 {
            return render(&state, &session, &signed_in).await;
        }
        // The clients the user is signed in to hear of it (back-channel logout); the tokens
        // are made first, from the sessions and grants the deletion removes.
        let logouts =
            crate::oidc::backchannel::prepare_for_user(&state, &signed_in.user.id).await?;
        admin::users::delete_user(&state.db, &admin::Actor::Owner, &signed_in.user.id)
            .await
            .map_err(|e| PageError::Internal(anyhow::anyhow!(e.to_string())))?;
        session.flush().await?;
        crate::oidc::backchannel::send(&state, logouts);
        Ok(state.templates.render(
            StatusCode::OK,
            "delete_account.html",
            context! { deleted => true },
        ))
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
