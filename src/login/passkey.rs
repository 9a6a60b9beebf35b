//! Passkey sign-in on the hosted page (JSON, called by the page's script): usernameless and
//! autofill sign-in at the first step, or the passkey as the second factor after a password.
//! The challenge state stays on the server, bound to the login transaction, and is consumed
//! by the first answer.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential,
};

use super::{
    assurance::Level,
    complete,
    flow::{FlowError, LoginTransaction, Step},
    load_transaction,
};
use crate::{
    app::AppState,
    mfa::passkey::{AssertionFacts, PasskeyError, PasskeyService},
    model::now,
    store::{
        self,
        ceremonies::{self, CeremonyKind},
        passkeys::StoredPasskey,
        security_events::kind,
    },
    web::{
        api_error::{ApiError, JsonBody, json_body},
        client_origin::ClientOrigin,
        csrf,
        page_error::PageError,
    },
};

#[derive(Deserialize)]
pub struct BeginRequest {
    tx: String,
    /// Offer passkeys in the username field's autofill (conditional mediation).
    #[serde(default)]
    conditional: bool,
}

#[derive(Deserialize)]
pub struct FinishRequest {
    tx: String,
    ceremony: String,
    credential: PublicKeyCredential,
}

async fn prelude<'a>(
    state: &'a AppState,
    session: &Session,
    headers: &HeaderMap,
    tx_id: &str,
) -> Result<(&'a PasskeyService, LoginTransaction), ApiError> {
    let passkeys = state
        .passkeys
        .as_ref()
        .ok_or_else(ApiError::passkeys_unavailable)?;
    if !csrf::verify_header(session, headers).await {
        return Err(ApiError::csrf());
    }
    let tx = load_transaction(state, session, tx_id)
        .await?
        .ok_or_else(ApiError::sign_in_expired)?;
    Ok((passkeys, tx))
}

/// Starts a ceremony for the transaction's step and returns the options for
/// `navigator.credentials.get()`.
pub async fn post_begin(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    request: JsonBody<BeginRequest>,
) -> Response {
    async {
        let request = json_body(request)?;
        let (passkeys, tx) = prelude(&state, &session, &headers, &request.tx).await?;
        let now = now();
        let lifetime = state.config.webauthn.challenge_lifetime.as_secs() as i64;
        let (ceremony, options) = match &tx.step {
            Step::Identify => {
                let (options, ceremony_state) = passkeys.start_discoverable(request.conditional)?;
                let id = ceremonies::start(
                    &state.db,
                    CeremonyKind::Discoverable,
                    &tx.id,
                    None,
                    &ceremony_state,
                    now,
                    lifetime,
                )
                .await?;
                (id, serde_json::to_value(options)?)
            }
            Step::SecondFactor { user_id, .. } => {
                let required = tx.acr_request().and_then(|a| a.required);
                let mine: Vec<_> = passkeys_reaching(&state, user_id, required)
                    .await?
                    .into_iter()
                    .map(|p| p.passkey)
                    .collect();
                if mine.is_empty() {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "no_passkey",
                        "None of your passkeys can be used for this sign-in. Try another way.",
                    ));
                }
                let (options, ceremony_state) = passkeys.start_second_factor(&mine)?;
                let id = ceremonies::start(
                    &state.db,
                    CeremonyKind::SecondFactor,
                    &tx.id,
                    Some(user_id),
                    &ceremony_state,
                    now,
                    lifetime,
                )
                .await?;
                (id, serde_json::to_value(options)?)
            }
            Step::Enroll { .. } | Step::Authenticated { .. } | Step::Consent { .. } => {
                return Err(ApiError::sign_in_expired());
            }
        };
        Ok(Json(json!({"ceremony": ceremony, "options": options})).into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}

fn refused() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "passkey_refused",
        "That passkey could not be verified. Try again, or use another sign-in method.",
    )
}

/// Verifies the browser's assertion, advances the transaction and, once signed in, returns
/// `{"redirect": url}` for the page to follow.
pub async fn post_finish(
    State(state): State<AppState>,
    session: Session,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    request: JsonBody<FinishRequest>,
) -> Response {
    async {
        let request = json_body(request)?;
        let (passkeys, tx) = prelude(&state, &session, &headers, &request.tx).await?;
        let now = now();
        let (stored, result) = match &tx.step {
            Step::Identify => {
                let taken = ceremonies::take::<DiscoverableAuthentication>(
                    &state.db,
                    &request.ceremony,
                    CeremonyKind::Discoverable,
                    &tx.id,
                    now,
                )
                .await?
                .ok_or_else(expired_challenge)?;
                let (user_id, credential_id) =
                    passkeys.identify(&request.credential).map_err(|_| refused())?;
                let stored = store::passkeys::find_by_credential_id(&state.db, &credential_id)
                    .await?
                    .filter(|p| p.user_id == user_id)
                    .ok_or_else(refused)?;
                let result = passkeys.finish_discoverable(&request.credential, taken.state, &stored.passkey);
                (stored, result)
            }
            Step::SecondFactor { user_id, .. } => {
                let taken = ceremonies::take::<PasskeyAuthentication>(
                    &state.db,
                    &request.ceremony,
                    CeremonyKind::SecondFactor,
                    &tx.id,
                    now,
                )
                .await?
                .ok_or_else(expired_challenge)?;
                let credential_id = crate::mfa::passkey::encode_id(request.credential.get_credential_id());
                let stored = store::passkeys::find_by_credential_id(&state.db, &credential_id)
                    .await?
                    .filter(|p| &p.user_id == user_id)
                    .ok_or_else(refused)?;
                let result = passkeys.finish_second_factor(&request.credential, &taken.state);
                (stored, result)
            }
            Step::Enroll { .. } | Step::Authenticated { .. } | Step::Consent { .. } => {
                return Err(ApiError::sign_in_expired());
            }
        };
        state.metrics.passkey_verified(result.is_ok());
        let facts = match result {
            Ok(result) => {
                let mut updated = stored.passkey.clone();
                updated.update_credential(&result);
                store::passkeys::record_use(&state.db, &stored.id, &updated, now).await?;
                AssertionFacts::of(&result, passkeys.trusted_model(&updated).is_some())
            }
            Err(PasskeyError::PossiblyCloned) => {
                possibly_cloned(&state, &stored).await?;
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "passkey_refused",
                    "This passkey was refused because it may have been copied. Use another sign-in method.",
                ));
            }
            Err(PasskeyError::Invalid | PasskeyError::UntrustedAuthenticator) => {
                // A registered passkey of a known user failed: worth an event, like a wrong
                // password. (An unknown credential names nobody and is only refused.)
                let client = tx.authorization_request().map(|r| r.client_id.clone());
                store::security_events::record(
                    &state.db,
                    Some(&stored.user_id),
                    store::security_events::kind::SIGN_IN_FAILED,
                    Some(json!({"method": "passkey", "client_id": client})),
                )
                .await?;
                return Err(refused());
            }
        };
        match store::users::find_by_id(&state.db, &stored.user_id).await? {
            Some(user) if !user.disabled => {}
            _ => return Err(refused()),
        }
        let tx = tx.passkey_verified(stored.user_id.clone(), facts, now).map_err(|e| match e {
            FlowError::WrongUser => refused(),
            FlowError::WrongStep => ApiError::sign_in_expired(),
        })?;
        let url = complete(&state, &session, tx, &origin).await.map_err(|e| match e {
            PageError::User { .. } => ApiError::sign_in_expired(),
            PageError::Internal(e) => ApiError::from(e),
        })?;
        Ok(Json(json!({"redirect": url})).into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}

fn expired_challenge() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "challenge_expired",
        "This passkey request has expired or was already used. Try again.",
    )
}

async fn possibly_cloned(state: &AppState, stored: &StoredPasskey) -> anyhow::Result<()> {
    tracing::warn!(user = %stored.user_id, passkey = %stored.id, "passkey counter went backwards; refused");
    store::security_events::record(
        &state.db,
        Some(&stored.user_id),
        kind::PASSKEY_POSSIBLY_CLONED,
        Some(json!({"passkey": stored.id})),
    )
    .await?;
    Ok(())
}

/// The user's passkeys that can reach `required`: for `phrh` only those a trusted
/// authenticator model attested, otherwise all of them. Empty when passkeys are off.
pub(crate) async fn passkeys_reaching(
    state: &AppState,
    user_id: &str,
    required: Option<Level>,
) -> anyhow::Result<Vec<StoredPasskey>> {
    let Some(service) = state.passkeys.as_ref() else {
        return Ok(Vec::new());
    };
    let mut passkeys = store::passkeys::list(&state.db, user_id).await?;
    if required == Some(Level::Phrh) {
        passkeys.retain(|p| service.trusted_model(&p.passkey).is_some());
    }
    Ok(passkeys)
}
