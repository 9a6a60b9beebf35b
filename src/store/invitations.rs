//! One-time sign-up invitations. The link carries a 256-bit token; only its SHA-256 digest is
//! stored, so a database dump holds no usable link.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::Expr,
};

use entity::invitation;

use crate::crypto::random;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl From<invitation::Model> for Invitation {
    fn from(row: invitation::Model) -> Self {
        Invitation {
            id: row.id,
            email: row.email,
            username: row.username,
            created_at: row.created_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
        }
    }
}

/// What opening an invitation link finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Valid(Invitation),
    Used,
    Expired,
    /// No invitation has this token (mistyped, forged, or deleted).
    Unknown,
}

/// Stores a new invitation; returns it with the token for the link (shown once).
pub async fn create(
    db: &impl ConnectionTrait,
    email: Option<String>,
    username: Option<String>,
    now: i64,
    expires_at: i64,
) -> Result<(Invitation, String), DbErr> {
    let token = random::secret();
    let row = invitation::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        token_hash: Set(random::digest(&token)),
        email: Set(email),
        username: Set(username),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
        used_by: Set(None),
    }
    .insert(db)
    .await?;
    Ok((row.into(), token))
}

pub async fn find(db: &impl ConnectionTrait, token: &str, now: i64) -> Result<Lookup, DbErr> {
    let row = invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(random::digest(token)))
        .one(db)
        .await?;
    Ok(match row {
        None => Lookup::Unknown,
        Some(row) if row.used_at.is_some() => Lookup::Used,
        Some(row) if row.expires_at <= now => Lookup::Expired,
        Some(row) => Lookup::Valid(row.into()),
    })
}

/// Marks the invitation used by `user_id`, if it still is unused and unexpired; `false`
/// otherwise. Run in the transaction that creates the user, so an invitation makes one
/// account at most, even when two sign-ups race.
pub async fn consume(
    db: &impl ConnectionTrait,
    id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let result = invitation::Entity::update_many()
        .col_expr(invitation::Column::UsedAt, Expr::value(now))
        .col_expr(invitation::Column::UsedBy, Expr::value(user_id))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::UsedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
