//! "Lost your passkey? Use a recovery code": a user without a password, who lost every device
//! holding their passkeys, signs in with their username and a recovery code and is taken
//! straight to adding a new passkey; the sign-in completes only once they have.
//!
//! A user with a password is not served here: for them a recovery code replaces the second
//! factor, never the password. The answer does not say which case applies, so this page
//! reveals nothing about which accounts exist or have passwords.

use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use sea_orm::TransactionTrait;
use serde::Deserialize;
use tower_sessions::Session;

use super::{flow::Step, load_page_transaction, too_many_attempts};
use crate::{
    app::AppState,
    model::{now, user::normalize_username},
    store::{
        self,
        attempts::{self, ACCOUNT_CODES, ADDRESS_CODES},
        security_events,
    },
    web::{client_origin::ClientOrigin, csrf, page_error::PageError},
};

const NO_MATCH: &str =
    "That username and recovery code do not match, or the code was already used.";

#[derive(Deserialize)]
pub struct RecoverQuery {
    #[serde(default)]
    tx: String,
}

#[derive(Deserialize)]
pub struct RecoverForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    code: String,
}

async fn render(
    state: &AppState,
    session: &Session,
    tx: &super::flow::LoginTransaction,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let client_name = match tx.authorization_request() {
        Some(request) => store::clients::get(&state.db, &request.client_id)
            .await?
            .map(|c| c.name),
        None => None,
    };
    Ok(state.templates.render(
        status,
        "recover.html",
        context! {
            tx => tx.id.clone(),
            csrf_token => csrf::token(session).await?,
            client_name => client_name,
            username => username,
            error => error,
        },
    ))
}

fn unavailable() -> PageError {
    PageError::user(
        StatusCode::NOT_FOUND,
        "Page not found",
        "Passkeys are not available on this server, so there is nothing to recover here.",
    )
}

pub async fn get_recover(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<RecoverQuery>,
) -> Response {
    async {
        if state.passkeys.is_none() {
            return Err(unavailable());
        }
        let tx = load_page_transaction(&state, &session, &query.tx).await?;
        if tx.step != Step::Identify {
            return Err(PageError::sign_in_expired());
        }
        render(&state, &session, &tx, "", None, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

pub async fn post_recover(
    State(state): State<AppState>,
    session: Session,
    ClientOrigin(origin): ClientOrigin,
    form: Result<Form<RecoverForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        if state.passkeys.is_none() {
            return Err(unavailable());
        }
        let form = form
            .map(|Form(f)| f)
            .map_err(|_| PageError::sign_in_form_expired())?;
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::sign_in_form_expired());
        }
        let tx = load_page_transaction(&state, &session, &form.tx).await?;
        if tx.step != Step::Identify {
            return Err(PageError::sign_in_expired());
        }
        let username = normalize_username(&form.username);
        let now = now();
        // The same limits as codes at the second-factor step, keyed by the name typed (so a
        // block says nothing about whether it exists) and by the client address.
        let name_key = format!("recovery:name:{username}");
        let address_key = format!("codes:ip:{}", origin.ip_address.as_deref().unwrap_or("-"));
        for key in [&name_key, &address_key] {
            if let Some(until) = attempts::blocked_until(&state.db, key, now).await? {
                let message = too_many_attempts(until - now);
                return render(
                    &state,
                    &session,
                    &tx,
                    &username,
                    Some(&message),
                    StatusCode::TOO_MANY_REQUESTS,
                )
                .await;
            }
        }
        let user = match store::users::find_by_username(&state.db, &username).await? {
            Some(user) if !user.disabled => Some(user),
            _ => None,
        };
        // The code is spent and the sign-in moved on in one transaction: a double submit
        // cannot spend a code without signing in.
        let txn = state.db.begin_with_options(crate::store::WRITE).await?;
        let mut recovered = None;
        if let Some(user) = &user
            && store::users::password_hash(&txn, &user.id).await?.is_none()
            && crate::mfa::recovery::normalize(&form.code).is_some()
            && store::recovery_codes::consume(&txn, &user.id, &form.code).await?
        {
            recovered = Some(user.id.clone());
        }
        let Some(user_id) = recovered else {
            txn.rollback().await?;
            if let Some(user) = &user {
                security_events::record(
                    &state.db,
                    Some(&user.id),
                    super::code::kind::SECOND_FACTOR_FAILED,
                    Some(serde_json::json!({
                        "method": "recovery",
                        "client_id": tx.authorization_request().map(|r| r.client_id.clone()),
                    })),
                )
                .await?;
            }
            let blocked = attempts::record_failure(&state.db, &name_key, ACCOUNT_CODES, now)
                .await?
                .max(attempts::record_failure(&state.db, &address_key, ADDRESS_CODES, now).await?);
            if let (Some(until), Some(user)) = (blocked, &user) {
                security_events::record(
                    &state.db,
                    Some(&user.id),
                    security_events::kind::LOCKED_OUT,
                    Some(serde_json::json!({"method": "recovery", "until": until})),
                )
                .await?;
            }
            let message = match blocked {
                Some(until) => too_many_attempts(until - now),
                None => NO_MATCH.to_owned(),
            };
            return render(
                &state,
                &session,
                &tx,
                &username,
                Some(&message),
                StatusCode::OK,
            )
            .await;
        };
        security_events::record(
            &txn,
            Some(&user_id),
            super::code::kind::RECOVERY_CODE_USED,
            None,
        )
        .await?;
        let previous = tx.step.clone();
        let next = tx
            .recovery_code_verified(user_id, now)
            .map_err(|_| PageError::sign_in_expired())?;
        if !store::transactions::advance(&txn, &next.id, &previous, &next.step).await? {
            return Err(PageError::sign_in_expired());
        }
        txn.commit().await?;
        attempts::reset(&state.db, &name_key).await?;
        Ok(Redirect::to(&next.next_url()).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
