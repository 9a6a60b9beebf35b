//! The security-event log: things an account's owner or an operator should be able to see.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use entity::security_event;

use crate::model::now;

/// Kinds of security events.
pub mod kind {
    pub const PASSKEY_ADDED: &str = "passkey_added";
    pub const PASSKEY_REMOVED: &str = "passkey_removed";
    /// A passkey's signature counter went backwards: a cloned authenticator, refused.
    pub const PASSKEY_POSSIBLY_CLONED: &str = "passkey_possibly_cloned";
}

pub async fn record(
    db: &impl ConnectionTrait,
    user_id: Option<&str>,
    kind: &str,
    detail: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    tracing::info!(user = user_id.unwrap_or("-"), kind, "security event");
    security_event::ActiveModel {
        user_id: Set(user_id.map(str::to_owned)),
        kind: Set(kind.to_owned()),
        detail: Set(detail.map(|d| d.to_string())),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A user's events, newest first.
pub async fn for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<(String, i64)>, DbErr> {
    Ok(security_event::Entity::find()
        .filter(security_event::Column::UserId.eq(user_id))
        .order_by_desc(security_event::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.kind, e.created_at))
        .collect())
}
