//! OAuth clients and their redirect URIs.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, sea_query::Expr,
};

use entity::{client, client_redirect_uri};

use crate::model::{
    client::{Client, ClientType, GrantType, TokenEndpointAuthMethod},
    now,
};

/// `client_redirect_uris.kind` of a redirect URI for authorization responses.
const LOGIN: &str = "login";
/// `client_redirect_uris.kind` of a post-logout redirect URI (RP-Initiated Logout 1.0 §3).
const POST_LOGOUT: &str = "post_logout";

fn to_client(row: client::Model, uris: Vec<client_redirect_uri::Model>) -> Result<Client, DbErr> {
    let corrupt = |what: &str| DbErr::Custom(format!("client {}: invalid {what}", row.id));
    let method = TokenEndpointAuthMethod::parse(&row.token_endpoint_auth_method)
        .ok_or_else(|| corrupt("token_endpoint_auth_method"))?;
    Ok(Client {
        client_type: if method == TokenEndpointAuthMethod::None {
            ClientType::Public
        } else {
            ClientType::Confidential
        },
        token_endpoint_auth_method: method,
        id_token_signed_response_alg: row
            .id_token_signed_response_alg
            .parse()
            .map_err(|_| corrupt("id_token_signed_response_alg"))?,
        redirect_uris: uris
            .iter()
            .filter(|u| u.kind == LOGIN)
            .map(|u| u.uri.clone())
            .collect(),
        post_logout_redirect_uris: uris
            .iter()
            .filter(|u| u.kind == POST_LOGOUT)
            .map(|u| u.uri.clone())
            .collect(),
        // An unknown stored level (written by a newer version) fails closed at the top.
        min_acr: row.min_acr.map(|key| {
            crate::login::assurance::Level::from_key(&key)
                .unwrap_or(crate::login::assurance::Level::Phrh)
        }),
        // Unknown grant types (written by a newer version) are dropped: fail closed.
        grant_types: match &row.grant_types {
            Some(list) => list.split(' ').filter_map(GrantType::parse).collect(),
            None => GrantType::DEFAULT.to_vec(),
        },
        scope: row.scope.clone(),
        require_pushed_authorization_requests: row.require_par,
        jwks: row.jwks.clone(),
        jwks_uri: row.jwks_uri.clone(),
        dpop_bound_access_tokens: row.dpop_bound,
        backchannel_logout_uri: row.backchannel_logout_uri.clone(),
        refresh_tokens_without_offline_access: row.refresh_without_offline_access,
        rotate_dpop_bound_refresh_tokens: row.rotate_dpop_refresh_tokens,
        first_party: row.first_party,
        logo_uri: row.logo_uri.clone(),
        policy_uri: row.policy_uri.clone(),
        tos_uri: row.tos_uri.clone(),
        access_token_lifetime: row.access_token_lifetime.map(|s| s.max(0) as u64),
        refresh_token_lifetime: row.refresh_token_lifetime.map(|s| s.max(0) as u64),
        client_id: row.id,
        name: row.name,
        secret_hash: row.secret_hash,
        created_at: row.created_at,
    })
}

/// The row of `client`, every column set.
fn row(client: &Client, updated_at: i64) -> client::ActiveModel {
    client::ActiveModel {
        id: Set(client.client_id.clone()),
        name: Set(client.name.clone()),
        secret_hash: Set(client.secret_hash.clone()),
        token_endpoint_auth_method: Set(client.token_endpoint_auth_method.as_str().into()),
        id_token_signed_response_alg: Set(client.id_token_signed_response_alg.as_str().into()),
        min_acr: Set(client.min_acr.map(|l| l.key().to_owned())),
        grant_types: Set(Some(
            client
                .grant_types
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )),
        scope: Set(client.scope.clone()),
        require_par: Set(client.require_pushed_authorization_requests),
        jwks: Set(client.jwks.clone()),
        jwks_uri: Set(client.jwks_uri.clone()),
        dpop_bound: Set(client.dpop_bound_access_tokens),
        backchannel_logout_uri: Set(client.backchannel_logout_uri.clone()),
        refresh_without_offline_access: Set(client.refresh_tokens_without_offline_access),
        rotate_dpop_refresh_tokens: Set(client.rotate_dpop_bound_refresh_tokens),
        first_party: Set(client.first_party),
        logo_uri: Set(client.logo_uri.clone()),
        policy_uri: Set(client.policy_uri.clone()),
        tos_uri: Set(client.tos_uri.clone()),
        access_token_lifetime: Set(client.access_token_lifetime.map(|s| s as i64)),
        refresh_token_lifetime: Set(client.refresh_token_lifetime.map(|s| s as i64)),
        created_at: Set(client.created_at),
        updated_at: Set(updated_at),
        // Only `set_registration_token` writes it.
        ..Default::default()
    }
}

/// Stores a new client with its redirect URIs; call it in a transaction.
pub async fn create(txn: &impl ConnectionTrait, client: &Client) -> Result<(), DbErr> {
    row(client, client.created_at).insert(txn).await?;
    insert_uris(txn, client).await
}

/// Replaces everything about a client but its id and creation time, redirect URIs included;
/// call it in a transaction. Returns whether the client exists.
pub async fn update(txn: &impl ConnectionTrait, client: &Client, now: i64) -> Result<bool, DbErr> {
    let Some(existing) = client::Entity::find_by_id(&client.client_id)
        .one(txn)
        .await?
    else {
        return Ok(false);
    };
    let mut updated = row(client, now);
    updated.created_at = Set(existing.created_at);
    updated.update(txn).await?;
    client_redirect_uri::Entity::delete_many()
        .filter(client_redirect_uri::Column::ClientId.eq(&client.client_id))
        .exec(txn)
        .await?;
    insert_uris(txn, client).await?;
    Ok(true)
}

async fn insert_uris(txn: &impl ConnectionTrait, client: &Client) -> Result<(), DbErr> {
    let uris = (client.redirect_uris.iter().map(|u| (LOGIN, u))).chain(
        client
            .post_logout_redirect_uris
            .iter()
            .map(|u| (POST_LOGOUT, u)),
    );
    for (kind, uri) in uris {
        client_redirect_uri::ActiveModel {
            client_id: Set(client.client_id.clone()),
            kind: Set(kind.into()),
            uri: Set(uri.clone()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// One client with its redirect URIs, in one query: this runs on every token, introspection
/// and revocation request.
pub async fn get(db: &impl ConnectionTrait, client_id: &str) -> Result<Option<Client>, DbErr> {
    let found = client::Entity::find_by_id(client_id)
        .find_with_related(client_redirect_uri::Entity)
        .order_by_asc(client_redirect_uri::Column::Id)
        .all(db)
        .await?;
    match found.into_iter().next() {
        Some((row, uris)) => to_client(row, uris).map(Some),
        None => Ok(None),
    }
}

/// The longest access-token lifetime any client has of its own (seconds), if any has one.
pub async fn longest_access_token_lifetime(
    db: &impl ConnectionTrait,
) -> Result<Option<i64>, DbErr> {
    let longest = client::Entity::find()
        .filter(client::Column::AccessTokenLifetime.is_not_null())
        .order_by_desc(client::Column::AccessTokenLifetime)
        .one(db)
        .await?;
    Ok(longest.and_then(|c| c.access_token_lifetime))
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Client>, DbErr> {
    let rows = client::Entity::find()
        .order_by_asc(client::Column::CreatedAt)
        .order_by_asc(client::Column::Id)
        .all(db)
        .await?;
    let uris = client_redirect_uri::Entity::find()
        .order_by_asc(client_redirect_uri::Column::Id)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            let mine = uris
                .iter()
                .filter(|u| u.client_id == row.id)
                .cloned()
                .collect();
            to_client(row, mine)
        })
        .collect()
}

/// Deletes a client; its redirect URIs, codes, grants and tokens go with it (foreign keys
/// cascade). Returns `false` if there is no such client.
pub async fn remove(db: &impl ConnectionTrait, client_id: &str) -> Result<bool, DbErr> {
    let result = client::Entity::delete_by_id(client_id).exec(db).await?;
    Ok(result.rows_affected == 1)
}

/// Replaces a confidential client's secret digest. Returns `false` if there is no such
/// confidential client.
pub async fn set_secret_hash(
    db: &impl ConnectionTrait,
    client_id: &str,
    secret_hash: &str,
) -> Result<bool, DbErr> {
    let result = client::Entity::update_many()
        .col_expr(client::Column::SecretHash, Expr::value(secret_hash))
        .col_expr(client::Column::UpdatedAt, Expr::value(now()))
        .filter(client::Column::Id.eq(client_id))
        .filter(client::Column::SecretHash.is_not_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Sets the digest of a self-registered client's registration access token.
pub async fn set_registration_token(
    db: &impl ConnectionTrait,
    client_id: &str,
    token_hash: &str,
) -> Result<(), DbErr> {
    client::Entity::update_many()
        .col_expr(
            client::Column::RegistrationTokenHash,
            Expr::value(token_hash),
        )
        .filter(client::Column::Id.eq(client_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces a registration access token's digest, only if it is still `previous_hash`: of two
/// requests that presented the same token, one gets the new token and the other `false`.
pub async fn replace_registration_token(
    db: &impl ConnectionTrait,
    client_id: &str,
    previous_hash: &str,
    token_hash: &str,
) -> Result<bool, DbErr> {
    let result = client::Entity::update_many()
        .col_expr(
            client::Column::RegistrationTokenHash,
            Expr::value(token_hash),
        )
        .filter(client::Column::Id.eq(client_id))
        .filter(client::Column::RegistrationTokenHash.eq(previous_hash))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The digest of the client's registration access token, if it registered itself.
pub async fn registration_token_hash(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> Result<Option<String>, DbErr> {
    Ok(client::Entity::find_by_id(client_id)
        .one(db)
        .await?
        .and_then(|c| c.registration_token_hash))
}
