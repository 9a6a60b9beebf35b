//! Signing keys: generated once when the database has none, rotated by `idp keys rotate`,
//! re-read by every node now and then.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder, TransactionTrait, sea_query::Expr,
};
use serde::Serialize;

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
                active_from: Set(None),
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

/// Every published key: not retired, or retired in the future.
pub async fn current(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
) -> anyhow::Result<Vec<StoredKey>> {
    let rows = signing_key::Entity::find()
        .filter(
            Condition::any()
                .add(signing_key::Column::RetiredAt.is_null())
                .add(signing_key::Column::RetiredAt.gt(now())),
        )
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
                active_from: row.active_from.unwrap_or(row.created_at),
                kid: row.kid,
                public_jwk: row.public_jwk,
            })
        })
        .collect()
}

/// A key as `idp keys list` shows it (never the private part).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub created_at: i64,
    pub active_from: i64,
    pub retired_at: Option<i64>,
    /// `pending` (published, not signing yet), `signing`, `published` (kept so that tokens it
    /// signed still verify), or `retired`.
    pub state: &'static str,
}

/// Every key ever made, newest first, with its state at `now`.
pub async fn list(db: &impl ConnectionTrait, now: i64) -> Result<Vec<KeyInfo>, DbErr> {
    let rows = signing_key::Entity::find()
        .order_by_desc(signing_key::Column::CreatedAt)
        .order_by_desc(signing_key::Column::Kid)
        .all(db)
        .await?;
    let active_from = |row: &signing_key::Model| row.active_from.unwrap_or(row.created_at);
    let published = |row: &signing_key::Model| row.retired_at.is_none_or(|r| r > now);
    // The signer of each algorithm: the newest published key already in force.
    let signer = |alg: &str| {
        rows.iter()
            .filter(|r| r.alg == alg && published(r) && active_from(r) <= now)
            .max_by_key(|r| active_from(r))
            .map(|r| r.kid.clone())
    };
    let signers: Vec<Option<String>> = SigningAlg::ALL
        .iter()
        .map(|alg| signer(alg.as_str()))
        .collect();
    Ok(rows
        .iter()
        .map(|row| KeyInfo {
            state: if !published(row) {
                "retired"
            } else if active_from(row) > now {
                "pending"
            } else if signers.contains(&Some(row.kid.clone())) {
                "signing"
            } else {
                "published"
            },
            kid: row.kid.clone(),
            alg: row.alg.clone(),
            created_at: row.created_at,
            active_from: active_from(row),
            retired_at: row.retired_at,
        })
        .collect())
}

/// The outcome of a rotation.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    pub kid: String,
    pub alg: &'static str,
    /// When the new key starts signing.
    pub active_from: i64,
    /// The keys it replaces, and when they stop being published.
    pub retiring: Vec<String>,
    pub retired_at: i64,
}

/// Rotates the `alg` key in one transaction: a new key, published now and signing from
/// `now + prepublication` (so relying parties that cache the JWKS have it before it is used);
/// the keys it replaces stay published for `overlap` after that, until every token they
/// signed has expired, and are then retired.
pub async fn rotate(
    db: &sea_orm::DatabaseConnection,
    secrets: &SecretBox,
    alg: SigningAlg,
    now: i64,
    prepublication: i64,
    overlap: i64,
) -> anyhow::Result<Rotation> {
    let key = StoredKey::generate(alg)?;
    let active_from = now + prepublication;
    let retired_at = active_from + overlap;
    let txn = db.begin_with_options(crate::store::WRITE).await?;
    let replaced: Vec<String> = signing_key::Entity::find()
        .filter(signing_key::Column::Alg.eq(alg.as_str()))
        .filter(
            Condition::any()
                .add(signing_key::Column::RetiredAt.is_null())
                .add(signing_key::Column::RetiredAt.gt(retired_at)),
        )
        .all(&txn)
        .await?
        .into_iter()
        .map(|row| row.kid)
        .collect();
    signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetiredAt, Expr::value(retired_at))
        .filter(signing_key::Column::Kid.is_in(replaced.clone()))
        .exec(&txn)
        .await?;
    signing_key::ActiveModel {
        kid: Set(key.kid.clone()),
        alg: Set(alg.as_str().into()),
        private_jwk: Set(secrets.seal(key.private_jwk.as_bytes(), &context(&key.kid))),
        public_jwk: Set(key.public_jwk.clone()),
        created_at: Set(now),
        active_from: Set(Some(active_from)),
        retired_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    tracing::info!(kid = %key.kid, %alg, active_from, "rotated a signing key");
    Ok(Rotation {
        kid: key.kid,
        alg: alg.as_str(),
        active_from,
        retiring: replaced,
        retired_at,
    })
}
