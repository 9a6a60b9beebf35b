//! Self-service sign-up (config `signup`): "Create an account" on the sign-in page (`open`) or
//! an operator's invitation link (`invite`, or `open`), then a passkey made on the spot. The
//! account exists only once the passkey is verified: the user, the passkey, its recovery
//! codes and the used invitation are written in one database transaction, so an abandoned
//! sign-up leaves nothing behind. With `allow_password_signup`, "Use a password instead"
//! makes an account with a password for browsers without passkeys.
//!
//! Sign-up runs inside a login transaction: finishing it is a sign-in, and the browser goes
//! on to wherever that sign-in was going (the relying party that sent the user, or the
//! account page).

pub mod account;

use axum::{
    Form, Json, Router,
    extract::{Path, Query, State, rejection::PathRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use minijinja::context;
use sea_orm::{DatabaseTransaction, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, RegisterPublicKeyCredential};

use self::account::{NewAccount, SignupError};
use crate::{
    account::{passkeys::default_name, show_recovery_codes},
    app::AppState,
    config::SignupMode,
    login::{
        self,
        assurance::AuthMethod,
        flow::{LoginTransaction, Step},
        load_transaction,
    },
    mfa::passkey::{PasskeyError, PasskeyFacts},
    model::{now, user::validate_password},
    routes,
    store::{
        self,
        attempts::{self, Limit},
        ceremonies::{self, CeremonyKind},
        invitations::{self, Invitation, Lookup},
        passkeys::AddPasskeyError,
        security_events,
        users::CreateUserError,
    },
    web::{
        api_error::{ApiError, JsonBody, json_body},
        client_origin::ClientOrigin,
        csrf,
        page_error::PageError,
    },
};

/// Sign-ups started from one client address: 10 in a row, then an hour's wait that doubles.
/// Each started sign-up counts, whether or not it is finished.
const ADDRESS_SIGNUPS: Limit = Limit {
    block_after: 10,
    first_block: 3600,
    max_block: 24 * 3600,
    forget_after: 24 * 3600,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(routes::SIGNUP, get(get_signup))
        .route(routes::SIGNUP_INVITE, get(get_invitation))
        .route(routes::SIGNUP_PASSKEY_BEGIN, post(post_passkey_begin))
        .route(routes::SIGNUP_PASSKEY_FINISH, post(post_passkey_finish))
        .route(
            routes::SIGNUP_PASSWORD,
            get(get_password).post(post_password),
        )
}

fn not_found() -> PageError {
    PageError::user(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
    )
}

fn api_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "Sign-up is not available.",
    )
}

/// Whether sign-up is possible with (or without) an invitation.
fn allowed(state: &AppState, with_invitation: bool) -> bool {
    match state.config.signup {
        SignupMode::Closed => false,
        SignupMode::Invite => with_invitation,
        SignupMode::Open => true,
    }
}

#[derive(Deserialize)]
pub struct SignupQuery {
    tx: Option<String>,
    #[serde(default)]
    invite: Option<String>,
}

/// What the sign-up pages show.
struct SignupPage<'a> {
    tx: &'a LoginTransaction,
    invite: Option<(&'a str, &'a Invitation)>,
    error: Option<String>,
    username: &'a str,
    display_name: &'a str,
    email: &'a str,
}

async fn render(
    state: &AppState,
    session: &Session,
    template: &str,
    page: SignupPage<'_>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let client_name = match page.tx.authorization_request() {
        Some(request) => store::clients::get(&state.db, &request.client_id)
            .await?
            .map(|c| c.name),
        None => None,
    };
    let invitation = page.invite.map(|(_, i)| i);
    let fixed_username = invitation.and_then(|i| i.username.clone());
    let email = match invitation.and_then(|i| i.email.as_deref()) {
        Some(invited) if page.email.is_empty() => invited,
        _ => page.email,
    };
    Ok(state.templates.render(
        status,
        template,
        context! {
            tx => page.tx.id.clone(),
            csrf_token => csrf::token(session).await?,
            client_name => client_name,
            invite => page.invite.map(|(token, _)| token),
            fixed_username => fixed_username,
            username => page.username,
            display_name => page.display_name,
            email => email,
            error => page.error,
            passkeys => state.passkeys.is_some(),
            allow_password => state.config.allow_password_signup,
        },
    ))
}

/// "Create an account", reached from the sign-in page's link (with its transaction) or
/// directly (a new sign-in for the account page is started).
async fn get_signup(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<SignupQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    async {
        if !allowed(&state, false) {
            return Err(not_found());
        }
        let Some(tx_id) = query.ok().and_then(|Query(q)| q.tx) else {
            let tx = login::start_account_transaction(&state, &session).await?;
            let url = format!("{}?tx={}", routes::SIGNUP, tx.id);
            return Ok(Redirect::to(&url).into_response());
        };
        let tx = identifying(&state, &session, &tx_id).await?;
        let page = SignupPage {
            tx: &tx,
            invite: None,
            error: None,
            username: "",
            display_name: "",
            email: "",
        };
        render(&state, &session, "signup.html", page, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

/// The transaction, if this browser's and still at its first step.
async fn identifying(
    state: &AppState,
    session: &Session,
    tx_id: &str,
) -> Result<LoginTransaction, PageError> {
    load_transaction(state, session, tx_id)
        .await?
        .filter(|tx| tx.step == Step::Identify)
        .ok_or(PageError::sign_in_expired())
}

fn invitation_page_error(error: SignupError) -> PageError {
    match error {
        SignupError::InvitationUsed => PageError::user(
            StatusCode::GONE,
            "This invitation has been used",
            "Each invitation creates one account, and this one already has. If it was yours, sign in instead.",
        ),
        SignupError::InvitationExpired => PageError::user(
            StatusCode::GONE,
            "This invitation has expired",
            "Ask the person who invited you for a new invitation link.",
        ),
        _ => PageError::user(
            StatusCode::NOT_FOUND,
            "This invitation link is not valid",
            "Check that you opened the whole link from your invitation, or ask for a new one.",
        ),
    }
}

/// The invitation a token names, if it can still be used.
async fn valid_invitation(state: &AppState, token: &str) -> Result<Invitation, SignupError> {
    match invitations::find(&state.db, token, now()).await {
        Ok(Lookup::Valid(invitation)) => Ok(invitation),
        Ok(other) => Err(SignupError::of_lookup(&other).unwrap_or(SignupError::InvitationUnknown)),
        Err(e) => {
            tracing::error!(error = %e, "reading an invitation failed");
            Err(SignupError::InvitationUnknown)
        }
    }
}

/// An invitation link: checks it and shows the sign-up form for it.
async fn get_invitation(
    State(state): State<AppState>,
    session: Session,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    // A link mangled into something that is not UTF-8 is just an unknown invitation.
    let token = token.map(|Path(token)| token).unwrap_or_default();
    async {
        if !allowed(&state, true) {
            return Err(not_found());
        }
        let invitation = valid_invitation(&state, &token)
            .await
            .map_err(invitation_page_error)?;
        let tx = login::start_account_transaction(&state, &session).await?;
        let page = SignupPage {
            tx: &tx,
            invite: Some((&token, &invitation)),
            error: None,
            username: "",
            display_name: "",
            email: "",
        };
        render(&state, &session, "signup.html", page, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

/// The rate-limit key of a client address.
fn address_key(origin: &store::user_sessions::Origin) -> String {
    format!("signup:ip:{}", origin.ip_address.as_deref().unwrap_or("-"))
}

fn too_many(seconds: i64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!(
            "Too many accounts were started from your network. {}",
            login::too_many_attempts(seconds)
        ),
    )
    .retry_after(seconds)
}

fn signup_error(error: SignupError) -> ApiError {
    let status = match error {
        SignupError::Unavailable => StatusCode::CONFLICT,
        SignupError::InvitationUsed | SignupError::InvitationExpired => StatusCode::GONE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, error.code(), error.to_string())
}

#[derive(Deserialize)]
pub struct BeginRequest {
    tx: String,
    #[serde(default)]
    invite: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
}

/// The server side of a sign-up's passkey ceremony: the challenge, and the account to make.
#[derive(Serialize, Deserialize)]
struct SignupCeremony {
    registration: PasskeyRegistration,
    account: NewAccount,
}

/// Checks the new account and starts making its passkey; answers the options for
/// `navigator.credentials.create()`. Nothing is stored but the ceremony.
async fn post_passkey_begin(
    State(state): State<AppState>,
    session: Session,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    request: JsonBody<BeginRequest>,
) -> Response {
    async {
        let request = json_body(request)?;
        let invite = request.invite.as_deref().filter(|t| !t.is_empty());
        if !allowed(&state, invite.is_some()) {
            return Err(api_not_found());
        }
        let passkeys = state
            .passkeys
            .as_ref()
            .ok_or_else(ApiError::passkeys_unavailable)?;
        if !csrf::verify_header(&session, &headers).await {
            return Err(ApiError::csrf());
        }
        let tx = load_transaction(&state, &session, &request.tx)
            .await?
            .filter(|tx| tx.step == Step::Identify)
            .ok_or_else(ApiError::sign_in_expired)?;
        let now = now();
        let address = address_key(&origin);
        if let Some(until) = attempts::blocked_until(&state.db, &address, now).await? {
            return Err(too_many(until - now));
        }
        let invitation = match invite {
            Some(token) => Some(
                valid_invitation(&state, token)
                    .await
                    .map_err(signup_error)?,
            ),
            None => None,
        };
        let account = account::check(
            &request.username,
            &request.display_name,
            &request.email,
            invitation.as_ref(),
        )
        .map_err(signup_error)?;
        // Counted before the availability check, so the limit also bounds probing for
        // which usernames exist.
        attempts::record_failure(&state.db, &address, ADDRESS_SIGNUPS, now).await?;
        if !account::is_available(&state.db, &account.username).await? {
            return Err(signup_error(SignupError::Unavailable));
        }
        let user_id = uuid::Uuid::new_v4().to_string();
        let display_name = account.display_name.as_deref().unwrap_or(&account.username);
        let (options, registration) =
            passkeys.start_registration(&user_id, &account.username, display_name, &[])?;
        let ceremony = ceremonies::start(
            &state.db,
            CeremonyKind::Signup,
            &tx.id,
            Some(&user_id),
            &SignupCeremony {
                registration,
                account,
            },
            now,
            state.config.webauthn.challenge_lifetime.as_secs() as i64,
        )
        .await?;
        Ok(Json(json!({"ceremony": ceremony, "options": options})).into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}

#[derive(Deserialize)]
pub struct FinishRequest {
    tx: String,
    ceremony: String,
    credential: RegisterPublicKeyCredential,
}

/// Verifies the new passkey and creates the account with it; answers `{"redirect": url}`:
/// the page that shows the new recovery codes, then continues the sign-in.
async fn post_passkey_finish(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    request: JsonBody<FinishRequest>,
) -> Response {
    async {
        let request = json_body(request)?;
        if state.config.signup == SignupMode::Closed {
            return Err(api_not_found());
        }
        let passkeys = state
            .passkeys
            .as_ref()
            .ok_or_else(ApiError::passkeys_unavailable)?;
        if !csrf::verify_header(&session, &headers).await {
            return Err(ApiError::csrf());
        }
        let tx = load_transaction(&state, &session, &request.tx)
            .await?
            .filter(|tx| tx.step == Step::Identify)
            .ok_or_else(ApiError::sign_in_expired)?;
        let now = now();
        let taken = ceremonies::take::<SignupCeremony>(
            &state.db,
            &request.ceremony,
            CeremonyKind::Signup,
            &tx.id,
            now,
        )
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "challenge_expired",
                "This sign-up took too long or was already finished. Try again.",
            )
        })?;
        let user_id = taken.user_id.ok_or_else(ApiError::sign_in_expired)?;
        let registered =
            passkeys.finish_registration(&request.credential, &taken.state.registration);
        state.metrics.passkey_registered(registered.is_ok());
        let passkey = registered.map_err(|e| match e {
            PasskeyError::UntrustedAuthenticator => ApiError::new(
                StatusCode::BAD_REQUEST,
                "untrusted_authenticator",
                e.to_string(),
            ),
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                "passkey_refused",
                "The new passkey could not be verified. Try again.",
            ),
        })?;
        let attested = passkeys.trusted_model(&passkey);
        let facts = PasskeyFacts::of(&passkey);
        let next = tx
            .clone()
            .signed_up(
                user_id.clone(),
                AuthMethod::Passkey {
                    // Made with user verification over a fresh challenge: proven now.
                    user_verified: true,
                    backup_eligible: facts.backup_eligible,
                    backup_state: facts.backup_state,
                    attested_hardware: attested.is_some(),
                },
                now,
            )
            .map_err(|_| ApiError::sign_in_expired())?;
        let name = attested.unwrap_or_else(|| default_name(&headers));
        let first = FirstFactor::Passkey {
            passkey: &passkey,
            name: &name,
            max: passkeys.max_per_user,
        };
        let codes =
            match create_account(&state, &taken.state.account, &user_id, first, &tx, &next).await {
                Ok(codes) => codes,
                Err(CreateError::Signup(e)) => return Err(signup_error(e)),
                Err(CreateError::Expired) => return Err(ApiError::sign_in_expired()),
                Err(CreateError::Internal(e)) => return Err(ApiError::from(e)),
            };
        if let Some(codes) = codes {
            show_recovery_codes(&session, codes).await?;
        }
        Ok(Json(json!({"redirect": next.next_url()})).into_response())
    }
    .await
    .unwrap_or_else(|e: ApiError| e.into_response())
}

/// The account's first way to sign in.
enum FirstFactor<'a> {
    Passkey {
        passkey: &'a Passkey,
        name: &'a str,
        max: usize,
    },
    /// An argon2id hash.
    Password(String),
}

enum CreateError {
    Signup(SignupError),
    /// The login transaction moved on meanwhile (the sign-up was finished in another tab).
    Expired,
    Internal(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for CreateError {
    fn from(e: E) -> Self {
        CreateError::Internal(e.into())
    }
}

/// Writes the account in one database transaction: the user, their first factor (a passkey
/// comes with recovery codes, returned in clear to show once), the invitation marked used,
/// the security event, and the login transaction moved from `tx` to `next`. Either all of
/// it is written or none.
async fn create_account(
    state: &AppState,
    account: &NewAccount,
    user_id: &str,
    first: FirstFactor<'_>,
    tx: &LoginTransaction,
    next: &LoginTransaction,
) -> Result<Option<Vec<String>>, CreateError> {
    let txn: DatabaseTransaction = state.db.begin_with_options(crate::store::WRITE).await?;
    let now = now();
    // Checked again inside the transaction: the name may have been taken since the start.
    if !account::is_available(&txn, &account.username).await? {
        return Err(CreateError::Signup(SignupError::Unavailable));
    }
    if let Some(invitation) = &account.invitation_id
        && !invitations::consume(&txn, invitation, user_id, now).await?
    {
        return Err(CreateError::Signup(SignupError::InvitationUsed));
    }
    let password = match &first {
        FirstFactor::Password(hash) => Some(hash.clone()),
        FirstFactor::Passkey { .. } => None,
    };
    store::users::insert(
        &txn,
        user_id,
        &account.username,
        account.email.clone(),
        account.display_name.clone(),
        password,
    )
    .await
    .map_err(|e| match e {
        CreateUserError::UsernameTaken(_) => CreateError::Signup(SignupError::Unavailable),
        CreateUserError::Db(e) => CreateError::Internal(e.into()),
    })?;
    let codes = match first {
        FirstFactor::Passkey { passkey, name, max } => {
            let (stored, codes) = store::passkeys::insert(&txn, user_id, name, passkey, max)
                .await
                .map_err(|e| match e {
                    AddPasskeyError::Db(e) => CreateError::Internal(e.into()),
                    // A credential id already registered to someone else.
                    other => CreateError::Internal(anyhow::anyhow!(other.to_string())),
                })?;
            security_events::record(
                &txn,
                Some(user_id),
                security_events::kind::PASSKEY_ADDED,
                Some(json!({"passkey": stored.id})),
            )
            .await?;
            codes
        }
        FirstFactor::Password(_) => None,
    };
    security_events::record(
        &txn,
        Some(user_id),
        security_events::kind::SIGNED_UP,
        account
            .invitation_id
            .as_ref()
            .map(|id| json!({"invitation": id})),
    )
    .await?;
    if !store::transactions::advance(&txn, &next.id, &tx.step, &next.step).await? {
        return Err(CreateError::Expired);
    }
    txn.commit().await?;
    tracing::info!(user = %user_id, "account created");
    Ok(codes)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    invite: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// "Use a password instead": only with `allow_password_signup`.
async fn get_password(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<SignupQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    async {
        let query = query.map_err(|_| PageError::sign_in_expired())?.0;
        let token = query.invite.filter(|t| !t.is_empty());
        if !allowed(&state, token.is_some()) || !state.config.allow_password_signup {
            return Err(not_found());
        }
        let tx = identifying(&state, &session, query.tx.as_deref().unwrap_or_default()).await?;
        let invitation = match &token {
            Some(token) => Some(
                valid_invitation(&state, token)
                    .await
                    .map_err(invitation_page_error)?,
            ),
            None => None,
        };
        let page = SignupPage {
            tx: &tx,
            invite: token.as_deref().zip(invitation.as_ref()),
            error: None,
            username: "",
            display_name: "",
            email: "",
        };
        render(
            &state,
            &session,
            "signup_password.html",
            page,
            StatusCode::OK,
        )
        .await
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

async fn post_password(
    State(state): State<AppState>,
    session: Session,
    ClientOrigin(origin): ClientOrigin,
    form: Result<Form<PasswordForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    async {
        let form = form
            .map(|Form(f)| f)
            .map_err(|_| PageError::sign_in_form_expired())?;
        let token = Some(form.invite.as_str()).filter(|t| !t.is_empty());
        if !allowed(&state, token.is_some()) || !state.config.allow_password_signup {
            return Err(not_found());
        }
        if !csrf::verify(&session, &form.csrf_token).await {
            return Err(PageError::sign_in_form_expired());
        }
        let tx = identifying(&state, &session, &form.tx).await?;
        let invitation = match token {
            Some(token) => Some(
                valid_invitation(&state, token)
                    .await
                    .map_err(invitation_page_error)?,
            ),
            None => None,
        };
        let again = |error: String, status: StatusCode| {
            let page = SignupPage {
                tx: &tx,
                invite: token.zip(invitation.as_ref()),
                error: Some(error),
                username: &form.username,
                display_name: &form.display_name,
                email: &form.email,
            };
            render(&state, &session, "signup_password.html", page, status)
        };
        let now = now();
        let address = address_key(&origin);
        if let Some(until) = attempts::blocked_until(&state.db, &address, now).await? {
            return again(
                login::too_many_attempts(until - now),
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await;
        }
        let account = match account::check(
            &form.username,
            &form.display_name,
            &form.email,
            invitation.as_ref(),
        ) {
            Ok(account) => account,
            Err(e) => return again(e.to_string(), StatusCode::BAD_REQUEST).await,
        };
        if let Err(why) = validate_password(&form.password) {
            return again(
                format!("The password is not usable: {why}."),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        attempts::record_failure(&state.db, &address, ADDRESS_SIGNUPS, now).await?;
        if !account::is_available(&state.db, &account.username).await? {
            return again(SignupError::Unavailable.to_string(), StatusCode::CONFLICT).await;
        }
        let hash = state.passwords.hash(form.password.clone()).await?;
        let user_id = uuid::Uuid::new_v4().to_string();
        // A password is one factor: under `require_mfa` the new user sets up a second now.
        let next = tx
            .clone()
            .password_verified(user_id.clone(), false, state.config.policy.require_mfa, now)
            .map_err(|_| PageError::sign_in_expired())?;
        match create_account(
            &state,
            &account,
            &user_id,
            FirstFactor::Password(hash),
            &tx,
            &next,
        )
        .await
        {
            Ok(_) => {}
            Err(CreateError::Signup(e)) => {
                return again(e.to_string(), StatusCode::CONFLICT).await;
            }
            Err(CreateError::Expired) => return Err(PageError::sign_in_expired()),
            Err(CreateError::Internal(e)) => return Err(PageError::Internal(e)),
        }
        if let Step::Authenticated { .. } = next.step {
            let url = login::complete(&state, &session, next, &origin).await?;
            return Ok(Redirect::to(&url).into_response());
        }
        Ok(Redirect::to(&next.next_url()).into_response())
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}
