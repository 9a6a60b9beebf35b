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
    // Administrative operations (the actor says who).
    pub const CLIENT_CREATED: &str = "client_created";
    pub const CLIENT_UPDATED: &str = "client_updated";
    pub const CLIENT_DELETED: &str = "client_deleted";
    pub const CLIENT_SECRET_ROTATED: &str = "client_secret_rotated";
    pub const USER_CREATED: &str = "user_created";
    pub const USER_DISABLED: &str = "user_disabled";
    pub const USER_ENABLED: &str = "user_enabled";
    pub const MFA_REQUIRED: &str = "mfa_required";
    pub const MFA_NO_LONGER_REQUIRED: &str = "mfa_no_longer_required";
    pub const PASSKEY_REQUIRED: &str = "passkey_required";
    pub const PASSKEY_NO_LONGER_REQUIRED: &str = "passkey_no_longer_required";
    pub const ADMIN_GRANTED: &str = "admin_granted";
    pub const ADMIN_REVOKED: &str = "admin_revoked";
    pub const INVITATION_CREATED: &str = "invitation_created";
    pub const ADMIN_TOKEN_CREATED: &str = "admin_token_created";
    pub const ADMIN_TOKEN_REVOKED: &str = "admin_token_revoked";
    pub const SIGNED_OUT_EVERYWHERE: &str = "signed_out_everywhere";
    /// A wrong password (for an existing user, or for none: then no user id).
    pub const SIGN_IN_FAILED: &str = "sign_in_failed";
    /// Failures blocked further attempts for a while.
    pub const LOCKED_OUT: &str = "locked_out";
    /// A rotated refresh token or a used code came back: its grant was revoked.
    pub const TOKEN_REUSED: &str = "token_reused";
    /// An admin removed a user's passkeys / app / recovery codes.
    pub const FACTORS_RESET: &str = "factors_reset";
    pub const RECOVERY_LINK_CREATED: &str = "recovery_link_created";
    pub const RECOVERY_LINK_USED: &str = "recovery_link_used";
    /// The user allowed a third-party client scopes (consent page).
    pub const CONSENT_GRANTED: &str = "consent_granted";
    /// The user took a client's access away (account page).
    pub const CONSENT_REVOKED: &str = "consent_revoked";
}

/// Records something that happened to `user_id`'s account, done by the user themself.
pub async fn record(
    db: &impl ConnectionTrait,
    user_id: Option<&str>,
    kind: &str,
    detail: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    record_by(db, user_id, kind, detail, None).await
}

/// Records an event done by `actor` (see `admin::Actor::column`).
pub async fn record_by(
    db: &impl ConnectionTrait,
    user_id: Option<&str>,
    kind: &str,
    detail: Option<serde_json::Value>,
    actor: Option<&str>,
) -> Result<(), DbErr> {
    tracing::info!(
        user = user_id.unwrap_or("-"),
        kind,
        actor = actor.unwrap_or("-"),
        "security event"
    );
    security_event::ActiveModel {
        user_id: Set(user_id.map(str::to_owned)),
        kind: Set(kind.to_owned()),
        detail: Set(detail.map(|d| d.to_string())),
        actor: Set(actor.map(str::to_owned)),
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

/// How the account page describes an event (`detail` is its stored JSON).
pub fn describe(kind: &str, detail: Option<&str>) -> &'static str {
    let method = detail
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|d| d.get("method").and_then(|m| m.as_str()).map(str::to_owned));
    match kind {
        kind::SIGN_IN_FAILED if method.as_deref() == Some("passkey") => {
            "A passkey sign-in was refused"
        }
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
        kind::CONSENT_GRANTED => "Access given to an app",
        kind::SIGN_IN_FAILED => "Wrong password entered",
        kind::LOCKED_OUT => "Sign-in attempts paused after too many failures",
        kind::TOKEN_REUSED => "An app's old token was used again; its access was revoked",
        kind::FACTORS_RESET => "Sign-in methods reset by an administrator",
        kind::RECOVERY_LINK_CREATED => "Recovery link made by an administrator",
        kind::RECOVERY_LINK_USED => "Recovery link used",
        kind::CONSENT_REVOKED => "Access taken away from an app",
        kind::MFA_REQUIRED => "An administrator asked for a second factor",
        kind::MFA_NO_LONGER_REQUIRED => "A second factor is no longer asked for",
        kind::PASSKEY_REQUIRED => "An administrator asked for a passkey",
        kind::PASSKEY_NO_LONGER_REQUIRED => "A passkey is no longer asked for",
        _ => "Account change",
    }
}

/// Which events to read from the log.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub user_id: Option<String>,
    pub kind: Option<String>,
    /// Unix times, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only events with an id above this (to follow the log, or to page forwards).
    pub after_id: Option<i64>,
    /// Only events with an id below this (to page backwards from the newest).
    pub before_id: Option<i64>,
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    pub id: i64,
    pub created_at: i64,
    pub kind: String,
    pub user_id: Option<String>,
    pub actor: Option<String>,
    pub detail: Option<serde_json::Value>,
}

impl From<security_event::Model> for Event {
    fn from(row: security_event::Model) -> Self {
        Event {
            id: row.id,
            created_at: row.created_at,
            kind: row.kind,
            user_id: row.user_id,
            actor: row.actor,
            detail: row.detail.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }
}

/// Events matching `filter`, at most `limit`: the newest first, or with `oldest_first` the
/// oldest first (to follow the log as it grows).
pub async fn query(
    db: &impl ConnectionTrait,
    filter: &EventFilter,
    limit: u64,
    oldest_first: bool,
) -> Result<Vec<Event>, DbErr> {
    let mut select = security_event::Entity::find();
    if let Some(user_id) = &filter.user_id {
        select = select.filter(security_event::Column::UserId.eq(user_id));
    }
    if let Some(kind) = &filter.kind {
        select = select.filter(security_event::Column::Kind.eq(kind));
    }
    if let Some(since) = filter.since {
        select = select.filter(security_event::Column::CreatedAt.gte(since));
    }
    if let Some(until) = filter.until {
        select = select.filter(security_event::Column::CreatedAt.lte(until));
    }
    if let Some(after) = filter.after_id {
        select = select.filter(security_event::Column::Id.gt(after));
    }
    if let Some(before) = filter.before_id {
        select = select.filter(security_event::Column::Id.lt(before));
    }
    select = if oldest_first {
        select.order_by_asc(security_event::Column::Id)
    } else {
        select.order_by_desc(security_event::Column::Id)
    };
    Ok(select
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Event::from)
        .collect())
}

/// Deletes events older than `before` (the retention limit).
pub async fn delete_older_than(db: &impl ConnectionTrait, before: i64) -> Result<u64, DbErr> {
    Ok(security_event::Entity::delete_many()
        .filter(security_event::Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_passkey_is_not_described_as_a_wrong_password() {
        assert_eq!(
            describe(kind::SIGN_IN_FAILED, Some(r#"{"method":"password"}"#)),
            "Wrong password entered"
        );
        assert_eq!(
            describe(
                kind::SIGN_IN_FAILED,
                Some(r#"{"method":"passkey","client_id":null}"#)
            ),
            "A passkey sign-in was refused"
        );
        assert_eq!(
            describe(kind::SIGN_IN_FAILED, None),
            "Wrong password entered"
        );
        assert_eq!(
            describe(kind::PASSKEY_REQUIRED, None),
            "An administrator asked for a passkey"
        );
        assert_eq!(
            describe("something_new", Some("not json")),
            "Account change"
        );
    }
}
