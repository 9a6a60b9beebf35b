//! Authorization codes, grants, refresh tokens and the record of issued access tokens.
//!
//! A grant is what one code exchange created: the user's authorization of one client, with
//! the scope and authentication behind it. Refresh tokens and access tokens belong to a
//! grant, so revoking the grant revokes all of them at once.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, sea_query::Expr,
};

use entity::{access_token, authorization_code, grant, refresh_token};

use crate::{login::assurance::Authentication, model::user::User};

use super::user_sessions::{from_json, to_json};

/// What an authorization code was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub client_id: String,
    pub user_session_id: Option<String>,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub authentication: Authentication,
    pub expires_at: i64,
}

pub async fn insert_code(
    db: &impl ConnectionTrait,
    code_hash: &str,
    code: &CodeRecord,
    now: i64,
) -> Result<(), DbErr> {
    authorization_code::ActiveModel {
        code_hash: Set(code_hash.to_owned()),
        client_id: Set(code.client_id.clone()),
        user_id: Set(code.authentication.user_id.clone()),
        user_session_id: Set(code.user_session_id.clone()),
        redirect_uri: Set(code.redirect_uri.clone()),
        scope: Set(code.scope.clone()),
        nonce: Set(code.nonce.clone()),
        code_challenge: Set(code.code_challenge.clone()),
        authentication: Set(to_json(&code.authentication)),
        created_at: Set(now),
        expires_at: Set(code.expires_at),
        consumed_at: Set(None),
        grant_id: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub enum CodeLookup {
    NotFound,
    /// The code was exchanged before; the grant it created, if any, must be revoked
    /// (RFC 6749 §4.1.2).
    AlreadyUsed {
        grant_id: Option<String>,
    },
    Found(CodeRecord),
}

pub async fn find_code(db: &impl ConnectionTrait, code_hash: &str) -> Result<CodeLookup, DbErr> {
    let Some(row) = authorization_code::Entity::find_by_id(code_hash)
        .one(db)
        .await?
    else {
        return Ok(CodeLookup::NotFound);
    };
    if row.consumed_at.is_some() {
        return Ok(CodeLookup::AlreadyUsed {
            grant_id: row.grant_id,
        });
    }
    Ok(CodeLookup::Found(CodeRecord {
        authentication: from_json(&row.authentication)?,
        client_id: row.client_id,
        user_session_id: row.user_session_id,
        redirect_uri: row.redirect_uri,
        scope: row.scope,
        nonce: row.nonce,
        code_challenge: row.code_challenge,
        expires_at: row.expires_at,
    }))
}

/// Marks a code used by `grant_id`, only if nobody used it first. Returns whether this call
/// won: two concurrent exchanges of one code cannot both succeed.
pub async fn consume_code(
    db: &impl ConnectionTrait,
    code_hash: &str,
    grant_id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let result = authorization_code::Entity::update_many()
        .col_expr(authorization_code::Column::ConsumedAt, Expr::value(now))
        .col_expr(authorization_code::Column::GrantId, Expr::value(grant_id))
        .filter(authorization_code::Column::CodeHash.eq(code_hash))
        .filter(authorization_code::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_session_id: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub authentication: Authentication,
    pub expires_at: i64,
    /// The DPoP key its refresh tokens are bound to, if any.
    pub dpop_jkt: Option<String>,
}

pub async fn insert_grant(db: &impl ConnectionTrait, grant: &Grant, now: i64) -> Result<(), DbErr> {
    grant::ActiveModel {
        id: Set(grant.id.clone()),
        client_id: Set(grant.client_id.clone()),
        user_id: Set(grant.authentication.user_id.clone()),
        user_session_id: Set(grant.user_session_id.clone()),
        scope: Set(grant.scope.clone()),
        nonce: Set(grant.nonce.clone()),
        authentication: Set(to_json(&grant.authentication)),
        created_at: Set(now),
        expires_at: Set(grant.expires_at),
        revoked_at: Set(None),
        dpop_jkt: Set(grant.dpop_jkt.clone()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The grant, if it is neither revoked nor expired.
pub async fn active_grant(
    db: &impl ConnectionTrait,
    grant_id: &str,
    now: i64,
) -> Result<Option<Grant>, DbErr> {
    let Some(row) = grant::Entity::find_by_id(grant_id).one(db).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    Ok(Some(Grant {
        authentication: from_json(&row.authentication)?,
        id: row.id,
        client_id: row.client_id,
        user_session_id: row.user_session_id,
        scope: row.scope,
        nonce: row.nonce,
        expires_at: row.expires_at,
        dpop_jkt: row.dpop_jkt,
    }))
}

/// The user a grant (active or not) belongs to.
pub async fn grant_user(
    db: &impl ConnectionTrait,
    grant_id: &str,
) -> Result<Option<String>, DbErr> {
    Ok(grant::Entity::find_by_id(grant_id)
        .one(db)
        .await?
        .map(|g| g.user_id))
}

/// Revokes a grant with every access and refresh token issued under it. Returns whether the
/// grant was still active.
pub async fn revoke_grant(
    db: &impl ConnectionTrait,
    grant_id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let was_active = grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(now))
        .filter(grant::Column::Id.eq(grant_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected
        == 1;
    access_token::Entity::update_many()
        .col_expr(access_token::Column::RevokedAt, Expr::value(now))
        .filter(access_token::Column::GrantId.eq(grant_id))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::ConsumedAt, Expr::value(now))
        .filter(refresh_token::Column::GrantId.eq(grant_id))
        .filter(refresh_token::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    Ok(was_active)
}

/// Revokes every grant of a user with all their tokens (the user was disabled or signed out
/// everywhere). Returns the ids of the grants that were active.
pub async fn revoke_user_grants(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
) -> Result<Vec<String>, DbErr> {
    let active: Vec<String> = grant::Entity::find()
        .filter(grant::Column::UserId.eq(user_id))
        .filter(grant::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    for grant_id in &active {
        revoke_grant(db, grant_id, now).await?;
    }
    Ok(active)
}

/// Revokes the user's grants to one client with all their tokens (the user revoked the
/// client's access). Returns how many were active.
pub async fn revoke_client_grants(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> Result<usize, DbErr> {
    let active: Vec<String> = grant::Entity::find()
        .filter(grant::Column::UserId.eq(user_id))
        .filter(grant::Column::ClientId.eq(client_id))
        .filter(grant::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    for grant_id in &active {
        revoke_grant(db, grant_id, now).await?;
    }
    Ok(active.len())
}

pub async fn insert_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    grant_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), DbErr> {
    refresh_token::ActiveModel {
        token_hash: Set(token_hash.to_owned()),
        grant_id: Set(grant_id.to_owned()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        consumed_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub enum RefreshLookup {
    NotFound,
    /// Already rotated (or revoked with its grant): presenting it again means it leaked.
    Used {
        grant_id: String,
    },
    Expired,
    Found {
        grant_id: String,
    },
}

pub async fn find_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: i64,
) -> Result<RefreshLookup, DbErr> {
    let Some(row) = refresh_token::Entity::find_by_id(token_hash)
        .one(db)
        .await?
    else {
        return Ok(RefreshLookup::NotFound);
    };
    Ok(if row.consumed_at.is_some() {
        RefreshLookup::Used {
            grant_id: row.grant_id,
        }
    } else if row.expires_at <= now {
        RefreshLookup::Expired
    } else {
        RefreshLookup::Found {
            grant_id: row.grant_id,
        }
    })
}

/// Moves the expiry of a refresh token that is kept rather than rotated, if it is still
/// usable. Returns whether it was.
pub async fn extend_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, DbErr> {
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::ExpiresAt, Expr::value(expires_at))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::ConsumedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Marks a refresh token used, only if it was not yet. Returns whether this call won.
pub async fn consume_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::ConsumedAt, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// An issued access token, recorded by its `jti` so it can be revoked and introspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub jti: String,
    pub grant_id: Option<String>,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scope: String,
    pub expires_at: i64,
}

pub async fn insert_access_token(
    db: &impl ConnectionTrait,
    token: &AccessTokenRecord,
    now: i64,
) -> Result<(), DbErr> {
    access_token::ActiveModel {
        jti: Set(token.jti.clone()),
        grant_id: Set(token.grant_id.clone()),
        client_id: Set(token.client_id.clone()),
        user_id: Set(token.user_id.clone()),
        scope: Set(token.scope.clone()),
        created_at: Set(now),
        expires_at: Set(token.expires_at),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// What the database says about an access token (whose signature has been checked).
#[derive(Debug)]
pub enum AccessTokenState {
    /// No record under its `jti`: a `client_credentials` token (never recorded, see
    /// `oidc::tokens::issue_for_client`), or one whose record was deleted after it expired.
    Unrecorded,
    /// Revoked, expired, or issued under a grant that was revoked or has expired, or for a
    /// user who is gone or disabled.
    Inactive,
    /// A live user token, with its user.
    Active {
        record: AccessTokenRecord,
        user: Option<Box<User>>,
    },
}

/// Looks an access token up with its grant and its user, in one query: this runs on every
/// userinfo and introspection request.
pub async fn access_token_state(
    db: &impl ConnectionTrait,
    jti: &str,
    now: i64,
) -> Result<AccessTokenState, DbErr> {
    let Some((token, grant, user)) = access_token::Entity::find_by_id(jti)
        .find_also_related(grant::Entity)
        .find_also_related(entity::user::Entity)
        .one(db)
        .await?
    else {
        return Ok(AccessTokenState::Unrecorded);
    };
    let grant_live = match (&token.grant_id, &grant) {
        (None, _) => true,
        (Some(_), Some(g)) => g.revoked_at.is_none() && g.expires_at > now,
        (Some(_), None) => false,
    };
    let user_live = match (&token.user_id, &user) {
        (None, _) => true,
        (Some(_), Some(u)) => !u.disabled,
        (Some(_), None) => false,
    };
    if token.revoked_at.is_some() || token.expires_at <= now || !grant_live || !user_live {
        return Ok(AccessTokenState::Inactive);
    }
    Ok(AccessTokenState::Active {
        user: user.map(|u| Box::new(User::from(u))),
        record: AccessTokenRecord {
            jti: token.jti,
            grant_id: token.grant_id,
            client_id: token.client_id,
            user_id: token.user_id,
            scope: token.scope,
            expires_at: token.expires_at,
        },
    })
}

/// An access token's record whatever its state, with whether it was revoked.
pub async fn find_access_token(
    db: &impl ConnectionTrait,
    jti: &str,
) -> Result<Option<(AccessTokenRecord, bool)>, DbErr> {
    Ok(access_token::Entity::find_by_id(jti)
        .one(db)
        .await?
        .map(|row| {
            (
                AccessTokenRecord {
                    jti: row.jti,
                    grant_id: row.grant_id,
                    client_id: row.client_id,
                    user_id: row.user_id,
                    scope: row.scope,
                    expires_at: row.expires_at,
                },
                row.revoked_at.is_some(),
            )
        }))
}

/// Records an access token that was never recorded (a `client_credentials` token) as
/// revoked. Revoking it twice at once is no error.
pub async fn insert_revoked_access_token(
    db: &impl ConnectionTrait,
    token: &AccessTokenRecord,
    now: i64,
) -> Result<(), DbErr> {
    access_token::Entity::insert(access_token::ActiveModel {
        jti: Set(token.jti.clone()),
        grant_id: Set(None),
        client_id: Set(token.client_id.clone()),
        user_id: Set(None),
        scope: Set(token.scope.clone()),
        created_at: Set(now),
        expires_at: Set(token.expires_at),
        revoked_at: Set(Some(now)),
    })
    .on_conflict_do_nothing()
    .exec(db)
    .await?;
    Ok(())
}

/// Revokes one access token.
pub async fn revoke_access_token(
    db: &impl ConnectionTrait,
    jti: &str,
    now: i64,
) -> Result<(), DbErr> {
    access_token::Entity::update_many()
        .col_expr(access_token::Column::RevokedAt, Expr::value(now))
        .filter(access_token::Column::Jti.eq(jti))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The grant of a refresh token that can still be used, with the token's expiry.
pub async fn usable_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: i64,
) -> Result<Option<(Grant, i64)>, DbErr> {
    let Some(row) = refresh_token::Entity::find_by_id(token_hash)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.consumed_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    Ok(active_grant(db, &row.grant_id, now)
        .await?
        .map(|g| (g, row.expires_at)))
}

/// The grant a refresh token belongs to, whatever the token's state.
pub async fn refresh_token_grant(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<(String, String)>, DbErr> {
    let Some(row) = refresh_token::Entity::find_by_id(token_hash)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let client = grant::Entity::find_by_id(&row.grant_id)
        .one(db)
        .await?
        .map(|g| g.client_id);
    Ok(client.map(|c| (row.grant_id, c)))
}

/// Deletes what can no longer be used: expired codes, and refresh/access token records whose
/// expiry has passed.
pub async fn delete_expired(db: &impl ConnectionTrait, now: i64) -> Result<(), DbErr> {
    authorization_code::Entity::delete_many()
        .filter(
            Condition::all()
                .add(authorization_code::Column::ExpiresAt.lt(now))
                // Used codes are kept a little longer so a replay still revokes its grant.
                .add(authorization_code::Column::CreatedAt.lt(now - 3600)),
        )
        .exec(db)
        .await?;
    refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    // Kept a while past expiry: a node whose clock lags still finds a revoked
    // client_credentials token's record (without one it would take the token for live).
    access_token::Entity::delete_many()
        .filter(access_token::Column::ExpiresAt.lt(now - 600))
        .exec(db)
        .await?;
    Ok(())
}
