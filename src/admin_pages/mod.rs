//! The admin web pages (`/admin`): clients (list, register, a page per client to change its
//! settings or rotate its secret, delete), users (search, add, a page per user with their
//! sign-in methods and events; disable, enable, sign out everywhere, require a passkey, reset
//! sign-in methods, recovery links, delete) and the audit log, over the same service layer as
//! the CLI and the admin API. Only admins (`idp user grant-admin`) whose sign-in used a
//! passkey (`phr`) get in; every form carries the session's CSRF token and every change is an
//! audit event naming the admin.

mod clients;
mod users;

use axum::{
    Form, Router,
    extract::rejection::FormRejection,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    account::SignedIn,
    admin::{self, Actor, AdminError},
    app::AppState,
    login::{self, assurance::Level},
    store::{self, security_events::EventFilter},
    web::{csrf, page_error::PageError},
};

pub const ADMIN: &str = "/admin";
const CLIENTS: &str = "/admin/clients";
const CLIENT_DELETE: &str = "/admin/clients/delete";
const CLIENT_PAGE: &str = "/admin/clients/{id}";
const CLIENT_ROTATE: &str = "/admin/clients/{id}/rotate-secret";
const USERS: &str = "/admin/users";
const USER_PAGE: &str = "/admin/users/{id}";
const USER_ACTION: &str = "/admin/users/action";
const FLASH_KEY: &str = "admin_flash";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(ADMIN, get(get_admin))
        .route(CLIENTS, post(clients::post_client))
        .route(CLIENT_DELETE, post(clients::post_client_delete))
        .route(
            CLIENT_PAGE,
            get(clients::get_client).post(clients::post_client_settings),
        )
        .route(CLIENT_ROTATE, post(clients::post_rotate_secret))
        .route(USERS, post(users::post_user))
        .route(USER_PAGE, get(users::get_user))
        .route(USER_ACTION, post(users::post_user_action))
}

/// The admin signed in to this browser, or the page to show instead.
async fn signed_in_admin(
    state: &AppState,
    session: &Session,
) -> Result<Result<SignedIn, Response>, PageError> {
    let Some(signed_in) = SignedIn::of(state, session).await? else {
        let url = login::start_account_sign_in(state, session).await?;
        return Ok(Err(Redirect::to(&url).into_response()));
    };
    if !signed_in.user.is_admin {
        return Err(PageError::user(
            StatusCode::FORBIDDEN,
            "Not an admin",
            "This account cannot administer this server.",
        ));
    }
    // ... and recent enough: a passkey sign-in counts as phr for `policy.phr_lifetime`.
    let phr_lifetime = state.config.policy.level_lifetime(Level::Phr);
    if !signed_in
        .authentication
        .holds(Level::Phr, crate::model::now(), phr_lifetime)
    {
        return Err(PageError::user(
            StatusCode::FORBIDDEN,
            "Sign in with a passkey",
            "Administration needs a sign-in with a passkey. Sign out, then sign in again with your passkey.",
        ));
    }
    Ok(Ok(signed_in))
}

/// The admin behind a form, once the form's CSRF token checks out.
async fn admin_posting(
    state: &AppState,
    session: &Session,
    csrf_token: &str,
) -> Result<Result<SignedIn, Response>, PageError> {
    let signed_in = signed_in_admin(state, session).await?;
    if signed_in.is_ok() && !csrf::verify(session, csrf_token).await {
        return Err(PageError::form_expired());
    }
    Ok(signed_in)
}

/// A form on the admin pages: it carries the session's CSRF token.
trait AdminForm {
    fn csrf_token(&self) -> &str;
}

/// A form an admin posted, with who they are and the actor their changes are recorded as.
struct Posted<F> {
    form: F,
    admin: SignedIn,
    actor: Actor,
}

/// The admin's form once it parsed and its CSRF token checks out, or the page to show
/// instead (the sign-in, for a browser without an admin session).
async fn admin_form<F: AdminForm>(
    state: &AppState,
    session: &Session,
    form: Result<Form<F>, FormRejection>,
) -> Result<Result<Posted<F>, Response>, PageError> {
    let Ok(Form(form)) = form else {
        return Err(PageError::form_expired());
    };
    Ok(admin_posting(state, session, form.csrf_token())
        .await?
        .map(|admin| Posted {
            actor: Actor::Admin {
                user_id: admin.user.id.clone(),
            },
            admin,
            form,
        }))
}

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    /// User search.
    q: Option<String>,
    /// Audit log page: events older than this id.
    before: Option<i64>,
    /// Audit log filters: a username or user id, an event type, and days (`YYYY-MM-DD`, UTC)
    /// from and to, both included.
    user: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A `YYYY-MM-DD` day (what `<input type="date">` sends) as the Unix time it starts at, UTC.
fn day_start(day: &str) -> Option<i64> {
    let mut parts = day.trim().splitn(3, '-').map(str::parse::<i32>);
    let (year, month, date) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(date).ok()?).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// The audit-log filter the query asks for, or why it cannot be applied.
async fn audit_filter(state: &AppState, query: &AdminQuery) -> Result<EventFilter, PageError> {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let user_id = match given(&query.user) {
        None => None,
        // A username, else taken as an id.
        Some(user) => Some(
            match store::users::find_by_username(
                &state.db,
                &crate::model::user::normalize_username(&user),
            )
            .await?
            {
                Some(found) => found.id,
                None => user,
            },
        ),
    };
    let day = |v: &Option<String>| -> Result<Option<i64>, PageError> {
        given(v)
            .map(|d| {
                day_start(&d).ok_or(PageError::user(
                    StatusCode::BAD_REQUEST,
                    "Not a date",
                    "Filter the audit log by days written like 2026-12-05.",
                ))
            })
            .transpose()
    };
    Ok(EventFilter {
        user_id,
        kind: given(&query.kind),
        since: day(&query.from)?,
        until: day(&query.to)?.map(|start| start + 24 * 3600 - 1),
        before_id: query.before,
        ..Default::default()
    })
}

/// The admin page's URL for the next (older) page of events, keeping the filters.
fn older_events_url(query: &AdminQuery, before: i64) -> String {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("q", &query.q),
        ("user", &query.user),
        ("type", &query.kind),
        ("from", &query.from),
        ("to", &query.to),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            url.append_pair(key, value);
        }
    }
    url.append_pair("before", &before.to_string());
    format!("{ADMIN}?{}", url.finish())
}

async fn get_admin(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<AdminQuery>,
) -> Response {
    async {
        let _admin = match signed_in_admin(&state, &session).await? {
            Ok(admin) => admin,
            Err(redirect) => return Ok(redirect),
        };
        let message: Option<String> = session.remove(FLASH_KEY).await?;
        render(
            &state,
            &session,
            &query,
            message.as_deref(),
            None,
            StatusCode::OK,
        )
        .await
    }
    .await
    .unwrap_or_else(|e: PageError| e.render(&state))
}

async fn render(
    state: &AppState,
    session: &Session,
    query: &AdminQuery,
    message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let clients = admin::clients::list(&state.db).await.map_err(internal)?;
    let clients: Vec<_> = clients
        .into_iter()
        .map(|c| {
            context! {
                client_id => c.client_id,
                name => c.name,
                kind => match c.client_type {
                    crate::model::client::ClientType::Confidential => "confidential",
                    crate::model::client::ClientType::Public => "public",
                },
                first_party => c.first_party,
                redirect_uris => c.redirect_uris,
            }
        })
        .collect();
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let users = store::users::search(&state.db, search, 100, 0).await?;
    const PAGE: u64 = 50;
    let filter = audit_filter(state, query).await?;
    let mut events = store::security_events::query(&state.db, &filter, PAGE + 1, false).await?;
    let more = events.len() as u64 > PAGE;
    events.truncate(PAGE as usize);
    let older = more
        .then(|| events.last().map(|e| older_events_url(query, e.id)))
        .flatten();
    Ok(state.templates.render(
        status,
        "admin.html",
        context! {
            csrf_token => csrf::token(session).await?,
            clients => clients,
            users => Serde(&users),
            search => search,
            audit_user => query.user.clone(),
            audit_type => query.kind.clone(),
            audit_from => query.from.clone(),
            audit_to => query.to.clone(),
            events => Serde(&events),
            older => older,
            message => message,
            error => error,
        },
    ))
}

fn internal(e: AdminError) -> PageError {
    match e {
        AdminError::Internal(e) => PageError::Internal(e),
        other => PageError::Internal(anyhow::anyhow!("{other}")),
    }
}

/// The admin page again, saying why the form's input was refused.
async fn render_invalid(
    state: &AppState,
    session: &Session,
    why: &str,
) -> Result<Response, PageError> {
    let query = AdminQuery::default();
    render(
        state,
        session,
        &query,
        None,
        Some(why),
        StatusCode::BAD_REQUEST,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnights_and_nonsense_is_refused() {
        assert_eq!(day_start("1970-01-02"), Some(86_400));
        assert_eq!(day_start("2026-12-05"), Some(1_796_428_800));
        for bad in ["2026-13-01", "2026-02-30", "yesterday", "2026-12", ""] {
            assert_eq!(day_start(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_older_events_link_keeps_the_filters() {
        let query = AdminQuery {
            user: Some("tim".into()),
            kind: Some("sign_in_failed".into()),
            from: Some("2026-12-01".into()),
            to: Some(" ".into()),
            ..Default::default()
        };
        assert_eq!(
            older_events_url(&query, 42),
            "/admin?user=tim&type=sign_in_failed&from=2026-12-01&before=42"
        );
    }
}
