//! Recovery codes: `credentials` rows of kind `recovery_code`, one per unused code, holding
//! the code's digest. Using a code deletes its row.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter,
};

use entity::credential;

use crate::{crypto::random, mfa::recovery, model::now};

pub const KIND: &str = "recovery_code";

/// Replaces the user's codes with a new set and returns the codes in clear, to show once.
/// Part of the caller's transaction.
pub async fn replace(db: &impl ConnectionTrait, user_id: &str) -> Result<Vec<String>, DbErr> {
    credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .exec(db)
        .await?;
    let codes = recovery::generate();
    let now = now();
    for code in &codes {
        let digest = recovery::digest(code).expect("generated codes are well-formed");
        credential::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            user_id: Set(user_id.to_owned()),
            kind: Set(KIND.into()),
            label: Set(None),
            external_id: Set(None),
            secret: Set(digest),
            metadata: Set(None),
            created_at: Set(now),
            last_used_at: Set(None),
        }
        .insert(db)
        .await?;
    }
    Ok(codes)
}

pub async fn remaining(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, DbErr> {
    credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .count(db)
        .await
}

/// Uses one of the user's codes: `true` if `typed` was an unused code of theirs, which is now
/// gone. Deleting by id makes two concurrent uses of one code impossible.
pub async fn consume(db: &impl ConnectionTrait, user_id: &str, typed: &str) -> Result<bool, DbErr> {
    let Some(digest) = recovery::digest(typed) else {
        return Ok(false);
    };
    let rows = credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .all(db)
        .await?;
    let Some(row) = rows
        .into_iter()
        .find(|r| random::digests_equal(&digest, &r.secret))
    else {
        return Ok(false);
    };
    let deleted = credential::Entity::delete_many()
        .filter(credential::Column::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

pub async fn remove_all(db: &impl ConnectionTrait, user_id: &str) -> Result<(), DbErr> {
    credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(KIND))
        .exec(db)
        .await?;
    Ok(())
}
