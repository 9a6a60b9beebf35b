//! Recovery links made by an admin (`idp user recovery-link`, the admin API): the page asks
//! the user to continue (so that a link preview fetching the URL does not use it up), then
//! the link, used once, starts a sign-in at the step of adding a new passkey.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;
use sea_orm::TransactionTrait;
use tower_sessions::Session;

use super::{flow::LoginTransaction, session};
use crate::{
    account::CsrfForm,
    app::AppState,
    model::now,
    store::{self, security_events},
    web::{csrf, page_error::PageError},
};

fn invalid_link() -> PageError {
    PageError::user(
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "This recovery link is unknown, expired or was already used. Ask your administrator for a new one.",
    )
}

pub async fn get_recovery_link(
    State(state): State<AppState>,
    session: Session,
    token: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    async {
        // A link that is not even UTF-8 is as unknown as any other.
        let Ok(Path(token)) = token else {
            return Err(invalid_link());
        };
        // Only the shape is checked here: the link is used on the button press.
        if token.len() != 43
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid_link());
        }
        Ok(state.templates.render(
            StatusCode::OK,
            "recovery_link.html",
            context! { token => token, csrf_token => csrf::token(&session).await? },
        ))
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

pub async fn post_recovery_link(
    State(state): State<AppState>,
    session: Session,
    token: Result<Path<String>, axum::extract::rejection::PathRejection>,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let submitted = form.map(|Form(f)| f.csrf_token).unwrap_or_default();
        if !csrf::verify(&session, &submitted).await {
            return Err(PageError::sign_in_form_expired());
        }
        let Ok(Path(token)) = token else {
            return Err(invalid_link());
        };
        let now = now();
        let binding = session::browser_binding(&session).await?;
        let ttl = state.config.session.login_timeout.as_secs() as i64;
        let txn = state.db.begin_with_options(store::WRITE).await?;
        let Some(user_id) = store::recovery_links::take(&txn, &token, now).await? else {
            return Err(invalid_link());
        };
        match store::users::find_by_id(&txn, &user_id).await? {
            Some(user) if !user.disabled => {}
            _ => return Err(invalid_link()),
        }
        let tx = LoginTransaction::start_recovery_link(binding, user_id.clone(), now, ttl);
        store::transactions::insert(&txn, &tx).await?;
        security_events::record(
            &txn,
            Some(&user_id),
            security_events::kind::RECOVERY_LINK_USED,
            None,
        )
        .await?;
        txn.commit().await?;
        Ok(Redirect::to(&tx.next_url()).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
