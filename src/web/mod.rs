//! HTTP plumbing shared by every feature: the router, sessions, security headers, static
//! files, CSRF and the request extractors.

pub mod api_error;
pub mod client_origin;
pub mod csrf;
pub mod metrics;
pub mod page_error;
pub mod rate_limit;
pub mod templates;

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use crate::{app::AppState, routes, store::browser_sessions::DbSessionStore};

/// The session cookie's name: with the `__Host-` prefix when served over https, which makes
/// browsers refuse it unless it is Secure, host-only and for path `/`.
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-idp_session"
    } else {
        "idp_session"
    }
}

pub fn router(state: AppState) -> Router {
    let https = state.config.is_https();
    let idle = time::Duration::seconds(state.config.session.idle_timeout.as_secs() as i64);
    let sessions = SessionManagerLayer::new(DbSessionStore::new(
        state.db.clone(),
        state.write_queue.clone(),
    ))
    .with_name(session_cookie_name(https))
    .with_secure(https)
    .with_http_only(true)
    .with_same_site(SameSite::Lax)
    .with_path("/")
    .with_expiry(Expiry::OnInactivity(idle));

    let security_headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            // Images may come from https too: the logos clients register for the consent
            // page live on their own sites.
            "default-src 'self'; img-src 'self' https:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    ];
    let mut router = Router::new()
        .merge(crate::oidc::routes())
        .merge(crate::login::routes())
        .merge(crate::account::routes())
        .merge(crate::signup::routes())
        .merge(crate::admin_api::routes())
        .merge(crate::admin_pages::routes())
        .route(&format!("{}/{{file}}", routes::STATIC), get(get_static))
        .route(routes::HEALTH, get(|| async { "ok" }))
        .route(routes::READY, get(ready))
        .route(routes::METRICS, get(metrics::get_metrics))
        .fallback(not_found)
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ));
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if https {
        // Browsers that once saw us over https never try plain http again (two years).
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    router
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// A request's span in the logs: its method and route pattern, never its URI, whose path or
/// query may carry a secret (recovery and invitation links, `id_token_hint`, codes).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |path| path.as_str());
    tracing::debug_span!("request", method = %request.method(), route)
}

async fn get_static(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    match state.templates.static_file(&file) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            body.to_vec(),
        )
            .into_response(),
        None => not_found(State(state)).await,
    }
}

async fn not_found(State(state): State<AppState>) -> Response {
    state.templates.error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address.",
    )
}

/// Readiness for a load balancer: this node can reach the database. (`/healthz` only says
/// the process answers.)
async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> (axum::http::StatusCode, &'static str) {
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => (axum::http::StatusCode::OK, "ready"),
        _ => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the database cannot be reached",
        ),
    }
}
