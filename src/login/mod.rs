//! The hosted sign-in pages and the login transaction behind them.

pub mod assurance;
pub mod cancel;
pub mod code;
pub mod consent;
pub mod device;
pub mod enroll;
pub mod flow;
pub mod passkey;
pub mod recover;
pub mod recovery_link;
pub mod session;

use axum::{
    Form, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use minijinja::context;
use sea_orm::TransactionTrait;
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    app::AppState,
    crypto::random,
    model::{now, user::normalize_username},
    oidc::{
        authorize::issue_code,
        error::{ErrorCode, OAuthError},
        response,
    },
    routes,
    store::{self, attempts, user_sessions::Origin},
    web::{client_origin::ClientOrigin, csrf, page_error::PageError},
};
use assurance::Level;
use flow::{LoginTransaction, Purpose, Step};

/// Shown for every failed password sign-in, whether or not the user exists.
pub const INCORRECT_CREDENTIALS: &str = "Incorrect username or password";

/// The answer while sign-in attempts are blocked.
pub fn too_many_attempts(seconds: i64) -> String {
    let wait = if seconds >= 90 {
        format!("{} minutes", (seconds + 59) / 60)
    } else {
        format!("{seconds} seconds")
    };
    format!("Too many failed attempts. For your security, try again in {wait}.")
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(routes::LOGIN, get(get_login).post(post_login))
        .route(routes::LOGIN_PASSKEY_BEGIN, post(passkey::post_begin))
        .route(routes::LOGIN_PASSKEY_FINISH, post(passkey::post_finish))
        .route(routes::LOGIN_CODE, post(code::post_code))
        .route(routes::LOGIN_CONTINUE, post(enroll::post_continue))
        .route(routes::LOGIN_CANCEL, post(cancel::post_cancel))
        .route(
            routes::LOGIN_RECOVER,
            get(recover::get_recover).post(recover::post_recover),
        )
        .route(
            routes::LOGIN_ENROLL_TOTP,
            get(enroll::get_totp).post(enroll::post_totp),
        )
        .route(
            routes::LOGIN_ENROLL_PASSKEY_BEGIN,
            post(enroll::post_passkey_begin),
        )
        .route(
            routes::LOGIN_ENROLL_PASSKEY_FINISH,
            post(enroll::post_passkey_finish),
        )
        .route(
            routes::LOGIN_RECOVERY_LINK,
            get(recovery_link::get_recovery_link).post(recovery_link::post_recovery_link),
        )
        .route(
            routes::CONSENT,
            get(consent::get_consent).post(consent::post_consent),
        )
}

#[derive(Deserialize)]
pub struct LoginQuery {
    tx: Option<String>,
    /// On the second-factor step: `passkey`, `totp`, `recovery`, or `choose` (the list of
    /// the user's other methods, "Try another way").
    method: Option<String>,
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
pub(crate) async fn load_transaction(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<Option<LoginTransaction>, anyhow::Error> {
    let Some(tx) = store::transactions::get(&state.db, id).await? else {
        return Ok(None);
    };
    if tx.is_expired(now()) || !session::owns(session, &tx.browser_binding).await {
        return Ok(None);
    }
    Ok(Some(tx))
}

async fn load_page_transaction(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<LoginTransaction, PageError> {
    load_transaction(state, session, id)
        .await?
        .ok_or(PageError::sign_in_expired())
}

/// Starts a sign-in for the account pages and returns the sign-in page's URL.
pub async fn start_account_sign_in(state: &AppState, session: &Session) -> anyhow::Result<String> {
    Ok(start_account_transaction(state, session).await?.next_url())
}

/// Starts a sign-in (or sign-up) that ends on the account page.
pub async fn start_account_transaction(
    state: &AppState,
    session: &Session,
) -> anyhow::Result<LoginTransaction> {
    let binding = session::browser_binding(session).await?;
    let ttl = state.config.session.login_timeout.as_secs() as i64;
    let tx = LoginTransaction::start(Purpose::Account, binding, now(), ttl);
    store::transactions::insert(&state.db, &tx).await?;
    Ok(tx)
}

/// A second factor the user can be asked for, in the order they are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorMethod {
    Passkey,
    Totp,
    Recovery,
}

impl SecondFactorMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::Totp => "totp",
            Self::Recovery => "recovery",
        }
    }

    /// The visible text that offers this method.
    const fn offer(self) -> &'static str {
        match self {
            Self::Passkey => "Use a passkey",
            Self::Totp => "Use an authenticator app",
            Self::Recovery => "Use a recovery code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Passkey, Self::Totp, Self::Recovery]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// The second factors `user_id` can use now: passkey, then authenticator app, then recovery
/// code. When a phishing-resistant level is required, only a passkey reaches it.
pub async fn available_methods(
    state: &AppState,
    user_id: &str,
    required: Option<Level>,
) -> anyhow::Result<Vec<SecondFactorMethod>> {
    let factors = store::factors::of(&state.db, user_id).await?;
    let mut methods = Vec::new();
    if factors.passkeys > 0
        && !passkey::passkeys_reaching(state, user_id, required)
            .await?
            .is_empty()
    {
        methods.push(SecondFactorMethod::Passkey);
    }
    if required.is_some_and(Level::needs_passkey) {
        return Ok(methods);
    }
    if factors.totp {
        methods.push(SecondFactorMethod::Totp);
    }
    if factors.recovery_codes > 0 {
        methods.push(SecondFactorMethod::Recovery);
    }
    Ok(methods)
}

/// What to show on the second-factor step: one method's page, or the list of methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorView {
    Method(SecondFactorMethod),
    Choose,
}

/// The page for the transaction's current step.
pub(crate) async fn render_step(
    state: &AppState,
    session: &Session,
    tx: &LoginTransaction,
    username: &str,
    error: Option<&str>,
) -> Result<Response, PageError> {
    render_step_view(state, session, tx, username, error, None, StatusCode::OK).await
}

pub(crate) async fn render_step_view(
    state: &AppState,
    session: &Session,
    tx: &LoginTransaction,
    username: &str,
    error: Option<&str>,
    view: Option<SecondFactorView>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let client_name = match tx.authorization_request() {
        Some(request) => store::clients::get(&state.db, &request.client_id)
            .await?
            .map(|c| c.name),
        None => None,
    };
    let csrf_token = csrf::token(session).await?;
    let (template, method, others) = match &tx.step {
        Step::Identify => ("login.html", None, Vec::new()),
        Step::SecondFactor { user_id, .. } => {
            let required = tx.acr_request().and_then(|a| a.required);
            let available = available_methods(state, user_id, required).await?;
            let view = match view {
                Some(SecondFactorView::Method(m)) if available.contains(&m) => {
                    SecondFactorView::Method(m)
                }
                Some(SecondFactorView::Choose) => SecondFactorView::Choose,
                _ => match available.first() {
                    Some(&first) => SecondFactorView::Method(first),
                    None => return Err(PageError::sign_in_expired()),
                },
            };
            let current = match view {
                SecondFactorView::Method(m) => Some(m),
                SecondFactorView::Choose => None,
            };
            let others: Vec<_> = available
                .iter()
                .filter(|m| Some(**m) != current)
                .map(|m| context! { method => m.as_str(), offer => m.offer() })
                .collect();
            let template = match view {
                SecondFactorView::Method(SecondFactorMethod::Passkey) => "second_factor.html",
                SecondFactorView::Method(_) => "code.html",
                SecondFactorView::Choose => "choose.html",
            };
            (template, current.map(SecondFactorMethod::as_str), others)
        }
        Step::Enroll { .. } => ("enroll.html", None, Vec::new()),
        Step::Consent { .. } => return Ok(Redirect::to(&tx.next_url()).into_response()),
        Step::Authenticated { authentication } => {
            // Only an enrollment during sign-in stops here: to show the new recovery codes.
            let Some(codes) = crate::account::take_new_recovery_codes(session).await? else {
                return Err(PageError::sign_in_expired());
            };
            let username = store::users::find_by_id(&state.db, &authentication.user_id)
                .await?
                .map(|u| u.username)
                .unwrap_or_default();
            return Ok(state.templates.render(
                StatusCode::OK,
                "enrolled.html",
                context! {
                    tx => tx.id.clone(),
                    csrf_token => csrf_token,
                    new_codes_download => crate::account::recovery_codes_download(state, &username, &codes),
                    new_codes => codes,
                },
            ));
        }
    };
    Ok(state.templates.render(
        status,
        template,
        context! {
            tx => tx.id.clone(),
            csrf_token => csrf_token,
            username => username,
            error => error,
            client_name => client_name,
            passkeys => state.passkeys.is_some(),
            signup => state.config.signup == crate::config::SignupMode::Open,
            recovering => tx.is_recovering(),
            passkey_required => tx.is_adding_required_passkey(),
            from_link => matches!(&tx.step, Step::Enroll { factors, .. } if factors.is_empty()),
            method => method,
            others => others,
        },
    ))
}

pub async fn get_login(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    async {
        let query = query.ok().map(|Query(q)| q);
        let id = query
            .as_ref()
            .and_then(|q| q.tx.clone())
            .ok_or(PageError::sign_in_expired())?;
        let view = match query.as_ref().and_then(|q| q.method.as_deref()) {
            Some("choose") => Some(SecondFactorView::Choose),
            Some(m) => SecondFactorMethod::parse(m).map(SecondFactorView::Method),
            None => None,
        };
        let tx = load_page_transaction(&state, &session, &id).await?;
        let hint = tx
            .authorization_request()
            .and_then(|r| r.login_hint.clone())
            .unwrap_or_default();
        render_step_view(&state, &session, &tx, &hint, None, view, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|e| e.render(&state))
}

pub async fn post_login(
    State(state): State<AppState>,
    session: Session,
    ClientOrigin(origin): ClientOrigin,
    headers: axum::http::HeaderMap,
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
            return Err(PageError::sign_in_form_expired());
        }
        let tx = load_page_transaction(&state, &session, &form.tx).await?;
        if tx.step != Step::Identify {
            return Err(PageError::sign_in_expired());
        }
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
        // Guessing is bounded per username and per client address (store::attempts); a
        // browser the account's owner signed in with before counts on its own (`device`).
        let now = now();
        let account_key = user
            .as_ref()
            .and_then(|u| device::attempts_key(&state, &headers, &u.id, now))
            .unwrap_or_else(|| format!("password:name:{username}"));
        let address_key = format!(
            "password:ip:{}",
            origin.ip_address.as_deref().unwrap_or("-")
        );
        for key in [&account_key, &address_key] {
            if let Some(until) = attempts::blocked_until(&state.db, key, now).await? {
                let message = too_many_attempts(until - now);
                return render_step(&state, &session, &tx, username, Some(&message)).await;
            }
        }
        // Verify even when there is no such user (against a dummy hash), so the answer takes
        // as long and says the same whether or not the username exists.
        let verified = state.passwords.verify(form.password, hash).await;
        let user = match user {
            Some(user) if verified && !user.disabled => user,
            _ => {
                tracing::info!("password sign-in failed");
                let client = tx.authorization_request().map(|r| r.client_id.clone());
                store::security_events::record(
                    &state.db,
                    user.as_ref().map(|u| u.id.as_str()),
                    store::security_events::kind::SIGN_IN_FAILED,
                    Some(serde_json::json!({"method": "password", "client_id": client})),
                )
                .await?;
                let mut blocked = attempts::record_failure(
                    &state.db,
                    &account_key,
                    attempts::USERNAME_PASSWORDS,
                    now,
                )
                .await?;
                blocked = blocked.max(
                    attempts::record_failure(
                        &state.db,
                        &address_key,
                        attempts::ADDRESS_PASSWORDS,
                        now,
                    )
                    .await?,
                );
                if let Some(until) = blocked {
                    store::security_events::record(
                        &state.db,
                        user.as_ref().map(|u| u.id.as_str()),
                        store::security_events::kind::LOCKED_OUT,
                        Some(serde_json::json!({"method": "password", "until": until})),
                    )
                    .await?;
                }
                let message = match blocked {
                    Some(until) => too_many_attempts(until - now),
                    None => INCORRECT_CREDENTIALS.to_owned(),
                };
                return render_step(&state, &session, &tx, username, Some(&message)).await;
            }
        };
        attempts::reset(&state.db, &account_key).await?;
        let device_cookie = device::set_cookie(&state, &user.id, now);
        let known = |mut response: Response| {
            if let Some(cookie) = device_cookie.clone() {
                response
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, cookie);
            }
            response
        };
        if state.config.policy.passkeys_only
            && state.passkeys.is_some()
            && store::passkeys::count(&state.db, &user.id).await? > 0
        {
            // Said only after a correct password, so it reveals nothing to a guesser.
            return render_step(
                &state,
                &session,
                &tx,
                username,
                Some("Your account signs in with a passkey: use \"Sign in with a passkey\"."),
            )
            .await;
        }
        store::users::touch_password(&state.db, &user.id).await?;

        let factors = store::factors::of(&state.db, &user.id).await?;
        let required = tx.acr_request().and_then(|a| a.required);
        // A user with a second factor must use it; with none that reaches the level asked
        // for, sign-in ends with what was proven and `complete` answers the client.
        let has_second_factor = ((factors.passkeys > 0 && state.passkeys.is_some())
            || factors.totp)
            && !available_methods(&state, &user.id, required)
                .await?
                .is_empty();
        let previous = tx.step.clone();
        let tx = tx
            .password_verified(
                user.id.clone(),
                has_second_factor,
                user.require_mfa || state.config.policy.require_mfa,
                now,
            )
            .map_err(|_| PageError::sign_in_expired())?;
        tracing::info!(user = %user.id, "password verified");
        if let Step::Authenticated { .. } = tx.step {
            let url = complete(&state, &session, tx, &origin).await?;
            return Ok(known(Redirect::to(&url).into_response()));
        }
        if !store::transactions::advance(&state.db, &tx.id, &previous, &tx.step).await? {
            return Err(PageError::sign_in_expired());
        }
        Ok(known(Redirect::to(&tx.next_url()).into_response()))
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

/// The client a sign-in is for; none for the account pages.
fn purpose_client_id(purpose: &Purpose) -> Option<&str> {
    match purpose {
        Purpose::Authorize(request) => Some(&request.client_id),
        Purpose::Account => None,
    }
}

/// A step the user still has before an authenticated transaction finishes, if any: adding the
/// passkey an admin asked for (when they have none), or signing in with the passkey they just
/// added when that is what the client's level needs.
async fn step_before_finishing(
    state: &AppState,
    tx: &LoginTransaction,
) -> Result<Option<LoginTransaction>, PageError> {
    let Step::Authenticated { authentication } = &tx.step else {
        return Ok(None);
    };
    if tx.new_passkey_must_be_used() {
        return Ok(Some(
            tx.clone()
                .use_new_passkey()
                .map_err(|_| PageError::sign_in_expired())?,
        ));
    }
    let Some(user) = store::users::find_by_id(&state.db, &authentication.user_id).await? else {
        return Ok(None);
    };
    if !user.require_passkey || store::passkeys::count(&state.db, &user.id).await? > 0 {
        return Ok(None);
    }
    if state.passkeys.is_none() {
        tracing::warn!(user = %user.id, "a passkey is required of this user, but passkeys are not configured");
        return Ok(None);
    }
    Ok(Some(
        tx.clone()
            .passkey_enrollment_required()
            .map_err(|_| PageError::sign_in_expired())?,
    ))
}

/// Finishes an authenticated transaction and returns where the browser goes next: back to the
/// client with a code, or to the account page. The transaction is consumed, the session
/// recorded and the code stored in one database transaction: all of it happens or none.
pub(crate) async fn complete(
    state: &AppState,
    session: &Session,
    tx: LoginTransaction,
    origin: &Origin,
) -> Result<String, PageError> {
    if let Some(next) = step_before_finishing(state, &tx).await? {
        // Consumed once, like a finished sign-in, and put back at that step.
        let writer = state.sqlite_writer().await;
        let db = state.db.begin_with_options(crate::store::WRITE).await?;
        if !store::transactions::delete(&db, &tx.id).await? {
            return Err(PageError::sign_in_expired());
        }
        store::transactions::insert(&db, &next).await?;
        db.commit().await?;
        drop(writer);
        return Ok(next.next_url());
    }
    let tx_id = tx.id.clone();
    let browser_binding = tx.browser_binding.clone();
    let (purpose, authentication) = tx.finish().map_err(|_| PageError::sign_in_expired())?;
    let (target, needs_consent) = match &purpose {
        Purpose::Authorize(request) => {
            let client = store::clients::get(&state.db, &request.client_id)
                .await?
                .ok_or(PageError::sign_in_expired())?;
            let to = request
                .verified_redirect_uri(&client)
                .ok_or(PageError::sign_in_expired())?;
            // An unmet essential level ends in an error for the client: nothing to consent to.
            let unmet = request.acr.essential && !request.acr.is_met_by(&authentication);
            let needs =
                !unmet && consent::needed(state, &client, request, &authentication.user_id).await?;
            (Some(to), needs)
        }
        Purpose::Account => (None, false),
    };

    let sid = random::id();
    let now = now();
    let writer = state.sqlite_writer().await;
    let db = state.db.begin_with_options(crate::store::WRITE).await?;
    if !store::transactions::delete(&db, &tx_id).await? {
        return Err(PageError::sign_in_expired());
    }
    // A third-party client the user has not allowed what it asks for: the sign-in is
    // recorded, and a transaction for the consent page takes this one's place.
    let consent_step = if needs_consent {
        let ttl = state.config.session.login_timeout.as_secs() as i64;
        let next = LoginTransaction::start_consent(
            purpose.clone(),
            browser_binding,
            authentication.clone(),
            sid.clone(),
            now,
            ttl,
        );
        store::transactions::insert(&db, &next).await?;
        Some(next)
    } else {
        None
    };
    // A new sign-in in this browser replaces the previous one, which ends: its clients are
    // told (back-channel logout) once this commits, as for a sign-out.
    let mut replaced = None;
    if let Some(previous) = session::current_sid(session).await? {
        if let Some(ended) = store::user_sessions::get_active(&db, &previous, now).await? {
            replaced = Some((previous.clone(), ended.user_id));
        }
        store::user_sessions::revoke(&db, &previous, now).await?;
    }
    let expires_at = now + state.config.session.lifetime.as_secs() as i64;
    store::user_sessions::create(&db, &sid, &authentication, origin, now, expires_at).await?;
    store::security_events::record(
        &db,
        Some(&authentication.user_id),
        store::security_events::kind::SIGNED_IN,
        Some(serde_json::json!({
            "amr": authentication.amr(),
            "client_id": purpose_client_id(&purpose),
        })),
    )
    .await?;
    let url = match (&purpose, target) {
        _ if consent_step.is_some() => consent_step.map(|tx| tx.next_url()).unwrap_or_default(),
        (Purpose::Authorize(request), Some(to))
            if request.acr.essential && !request.acr.is_met_by(&authentication) =>
        {
            // OpenID Connect Core Unmet Authentication Requirements 1.0 §3.
            let error = OAuthError::new(
                ErrorCode::UnmetAuthenticationRequirements,
                "the user could not reach the authentication level required",
            );
            response::error_url(&to, &error, request.state.as_deref(), &state.config.issuer)
                .ok_or(PageError::sign_in_expired())?
        }
        (Purpose::Authorize(request), Some(to)) => {
            let code = issue_code(&db, state, request, &authentication, Some(sid.clone())).await?;
            response::code_url(&to, &code, request.state.as_deref(), &state.config.issuer)
                .ok_or(PageError::sign_in_expired())?
        }
        _ => routes::ACCOUNT.to_owned(),
    };
    db.commit().await?;
    drop(writer);
    if let Some((previous, user_id)) = replaced {
        crate::oidc::backchannel::session_ended(state, &previous, &user_id);
    }

    session::signed_in(session, &sid).await?;
    state.metrics.signed_in();
    tracing::info!(user = %authentication.user_id, amr = ?authentication.amr(), "signed in");
    Ok(url)
}
