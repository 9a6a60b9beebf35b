//! Pushed authorization requests (RFC 9126). A client sends its authorization request to this
//! endpoint, authenticated as at the token endpoint, and gets a one-time `request_uri` to send
//! the browser with instead. The request is checked here exactly as `/authorize` checks it, so
//! a bad one is refused to the client directly rather than in a browser redirect.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{
    authorize_request, client_auth,
    error::{AuthorizeError, JsonError, OAuthError},
    form::FormParams,
};
use crate::{app::AppState, model::now, store};

fn internal(e: impl Into<anyhow::Error>) -> OAuthError {
    OAuthError::internal("pushed request", e)
}

pub async fn post_par(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match push(&state, &headers, &body).await {
        Ok((request_uri, expires_in)) => {
            // RFC 9126 §2.2: 201 Created.
            let mut response = (
                StatusCode::CREATED,
                Json(json!({"request_uri": request_uri, "expires_in": expires_in})),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => JsonError(error).into_response(),
    }
}

async fn push(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, u64), OAuthError> {
    let form = FormParams::parse(headers, body)?;
    let client = client_auth::authenticate(state, headers, |name| form.get(name)).await?;
    // RFC 9126 §2.1: a request_uri cannot itself be pushed.
    if form.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be used in a pushed request",
        ));
    }
    // The authenticated client is the request's client (it may have authenticated with
    // HTTP Basic and left client_id out of the body).
    let mut params: Vec<(String, String)> = form
        .pairs()
        .filter(|(k, _)| k != "client_secret")
        .cloned()
        .collect();
    if !params.iter().any(|(k, _)| k == "client_id") {
        params.push(("client_id".into(), client.client_id.clone()));
    }
    let ladder = state.config.acr_ladder();
    authorize_request::parse(&params, &ladder, |_| {
        let client = client.clone();
        async move { Ok(Some(client)) }
    })
    .await
    .map_err(|e| match e {
        AuthorizeError::Render(error) | AuthorizeError::Redirect { error, .. } => error,
    })?;
    let lifetime = state.config.pushed_request_lifetime.as_secs();
    let request_uri = store::pushed_requests::push(
        &state.db,
        &client.client_id,
        &params,
        now() + lifetime as i64,
    )
    .await
    .map_err(internal)?;
    Ok((request_uri, lifetime))
}
