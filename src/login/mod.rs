//! The hosted sign-in pages and the login transaction behind them.

pub mod assurance;
pub mod flow;
pub mod session;

use axum::{
    Form, Router,
    extract::{Query, State},
    http::StatusCode,
    response::Response,
    routing::get,
};
use minijinja::context;
use sea_orm::TransactionTrait;
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    app::AppState,
    crypto::random,
    model::{now, user::normalize_username},
    oidc::{authorize::issue_code, response},
    routes, store,
    web::{csrf, page_error::PageError},
};
use flow::LoginTransaction;

/// Shown for every failed password sign-in, whether or not the user exists.
pub const INCORRECT_CREDENTIALS: &str = "Incorrect username or password";

pub fn routes() -> Router<AppState> {
    Router::new().route(routes::LOGIN, get(get_login).post(post_login))
}

#[derive(Deserialize)]
pub struct LoginQuery {
    tx: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// Loads a login transaction that this browser started and that has not expired.
async fn load_transaction(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<LoginTransaction, PageError> {
    let tx = store::transactions::get(&state.db, id)
        .await?
        .ok_or(PageError::sign_in_expired())?;
    if tx.is_expired(now()) || !session::owns(session, &tx.browser_binding).await {
        return Err(PageError::sign_in_expired());
    }
    Ok(tx)
}

async fn render_login(
    state: &AppState,
    session: &Session,
    tx: &LoginTransaction,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let client = store::clients::get(&state.db, &tx.request.client_id).await?;
    Ok(state.templates.render(
        status,
        "login.html",
        context! {
            tx => tx.id.clone(),
            csrf_token => csrf::token(session).await?,
            username => username,
            error => error,
            client_name => client.map(|c| c.name),
        },
    ))
}

pub async fn get_login(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    async {
        let id = query
            .ok()
            .and_then(|Query(q)| q.tx)
            .ok_or(PageError::sign_in_expired())?;
        let tx = load_transaction(&state, &session, &id).await?;
        let hint = tx.request.login_hint.clone().unwrap_or_default();
        render_login(&state, &session, &tx, &hint, None, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|e| e.render(&state))
}

pub async fn post_login(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
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
            return Err(PageError::user(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "For your security this form can only be sent once from the page that showed it. Go back to the application and sign in again.",
            ));
        }
        let tx = load_transaction(&state, &session, &form.tx).await?;
        let username = normalize_username(&form.username);
        let username = username.as_str();

        let user = if username.is_empty() {
            None
        } else {
            store::users::find_by_username(&state.db, username).await?
        };
        let hash = match &user {
            Some(user) => store::users::password_hash(&state.db, &user.id).await?,
            None => None,
        };
        // Verify even when there is no such user (against a dummy hash), so the answer takes
        // as long and says the same whether or not the username exists.
        let verified = state.passwords.verify(form.password, hash).await;
        let user = match user {
            Some(user) if verified && !user.disabled => user,
            _ => {
                tracing::info!("password sign-in failed");
                return render_login(
                    &state,
                    &session,
                    &tx,
                    username,
                    Some(INCORRECT_CREDENTIALS),
                    StatusCode::OK,
                )
                .await;
            }
        };

        let tx_id = tx.id.clone();
        let (request, authentication) = tx
            .password_verified(user.id.clone(), now())
            .and_then(LoginTransaction::finish)
            .map_err(|_| PageError::sign_in_expired())?;
        let client = store::clients::get(&state.db, &request.client_id)
            .await?
            .ok_or(PageError::sign_in_expired())?;
        let to = request
            .verified_redirect_uri(&client)
            .ok_or(PageError::sign_in_expired())?;

        // The transaction is consumed, the session recorded and the code stored together:
        // either all of it happened or none of it did.
        let sid = random::id();
        let now = now();
        let db = state.db.begin().await?;
        if !store::transactions::delete(&db, &tx_id).await? {
            return Err(PageError::sign_in_expired());
        }
        let expires_at = now + state.config.session.lifetime.as_secs() as i64;
        if let Some(previous) = session::current_sid(&session).await? {
            // A new sign-in in this browser replaces the previous one.
            store::user_sessions::revoke(&db, &previous, now).await?;
        }
        store::user_sessions::create(&db, &sid, &authentication, now, expires_at).await?;
        store::users::touch_password(&db, &user.id).await?;
        let code = issue_code(&db, &state, &request, &authentication, Some(sid.clone())).await?;
        db.commit().await?;

        session::signed_in(&session, &sid).await?;
        tracing::info!(user = %user.id, client = %client.client_id, "signed in with a password");
        Ok(response::code(
            &to,
            &code,
            request.state.as_deref(),
            &state.config.issuer,
        ))
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
