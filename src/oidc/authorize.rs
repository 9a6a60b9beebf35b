//! Authorization endpoint (RFC 6749 §3.1, §4.1.1; OIDC Core §3.1.2): GET and POST (OIDC Core
//! §3.1.2.1 requires both). A valid request either reuses the browser's sign-in or starts a
//! login transaction and sends the user to the sign-in page.

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use sea_orm::ConnectionTrait;
use tower_sessions::Session;

use super::{
    authorize_request::{self, AuthorizationRequest, Prompt},
    error::{AuthorizeError, ErrorCode, OAuthError},
    response,
};
use crate::{
    app::AppState,
    crypto::random,
    login::{
        self,
        assurance::Authentication,
        flow::{self, Decision, LoginTransaction, Purpose},
        session,
    },
    model::now,
    store::{self, tokens::CodeRecord},
};

pub async fn get_authorize(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    authorize(&state, &session, query.unwrap_or_default().as_bytes()).await
}

pub async fn post_authorize(
    State(state): State<AppState>,
    session: Session,
    body: Bytes,
) -> Response {
    authorize(&state, &session, &body).await
}

async fn authorize(state: &AppState, session: &Session, raw: &[u8]) -> Response {
    match try_authorize(state, session, raw).await {
        Ok(response) => response,
        Err(AuthorizeError::Render(error)) if error.code == ErrorCode::TemporarilyUnavailable => {
            state.templates.error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "We cannot serve you right now. Please go back and try again in a minute.",
            )
        }
        Err(AuthorizeError::Render(error)) => {
            let status = if error.code == ErrorCode::ServerError {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            state.templates.error_page(
                status,
                "This sign-in request is not valid",
                &format!(
                    "The application sent an invalid request ({}: {}). Please contact the application's owner.",
                    error.code.as_str(),
                    error.description
                ),
            )
        }
        Err(AuthorizeError::Redirect {
            to,
            state: st,
            error,
        }) => response::error(&to, &error, st.as_deref(), &state.config.issuer),
    }
}

fn internal(e: impl Into<anyhow::Error>) -> OAuthError {
    OAuthError::internal("authorization request", e)
}

async fn try_authorize(
    state: &AppState,
    session: &Session,
    raw: &[u8],
) -> Result<Response, AuthorizeError> {
    let params = super::form::decode(raw).ok_or_else(|| {
        AuthorizeError::Render(OAuthError::invalid_request(
            "the request is not form-encoded UTF-8",
        ))
    })?;
    let (params, pushed) = pushed_params(state, params).await?;
    let ladder = state.config.acr_ladder();
    let (client, request) = authorize_request::parse(&params, &ladder, |client_id| async move {
        store::clients::get(&state.db, &client_id)
            .await
            .map_err(|e| AuthorizeError::Render(internal(e)))
    })
    .await?;
    let to = request
        .verified_redirect_uri(&client)
        .expect("parse returned a registered redirect URI");
    let fail = |error: OAuthError| AuthorizeError::Redirect {
        to: to.clone(),
        state: request.state.clone(),
        error,
    };
    // RFC 9126 §5, §6: a client (or every client) may be required to push its requests.
    if !pushed
        && (state.config.require_pushed_authorization_requests
            || client.require_pushed_authorization_requests)
    {
        return Err(fail(OAuthError::invalid_request(
            "this client must use pushed authorization requests",
        )));
    }

    let now = now();
    let current = session::current(state, session)
        .await
        .map_err(|e| fail(internal(e)))?;
    let (sid, auth) = match current {
        Some((sid, auth)) => (Some(sid), Some(auth)),
        None => (None, None),
    };
    match flow::decide(&request, auth, now, |level| {
        state.config.policy.level_lifetime(level)
    }) {
        Decision::UseSession(auth) => {
            code_or_consent(state, session, &client, &request, auth, sid, now)
                .await
                .map_err(|e| match e {
                    NoCode::ConsentRequired => fail(OAuthError::new(
                        ErrorCode::ConsentRequired,
                        "the user has not allowed this client what it asks for",
                    )),
                    NoCode::Failed(e) => fail(internal(e)),
                })?
                .ok_or_else(|| fail(internal(anyhow::anyhow!("no session id"))))
                .map(|answer| match answer {
                    Answer::Code(code) => {
                        response::code(&to, &code, request.state.as_deref(), &state.config.issuer)
                    }
                    Answer::AskConsent(page) => Redirect::to(&page).into_response(),
                })
        }
        Decision::LoginRequired => Err(fail(OAuthError::new(
            ErrorCode::LoginRequired,
            "the user must sign in",
        ))),
        Decision::InteractionRequired => Err(fail(OAuthError::new(
            ErrorCode::InteractionRequired,
            "the user must confirm it is them with a further factor",
        ))),
        Decision::StepUp(auth) => {
            let methods = login::available_methods(state, &auth.user_id, request.acr.required)
                .await
                .map_err(|e| fail(internal(e)))?;
            if methods.is_empty() {
                // The user has no factor that reaches the level.
                if request.acr.essential {
                    return Err(fail(OAuthError::new(
                        ErrorCode::UnmetAuthenticationRequirements,
                        "the user has no sign-in method that reaches the level required",
                    )));
                }
                let answer = code_or_consent(state, session, &client, &request, auth, sid, now)
                    .await
                    .map_err(|e| match e {
                        NoCode::ConsentRequired => fail(OAuthError::new(
                            ErrorCode::ConsentRequired,
                            "the user has not allowed this client what it asks for",
                        )),
                        NoCode::Failed(e) => fail(internal(e)),
                    })?
                    .ok_or_else(|| fail(internal(anyhow::anyhow!("no session id"))))?;
                return Ok(match answer {
                    Answer::Code(code) => {
                        response::code(&to, &code, request.state.as_deref(), &state.config.issuer)
                    }
                    Answer::AskConsent(page) => Redirect::to(&page).into_response(),
                });
            }
            start_sign_in(state, session, &request, Some(auth), now)
                .await
                .map_err(|e| fail(internal(e)))
        }
        Decision::SignIn => start_sign_in(state, session, &request, None, now)
            .await
            .map_err(|e| fail(internal(e))),
    }
}

/// What a signed-in browser gets for an authorization request.
enum Answer {
    Code(String),
    /// The consent page's URL: the client is third-party and lacks the user's consent.
    AskConsent(String),
}

enum NoCode {
    /// `prompt=none`, but the user would have to consent (OIDC Core §3.1.2.6).
    ConsentRequired,
    Failed(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for NoCode {
    fn from(e: E) -> Self {
        NoCode::Failed(e.into())
    }
}

/// A code for the signed-in user, unless a third-party client needs their consent first:
/// then a transaction waiting on the consent page. `None` without a session id.
async fn code_or_consent(
    state: &AppState,
    session: &Session,
    client: &crate::model::client::Client,
    request: &AuthorizationRequest,
    auth: Authentication,
    sid: Option<String>,
    now: i64,
) -> Result<Option<Answer>, NoCode> {
    let Some(sid) = sid else {
        return Ok(None);
    };
    if !login::consent::needed(state, client, request, &auth.user_id).await? {
        let code = issue_code(&state.db, state, request, &auth, Some(sid)).await?;
        return Ok(Some(Answer::Code(code)));
    }
    if request.prompt == Prompt::None {
        return Err(NoCode::ConsentRequired);
    }
    let binding = session::browser_binding(session).await?;
    let ttl = state.config.session.login_timeout.as_secs() as i64;
    let purpose = Purpose::Authorize(Box::new(request.clone()));
    let tx = LoginTransaction::start_consent(purpose, binding, auth, sid, now, ttl);
    store::transactions::insert(&state.db, &tx).await?;
    Ok(Some(Answer::AskConsent(tx.next_url())))
}

/// Stores a login transaction for `request` (a step-up of `session` when given) and sends
/// the browser to its page.
async fn start_sign_in(
    state: &AppState,
    session: &Session,
    request: &AuthorizationRequest,
    step_up: Option<Authentication>,
    now: i64,
) -> anyhow::Result<Response> {
    let binding = session::browser_binding(session).await?;
    let ttl = state.config.session.login_timeout.as_secs() as i64;
    let purpose = Purpose::Authorize(Box::new(request.clone()));
    let tx = match step_up {
        Some(auth) => LoginTransaction::start_step_up(purpose, binding, auth, now, ttl),
        None => LoginTransaction::start(purpose, binding, now, ttl),
    };
    store::transactions::insert(&state.db, &tx).await?;
    Ok(Redirect::to(&tx.next_url()).into_response())
}

/// Stores a new single-use authorization code for `request` and returns it.
pub async fn issue_code(
    db: &impl ConnectionTrait,
    state: &AppState,
    request: &AuthorizationRequest,
    authentication: &Authentication,
    user_session_id: Option<String>,
) -> anyhow::Result<String> {
    let code = random::secret();
    let now = now();
    let record = CodeRecord {
        client_id: request.client_id.clone(),
        user_session_id,
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        authentication: authentication.clone(),
        expires_at: now + state.config.tokens.authorization_code.as_secs() as i64,
    };
    store::tokens::insert_code(db, &random::digest(&code), &record, now).await?;
    Ok(code)
}

/// With a `request_uri` from `/par` (RFC 9126 §4), the pushed request's parameters replace
/// the browser's: only `client_id` and `request_uri` are read from the browser, and the
/// pushed request must be the same client's, unused and unexpired. Returns the parameters to
/// use and whether they were pushed.
async fn pushed_params(
    state: &AppState,
    params: Vec<(String, String)>,
) -> Result<(Vec<(String, String)>, bool), AuthorizeError> {
    let single = |name: &str| {
        let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(v), None) if !v.is_empty() => Some(v.clone()),
            _ => None,
        }
    };
    // Any other request_uri (OIDC Core §6.2, a request object by reference) is left to the
    // parser, which answers request_uri_not_supported once the redirect URI is checked.
    let Some(request_uri) =
        single("request_uri").filter(|uri| uri.starts_with(store::pushed_requests::URI_PREFIX))
    else {
        return Ok((params, false));
    };
    let render = |d: &'static str| AuthorizeError::Render(OAuthError::invalid_request(d));
    let client_id =
        single("client_id").ok_or_else(|| render("the client_id parameter is missing"))?;
    let pushed = store::pushed_requests::take(&state.db, &request_uri, &client_id, now())
        .await
        .map_err(|e| AuthorizeError::Render(internal(e)))?
        .ok_or_else(|| {
            render("the request_uri is unknown, expired, already used, or another client's")
        })?;
    Ok((pushed, true))
}
