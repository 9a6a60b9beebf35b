//! Passkeys: rows of `credentials` with kind `passkey`. `external_id` is the credential id
//! (unique, so one authenticator credential never belongs to two accounts), `secret` the
//! serialized webauthn-rs passkey (public key, counter, backup flags), `metadata` the facts
//! shown to the user.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait, sea_query::Expr,
};
use serde::Serialize;
use webauthn_rs::prelude::Passkey;

use entity::credential;

use crate::{mfa::passkey::PasskeyFacts, model::now};

pub const KIND: &str = "passkey";

#[derive(Debug, Clone, Serialize)]
pub struct StoredPasskey {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub facts: PasskeyFacts,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    #[serde(skip)]
    pub passkey: Passkey,
    #[serde(skip)]
    pub user_id: String,
}

fn from_row(row: credential::Model) -> Result<StoredPasskey, DbErr> {
    let corrupt = |e: serde_json::Error| DbErr::Custom(format!("passkey {}: {e}", row.id));
    let passkey: Passkey = serde_json::from_str(&row.secret).map_err(corrupt)?;
    Ok(StoredPasskey {
        facts: PasskeyFacts::of(&passkey),
        passkey,
        name: row.label.unwrap_or_default(),
        id: row.id,
        user_id: row.user_id,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    })
}

pub async fn list(db: &impl ConnectionTrait, user_id: &str) -> Result<Vec<StoredPasskey>, DbErr> {
    credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .order_by_asc(credential::Column::CreatedAt)
        .order_by_asc(credential::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

pub async fn count(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, DbErr> {
    credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .count(db)
        .await
}

pub async fn find_by_credential_id(
    db: &impl ConnectionTrait,
    credential_id: &str,
) -> Result<Option<StoredPasskey>, DbErr> {
    credential::Entity::find()
        .filter(credential::Column::ExternalId.eq(credential_id))
        .filter(credential::Column::Kind.eq(KIND))
        .one(db)
        .await?
        .map(from_row)
        .transpose()
}

#[derive(Debug, thiserror::Error)]
pub enum AddPasskeyError {
    #[error("you already have the most passkeys allowed ({0}); delete one first")]
    TooMany(usize),
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Stores a new passkey, enforcing the per-user cap inside the transaction. When it is the
/// user's first second factor, a set of recovery codes is made in the same transaction and
/// returned in clear, to show once.
pub async fn add(
    db: &DatabaseConnection,
    user_id: &str,
    name: &str,
    passkey: &Passkey,
    max: usize,
) -> Result<(StoredPasskey, Option<Vec<String>>), AddPasskeyError> {
    let txn = db.begin_with_options(crate::store::WRITE).await?;
    let added = insert(&txn, user_id, name, passkey, max).await?;
    txn.commit().await?;
    Ok(added)
}

/// [`add`] as part of the caller's transaction.
pub async fn insert(
    txn: &impl ConnectionTrait,
    user_id: &str,
    name: &str,
    passkey: &Passkey,
    max: usize,
) -> Result<(StoredPasskey, Option<Vec<String>>), AddPasskeyError> {
    let before = super::factors::of(txn, user_id).await?;
    if before.passkeys >= max {
        return Err(AddPasskeyError::TooMany(max));
    }
    let facts = PasskeyFacts::of(passkey);
    let now = now();
    let row = credential::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        user_id: Set(user_id.to_owned()),
        kind: Set(KIND.into()),
        label: Set(Some(name.to_owned())),
        external_id: Set(Some(facts.credential_id.clone())),
        secret: Set(serde_json::to_string(passkey).expect("passkeys serialize")),
        metadata: Set(Some(
            serde_json::to_string(&facts).expect("facts serialize"),
        )),
        created_at: Set(now),
        last_used_at: Set(None),
    }
    .insert(txn)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            AddPasskeyError::AlreadyRegistered
        } else {
            AddPasskeyError::Db(e)
        }
    })?;
    // A passkey meets an admin's "add a passkey at next sign-in", however it was added.
    super::users::passkey_requirement_met(txn, user_id).await?;
    let codes = if before.has_second_factor() {
        None
    } else {
        Some(super::recovery_codes::replace(txn, user_id).await?)
    };
    Ok((from_row(row)?, codes))
}

/// Saves the counter and backup flags after a successful use, and when it was used.
pub async fn record_use(
    db: &impl ConnectionTrait,
    id: &str,
    passkey: &Passkey,
    now: i64,
) -> Result<(), DbErr> {
    credential::Entity::update_many()
        .col_expr(
            credential::Column::Secret,
            Expr::value(serde_json::to_string(passkey).expect("passkeys serialize")),
        )
        .col_expr(
            credential::Column::Metadata,
            Expr::value(
                serde_json::to_string(&PasskeyFacts::of(passkey)).expect("facts serialize"),
            ),
        )
        .col_expr(credential::Column::LastUsedAt, Expr::value(now))
        .filter(credential::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Renames one of the user's passkeys; `false` if they have no such passkey.
pub async fn rename(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
    name: &str,
) -> Result<bool, DbErr> {
    let result = credential::Entity::update_many()
        .col_expr(credential::Column::Label, Expr::value(name))
        .filter(credential::Column::Id.eq(id))
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

#[derive(Debug, thiserror::Error)]
pub enum DeletePasskeyError {
    #[error("no such passkey")]
    NotFound,
    #[error("this passkey is needed to sign in: add another sign-in method first")]
    LastFactor,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Deletes one of the user's passkeys, unless the account would lose its last way to sign in
/// or its last second factor ([`super::factors::Factors::may_remove`]).
pub async fn delete(
    db: &DatabaseConnection,
    user_id: &str,
    id: &str,
) -> Result<(), DeletePasskeyError> {
    let txn = db.begin_with_options(crate::store::WRITE).await?;
    let mine = list(&txn, user_id).await?;
    if !mine.iter().any(|p| p.id == id) {
        return Err(DeletePasskeyError::NotFound);
    }
    if !super::factors::of(&txn, user_id)
        .await?
        .may_remove(super::factors::Removal::Passkey)
    {
        return Err(DeletePasskeyError::LastFactor);
    }
    credential::Entity::delete_many()
        .filter(credential::Column::Id.eq(id))
        .filter(credential::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes every passkey of the user (an admin's reset).
pub async fn delete_all(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, DbErr> {
    Ok(credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .exec(db)
        .await?
        .rows_affected)
}
