//! The user's authenticator app: a `credentials` row of kind `totp` whose secret is sealed
//! with the at-rest key and whose metadata holds the last accepted step. An enrollment in
//! progress is a row of kind `totp_pending`, promoted once the user proves a code.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};

use entity::credential;

use crate::{crypto::at_rest::SecretBox, model::now};

pub const KIND: &str = "totp";
pub const PENDING: &str = "totp_pending";

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TotpMetadata {
    /// The last time step accepted: it and earlier steps are never accepted again.
    pub last_step: Option<u64>,
}

pub struct StoredTotp {
    pub id: String,
    pub secret: Vec<u8>,
    pub metadata: TotpMetadata,
    raw_metadata: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn context(id: &str) -> String {
    format!("totp:{id}")
}

async fn find(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    user_id: &str,
    kind: &str,
) -> anyhow::Result<Option<StoredTotp>> {
    let Some(row) = credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(kind))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let secret = secrets.open(&row.secret, &context(&row.id))?;
    let metadata = row
        .metadata
        .as_deref()
        .map(serde_json::from_str)
        .transpose()?
        .unwrap_or_default();
    Ok(Some(StoredTotp {
        id: row.id,
        secret,
        metadata,
        raw_metadata: row.metadata,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    }))
}

/// The user's active authenticator app.
pub async fn active(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    user_id: &str,
) -> anyhow::Result<Option<StoredTotp>> {
    find(db, secrets, user_id, KIND).await
}

/// The enrollment in progress, if any.
pub async fn pending(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    user_id: &str,
) -> anyhow::Result<Option<StoredTotp>> {
    find(db, secrets, user_id, PENDING).await
}

pub async fn exists(db: &impl ConnectionTrait, user_id: &str) -> Result<bool, DbErr> {
    Ok(credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .one(db)
        .await?
        .is_some())
}

/// Starts (or restarts) an enrollment with a new secret.
pub async fn start_enrollment(
    db: &DatabaseConnection,
    secrets: &SecretBox,
    user_id: &str,
    secret: &[u8],
) -> Result<(), DbErr> {
    let txn = db.begin_with_options(crate::store::WRITE).await?;
    credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(PENDING))
        .exec(&txn)
        .await?;
    let id = uuid::Uuid::new_v4().to_string();
    credential::ActiveModel {
        secret: Set(secrets.seal(secret, &context(&id))),
        id: Set(id),
        user_id: Set(user_id.to_owned()),
        kind: Set(PENDING.into()),
        label: Set(Some("Authenticator app".into())),
        external_id: Set(None),
        metadata: Set(None),
        created_at: Set(now()),
        last_used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await
}

/// Makes the pending enrollment the user's authenticator app, replacing any previous one,
/// and records `step` as used. Part of the caller's transaction.
pub async fn activate(
    db: &impl ConnectionTrait,
    user_id: &str,
    pending_id: &str,
    step: u64,
) -> Result<bool, DbErr> {
    credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .exec(db)
        .await?;
    let metadata = serde_json::to_string(&TotpMetadata {
        last_step: Some(step),
    })
    .expect("metadata serializes");
    let result = credential::Entity::update_many()
        .col_expr(credential::Column::Kind, Expr::value(KIND))
        .col_expr(credential::Column::Metadata, Expr::value(metadata))
        .col_expr(credential::Column::LastUsedAt, Expr::value(now()))
        .filter(credential::Column::Id.eq(pending_id))
        .filter(credential::Column::Kind.eq(PENDING))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records `step` as accepted, only if nobody accepted a step since `totp` was read: two
/// requests with the same code cannot both pass.
pub async fn record_step(
    db: &impl ConnectionTrait,
    totp: &StoredTotp,
    step: u64,
) -> Result<bool, DbErr> {
    let metadata = serde_json::to_string(&TotpMetadata {
        last_step: Some(step),
    })
    .expect("metadata serializes");
    let mut update = credential::Entity::update_many()
        .col_expr(credential::Column::Metadata, Expr::value(metadata))
        .col_expr(credential::Column::LastUsedAt, Expr::value(now()))
        .filter(credential::Column::Id.eq(&totp.id));
    update = match &totp.raw_metadata {
        Some(raw) => update.filter(credential::Column::Metadata.eq(raw.as_str())),
        None => update.filter(credential::Column::Metadata.is_null()),
    };
    Ok(update.exec(db).await?.rows_affected == 1)
}

pub async fn remove(db: &impl ConnectionTrait, user_id: &str) -> Result<bool, DbErr> {
    let result = credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.is_in([KIND, PENDING]))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}
