//! The security-event log: things an account's owner or an operator should be able to see.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use entity::security_event;

use crate::model::now;

/// Kinds of security events.
pub mod kind {
    /// A completed sign-in, with the `amr` it produced.
    pub const SIGNED_IN: &str = "signed_in";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const OTHER_SESSIONS_SIGNED_OUT: &str = "other_sessions_signed_out";
    pub const PASSKEY_ADDED: &str = "passkey_added";
    pub const PASSKEY_REMOVED: &str = "passkey_removed";
    /// A passkey's signature counter went backwards: a cloned authenticator, refused.
    pub const PASSKEY_POSSIBLY_CLONED: &str = "passkey_possibly_cloned";
    /// The account was created by its owner (sign-up).
    pub const SIGNED_UP: &str = "signed_up";
    /// The account was deleted; the event keeps only the user id.
    pub const ACCOUNT_DELETED: &str = "account_deleted";
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
    Ok(recent(db, user_id, None)
        .await?
        .into_iter()
        .map(|e| (e.kind, e.created_at))
        .collect())
}

/// A user's latest `limit` events (all without a limit), newest first.
pub async fn recent(
    db: &impl ConnectionTrait,
    user_id: &str,
    limit: Option<u64>,
) -> Result<Vec<security_event::Model>, DbErr> {
    security_event::Entity::find()
        .filter(security_event::Column::UserId.eq(user_id))
        .order_by_desc(security_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// How the account page describes an event.
pub fn describe(kind: &str) -> &'static str {
    match kind {
        kind::SIGNED_IN => "Signed in",
        kind::PASSWORD_CHANGED => "Password changed",
        kind::OTHER_SESSIONS_SIGNED_OUT => "Other sessions signed out",
        kind::PASSKEY_ADDED => "Passkey added",
        kind::PASSKEY_REMOVED => "Passkey removed",
        kind::PASSKEY_POSSIBLY_CLONED => "A passkey was refused: it may have been copied",
        kind::SIGNED_UP => "Account created",
        kind::ACCOUNT_DELETED => "Account deleted",
        "totp_added" => "Authenticator app set up",
        "totp_removed" => "Authenticator app removed",
        "recovery_codes_regenerated" => "New recovery codes made",
        "recovery_code_used" => "Signed in with a recovery code",
        "second_factor_failed" => "Wrong second-factor code entered",
        _ => "Account change",
    }
}
