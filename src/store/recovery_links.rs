//! Recovery links, stored as digests of their tokens.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::Expr,
};

use entity::recovery_link;

use crate::crypto::random;

/// Makes a link for `user_id` valid until `expires_at`; returns its token (never stored).
pub async fn create(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<String, DbErr> {
    let token = random::secret();
    recovery_link::ActiveModel {
        id: Set(random::digest(&token)),
        user_id: Set(user_id.to_owned()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Uses the link: its user if it was unused and unexpired (and now it is used).
pub async fn take(
    db: &impl ConnectionTrait,
    token: &str,
    now: i64,
) -> Result<Option<String>, DbErr> {
    let id = random::digest(token);
    let used = recovery_link::Entity::update_many()
        .col_expr(recovery_link::Column::UsedAt, Expr::value(now))
        .filter(recovery_link::Column::Id.eq(&id))
        .filter(recovery_link::Column::UsedAt.is_null())
        .filter(recovery_link::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?
        .rows_affected
        == 1;
    if !used {
        return Ok(None);
    }
    Ok(recovery_link::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|row| row.user_id))
}
