//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a relying party sends the
//! browser to `end_session_endpoint` to end the user's session here too.
//!
//! - `id_token_hint` (one of our ID tokens, expired or not, §2) names the client and the user.
//!   When it is an ID token of this browser's current session (same `sub` and `sid`), the
//!   session ends at once: only a client the user signed in to in this session holds one.
//! - Without a hint (or with one for another user) the user is asked first ("Sign out"), so a
//!   link on any site cannot sign people out (§2: the OP SHOULD ask the End-User).
//! - `post_logout_redirect_uri` must exactly match one the client registered (§3); the client
//!   is the hint's audience or `client_id` (which must agree). `state` is passed back.
//! - Anything invalid gets an error page: the browser is never sent to an unchecked URI.

use axum::{
    Form,
    body::Bytes,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    app::AppState,
    login::session,
    model::client::Client,
    store,
    web::{csrf, page_error::PageError},
};

/// A checked logout request.
#[derive(Debug)]
struct LogoutRequest {
    client: Option<Client>,
    /// A registered post-logout redirect URI of `client`.
    redirect: Option<String>,
    state: Option<String>,
    /// The user and session the `id_token_hint` names, if one was sent.
    hinted_user: Option<String>,
    hinted_sid: Option<String>,
}

fn invalid(message: &'static str) -> PageError {
    PageError::user(
        StatusCode::BAD_REQUEST,
        "This sign-out request is not valid",
        message,
    )
}

/// Reads the request's parameters, refusing one sent twice.
fn params(raw: &[u8]) -> Result<Vec<(String, String)>, PageError> {
    let params =
        super::form::decode(raw).ok_or_else(|| invalid("The request could not be read."))?;
    for (i, (name, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(other, _)| other == name) {
            return Err(invalid("A parameter appears more than once."));
        }
    }
    Ok(params)
}

async fn check(
    state: &AppState,
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    logout_state: Option<&str>,
) -> Result<LogoutRequest, PageError> {
    let mut hinted_user = None;
    let mut hinted_sid = None;
    let mut audience = None;
    if let Some(hint) = id_token_hint {
        // Signature and issuer only: an expired ID token is still a good hint (§2).
        let (_, claims) = state
            .keys
            .verify(hint)
            .ok()
            // An access token is signed by the same keys, but it is not an ID token.
            .filter(|(typ, _)| typ.as_deref() == Some("JWT"))
            .ok_or(invalid(
                "The id_token_hint is not an ID token from this server.",
            ))?;
        if claims.get("iss").and_then(|v| v.as_str()) != Some(state.config.issuer.as_str()) {
            return Err(invalid("The id_token_hint was issued by another server."));
        }
        audience = match claims.get("aud") {
            Some(serde_json::Value::String(aud)) => Some(aud.clone()),
            Some(serde_json::Value::Array(auds)) if auds.len() == 1 => {
                auds[0].as_str().map(str::to_owned)
            }
            _ => None,
        };
        if audience.is_none() {
            return Err(invalid("The id_token_hint has no single audience."));
        }
        hinted_user = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        hinted_sid = claims
            .get("sid")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
    }
    let client_id = match (client_id, audience.as_deref()) {
        (Some(id), Some(aud)) if id != aud => {
            return Err(invalid(
                "The client_id is not the audience of the id_token_hint.",
            ));
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, aud) => aud.map(str::to_owned),
    };
    let client = match &client_id {
        Some(id) => Some(
            store::clients::get(&state.db, id)
                .await?
                .ok_or(invalid("The application is not registered here."))?,
        ),
        None => None,
    };
    let redirect = match post_logout_redirect_uri {
        None => None,
        Some(uri) => {
            let Some(client) = &client else {
                return Err(invalid(
                    "A post_logout_redirect_uri needs a client_id or an id_token_hint.",
                ));
            };
            // Exact string comparison (§3), as for redirect URIs.
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Err(invalid(
                    "The post_logout_redirect_uri is not registered for this application.",
                ));
            }
            Some(uri.to_owned())
        }
    };
    Ok(LogoutRequest {
        client,
        redirect,
        state: logout_state.map(str::to_owned),
        hinted_user,
        hinted_sid,
    })
}

/// Where the browser goes once signed out: back to the client with `state`, or our page.
fn finish(state: &AppState, request: &LogoutRequest) -> Response {
    match &request.redirect {
        Some(uri) => {
            let mut url = url::Url::parse(uri).expect("registered URIs are valid URLs");
            if let Some(st) = &request.state {
                url.query_pairs_mut().append_pair("state", st);
            }
            Redirect::to(url.as_str()).into_response()
        }
        None => state
            .templates
            .render(StatusCode::OK, "signed_out.html", context! {}),
    }
}

pub async fn get_end_session(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    end_session(&state, &session, query.unwrap_or_default().as_bytes()).await
}

pub async fn post_end_session(
    State(state): State<AppState>,
    session: Session,
    body: Bytes,
) -> Response {
    end_session(&state, &session, &body).await
}

async fn end_session(state: &AppState, session: &Session, raw: &[u8]) -> Response {
    async {
        let params = params(raw)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.as_str())
        };
        let request = check(
            state,
            get("id_token_hint"),
            get("client_id"),
            get("post_logout_redirect_uri"),
            get("state"),
        )
        .await?;
        let current = session::current(state, session).await?;
        let Some((sid, auth)) = current else {
            // Nobody is signed in here: nothing to end.
            session::sign_out(state, session).await?;
            return Ok(finish(state, &request));
        };
        // Only an ID token from this very session proves the request comes from the client
        // the user is signed in to now (§2); an older token of the same user asks first.
        if request.hinted_user.as_deref() == Some(auth.user_id.as_str())
            && request.hinted_sid.as_deref() == Some(sid.as_str())
        {
            session::sign_out(state, session).await?;
            return Ok(finish(state, &request));
        }
        // Ask first.
        Ok(state.templates.render(
            StatusCode::OK,
            "logout.html",
            context! {
                csrf_token => csrf::token(session).await?,
                client_name => request.client.as_ref().map(|c| c.name.clone()),
                client_id => request.client.as_ref().map(|c| c.client_id.clone()),
                post_logout_redirect_uri => request.redirect.clone(),
                state => request.state.clone(),
            },
        ))
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(state))
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    post_logout_redirect_uri: String,
    #[serde(default)]
    state: String,
}

/// "Sign out" on the confirmation page. The client and URI are checked again: the form's
/// hidden fields are the browser's to change.
pub async fn post_confirm(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<ConfirmForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let form = form
            .map(|Form(f)| f)
            .map_err(|_| PageError::form_expired())?;
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::form_expired());
        }
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let request = check(
            &state,
            None,
            some(&form.client_id).as_deref(),
            some(&form.post_logout_redirect_uri).as_deref(),
            some(&form.state).as_deref(),
        )
        .await?;
        session::sign_out(&state, &session).await?;
        Ok(finish(&state, &request))
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
