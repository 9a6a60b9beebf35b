//! The authenticator app (set up, replace, remove) and recovery codes (regenerate) on the
//! account page. Setting up or regenerating needs a recent sign-in; a user's first second
//! factor comes with a fresh set of recovery codes, shown once.

use axum::{
    Form,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use sea_orm::TransactionTrait;
use serde::Deserialize;
use tower_sessions::Session;

use super::{CsrfForm, SignedIn, flash, show_recovery_codes};
use crate::{
    app::AppState,
    login::flow::LoginTransaction,
    mfa::totp::{self, TotpError},
    model::now,
    routes,
    store::{self, factors::Removal, security_events},
    web::{csrf, page_error::PageError},
};

/// Security events of the account's second factors.
pub mod kind {
    pub const TOTP_ADDED: &str = "totp_added";
    pub const TOTP_REMOVED: &str = "totp_removed";
    pub const RECOVERY_CODES_REGENERATED: &str = "recovery_codes_regenerated";
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
}

/// The signed-in user, if their sign-in is recent enough for a sensitive change; otherwise
/// the response that sends them to sign in (again).
async fn recent_sign_in(
    state: &AppState,
    session: &Session,
) -> Result<Result<SignedIn, Response>, PageError> {
    match SignedIn::of(state, session).await? {
        None => Ok(Err(Redirect::to(routes::ACCOUNT).into_response())),
        Some(signed_in) if !signed_in.is_recent(state) => Ok(Err(Redirect::to(
            routes::ACCOUNT_REAUTHENTICATE,
        )
        .into_response())),
        Some(signed_in) => Ok(Ok(signed_in)),
    }
}

/// The authenticator-app setup page: QR code, setup key, and the code to verify. During a
/// sign-in (`sign_in`) the form goes to the enrollment step instead of the account page.
pub(crate) async fn render_totp_setup(
    state: &AppState,
    session: &Session,
    username: &str,
    secret: &[u8],
    error: Option<&str>,
    sign_in: Option<&LoginTransaction>,
) -> Result<Response, PageError> {
    let uri = totp::otpauth_uri(secret, &state.config.webauthn.rp_name, username);
    Ok(state.templates.render(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        "totp_setup.html",
        context! {
            csrf_token => csrf::token(session).await?,
            qr_svg => minijinja::Value::from_safe_string(totp::qr_svg(&uri)),
            setup_key => totp::setup_key(secret),
            error => error,
            tx => sign_in.map(|tx| tx.id.clone()),
            form_action => sign_in.map(|_| routes::LOGIN_ENROLL_TOTP),
            cancel_url => sign_in.map(LoginTransaction::next_url),
        },
    ))
}

/// Shows a new secret as a QR code and setup key; it is not active until a code is verified.
pub async fn get_totp(State(state): State<AppState>, session: Session) -> Response {
    async {
        let signed_in = match recent_sign_in(&state, &session).await? {
            Ok(s) => s,
            Err(response) => return Ok(response),
        };
        let secret = totp::new_secret();
        store::totp::start_enrollment(&state.db, &state.secrets, &signed_in.user.id, &secret)
            .await?;
        render_totp_setup(
            &state,
            &session,
            &signed_in.user.username,
            &secret,
            None,
            None,
        )
        .await
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

/// Activates the app shown on the setup page once the user proves a current code.
pub async fn post_totp(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CodeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let signed_in = match recent_sign_in(&state, &session).await? {
            Ok(s) => s,
            Err(response) => return Ok(response),
        };
        let form = form.map(|Form(f)| f).map_err(|_| PageError::form_expired())?;
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::form_expired());
        }
        let user_id = signed_in.user.id.clone();
        let Some(pending) = store::totp::pending(&state.db, &state.secrets, &user_id).await? else {
            return Ok(Redirect::to(routes::ACCOUNT_TOTP).into_response());
        };
        let step = match totp::verify(&pending.secret, &form.code, now() as u64, None) {
            Ok(step) => step,
            Err(e) => {
                let message = match e {
                    TotpError::Malformed => "Enter the 6-digit code your authenticator app shows.",
                    _ => "That code is not right. Check that your app shows a code for this account and try again.",
                };
                return render_totp_setup(
                    &state,
                    &session,
                    &signed_in.user.username,
                    &pending.secret,
                    Some(message),
                    None,
                ).await;
            }
        };
        let txn = state.db.begin_with_options(crate::store::WRITE).await?;
        let before = store::factors::of(&txn, &user_id).await?;
        if !store::totp::activate(&txn, &user_id, &pending.id, step).await? {
            return Ok(Redirect::to(routes::ACCOUNT_TOTP).into_response());
        }
        // The first second factor comes with recovery codes, in the same transaction.
        let codes = if before.has_second_factor() {
            None
        } else {
            Some(store::recovery_codes::replace(&txn, &user_id).await?)
        };
        security_events::record(&txn, Some(&user_id), kind::TOTP_ADDED, None).await?;
        txn.commit().await?;
        if let Some(codes) = codes {
            show_recovery_codes(&session, codes).await?;
        }
        Ok(Redirect::to(routes::ACCOUNT).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

pub async fn post_remove_totp(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Some(signed_in) = super::signed_in_form(&state, &session, form).await? else {
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        };
        let user_id = &signed_in.user.id;
        let txn = state.db.begin_with_options(crate::store::WRITE).await?;
        let factors = store::factors::of(&txn, user_id).await?;
        if !factors.totp {
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        }
        if !factors.may_remove(Removal::Totp) {
            flash(&session, "Your authenticator app is your last second factor, so it cannot be removed: add another sign-in method first.").await?;
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        }
        store::totp::remove(&txn, user_id).await?;
        security_events::record(&txn, Some(user_id), kind::TOTP_REMOVED, None).await?;
        txn.commit().await?;
        Ok(Redirect::to(routes::ACCOUNT).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

/// Replaces the user's recovery codes with a new set (the old ones stop working).
pub async fn post_regenerate_recovery_codes(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let signed_in = match recent_sign_in(&state, &session).await? {
            Ok(s) => s,
            Err(response) => return Ok(response),
        };
        let token = form.map(|Form(f)| f.csrf_token).unwrap_or_default();
        if !csrf::verify(&session, &token).await {
            return Err(PageError::form_expired());
        }
        let user_id = &signed_in.user.id;
        let txn = state.db.begin_with_options(crate::store::WRITE).await?;
        if !store::factors::of(&txn, user_id).await?.has_second_factor() {
            return Ok(Redirect::to(routes::ACCOUNT).into_response());
        }
        let codes = store::recovery_codes::replace(&txn, user_id).await?;
        security_events::record(&txn, Some(user_id), kind::RECOVERY_CODES_REGENERATED, None)
            .await?;
        txn.commit().await?;
        show_recovery_codes(&session, codes).await?;
        Ok(Redirect::to(routes::ACCOUNT).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
