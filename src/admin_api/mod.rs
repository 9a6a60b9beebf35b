//! The admin REST API (`/admin/api/v1/…`): JSON over the same service layer as the CLI
//! (`crate::admin`). Callers are automation holding an admin token (`Authorization: Bearer
//! idp_…`, from `idp admin-token create`) or a signed-in admin's browser session, which must
//! have reached the phishing-resistant level (`phr`: a passkey) and sends its CSRF token in
//! `X-CSRF-Token` on every change. Every change is an audit event naming the caller.
//!
//! The OpenAPI document at `/admin/api/openapi.json` is generated from these handlers and
//! types (utoipa), so it cannot drift from the code.

mod audit;
mod clients;
mod users;

use axum::{
    Json, Router,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;
use tower_sessions::Session;
use utoipa::{
    OpenApi, ToSchema,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{
    account::SignedIn,
    admin::{Actor, AdminError, tokens::TokenScope},
    app::AppState,
    login::assurance::Level,
    web::{api_error::ApiError, csrf},
};

pub const OPENAPI: &str = "/admin/api/openapi.json";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(OPENAPI, get(openapi))
        .route(
            "/admin/api/v1/clients",
            get(clients::list).post(clients::create),
        )
        .route(
            "/admin/api/v1/clients/{id}",
            get(clients::show)
                .put(clients::update)
                .delete(clients::delete),
        )
        .route(
            "/admin/api/v1/clients/{id}/secret",
            post(clients::rotate_secret),
        )
        .route("/admin/api/v1/users", get(users::list).post(users::create))
        .route(
            "/admin/api/v1/users/{id}",
            get(users::show).delete(users::delete),
        )
        .route("/admin/api/v1/users/{id}/disable", post(users::disable))
        .route("/admin/api/v1/users/{id}/enable", post(users::enable))
        .route("/admin/api/v1/users/{id}/sign-out", post(users::sign_out))
        .route(
            "/admin/api/v1/users/{id}/require-mfa",
            post(users::require_mfa),
        )
        .route(
            "/admin/api/v1/users/{id}/require-passkey",
            post(users::require_passkey),
        )
        .route(
            "/admin/api/v1/users/{id}/reset-factors",
            post(users::reset_factors),
        )
        .route(
            "/admin/api/v1/users/{id}/recovery-link",
            post(users::recovery_link),
        )
        .route("/admin/api/v1/audit", get(audit::list))
}

/// The error body of every admin API error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `invalid_token`, `not_signed_in`, `forbidden`, `csrf`,
    /// `invalid_request`, `not_found`, `server_error`, ...
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// Who is calling, once authenticated and allowed.
pub struct AdminCaller {
    pub actor: Actor,
}

/// Authenticates the caller of an admin API request: an admin token, or an admin's session
/// at `phr` or above (with its CSRF token on anything but a read).
pub async fn authorize(
    state: &AppState,
    session: &Session,
    method: &Method,
    headers: &HeaderMap,
) -> Result<AdminCaller, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let record = match token {
            Some(token) => crate::admin::tokens::authenticate(&state.db, token, TokenScope::Admin)
                .await
                .map_err(admin_error)?,
            None => None,
        };
        return match record {
            Some(record) => Ok(AdminCaller {
                actor: Actor::Token { id: record.id },
            }),
            None => Err(invalid_token()),
        };
    }
    let signed_in = SignedIn::of(state, session)
        .await?
        .ok_or_else(ApiError::not_signed_in)?;
    if !signed_in.user.is_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This account is not an admin.",
        ));
    }
    // Admin sessions must be phishing-resistant: an admin signs in with a passkey.
    // ... and recent enough: a passkey sign-in counts as phr for `policy.phr_lifetime`.
    let phr_lifetime = state.config.policy.level_lifetime(Level::Phr);
    if !signed_in
        .authentication
        .holds(Level::Phr, crate::model::now(), phr_lifetime)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_assurance",
            "Administration needs a sign-in with a passkey.",
        ));
    }
    let reads = matches!(*method, Method::GET | Method::HEAD);
    if !reads && !csrf::verify_header(session, headers).await {
        return Err(ApiError::csrf());
    }
    Ok(AdminCaller {
        actor: Actor::Admin {
            user_id: signed_in.user.id,
        },
    })
}

/// 401 with a `Bearer` challenge (RFC 6750 §3).
fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "The admin token is unknown, revoked or expired.",
    )
}

/// The admin API's answer to a refused or failed operation.
pub fn admin_error(e: AdminError) -> ApiError {
    match e {
        AdminError::Invalid(message) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
        }
        AdminError::NotFound(message) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
        AdminError::Internal(e) => e.into(),
    }
}

/// Turns an error into the response, adding the `WWW-Authenticate` challenge to a 401 from a
/// bad token.
pub fn error_response(error: ApiError) -> Response {
    let challenge = (error.status == StatusCode::UNAUTHORIZED && error.code == "invalid_token")
        .then_some(r#"Bearer error="invalid_token""#);
    let mut response = error.into_response();
    if let Some(challenge) = challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// A JSON answer that is never cached.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "idp admin API",
        version = "1",
        description = "Manage clients and users and read the audit log. Authenticate with an \
            admin token (`idp admin-token create`) as a bearer token, or with an admin's \
            browser session signed in with a passkey (send the page's CSRF token in \
            `X-CSRF-Token` on changes)."
    ),
    paths(
        clients::list,
        clients::create,
        clients::show,
        clients::update,
        clients::delete,
        clients::rotate_secret,
        users::list,
        users::create,
        users::show,
        users::delete,
        users::disable,
        users::enable,
        users::sign_out,
        users::require_mfa,
        users::require_passkey,
        users::reset_factors,
        users::recovery_link,
        audit::list,
    ),
    modifiers(&SecuritySchemes),
    security(("admin_token" = []), ("admin_session" = [])),
    tags(
        (name = "clients", description = "OAuth clients (relying parties)"),
        (name = "users", description = "Users and their sign-in methods"),
        (name = "audit", description = "Security and admin events"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "admin_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("idp_session"))),
        );
    }
}

/// The API's OpenAPI 3.1 document, for anyone (it describes, it does not grant).
async fn openapi() -> Response {
    json(StatusCode::OK, &ApiDoc::openapi())
}
