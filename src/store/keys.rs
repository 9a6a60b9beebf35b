//! Signing keys: loaded at start-up, generated once when the database has none.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use entity::signing_key;

use crate::{
    crypto::{
        at_rest::SecretBox,
        keys::{SigningAlg, StoredKey},
    },
    model::now,
};

/// Associated data binding a sealed private key to its row.
fn context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// Whether any signing key was ever stored (then the at-rest key must already exist).
pub async fn any_stored(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(signing_key::Entity::find().one(db).await?.is_some())
}

/// Every current (not retired) key, oldest first, after creating a key for any algorithm that
/// has none. Nodes starting at the same moment may each create one; all are published and
/// the oldest signs, so that is harmless.
pub async fn load_or_create(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
) -> anyhow::Result<Vec<StoredKey>> {
    let mut keys = current(db, secrets).await?;
    for alg in SigningAlg::ALL {
        if !keys.iter().any(|k| k.alg == alg) {
            let key = StoredKey::generate(alg)?;
            signing_key::ActiveModel {
                kid: Set(key.kid.clone()),
                alg: Set(alg.as_str().into()),
                private_jwk: Set(secrets.seal(key.private_jwk.as_bytes(), &context(&key.kid))),
                public_jwk: Set(key.public_jwk.clone()),
                created_at: Set(now()),
                retired_at: Set(None),
            }
            .insert(db)
            .await?;
            tracing::info!(kid = %key.kid, %alg, "generated a new signing key");
        }
    }
    keys = current(db, secrets).await?;
    Ok(keys)
}

async fn current(db: &impl ConnectionTrait, secrets: &SecretBox) -> anyhow::Result<Vec<StoredKey>> {
    let rows = signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.is_null())
        .order_by_asc(signing_key::Column::CreatedAt)
        .order_by_asc(signing_key::Column::Kid)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            let private = secrets
                .open(&row.private_jwk, &context(&row.kid))
                .map_err(|e| anyhow::anyhow!("secret_key_file: signing key {}: {e}", row.kid))?;
            Ok(StoredKey {
                alg: row
                    .alg
                    .parse()
                    .map_err(|e: String| anyhow::anyhow!("signing key {}: {e}", row.kid))?,
                private_jwk: String::from_utf8(private)?,
                kid: row.kid,
                public_jwk: row.public_jwk,
            })
        })
        .collect()
}
