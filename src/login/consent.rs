//! The consent page: a third-party client (one not registered as first-party) gets a code
//! only once the user has allowed it the scopes it asks for. What was allowed is remembered
//! per user and client, so the page comes back only when a client asks for more, or sends
//! `prompt=consent` (OIDC Core §3.1.2.1). "Deny" sends the browser back with
//! `access_denied` (RFC 6749 §4.1.2.1).

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

use super::{
    LoginQuery,
    flow::{LoginTransaction, Step},
    load_page_transaction,
};
use crate::{
    app::AppState,
    model::{
        client::Client,
        now,
        scope::{self, Scopes},
    },
    oidc::{
        authorize::issue_code,
        authorize_request::AuthorizationRequest,
        error::{ErrorCode, OAuthError},
        response,
    },
    store::{self, security_events::kind},
    web::{csrf, page_error::PageError},
};

/// Whether `client` must ask `user_id` before getting a code for `request`.
pub async fn needed(
    state: &AppState,
    client: &Client,
    request: &AuthorizationRequest,
    user_id: &str,
) -> anyhow::Result<bool> {
    if client.first_party {
        return Ok(false);
    }
    if request.force_consent {
        return Ok(true);
    }
    let asked = Scopes::parse(&request.scope).unwrap_or_default();
    let granted = store::consents::granted(&state.db, user_id, &client.client_id).await?;
    Ok(!asked.is_subset_of(&granted))
}

/// The consent page of a transaction waiting at [`Step::Consent`].
pub async fn get_consent(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<LoginQuery>,
) -> Response {
    async {
        let tx_id = query.tx.ok_or(PageError::sign_in_expired())?;
        let tx = load_page_transaction(&state, &session, &tx_id).await?;
        render(&state, &session, &tx).await
    }
    .await
    .unwrap_or_else(|e| e.render(&state))
}

async fn render(
    state: &AppState,
    session: &Session,
    tx: &LoginTransaction,
) -> Result<Response, PageError> {
    let (Step::Consent { .. }, Some(request)) = (&tx.step, tx.authorization_request()) else {
        return Err(PageError::sign_in_expired());
    };
    let client = store::clients::get(&state.db, &request.client_id)
        .await?
        .ok_or(PageError::sign_in_expired())?;
    let asked = Scopes::parse(&request.scope).unwrap_or_default();
    let scopes: Vec<_> = asked
        .iter()
        .map(|s| context! { name => s, description => scope::describe(s) })
        .collect();
    Ok(state.templates.render(
        StatusCode::OK,
        "consent.html",
        context! {
            tx => tx.id.clone(),
            csrf_token => csrf::token(session).await?,
            client_name => client.name,
            logo_uri => client.logo_uri,
            policy_uri => client.policy_uri,
            tos_uri => client.tos_uri,
            redirect_host => url::Url::parse(&request.redirect_uri).ok().and_then(|u| u.host_str().map(str::to_owned)),
            scopes => scopes,
        },
    ))
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    /// The button pressed: `allow` or `deny`.
    #[serde(default)]
    decision: String,
}

pub async fn post_consent(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<ConsentForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let Ok(Form(form)) = form else {
            return Err(PageError::user(
                StatusCode::BAD_REQUEST,
                "Something is missing",
                "The form could not be read. Go back to the application and sign in again.",
            ));
        };
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::sign_in_form_expired());
        }
        let allow = match form.decision.as_str() {
            "allow" => true,
            "deny" => false,
            _ => {
                return Err(PageError::user(
                    StatusCode::BAD_REQUEST,
                    "Choose Allow or Deny",
                    "Go back and press Allow or Deny.",
                ));
            }
        };
        let tx = load_page_transaction(&state, &session, &form.tx).await?;
        let tx_id = tx.id.clone();
        let (request, authentication, sid) = tx
            .consent_answered()
            .map_err(|_| PageError::sign_in_expired())?;
        let client = store::clients::get(&state.db, &request.client_id)
            .await?
            .ok_or(PageError::sign_in_expired())?;
        let to = request
            .verified_redirect_uri(&client)
            .ok_or(PageError::sign_in_expired())?;
        let user_id = authentication.user_id.clone();
        let now = now();

        let writer = state.sqlite_writer().await;
        let db = state.db.begin_with_options(store::WRITE).await?;
        // Answering twice (a second tab, a double click) finds the transaction gone.
        if !store::transactions::delete(&db, &tx_id).await? {
            return Err(PageError::sign_in_expired());
        }
        let url = if allow {
            let scopes = Scopes::parse(&request.scope).unwrap_or_default();
            store::consents::grant(&db, &user_id, &client.client_id, &scopes, now).await?;
            let detail = serde_json::json!({"client_id": client.client_id, "scope": request.scope});
            store::security_events::record(
                &db,
                Some(&user_id),
                kind::CONSENT_GRANTED,
                Some(detail),
            )
            .await?;
            let code = issue_code(&db, &state, &request, &authentication, Some(sid)).await?;
            response::code_url(&to, &code, request.state.as_deref(), &state.config.issuer)
        } else {
            let error = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
            response::error_url(&to, &error, request.state.as_deref(), &state.config.issuer)
        };
        db.commit().await?;
        drop(writer);
        tracing::info!(user = %user_id, client = %client.client_id, allow, "consent answered");
        let url = url.ok_or(PageError::sign_in_expired())?;
        Ok(Redirect::to(&url).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
