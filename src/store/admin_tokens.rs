//! Admin API tokens, stored as digests.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, sea_query::Expr,
};

use entity::admin_token;

/// An admin token's record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdminTokenRecord {
    pub id: String,
    pub name: String,
    /// `admin` or `register`.
    pub scope: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl From<admin_token::Model> for AdminTokenRecord {
    fn from(row: admin_token::Model) -> Self {
        AdminTokenRecord {
            id: row.id,
            name: row.name,
            scope: row.scope,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
        }
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    record: &AdminTokenRecord,
    token_hash: &str,
) -> Result<(), DbErr> {
    admin_token::ActiveModel {
        id: Set(record.id.clone()),
        name: Set(record.name.clone()),
        token_hash: Set(token_hash.to_owned()),
        scope: Set(record.scope.clone()),
        created_at: Set(record.created_at),
        expires_at: Set(record.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<AdminTokenRecord>, DbErr> {
    Ok(admin_token::Entity::find()
        .order_by_asc(admin_token::Column::CreatedAt)
        .order_by_asc(admin_token::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(AdminTokenRecord::from)
        .collect())
}

/// The token with this digest, whatever its state.
pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<AdminTokenRecord>, DbErr> {
    Ok(admin_token::Entity::find()
        .filter(admin_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
        .map(AdminTokenRecord::from))
}

/// Revokes a token. Returns whether it existed and was not yet revoked.
pub async fn revoke(db: &impl ConnectionTrait, id: &str, now: i64) -> Result<bool, DbErr> {
    let result = admin_token::Entity::update_many()
        .col_expr(admin_token::Column::RevokedAt, Expr::value(now))
        .filter(admin_token::Column::Id.eq(id))
        .filter(admin_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn exists(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    Ok(admin_token::Entity::find_by_id(id).one(db).await?.is_some())
}

/// Notes a use; written at most once a minute per token, so that a busy automation does not
/// turn every API call into a write.
pub async fn touch(db: &impl ConnectionTrait, id: &str, now: i64) -> Result<(), DbErr> {
    admin_token::Entity::update_many()
        .col_expr(admin_token::Column::LastUsedAt, Expr::value(now))
        .filter(admin_token::Column::Id.eq(id))
        .filter(
            sea_orm::Condition::any()
                .add(admin_token::Column::LastUsedAt.is_null())
                .add(admin_token::Column::LastUsedAt.lt(now - 60)),
        )
        .exec(db)
        .await?;
    Ok(())
}
