//! `/admin/api/v1/audit`: the security and admin events, newest first, filtered and paged.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, Method, StatusCode},
    response::Response,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use utoipa::{IntoParams, ToSchema};

use super::{ErrorBody, authorize, error_response, json};
use crate::{
    app::AppState,
    store::security_events::{self, EventFilter},
    web::api_error::ApiError,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this user's events (their id).
    user: Option<String>,
    /// Only events of this type, e.g. `signed_in`, `client_created`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only events at or after this Unix time.
    since: Option<i64>,
    /// Only events at or before this Unix time.
    until: Option<i64>,
    /// Only events older than this event id: pass the previous page's `next_before`.
    before: Option<i64>,
    /// At most this many (default 50, at most 500).
    limit: Option<u64>,
}

/// One event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    /// Unix time.
    pub created_at: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: Option<String>,
    /// Who acted when not the user: `admin:<user id>`, `token:<admin token id>`, `cli`.
    pub actor: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Security and admin events, newest first.
#[utoipa::path(get, path = "/admin/api/v1/audit", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, body = EventPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    async {
        authorize(&state, &session, &method, &headers).await?;
        let Query(query) = query.map_err(|e| {
            ApiError::bad_request(format!("The query could not be read: {}", e.body_text()))
        })?;
        let limit = query.limit.unwrap_or(50).clamp(1, 500);
        let filter = EventFilter {
            user_id: query.user,
            kind: query.kind,
            since: query.since,
            until: query.until,
            before_id: query.before,
            after_id: None,
        };
        // One more than asked tells whether there is a next page.
        let mut events = security_events::query(&state.db, &filter, limit + 1, false).await?;
        let more = events.len() as u64 > limit;
        events.truncate(limit as usize);
        let next_before = more.then(|| events.last().map(|e| e.id)).flatten();
        let events = events
            .into_iter()
            .map(|e| EventView {
                id: e.id,
                created_at: e.created_at,
                kind: e.kind,
                user_id: e.user_id,
                actor: e.actor,
                detail: e.detail,
            })
            .collect();
        Ok(json(
            StatusCode::OK,
            &EventPage {
                events,
                next_before,
            },
        ))
    }
    .await
    .unwrap_or_else(error_response)
}
