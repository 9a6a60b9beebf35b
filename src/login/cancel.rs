//! `POST /login/cancel`: the person gives up on this sign-in (for instance at a step that asks
//! for a passkey their device cannot make). The transaction ends; a client that sent them
//! here gets `access_denied` (RFC 6749 §4.1.2.1) at its registered redirect URI, so the app
//! can tell them what happened instead of leaving them on our page.

use axum::{
    Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{flow::Purpose, load_page_transaction};
use crate::{
    app::AppState,
    oidc::{
        error::{ErrorCode, OAuthError},
        response,
    },
    store,
    web::{csrf, page_error::PageError},
};

#[derive(Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
}

pub async fn post_cancel(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CancelForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let form = form
            .map(|Form(f)| f)
            .map_err(|_| PageError::sign_in_form_expired())?;
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::sign_in_form_expired());
        }
        let tx = load_page_transaction(&state, &session, &form.tx).await?;
        // Where the person goes, worked out before anything is deleted: a client that was
        // removed meanwhile gets no redirect (its URIs are no longer registered).
        let target = match &tx.purpose {
            Purpose::Authorize(request) => {
                let client = store::clients::get(&state.db, &request.client_id)
                    .await?
                    .ok_or(PageError::sign_in_expired())?;
                let to = request
                    .verified_redirect_uri(&client)
                    .ok_or(PageError::sign_in_expired())?;
                let error =
                    OAuthError::new(ErrorCode::AccessDenied, "the user cancelled the sign-in");
                response::error_url(&to, &error, request.state.as_deref(), &state.config.issuer)
                    .ok_or(PageError::sign_in_expired())?
            }
            Purpose::Account => "/".to_owned(),
        };
        if !store::transactions::delete(&state.db, &tx.id).await? {
            return Err(PageError::sign_in_expired());
        }
        Ok(Redirect::to(&target).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
