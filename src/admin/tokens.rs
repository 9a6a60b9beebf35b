//! Admin API tokens: bearer tokens for automation (`admin` scope: the admin API) and for apps
//! registering themselves (`register` scope: the initial access token of RFC 7591 §3).
//! A token is shown once when made; only its SHA-256 digest is stored.

use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::json;

use super::{Actor, AdminError, audit};
use crate::{
    crypto::random,
    model::now,
    store::{self, admin_tokens::AdminTokenRecord, security_events::kind},
};

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// The admin API, as an admin.
    Admin,
    /// Dynamic client registration only (RFC 7591 initial access token).
    Register,
}

impl TokenScope {
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenScope::Admin => "admin",
            TokenScope::Register => "register",
        }
    }

    pub fn parse(s: &str) -> Option<TokenScope> {
        match s {
            "admin" => Some(TokenScope::Admin),
            "register" => Some(TokenScope::Register),
            _ => None,
        }
    }
}

/// Tokens start with this, so that secret scanners and people recognise them.
const PREFIX: &str = "idp_";

/// The longest a token may be made to last.
pub const MAX_LIFETIME: std::time::Duration = std::time::Duration::from_secs(2 * 365 * 24 * 3600);

/// A token just made, with the token itself (shown once).
pub struct NewAdminToken {
    pub record: AdminTokenRecord,
    pub token: String,
}

pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor,
    name: &str,
    scope: TokenScope,
    lifetime: Option<std::time::Duration>,
) -> Result<NewAdminToken, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AdminError::Invalid(
            "a token needs a name of 1 to 100 characters".into(),
        ));
    }
    if let Some(lifetime) = lifetime
        && (lifetime < std::time::Duration::from_secs(60) || lifetime > MAX_LIFETIME)
    {
        return Err(AdminError::Invalid(
            "a token lasts between 1 minute and 2 years (or, without --expires, until revoked)"
                .into(),
        ));
    }
    let now = now();
    let token = format!("{PREFIX}{}", random::secret());
    let record = AdminTokenRecord {
        id: random::client_id()[..16].to_owned(),
        name: name.to_owned(),
        scope: scope.as_str().to_owned(),
        created_at: now,
        expires_at: lifetime.map(|l| now + l.as_secs() as i64),
        revoked_at: None,
        last_used_at: None,
    };
    let txn = db.begin_with_options(store::WRITE).await?;
    store::admin_tokens::insert(&txn, &record, &random::digest(&token)).await?;
    let detail = json!({"token_id": record.id, "name": record.name, "scope": record.scope});
    audit(&txn, actor, None, kind::ADMIN_TOKEN_CREATED, Some(detail)).await?;
    txn.commit().await?;
    Ok(NewAdminToken { record, token })
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<AdminTokenRecord>, AdminError> {
    Ok(store::admin_tokens::list(db).await?)
}

pub async fn revoke(db: &DatabaseConnection, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let txn = db.begin_with_options(store::WRITE).await?;
    if !store::admin_tokens::revoke(&txn, id, now()).await? {
        let why = if store::admin_tokens::exists(&txn, id).await? {
            format!("admin token {id:?} is already revoked")
        } else {
            format!("no admin token with id {id:?}")
        };
        return Err(AdminError::NotFound(why));
    }
    audit(
        &txn,
        actor,
        None,
        kind::ADMIN_TOKEN_REVOKED,
        Some(json!({"token_id": id})),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The live token of `scope` that `presented` is, if any: known, unrevoked, unexpired.
pub async fn authenticate(
    db: &DatabaseConnection,
    presented: &str,
    scope: TokenScope,
) -> Result<Option<AdminTokenRecord>, AdminError> {
    if !presented.starts_with(PREFIX) {
        return Ok(None);
    }
    let now = now();
    let Some(record) = store::admin_tokens::find_by_hash(db, &random::digest(presented)).await?
    else {
        return Ok(None);
    };
    let live = record.revoked_at.is_none()
        && record.expires_at.is_none_or(|at| at > now)
        && record.scope == scope.as_str();
    if !live {
        return Ok(None);
    }
    store::admin_tokens::touch(db, &record.id, now).await?;
    Ok(Some(record))
}
