//! Single-sign-on sessions: one row per completed sign-in of a browser, identified by the
//! `sid` claim (OIDC Front-/Back-Channel Logout). The browser session only points at it, so
//! a session can be revoked server-side.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, sea_query::Expr,
};

use entity::user_session;

use crate::login::assurance::Authentication;

/// Where a sign-in came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// A session as the account page lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActiveSession {
    pub id: String,
    pub created_at: i64,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub amr: Vec<&'static str>,
}

pub async fn create(
    db: &impl ConnectionTrait,
    sid: &str,
    authentication: &Authentication,
    origin: &Origin,
    now: i64,
    expires_at: i64,
) -> Result<(), DbErr> {
    user_session::ActiveModel {
        id: Set(sid.to_owned()),
        user_id: Set(authentication.user_id.clone()),
        authentication: Set(to_json(authentication)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        ip_address: Set(origin.ip_address.clone()),
        user_agent: Set(origin.user_agent.clone()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The session's authentication, if it exists, is not revoked and has not expired.
pub async fn get_active(
    db: &impl ConnectionTrait,
    sid: &str,
    now: i64,
) -> Result<Option<Authentication>, DbErr> {
    let Some(row) = user_session::Entity::find_by_id(sid).one(db).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    from_json(&row.authentication).map(Some)
}

/// The user's sessions that are neither revoked nor expired, newest first.
pub async fn active_for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
) -> Result<Vec<ActiveSession>, DbErr> {
    let rows = user_session::Entity::find()
        .filter(user_session::Column::UserId.eq(user_id))
        .filter(user_session::Column::RevokedAt.is_null())
        .filter(user_session::Column::ExpiresAt.gt(now))
        .order_by_desc(user_session::Column::CreatedAt)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(ActiveSession {
                amr: from_json(&row.authentication)?.amr(),
                id: row.id,
                created_at: row.created_at,
                ip_address: row.ip_address,
                user_agent: row.user_agent,
            })
        })
        .collect()
}

/// Revokes all the user's sessions but `keep`.
pub async fn revoke_others(
    db: &impl ConnectionTrait,
    user_id: &str,
    keep: &str,
    now: i64,
) -> Result<u64, DbErr> {
    let result = user_session::Entity::update_many()
        .col_expr(user_session::Column::RevokedAt, Expr::value(now))
        .filter(user_session::Column::UserId.eq(user_id))
        .filter(user_session::Column::Id.ne(keep))
        .filter(user_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Revokes every session of the user (signed out everywhere). Returns how many were active.
pub async fn revoke_all(db: &impl ConnectionTrait, user_id: &str, now: i64) -> Result<u64, DbErr> {
    let result = user_session::Entity::update_many()
        .col_expr(user_session::Column::RevokedAt, Expr::value(now))
        .filter(user_session::Column::UserId.eq(user_id))
        .filter(user_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

pub async fn revoke(db: &impl ConnectionTrait, sid: &str, now: i64) -> Result<(), DbErr> {
    user_session::Entity::update_many()
        .col_expr(user_session::Column::RevokedAt, Expr::value(now))
        .filter(user_session::Column::Id.eq(sid))
        .filter(user_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes sessions that ended more than a day ago (kept a while for the audit trail).
pub async fn delete_expired(db: &impl ConnectionTrait, now: i64) -> Result<(), DbErr> {
    user_session::Entity::delete_many()
        .filter(user_session::Column::ExpiresAt.lt(now - 24 * 3600))
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) fn to_json(authentication: &Authentication) -> String {
    serde_json::to_string(authentication).expect("Authentication serializes")
}

pub(crate) fn from_json(raw: &str) -> Result<Authentication, DbErr> {
    serde_json::from_str(raw).map_err(|e| DbErr::Custom(format!("stored authentication: {e}")))
}
