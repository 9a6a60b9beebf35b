//! Passkey management: registration (JSON, driven by the account page's script or by an
//! app), listing, renaming and deleting. Every change needs a signed-in session and the
//! session's CSRF token (a form field on pages, the `X-CSRF-Token` header in the API).

use axum::{
    Form, Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, RegisterPublicKeyCredential};

use super::SignedIn;
use crate::{
    app::AppState,
    mfa::passkey::{PasskeyError, PasskeyService},
    model::now,
    routes,
    store::{
        self,
        ceremonies::{self, CeremonyKind},
        passkeys::{AddPasskeyError, DeletePasskeyError},
        security_events::kind,
    },
    web::{
        api_error::{ApiError, JsonBody, json_body},
        csrf,
        page_error::PageError,
    },
};

/// Checks a passkey name: 1 to 64 printable characters.
fn validate_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err("A passkey name has 1 to 64 characters.".into());
    }
    Ok(name.to_owned())
}

/// A default name from the browser and system the passkey was made on ("Chrome on Linux"),
/// since "none" attestation hides the authenticator's model.
pub(crate) fn default_name(headers: &HeaderMap) -> String {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Mac OS X", "macOS"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(n), None) | (None, Some(n)) => n.to_owned(),
        (None, None) => "Passkey".to_owned(),
    }
}

async fn signed_in_api(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    needs_csrf: bool,
) -> Result<SignedIn, ApiError> {
    let signed_in = SignedIn::of(state, session)
        .await?
        .ok_or_else(ApiError::not_signed_in)?;
    if needs_csrf && !csrf::verify_header(session, headers).await {
        return Err(ApiError::csrf());
    }
    Ok(signed_in)
}

pub async fn api_list(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Response {
    async {
        let signed_in = signed_in_api(&state, &session, &headers, false).await?;
        let passkeys = store::passkeys::list(&state.db, &signed_in.user.id).await?;
        Ok(Json(json!({"passkeys": listing(&state, &passkeys)})).into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}

/// Passkeys as the account page and API show them: the stored facts, plus the trusted
/// authenticator model that attested the passkey, if any (`attested_model`).
pub(crate) fn listing(
    state: &AppState,
    passkeys: &[crate::store::passkeys::StoredPasskey],
) -> Vec<serde_json::Value> {
    passkeys
        .iter()
        .map(|p| {
            let mut shown = serde_json::to_value(p).expect("passkeys serialize");
            shown["attested_model"] = state
                .passkeys
                .as_ref()
                .and_then(|service| service.trusted_model(&p.passkey))
                .into();
            shown
        })
        .collect()
}

/// Starts registering a passkey: returns the options for `navigator.credentials.create()`.
pub async fn api_register_begin(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Response {
    async {
        let passkeys = state
            .passkeys
            .as_ref()
            .ok_or_else(ApiError::passkeys_unavailable)?;
        let signed_in = signed_in_api(&state, &session, &headers, true).await?;
        if !signed_in.is_recent(&state) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "reauthentication_required",
                "For your security, sign in again before adding a passkey.",
            ));
        }
        let user = &signed_in.user;
        let existing: Vec<_> = store::passkeys::list(&state.db, &user.id)
            .await?
            .into_iter()
            .map(|p| p.passkey)
            .collect();
        if existing.len() >= passkeys.max_per_user {
            return Err(too_many(passkeys.max_per_user));
        }
        let display_name = user.name.clone().unwrap_or_else(|| user.username.clone());
        let (options, ceremony_state) =
            passkeys.start_registration(&user.id, &user.username, &display_name, &existing)?;
        let ceremony = ceremonies::start(
            &state.db,
            CeremonyKind::Registration,
            &signed_in.sid,
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

fn too_many(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "too_many_passkeys",
        format!("You already have the most passkeys allowed ({max}). Delete one first."),
    )
}

/// Consumes the registration ceremony `ceremony` (bound to `binding`, for `user_id`) and
/// verifies the new credential against it.
pub(crate) async fn verify_registration(
    state: &AppState,
    passkeys: &PasskeyService,
    ceremony: &str,
    binding: &str,
    user_id: &str,
    credential: &RegisterPublicKeyCredential,
) -> Result<Passkey, ApiError> {
    let taken = ceremonies::take::<PasskeyRegistration>(
        &state.db,
        ceremony,
        CeremonyKind::Registration,
        binding,
        now(),
    )
    .await?
    .filter(|t| t.user_id.as_deref() == Some(user_id))
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "challenge_expired",
            "This passkey request has expired or was already used. Try again.",
        )
    })?;
    let registered = passkeys.finish_registration(credential, &taken.state);
    state.metrics.passkey_registered(registered.is_ok());
    registered.map_err(|e| match e {
            PasskeyError::UntrustedAuthenticator => ApiError::new(
                StatusCode::BAD_REQUEST,
                "untrusted_authenticator",
                "This kind of passkey is not accepted here. Use a security key or device your organization approved.",
            ),
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                "passkey_refused",
                "The new passkey could not be verified. Try again.",
            ),
        })
}

#[derive(Deserialize)]
pub struct RegisterFinish {
    ceremony: String,
    #[serde(default)]
    name: Option<String>,
    credential: RegisterPublicKeyCredential,
}

/// Verifies the new credential and stores it; answers 201 with the passkey.
pub async fn api_register_finish(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    request: JsonBody<RegisterFinish>,
) -> Response {
    async {
        let passkeys = state
            .passkeys
            .as_ref()
            .ok_or_else(ApiError::passkeys_unavailable)?;
        let signed_in = signed_in_api(&state, &session, &headers, true).await?;
        let request = json_body(request)?;
        let name = match request
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            Some(name) => Some(validate_name(name).map_err(ApiError::bad_request)?),
            None => None,
        };
        let passkey = verify_registration(
            &state,
            passkeys,
            &request.ceremony,
            &signed_in.sid,
            &signed_in.user.id,
            &request.credential,
        )
        .await?;
        // Unnamed: the attested model's name, else the browser and system it was made on.
        let name = name
            .or_else(|| passkeys.trusted_model(&passkey))
            .unwrap_or_else(|| default_name(&headers));
        let (stored, recovery_codes) = store::passkeys::add(
            &state.db,
            &signed_in.user.id,
            &name,
            &passkey,
            passkeys.max_per_user,
        )
        .await
        .map_err(|e| match e {
            AddPasskeyError::TooMany(max) => too_many(max),
            AddPasskeyError::AlreadyRegistered => ApiError::new(
                StatusCode::CONFLICT,
                "already_registered",
                "This passkey is already registered.",
            ),
            AddPasskeyError::Db(e) => ApiError::from(e),
        })?;
        store::security_events::record(
            &state.db,
            Some(&signed_in.user.id),
            kind::PASSKEY_ADDED,
            Some(json!({"passkey": stored.id})),
        )
        .await?;
        if let Some(codes) = &recovery_codes {
            // The account page shows them once; API clients get them in the answer.
            super::show_recovery_codes(&session, codes.clone()).await?;
        }
        Ok((
            StatusCode::CREATED,
            Json(json!({"passkey": stored, "recovery_codes": recovery_codes})),
        )
            .into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}

#[derive(Deserialize)]
pub struct RenameRequest {
    name: String,
}

pub async fn api_rename(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: JsonBody<RenameRequest>,
) -> Response {
    async {
        let signed_in = signed_in_api(&state, &session, &headers, true).await?;
        let name = validate_name(&json_body(request)?.name).map_err(ApiError::bad_request)?;
        if !store::passkeys::rename(&state.db, &signed_in.user.id, &id, &name).await? {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "No such passkey.",
            ));
        }
        Ok(Json(json!({"id": id, "name": name})).into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}

/// Deletes a passkey, recording the event. The last passkey is kept (see
/// [`store::passkeys::delete`]).
async fn delete(state: &AppState, user_id: &str, id: &str) -> Result<(), ApiError> {
    store::passkeys::delete(&state.db, user_id, id)
        .await
        .map_err(|e| match e {
            DeletePasskeyError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such passkey.")
            }
            DeletePasskeyError::LastFactor => ApiError::new(
                StatusCode::CONFLICT,
                "last_factor",
                "This is your last passkey, so it cannot be deleted: add another sign-in method first.",
            ),
            DeletePasskeyError::Db(e) => ApiError::from(e),
        })?;
    store::security_events::record(
        &state.db,
        Some(user_id),
        kind::PASSKEY_REMOVED,
        Some(json!({"passkey": id})),
    )
    .await?;
    Ok(())
}

pub async fn api_delete(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    async {
        let signed_in = signed_in_api(&state, &session, &headers, true).await?;
        delete(&state, &signed_in.user.id, &id).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}

#[derive(Deserialize)]
pub struct PageForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
}

/// The account page's forms: check the session and CSRF token, then run `action`; a refusal
/// is shown on the account page itself.
async fn page_action(
    state: &AppState,
    session: &Session,
    form: Result<Form<PageForm>, axum::extract::rejection::FormRejection>,
    action: impl AsyncFnOnce(&SignedIn, PageForm) -> Result<(), ApiError>,
) -> Result<Response, PageError> {
    let Some(signed_in) = SignedIn::of(state, session).await? else {
        return Ok(Redirect::to(routes::ACCOUNT).into_response());
    };
    let form = form.map(|Form(f)| f).unwrap_or(PageForm {
        csrf_token: String::new(),
        name: String::new(),
    });
    if !csrf::verify(session, &form.csrf_token).await {
        return Err(PageError::form_expired());
    }
    match action(&signed_in, form).await {
        Ok(()) => {}
        Err(e) if e.status.is_client_error() => super::flash(session, &e.message).await?,
        Err(_) => {
            return Err(PageError::Internal(anyhow::anyhow!(
                "passkey change failed"
            )));
        }
    }
    Ok(Redirect::to(routes::ACCOUNT).into_response())
}

pub async fn post_rename(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    form: Result<Form<PageForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    page_action(&state, &session, form, async |signed_in, form| {
        let name = validate_name(&form.name).map_err(ApiError::bad_request)?;
        if store::passkeys::rename(&state.db, &signed_in.user.id, &id, &name).await? {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "No such passkey.",
            ))
        }
    })
    .await
    .unwrap_or_else(|e| e.render(&state))
}

pub async fn post_delete(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    form: Result<Form<PageForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    page_action(&state, &session, form, async |signed_in, _| {
        delete(&state, &signed_in.user.id, &id).await
    })
    .await
    .unwrap_or_else(|e| e.render(&state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_say_browser_and_system() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::USER_AGENT,
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0 Safari/537.36"
                .parse()
                .unwrap(),
        );
        assert_eq!(default_name(&headers), "Chrome on Linux");
        assert_eq!(default_name(&HeaderMap::new()), "Passkey");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(validate_name("  My phone ").unwrap(), "My phone");
        assert!(validate_name("").is_err());
        assert!(validate_name(&"x".repeat(65)).is_err());
        assert!(validate_name("a\u{7}b").is_err());
    }
}
