//! The second factor by code: an authenticator-app code (TOTP) or a recovery code, typed on
//! the hosted page after the password. Wrong codes are counted per account and per client
//! address; past a few failures each is blocked for a time that doubles with every failure
//! (see `store::attempts`), and every failure is a security event.

use axum::{
    Form,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::{
    SecondFactorMethod, SecondFactorView, assurance::AuthMethod, complete, load_page_transaction,
    render_step_view,
};
use crate::{
    app::AppState,
    mfa::totp::{self, TotpError},
    model::now,
    store::{
        self,
        attempts::{self, ACCOUNT_CODES, ADDRESS_CODES},
        security_events,
    },
    web::{client_origin::ClientOrigin, csrf, page_error::PageError},
};

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: String,
}

/// Security events of this step.
pub mod kind {
    pub const SECOND_FACTOR_FAILED: &str = "second_factor_failed";
    pub const RECOVERY_CODE_USED: &str = "recovery_code_used";
}

enum Outcome {
    Verified(AuthMethod),
    /// Not a well-formed code: not counted as a guess.
    Malformed(&'static str),
    Wrong(&'static str),
}

pub async fn post_code(
    State(state): State<AppState>,
    session: Session,
    ClientOrigin(origin): ClientOrigin,
    form: Result<Form<CodeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Ok(Form(form)) = form else {
            return Err(PageError::user(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "The form could not be read. Go back and try again.",
            ));
        };
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::sign_in_form_expired());
        }
        let tx = load_page_transaction(&state, &session, &form.tx).await?;
        let user_id = tx
            .second_factor_user()
            .ok_or(PageError::sign_in_expired())?
            .to_owned();
        let method = SecondFactorMethod::parse(&form.method)
            .filter(|m| *m != SecondFactorMethod::Passkey)
            .ok_or(PageError::sign_in_expired())?;
        let again = |error: String, status: StatusCode| {
            let tx = &tx;
            let state = &state;
            let session = &session;
            async move {
                render_step_view(
                    state,
                    session,
                    tx,
                    "",
                    Some(&error),
                    Some(SecondFactorView::Method(method)),
                    status,
                )
                .await
            }
        };

        let now = now();
        let account_key = format!("codes:user:{user_id}");
        let address_key = format!("codes:ip:{}", origin.ip_address.as_deref().unwrap_or("-"));
        for key in [&account_key, &address_key] {
            if let Some(until) = attempts::blocked_until(&state.db, key, now).await? {
                return again(
                    super::too_many_attempts(until - now),
                    StatusCode::TOO_MANY_REQUESTS,
                )
                .await;
            }
        }

        let outcome = match method {
            SecondFactorMethod::Totp => {
                let Some(app) = store::totp::active(&state.db, &state.secrets, &user_id).await?
                else {
                    return Err(PageError::sign_in_expired());
                };
                match totp::verify(&app.secret, &form.code, now as u64, app.metadata.last_step) {
                    Ok(step) if store::totp::record_step(&state.db, &app, step).await? => {
                        Outcome::Verified(AuthMethod::Totp)
                    }
                    Ok(_) | Err(TotpError::Replayed) => Outcome::Wrong(
                        "That code was already used. Wait for the next code and try again.",
                    ),
                    Err(TotpError::Malformed) => {
                        Outcome::Malformed("Enter the 6-digit code from your authenticator app.")
                    }
                    Err(TotpError::Wrong) => Outcome::Wrong("That code is not right. Try again."),
                }
            }
            SecondFactorMethod::Recovery => {
                if crate::mfa::recovery::normalize(&form.code).is_none() {
                    Outcome::Malformed(
                        "Enter one of your recovery codes, like xxxx-xxxx-xxxx-xxxx.",
                    )
                } else if store::recovery_codes::consume(&state.db, &user_id, &form.code).await? {
                    Outcome::Verified(AuthMethod::RecoveryCode)
                } else {
                    Outcome::Wrong("That recovery code is not right, or it was already used.")
                }
            }
            SecondFactorMethod::Passkey => unreachable!("filtered above"),
        };

        let verified = match outcome {
            Outcome::Verified(verified) => verified,
            Outcome::Malformed(message) => {
                return again(message.to_owned(), StatusCode::BAD_REQUEST).await;
            }
            Outcome::Wrong(message) => {
                state.metrics.second_factor_failed(match method {
                    SecondFactorMethod::Recovery => "recovery_code",
                    _ => "totp",
                });
                security_events::record(
                    &state.db,
                    Some(&user_id),
                    kind::SECOND_FACTOR_FAILED,
                    Some(json!({
                        "method": method.as_str(),
                        "client_id": tx.authorization_request().map(|r| r.client_id.clone()),
                    })),
                )
                .await?;
                let mut blocked = None;
                blocked = blocked.max(
                    attempts::record_failure(&state.db, &account_key, ACCOUNT_CODES, now).await?,
                );
                blocked = blocked.max(
                    attempts::record_failure(&state.db, &address_key, ADDRESS_CODES, now).await?,
                );
                if let Some(until) = blocked {
                    security_events::record(
                        &state.db,
                        Some(&user_id),
                        security_events::kind::LOCKED_OUT,
                        Some(json!({"method": method.as_str(), "until": until})),
                    )
                    .await?;
                }
                let message = match blocked {
                    Some(until) => super::too_many_attempts(until - now),
                    None => message.to_owned(),
                };
                return again(message, StatusCode::OK).await;
            }
        };
        attempts::reset(&state.db, &account_key).await?;
        if store::users::find_by_id(&state.db, &user_id)
            .await?
            .is_none_or(|u| u.disabled)
        {
            return Err(PageError::sign_in_expired());
        }
        let tx = tx
            .code_verified(&user_id, verified, now)
            .map_err(|_| PageError::sign_in_expired())?;
        let url = complete(&state, &session, tx, &origin).await?;
        if verified == AuthMethod::RecoveryCode {
            // A recovery code often means a lost device: say so, and point to the account.
            security_events::record(&state.db, Some(&user_id), kind::RECOVERY_CODE_USED, None)
                .await?;
            let remaining = store::recovery_codes::remaining(&state.db, &user_id).await?;
            return Ok(state.templates.render(
                StatusCode::OK,
                "recovery_used.html",
                context! { continue_url => url, remaining => remaining },
            ));
        }
        Ok(Redirect::to(&url).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
