//! `/admin/api/v1/users`: create, list and search, show (with sign-in methods, never their
//! secrets), disable, enable, sign out everywhere, require a second factor, delete.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use utoipa::{IntoParams, ToSchema};

use super::{ErrorBody, admin_error, authorize, error_response, json};
use crate::{
    admin::{
        self,
        users::{NewUser, Requirement},
    },
    app::AppState,
    model::user::User,
    store,
    web::api_error::{ApiError, JsonBody, json_body},
};

/// A user, as the API shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Stable and opaque; the `sub` claim.
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub disabled: bool,
    /// Must set up a second factor at the next sign-in.
    pub require_mfa: bool,
    /// Must add a passkey at the next sign-in (cleared once they have one).
    pub require_passkey: bool,
    pub is_admin: bool,
    /// Unix times.
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            username: u.username,
            email: u.email,
            name: u.name,
            disabled: u.disabled,
            require_mfa: u.require_mfa,
            require_passkey: u.require_passkey,
            is_admin: u.is_admin,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// One of a user's sign-in methods: what it is and when it was used, never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorView {
    /// `password`, `passkey`, `totp`.
    pub kind: String,
    /// The passkey's name; none for the others.
    pub name: Option<String>,
    pub created_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A user with their sign-in methods.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: UserView,
    pub factors: Vec<FactorView>,
    /// Unused recovery codes left.
    pub recovery_codes_left: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// Letters, digits and . _ - @ (1 to 64 characters); stored in lower case.
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// At least 8 characters; without one the user signs in by other means (an invitation,
    /// a passkey added later).
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Only users whose username, name or e-mail contains this (case-insensitive).
    q: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u64>,
    /// Skip this many first (for paging).
    offset: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirementInput {
    /// Whether the user must set it up at the next sign-in (`false` lifts the requirement).
    pub required: bool,
}

/// List users, by username, optionally searching.
#[utoipa::path(get, path = "/admin/api/v1/users", tag = "users", params(UserSearch),
    responses(
        (status = 200, body = Vec<UserView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    search: Result<Query<UserSearch>, axum::extract::rejection::QueryRejection>,
) -> Response {
    async {
        authorize(&state, &session, &method, &headers).await?;
        let Query(search) = search.map_err(|e| {
            crate::web::api_error::ApiError::bad_request(format!(
                "The query could not be read: {}",
                e.body_text()
            ))
        })?;
        let limit = search.limit.unwrap_or(100).clamp(1, 1000);
        let users = store::users::search(
            &state.db,
            search.q.as_deref().map(str::trim).filter(|q| !q.is_empty()),
            limit,
            search.offset.unwrap_or(0),
        )
        .await?;
        let views: Vec<UserView> = users.into_iter().map(UserView::from).collect();
        Ok(json(StatusCode::OK, &views))
    }
    .await
    .unwrap_or_else(error_response)
}

/// Create a user.
#[utoipa::path(post, path = "/admin/api/v1/users", tag = "users", request_body = UserInput,
    responses(
        (status = 201, body = UserView),
        (status = 400, description = "Invalid input or username taken; nothing was written", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    body: JsonBody<UserInput>,
) -> Response {
    async {
        let caller = authorize(&state, &session, &method, &headers).await?;
        let input = json_body(body)?;
        let user = admin::users::create(
            &state.db,
            &caller.actor,
            &state.passwords,
            NewUser {
                username: input.username,
                email: input.email,
                name: input.name,
                password: input.password,
            },
        )
        .await
        .map_err(admin_error)?;
        Ok(json(StatusCode::CREATED, &UserView::from(user)))
    }
    .await
    .unwrap_or_else(error_response)
}

/// One user with their sign-in methods.
#[utoipa::path(get, path = "/admin/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, body = UserDetail),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    async {
        authorize(&state, &session, &method, &headers).await?;
        let user = admin::users::get(&state.db, &id)
            .await
            .map_err(admin_error)?;
        let methods = admin::users::sign_in_methods(&state.db, &state.secrets, &user.id)
            .await
            .map_err(admin_error)?;
        let factors = methods
            .methods
            .into_iter()
            .map(|m| FactorView {
                kind: m.kind.into(),
                name: m.name,
                created_at: m.created_at,
                last_used_at: m.last_used_at,
            })
            .collect();
        let recovery_codes_left = methods.recovery_codes_left;
        Ok(json(
            StatusCode::OK,
            &UserDetail {
                user: user.into(),
                factors,
                recovery_codes_left,
            },
        ))
    }
    .await
    .unwrap_or_else(error_response)
}

/// Delete a user with their sign-in methods, sessions and tokens.
#[utoipa::path(delete, path = "/admin/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    async {
        let caller = authorize(&state, &session, &method, &headers).await?;
        let logouts = crate::oidc::backchannel::before_ending_sessions(&state, &id, None).await;
        if !admin::users::delete_user(&state.db, &caller.actor, &id)
            .await
            .map_err(admin_error)?
        {
            return Err(admin_error(admin::AdminError::NotFound(format!(
                "no user with id {id:?}"
            ))));
        }
        crate::oidc::backchannel::send(&state, logouts);
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await
    .unwrap_or_else(error_response)
}

/// Runs `change` on the user with id `id` as the caller, then answers with the user.
/// What `authorize` looks at in a request.
struct Request<'a> {
    session: &'a Session,
    method: &'a Method,
    headers: &'a HeaderMap,
}

impl<'a> Request<'a> {
    fn of(session: &'a Session, method: &'a Method, headers: &'a HeaderMap) -> Self {
        Request {
            session,
            method,
            headers,
        }
    }
}

/// Whether a change to a user ends their sessions.
enum Effect {
    EndsSessions,
    KeepsSessions,
}

/// `input` is the request body as read: looked at only once the caller is known to be an
/// admin, so that a stranger learns nothing from how a body is judged.
///
/// With `Effect::EndsSessions`, the clients of the sessions the change ends are told
/// (back-channel logout) once it is done.
async fn change_user<I, F, Fut>(
    state: &AppState,
    request: Request<'_>,
    id: &str,
    input: Result<I, ApiError>,
    effect: Effect,
    change: F,
) -> Response
where
    F: FnOnce(admin::Actor, String, I) -> Fut,
    Fut: std::future::Future<Output = Result<(), admin::AdminError>>,
{
    async {
        let caller = authorize(state, request.session, request.method, request.headers).await?;
        let input = input?;
        let user = admin::users::get(&state.db, id)
            .await
            .map_err(admin_error)?;
        let logouts = match effect {
            Effect::EndsSessions => {
                crate::oidc::backchannel::before_ending_sessions(state, &user.id, None).await
            }
            Effect::KeepsSessions => Vec::new(),
        };
        change(caller.actor, user.username, input)
            .await
            .map_err(admin_error)?;
        crate::oidc::backchannel::send(state, logouts);
        let user = admin::users::get(&state.db, id)
            .await
            .map_err(admin_error)?;
        Ok(json(StatusCode::OK, &UserView::from(user)))
    }
    .await
    .unwrap_or_else(error_response)
}

/// Disable a user: they cannot sign in, and their sessions and tokens are revoked.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/disable", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let db = state.db.clone();
    change_user(
        &state,
        Request::of(&session, &method, &headers),
        &id,
        Ok(()),
        Effect::EndsSessions,
        |actor, username, ()| async move {
            admin::users::set_disabled(&db, &actor, &username, true).await
        },
    )
    .await
}

/// Let a disabled user sign in again.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/enable", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn enable(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let db = state.db.clone();
    change_user(
        &state,
        Request::of(&session, &method, &headers),
        &id,
        Ok(()),
        Effect::KeepsSessions,
        |actor, username, ()| async move {
            admin::users::set_disabled(&db, &actor, &username, false).await
        },
    )
    .await
}

/// Sign a user out of every browser and revoke every token issued to them.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/sign-out", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let db = state.db.clone();
    change_user(
        &state,
        Request::of(&session, &method, &headers),
        &id,
        Ok(()),
        Effect::EndsSessions,
        |actor, username, ()| async move {
            admin::users::sign_out_everywhere(&db, &actor, &username).await
        },
    )
    .await
}

/// Make a user set up a second factor (passkey or authenticator app) at their next
/// sign-in, or lift that requirement.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/require-mfa", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = RequirementInput,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn require_mfa(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: JsonBody<RequirementInput>,
) -> Response {
    set_requirement(
        &state,
        &session,
        &method,
        &headers,
        &id,
        body,
        Requirement::SecondFactor,
    )
    .await
}

/// Make a user add a passkey at their next sign-in, after whatever else they prove (their
/// password, an authenticator-app code), or lift that requirement. A user who has a passkey
/// already meets it.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/require-passkey", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = RequirementInput,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn require_passkey(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: JsonBody<RequirementInput>,
) -> Response {
    set_requirement(
        &state,
        &session,
        &method,
        &headers,
        &id,
        body,
        Requirement::Passkey,
    )
    .await
}

async fn set_requirement(
    state: &AppState,
    session: &Session,
    method: &Method,
    headers: &HeaderMap,
    id: &str,
    body: JsonBody<RequirementInput>,
    requirement: Requirement,
) -> Response {
    let db = state.db.clone();
    change_user(
        state,
        Request::of(session, method, headers),
        id,
        json_body(body),
        Effect::KeepsSessions,
        |actor, username, input: RequirementInput| async move {
            admin::users::set_requirement(&db, &actor, &username, requirement, input.required).await
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ResetInput {
    /// Remove every passkey.
    pub passkeys: bool,
    /// Remove the authenticator app.
    pub totp: bool,
    /// Remove the recovery codes.
    pub recovery_codes: bool,
}

/// Remove a user's passkeys, authenticator app and/or recovery codes (all three when none
/// is chosen) and sign them out everywhere; the password stays.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/reset-factors", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = ResetInput,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn reset_factors(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: JsonBody<ResetInput>,
) -> Response {
    let db = state.db.clone();
    change_user(
        &state,
        Request::of(&session, &method, &headers),
        &id,
        json_body(body),
        Effect::EndsSessions,
        |actor, username, input: ResetInput| async move {
            let reset = admin::users::FactorReset {
                passkeys: input.passkeys,
                totp: input.totp,
                recovery_codes: input.recovery_codes,
            };
            admin::users::reset_factors(&db, &actor, &username, reset).await
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryLinkInput {
    /// Seconds the link works (60 to 604800; default one day).
    pub expires_in: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryLink {
    /// Hand this to the user; it works once. Shown only in this answer.
    pub link: String,
    pub expires_at: i64,
}

/// Make a one-time recovery link with which the user adds a new passkey.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/recovery-link", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = RecoveryLinkInput,
    responses((status = 201, body = RecoveryLink), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn recovery_link(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: JsonBody<RecoveryLinkInput>,
) -> Response {
    async {
        let caller = authorize(&state, &session, &method, &headers).await?;
        let input = json_body(body)?;
        let user = admin::users::get(&state.db, &id)
            .await
            .map_err(admin_error)?;
        let lifetime = std::time::Duration::from_secs(input.expires_in.unwrap_or(24 * 3600));
        let (link, expires_at) = admin::users::recovery_link(
            &state.db,
            &caller.actor,
            &state.config.issuer,
            &user.username,
            lifetime,
        )
        .await
        .map_err(admin_error)?;
        Ok(json(
            StatusCode::CREATED,
            &RecoveryLink { link, expires_at },
        ))
    }
    .await
    .unwrap_or_else(error_response)
}
