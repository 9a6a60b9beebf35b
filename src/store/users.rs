//! Users and their password credentials.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, TransactionTrait, sea_query::Expr,
};

use entity::{credential, user};

use crate::model::{
    now,
    user::{User, username_skeleton},
};

/// The `credentials.kind` of a password.
pub const PASSWORD: &str = "password";

impl From<user::Model> for User {
    fn from(row: user::Model) -> Self {
        User {
            id: row.id,
            username: row.username,
            email: row.email,
            name: row.name,
            disabled: row.disabled,
            require_mfa: row.require_mfa,
            require_passkey: row.require_passkey,
            is_admin: row.is_admin,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("a user named {0:?} already exists")]
    UsernameTaken(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Creates a user and, if given, their password credential, in one transaction.
pub async fn create(
    db: &sea_orm::DatabaseConnection,
    username: &str,
    email: Option<String>,
    name: Option<String>,
    password_hash: Option<String>,
) -> Result<User, CreateUserError> {
    let txn = db.begin_with_options(crate::store::WRITE).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let user = insert(&txn, &id, username, email, name, password_hash).await?;
    txn.commit().await?;
    Ok(user)
}

/// Inserts a user with the given id (and their password credential, if given) as part of
/// the caller's transaction.
pub async fn insert(
    txn: &impl ConnectionTrait,
    id: &str,
    username: &str,
    email: Option<String>,
    name: Option<String>,
    password_hash: Option<String>,
) -> Result<User, CreateUserError> {
    let now = now();
    let id = id.to_owned();
    let row = user::ActiveModel {
        id: Set(id.clone()),
        username: Set(username.to_owned()),
        username_skeleton: Set(Some(username_skeleton(username))),
        email: Set(email),
        name: Set(name),
        disabled: Set(false),
        require_mfa: Set(false),
        require_passkey: Set(false),
        is_admin: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await
    .map_err(|e| {
        if crate::store::is_unique_violation(&e) {
            CreateUserError::UsernameTaken(username.to_owned())
        } else {
            CreateUserError::Db(e)
        }
    })?;
    if let Some(hash) = password_hash {
        credential::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            user_id: Set(id),
            kind: Set(PASSWORD.into()),
            label: Set(None),
            external_id: Set(None),
            secret: Set(hash),
            metadata: Set(None),
            created_at: Set(now),
            last_used_at: Set(None),
        }
        .insert(txn)
        .await?;
    }
    Ok(row.into())
}

/// Whether a user's name looks like `skeleton` (Unicode TS #39): such a name is taken.
pub async fn skeleton_taken(db: &impl ConnectionTrait, skeleton: &str) -> Result<bool, DbErr> {
    Ok(user::Entity::find()
        .filter(user::Column::UsernameSkeleton.eq(skeleton))
        .one(db)
        .await?
        .is_some())
}

/// Computes the skeletons of users created before they were stored (migration m0006).
pub async fn backfill_skeletons(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let missing = user::Entity::find()
        .filter(user::Column::UsernameSkeleton.is_null())
        .all(db)
        .await?;
    for row in missing {
        user::Entity::update_many()
            .col_expr(
                user::Column::UsernameSkeleton,
                Expr::value(username_skeleton(&row.username)),
            )
            .filter(user::Column::Id.eq(row.id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Deletes a user. Their credentials (password, passkeys, app, recovery codes), sessions,
/// grants, codes and tokens go with them (the foreign keys cascade). `false` if there is no
/// such user.
pub async fn delete(db: &impl ConnectionTrait, user_id: &str) -> Result<bool, DbErr> {
    let result = user::Entity::delete_by_id(user_id).exec(db).await?;
    Ok(result.rows_affected == 1)
}

pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<User>, DbErr> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?
        .map(User::from))
}

pub async fn find_by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<User>, DbErr> {
    Ok(user::Entity::find_by_id(id).one(db).await?.map(User::from))
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<User>, DbErr> {
    Ok(user::Entity::find()
        .order_by_asc(user::Column::Username)
        .all(db)
        .await?
        .into_iter()
        .map(User::from)
        .collect())
}

/// Users by username, those whose username, name or e-mail contains `query` (any case) if
/// one is given; `limit` of them after skipping `offset`.
pub async fn search(
    db: &impl ConnectionTrait,
    query: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<Vec<User>, DbErr> {
    use sea_orm::{
        Condition, QuerySelect,
        sea_query::{ExprTrait, Func, LikeExpr},
    };
    let mut select = user::Entity::find();
    if let Some(query) = query {
        let escaped = query
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = || LikeExpr::new(format!("%{escaped}%")).escape('\\');
        let lower = |column: user::Column| Expr::expr(Func::lower(Expr::col(column)));
        select = select.filter(
            Condition::any()
                .add(lower(user::Column::Username).like(pattern()))
                .add(lower(user::Column::Name).like(pattern()))
                .add(lower(user::Column::Email).like(pattern())),
        );
    }
    Ok(select
        .order_by_asc(user::Column::Username)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?
        .into_iter()
        .map(User::from)
        .collect())
}

/// Enables or disables a user. Returns `false` if there is no such user.
pub async fn set_disabled(
    db: &impl ConnectionTrait,
    username: &str,
    disabled: bool,
) -> Result<bool, DbErr> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::Disabled, Expr::value(disabled))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Username.eq(username))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Gives or takes the admin role. Returns `false` if there is no such user.
pub async fn set_admin(
    db: &impl ConnectionTrait,
    user_id: &str,
    admin: bool,
) -> Result<bool, DbErr> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::IsAdmin, Expr::value(admin))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Sets whether the user must enroll a second factor. Returns `false` if there is no such user.
pub async fn set_require_mfa(
    db: &impl ConnectionTrait,
    username: &str,
    require: bool,
) -> Result<bool, DbErr> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::RequireMfa, Expr::value(require))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Username.eq(username))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Sets whether the user must add a passkey at their next sign-in. Returns `false` if there
/// is no such user.
pub async fn set_require_passkey(
    db: &impl ConnectionTrait,
    user_id: &str,
    require: bool,
) -> Result<bool, DbErr> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::RequirePasskey, Expr::value(require))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The user added a passkey: an admin's request for one is met.
pub async fn passkey_requirement_met(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::RequirePasskey, Expr::value(false))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::RequirePasskey.eq(true))
        .exec(db)
        .await?;
    Ok(())
}

/// The user's password hash (PHC string), if they have a password.
pub async fn password_hash(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<String>, DbErr> {
    Ok(credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(PASSWORD))
        .one(db)
        .await?
        .map(|c| c.secret))
}

/// Sets (or replaces) the user's password hash.
pub async fn set_password(
    db: &impl ConnectionTrait,
    user_id: &str,
    hash: &str,
) -> Result<(), DbErr> {
    credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(PASSWORD))
        .exec(db)
        .await?;
    credential::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        user_id: Set(user_id.to_owned()),
        kind: Set(PASSWORD.into()),
        label: Set(None),
        external_id: Set(None),
        secret: Set(hash.to_owned()),
        metadata: Set(None),
        created_at: Set(now()),
        last_used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Records that a credential was just used to sign in.
pub async fn touch_password(db: &impl ConnectionTrait, user_id: &str) -> Result<(), DbErr> {
    credential::Entity::update_many()
        .col_expr(credential::Column::LastUsedAt, Expr::value(now()))
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(PASSWORD))
        .exec(db)
        .await?;
    Ok(())
}
