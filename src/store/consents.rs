//! Consents: the scopes each user has allowed each third-party client.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::OnConflict,
};

use entity::{client, consent};

use crate::model::scope::Scopes;

/// The scopes `user_id` has allowed `client_id` (empty if none).
pub async fn granted(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
) -> Result<Scopes, DbErr> {
    Ok(
        consent::Entity::find_by_id((user_id.to_owned(), client_id.to_owned()))
            .one(db)
            .await?
            .and_then(|row| Scopes::parse(&row.scope))
            .unwrap_or_default(),
    )
}

/// Adds `scopes` to what the user has allowed the client.
pub async fn grant(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    scopes: &Scopes,
    now: i64,
) -> Result<(), DbErr> {
    let all = granted(db, user_id, client_id).await?.union(scopes);
    consent::Entity::insert(consent::ActiveModel {
        user_id: Set(user_id.to_owned()),
        client_id: Set(client_id.to_owned()),
        scope: Set(all.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([consent::Column::UserId, consent::Column::ClientId])
            .update_columns([consent::Column::Scope, consent::Column::UpdatedAt])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// An app the user has given access, for the account page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppAccess {
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
    pub updated_at: i64,
}

/// The apps the user has given access, most recent first.
pub async fn for_user(db: &impl ConnectionTrait, user_id: &str) -> Result<Vec<AppAccess>, DbErr> {
    let rows = consent::Entity::find()
        .filter(consent::Column::UserId.eq(user_id))
        .order_by_desc(consent::Column::UpdatedAt)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let name = client::Entity::find_by_id(&row.client_id)
            .one(db)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        out.push(AppAccess {
            client_id: row.client_id,
            client_name: name,
            scope: row.scope,
            updated_at: row.updated_at,
        });
    }
    Ok(out)
}

/// Forgets the user's consent to the client. Returns whether there was one.
pub async fn revoke(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
) -> Result<bool, DbErr> {
    let result = consent::Entity::delete_by_id((user_id.to_owned(), client_id.to_owned()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
