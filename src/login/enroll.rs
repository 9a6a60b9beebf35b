//! Admin-driven onboarding: a user flagged with `require_mfa` who has no second factor sets
//! one up during sign-in (a passkey first, an authenticator app second) and cannot finish
//! signing in to a client before. The new factor comes with recovery codes, shown once before
//! the user continues.

use axum::{
    Form, Json,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::{
    assurance::AuthMethod,
    complete,
    flow::{LoginTransaction, Step},
    load_page_transaction, load_transaction,
};
use crate::{
    account::show_recovery_codes,
    app::AppState,
    mfa::{
        passkey::PasskeyFacts,
        totp::{self, TotpError},
    },
    model::now,
    store::{
        self,
        ceremonies::{self, CeremonyKind},
        passkeys::AddPasskeyError,
        security_events,
    },
    web::{
        api_error::{ApiError, JsonBody, json_body},
        client_origin::ClientOrigin,
        csrf,
        page_error::PageError,
    },
};

#[derive(Deserialize)]
pub struct TxQuery {
    #[serde(default)]
    tx: String,
}

#[derive(Deserialize)]
pub struct TxForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
}

/// The transaction, if it is at the enrollment step, with its user.
async fn enrolling(
    state: &AppState,
    session: &Session,
    tx_id: &str,
) -> Result<(LoginTransaction, String), PageError> {
    let tx = load_page_transaction(state, session, tx_id).await?;
    if tx.enrolls_passkey_only() {
        return Err(PageError::sign_in_expired());
    }
    let user_id = tx
        .enrolling_user()
        .ok_or(PageError::sign_in_expired())?
        .to_owned();
    Ok((tx, user_id))
}

async fn render_totp_setup(
    state: &AppState,
    session: &Session,
    tx: &LoginTransaction,
    user_id: &str,
    secret: &[u8],
    error: Option<&str>,
) -> Result<Response, PageError> {
    let username = store::users::find_by_id(&state.db, user_id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    crate::account::second_factors::render_totp_setup(
        state,
        session,
        &username,
        secret,
        error,
        Some(tx),
    )
    .await
}

pub async fn get_totp(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<TxQuery>,
) -> Response {
    async {
        let (tx, user_id) = enrolling(&state, &session, &query.tx).await?;
        let secret = totp::new_secret();
        store::totp::start_enrollment(&state.db, &state.secrets, &user_id, &secret).await?;
        render_totp_setup(&state, &session, &tx, &user_id, &secret, None).await
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

pub async fn post_totp(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<TxForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let form = form.map(|Form(f)| f).map_err(|_| PageError::sign_in_form_expired())?;
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::sign_in_form_expired());
        }
        let (tx, user_id) = enrolling(&state, &session, &form.tx).await?;
        let Some(pending) = store::totp::pending(&state.db, &state.secrets, &user_id).await? else {
            return Err(PageError::sign_in_expired());
        };
        let now = now();
        let step = match totp::verify(&pending.secret, &form.code, now as u64, None) {
            Ok(step) => step,
            Err(e) => {
                let message = match e {
                    TotpError::Malformed => "Enter the 6-digit code your authenticator app shows.",
                    _ => "That code is not right. Check that your app shows a code for this account and try again.",
                };
                return render_totp_setup(&state, &session, &tx, &user_id, &pending.secret, Some(message)).await;
            }
        };
        let previous = tx.step.clone();
        let next = tx
            .enrolled(&user_id, AuthMethod::Totp, now)
            .map_err(|_| PageError::sign_in_expired())?;
        let txn = state.db.begin_with_options(crate::store::WRITE).await?;
        if !store::totp::activate(&txn, &user_id, &pending.id, step).await?
            || !store::transactions::advance(&txn, &next.id, &previous, &next.step).await?
        {
            return Err(PageError::sign_in_expired());
        }
        let codes = store::recovery_codes::replace(&txn, &user_id).await?;
        security_events::record(&txn, Some(&user_id), crate::account::second_factors::kind::TOTP_ADDED, None).await?;
        txn.commit().await?;
        show_recovery_codes(&session, codes).await?;
        Ok(Redirect::to(&next.next_url()).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

/// After the recovery codes were shown: finish signing in.
pub async fn post_continue(
    State(state): State<AppState>,
    session: Session,
    ClientOrigin(origin): ClientOrigin,
    form: Result<Form<TxForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let form = form
            .map(|Form(f)| f)
            .map_err(|_| PageError::sign_in_form_expired())?;
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::sign_in_form_expired());
        }
        let tx = load_page_transaction(&state, &session, &form.tx).await?;
        if !matches!(tx.step, Step::Authenticated { .. }) {
            return Err(PageError::sign_in_expired());
        }
        let url = complete(&state, &session, tx, &origin).await?;
        Ok(Redirect::to(&url).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

#[derive(Deserialize)]
pub struct BeginRequest {
    tx: String,
}

#[derive(Deserialize)]
pub struct FinishRequest {
    tx: String,
    ceremony: String,
    #[serde(default)]
    name: Option<String>,
    credential: RegisterPublicKeyCredential,
}

async fn enrolling_api(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    tx_id: &str,
) -> Result<(LoginTransaction, String), ApiError> {
    if state.passkeys.is_none() {
        return Err(ApiError::passkeys_unavailable());
    }
    if !csrf::verify_header(session, headers).await {
        return Err(ApiError::csrf());
    }
    let tx = load_transaction(state, session, tx_id)
        .await?
        .ok_or_else(ApiError::sign_in_expired)?;
    let user_id = tx
        .enrolling_user()
        .ok_or_else(ApiError::sign_in_expired)?
        .to_owned();
    Ok((tx, user_id))
}

pub async fn post_passkey_begin(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    request: JsonBody<BeginRequest>,
) -> Response {
    async {
        let request = json_body(request)?;
        let (tx, user_id) = enrolling_api(&state, &session, &headers, &request.tx).await?;
        let passkeys = state
            .passkeys
            .as_ref()
            .ok_or_else(ApiError::passkeys_unavailable)?;
        let user = store::users::find_by_id(&state.db, &user_id)
            .await?
            .ok_or_else(ApiError::sign_in_expired)?;
        let display_name = user.name.clone().unwrap_or_else(|| user.username.clone());
        let (options, ceremony_state) =
            passkeys.start_registration(&user.id, &user.username, &display_name, &[])?;
        let ceremony = ceremonies::start(
            &state.db,
            CeremonyKind::Registration,
            &tx.id,
            Some(&user.id),
            &ceremony_state,
            now(),
            state.config.webauthn.challenge_lifetime.as_secs() as i64,
        )
        .await?;
        Ok(Json(json!({"ceremony": ceremony, "options": options})).into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}

pub async fn post_passkey_finish(
    State(state): State<AppState>,
    session: Session,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    request: JsonBody<FinishRequest>,
) -> Response {
    async {
        let request = json_body(request)?;
        let (tx, user_id) = enrolling_api(&state, &session, &headers, &request.tx).await?;
        let passkeys = state
            .passkeys
            .as_ref()
            .ok_or_else(ApiError::passkeys_unavailable)?;
        let now = now();
        let passkey = crate::account::passkeys::verify_registration(
            &state,
            passkeys,
            &request.ceremony,
            &tx.id,
            &user_id,
            &request.credential,
        )
        .await?;
        let name = request
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.chars().count() <= 64)
            .map(str::to_owned)
            .or_else(|| passkeys.trusted_model(&passkey))
            .unwrap_or_else(|| "Passkey".into());
        let facts = PasskeyFacts::of(&passkey);
        let (stored, codes) =
            store::passkeys::add(&state.db, &user_id, &name, &passkey, passkeys.max_per_user)
                .await
                .map_err(|e| match e {
                    AddPasskeyError::Db(e) => ApiError::from(e),
                    other => {
                        ApiError::new(StatusCode::CONFLICT, "passkey_refused", other.to_string())
                    }
                })?;
        security_events::record(
            &state.db,
            Some(&user_id),
            crate::store::security_events::kind::PASSKEY_ADDED,
            Some(json!({"passkey": stored.id})),
        )
        .await?;
        // Creating the passkey needed user verification over a fresh challenge: it is proven.
        let previous = tx.step.clone();
        let next = tx
            .enrolled(
                &user_id,
                AuthMethod::Passkey {
                    user_verified: true,
                    backup_eligible: facts.backup_eligible,
                    backup_state: facts.backup_state,
                    attested_hardware: passkeys.trusted_model(&passkey).is_some(),
                },
                now,
            )
            .map_err(|_| ApiError::sign_in_expired())?;
        if !store::transactions::advance(&state.db, &next.id, &previous, &next.step).await? {
            return Err(ApiError::sign_in_expired());
        }
        let redirect = match codes {
            // A first second factor comes with recovery codes: shown before continuing.
            Some(codes) => {
                show_recovery_codes(&session, codes).await?;
                next.next_url()
            }
            // Replacing lost passkeys (after a recovery code): the sign-in is complete.
            None => complete(&state, &session, next, &origin)
                .await
                .map_err(|e| match e {
                    PageError::User { .. } => ApiError::sign_in_expired(),
                    PageError::Internal(e) => ApiError::from(e),
                })?,
        };
        Ok(Json(json!({"redirect": redirect})).into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}
