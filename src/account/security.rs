//! The rest of the security console: the password (change it, or set one for a
//! passkey-only account) and the user's sessions (sign out the others).

use axum::{
    Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use tower_sessions::Session;

use super::{CsrfForm, SignedIn, flash};
use crate::{
    app::AppState,
    model::{now, user::validate_password},
    routes,
    store::{self, security_events},
    web::{csrf, page_error::PageError},
};

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// Changes or sets the password; needs a recent sign-in rather than the old password, so a
/// passkey-only user can set one too.
pub async fn post_password(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<PasswordForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Some(signed_in) = SignedIn::of(&state, &session).await? else {
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        };
        let form = form
            .map(|Form(f)| f)
            .map_err(|_| PageError::form_expired())?;
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::form_expired());
        }
        if !signed_in.is_recent(&state) {
            return Ok(Redirect::to(routes::ACCOUNT_REAUTHENTICATE).into_response());
        }
        if form.new_password != form.confirm_password {
            flash(&session, "The two passwords are not the same.").await?;
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        }
        if let Err(message) = validate_password(&form.new_password) {
            flash(&session, &format!("Choose another password: {message}.")).await?;
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        }
        let hash = state.passwords.hash(form.new_password).await?;
        let user_id = &signed_in.user.id;
        let txn = state.db.begin_with_options(crate::store::WRITE).await?;
        store::users::set_password(&txn, user_id, &hash).await?;
        security_events::record(
            &txn,
            Some(user_id),
            security_events::kind::PASSWORD_CHANGED,
            None,
        )
        .await?;
        txn.commit().await?;
        flash(&session, "Your password was changed.").await?;
        Ok(Redirect::to(routes::ACCOUNT).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

/// Signs out every other session of the user; this browser stays signed in.
pub async fn post_revoke_other_sessions(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Some(signed_in) = super::signed_in_form(&state, &session, form).await? else {
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        };
        let user_id = &signed_in.user.id;
        let logouts =
            crate::oidc::backchannel::before_ending_sessions(&state, user_id, Some(&signed_in.sid))
                .await;
        let txn = state.db.begin_with_options(crate::store::WRITE).await?;
        let count =
            store::user_sessions::revoke_others(&txn, user_id, &signed_in.sid, now()).await?;
        security_events::record(
            &txn,
            Some(user_id),
            security_events::kind::OTHER_SESSIONS_SIGNED_OUT,
            None,
        )
        .await?;
        txn.commit().await?;
        crate::oidc::backchannel::send(&state, logouts);
        let message = match count {
            1 => "Signed out 1 other session.".to_owned(),
            n => format!("Signed out {n} other sessions."),
        };
        flash(&session, &message).await?;
        Ok(Redirect::to(routes::ACCOUNT).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

#[derive(Deserialize)]
pub struct RevokeAppForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: String,
}

/// "Revoke access": forgets the consent given to an app and revokes every grant it holds
/// for this user, so its refresh tokens stop working at once; its next sign-in asks again.
pub async fn post_revoke_app(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<RevokeAppForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Ok(Form(form)) = form else {
            return Err(PageError::form_expired());
        };
        let Some(signed_in) = super::SignedIn::of(&state, &session).await? else {
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        };
        if !crate::web::csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::form_expired());
        }
        let user_id = &signed_in.user.id;
        let txn = state.db.begin_with_options(crate::store::WRITE).await?;
        let had_consent = store::consents::revoke(&txn, user_id, &form.client_id).await?;
        let grants =
            store::tokens::revoke_client_grants(&txn, user_id, &form.client_id, now()).await?;
        if had_consent || grants > 0 {
            security_events::record(
                &txn,
                Some(user_id),
                security_events::kind::CONSENT_REVOKED,
                Some(serde_json::json!({"client_id": form.client_id, "grants": grants})),
            )
            .await?;
        }
        txn.commit().await?;
        let message = if had_consent || grants > 0 {
            "Access revoked. The app will have to ask you again."
        } else {
            "That app had no access."
        };
        flash(&session, message).await?;
        Ok(Redirect::to(routes::ACCOUNT).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
