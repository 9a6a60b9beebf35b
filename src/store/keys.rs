//! Signing keys: loaded at start-up, generated once when the database has none.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use entity::signing_key;

use crate::{
    crypto::keys::{SigningAlg, StoredKey},
    model::now,
};

/// Every current (not retired) key, oldest first, after creating a key for any algorithm that
/// has none. Nodes starting at the same moment may each create one; all are published and
/// the oldest signs, so that is harmless.
pub async fn load_or_create(db: &impl ConnectionTrait) -> anyhow::Result<Vec<StoredKey>> {
    let mut keys = current(db).await?;
    for alg in SigningAlg::ALL {
        if !keys.iter().any(|k| k.alg == alg) {
            let key = StoredKey::generate(alg)?;
            signing_key::ActiveModel {
                kid: Set(key.kid.clone()),
                alg: Set(alg.as_str().into()),
                private_jwk: Set(key.private_jwk.clone()),
                public_jwk: Set(key.public_jwk.clone()),
                created_at: Set(now()),
                retired_at: Set(None),
            }
            .insert(db)
            .await?;
            tracing::info!(kid = %key.kid, %alg, "generated a new signing key");
        }
    }
    keys = current(db).await?;
    Ok(keys)
}

async fn current(db: &impl ConnectionTrait) -> Result<Vec<StoredKey>, DbErr> {
    let rows = signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.is_null())
        .order_by_asc(signing_key::Column::CreatedAt)
        .order_by_asc(signing_key::Column::Kid)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(StoredKey {
                alg: row
                    .alg
                    .parse()
                    .map_err(|e: String| DbErr::Custom(format!("signing key {}: {e}", row.kid)))?,
                kid: row.kid,
                private_jwk: row.private_jwk,
                public_jwk: row.public_jwk,
            })
        })
        .collect()
}
