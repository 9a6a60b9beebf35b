//! Pushed authorization requests (RFC 9126): stored under the digest of their `request_uri`,
//! used once, for a short time.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};

use entity::pushed_request;

use crate::crypto::random;

/// RFC 9126 §2.2: the `request_uri` scheme.
pub const URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Stores a checked request; returns its `request_uri`.
pub async fn push(
    db: &impl ConnectionTrait,
    client_id: &str,
    params: &[(String, String)],
    expires_at: i64,
) -> Result<String, DbErr> {
    let request_uri = format!("{URI_PREFIX}{}", random::secret());
    pushed_request::ActiveModel {
        id: Set(random::digest(&request_uri)),
        client_id: Set(client_id.to_owned()),
        params: Set(serde_json::to_string(params).expect("pairs serialize")),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(request_uri)
}

/// Consumes the request `request_uri` names for `client_id`: `None` if unknown, used, expired
/// or another client's. Deleting first makes a second use lose even a race.
pub async fn take(
    db: &impl ConnectionTrait,
    request_uri: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<Vec<(String, String)>>, DbErr> {
    let id = random::digest(request_uri);
    let Some(row) = pushed_request::Entity::find_by_id(&id).one(db).await? else {
        return Ok(None);
    };
    if row.client_id != client_id {
        return Ok(None);
    }
    let deleted = pushed_request::Entity::delete_by_id(&id).exec(db).await?;
    if deleted.rows_affected != 1 || row.expires_at <= now {
        return Ok(None);
    }
    let params = serde_json::from_str(&row.params)
        .map_err(|e| DbErr::Custom(format!("pushed request: {e}")))?;
    Ok(Some(params))
}

pub async fn delete_expired(db: &impl ConnectionTrait, now: i64) -> Result<(), DbErr> {
    pushed_request::Entity::delete_many()
        .filter(pushed_request::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(())
}
