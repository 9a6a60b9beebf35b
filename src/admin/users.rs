//! Creating and managing users.

use sea_orm::DatabaseConnection;

use super::AdminError;
use crate::{
    crypto::password::PasswordHasherConfig,
    model::user::{User, normalize_username, validate_password, validate_username},
    store::{self, users::CreateUserError},
};

pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub password: Option<String>,
}

/// Validates and stores a new user, with their password if given. Nothing is written if any
/// input is invalid or the username is taken.
pub async fn create(
    db: &DatabaseConnection,
    passwords: &PasswordHasherConfig,
    new: NewUser,
) -> Result<User, AdminError> {
    let username = normalize_username(&new.username);
    validate_username(&username).map_err(AdminError::Invalid)?;
    if let Some(email) = &new.email {
        let valid = email.len() <= 254
            && email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !email.contains(char::is_whitespace);
        if !valid {
            return Err(AdminError::Invalid(format!(
                "{email:?} is not an e-mail address"
            )));
        }
    }
    let hash = match new.password {
        Some(password) => {
            validate_password(&password).map_err(AdminError::Invalid)?;
            Some(passwords.hash(password).await?)
        }
        None => None,
    };
    let name = new
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    store::users::create(db, &username, new.email, name, hash)
        .await
        .map_err(|e| match e {
            CreateUserError::UsernameTaken(_) => AdminError::Invalid(e.to_string()),
            CreateUserError::Db(e) => e.into(),
        })
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<User>, AdminError> {
    Ok(store::users::list(db).await?)
}

/// Flags a user to set up a second factor at their next sign-in (or, with `false`, unflags).
pub async fn set_require_mfa(
    db: &DatabaseConnection,
    username: &str,
    require: bool,
) -> Result<(), AdminError> {
    if store::users::set_require_mfa(db, &normalize_username(username), require).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!("no user named {username:?}")))
    }
}

pub async fn set_disabled(
    db: &DatabaseConnection,
    username: &str,
    disabled: bool,
) -> Result<(), AdminError> {
    if store::users::set_disabled(db, &normalize_username(username), disabled).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!("no user named {username:?}")))
    }
}

/// A new invitation, with the link to hand over (shown once; only its digest is stored).
pub struct NewInvitation {
    pub invitation: store::invitations::Invitation,
    pub link: String,
}

/// The longest an invitation may stay valid.
pub const MAX_INVITATION_LIFETIME: std::time::Duration =
    std::time::Duration::from_secs(90 * 24 * 3600);

/// Makes a one-time sign-up link for `email`, optionally fixing the username the invitee
/// gets. The username follows the sign-up rules and must be free now (it is checked again
/// when the invitation is used).
pub async fn invite(
    db: &DatabaseConnection,
    issuer: &str,
    email: &str,
    username: Option<&str>,
    lifetime: std::time::Duration,
) -> Result<NewInvitation, AdminError> {
    use crate::signup::account;
    let email = account::check_email(email)
        .map_err(|_| AdminError::Invalid(format!("{email:?} is not an e-mail address")))?
        .ok_or_else(|| AdminError::Invalid("the e-mail address is empty".into()))?;
    let username = match username {
        Some(name) => {
            let name = crate::model::user::check_new_username(name)
                .map_err(|why| AdminError::Invalid(format!("username {name:?}: {why}")))?;
            if !account::is_available(db, &name).await? {
                return Err(AdminError::Invalid(format!(
                    "username {name:?} is taken (or looks like a taken one)"
                )));
            }
            Some(name)
        }
        None => None,
    };
    if lifetime < std::time::Duration::from_secs(60) || lifetime > MAX_INVITATION_LIFETIME {
        return Err(AdminError::Invalid(
            "an invitation lasts between 1 minute and 90 days".into(),
        ));
    }
    let now = crate::model::now();
    let (invitation, token) = store::invitations::create(
        db,
        Some(email),
        username,
        now,
        now + lifetime.as_secs() as i64,
    )
    .await?;
    let link = format!(
        "{issuer}{}",
        crate::routes::SIGNUP_INVITE.replace("{token}", &token)
    );
    Ok(NewInvitation { invitation, link })
}

/// Deletes a user and everything that signs them in (credentials, sessions, grants, tokens)
/// in one transaction, recording a security event that keeps only the user id.
pub async fn delete_user(db: &DatabaseConnection, user_id: &str) -> Result<bool, AdminError> {
    use sea_orm::TransactionTrait;
    let txn = db.begin_with_options(crate::store::WRITE).await?;
    if !store::users::delete(&txn, user_id).await? {
        return Ok(false);
    }
    store::security_events::record(
        &txn,
        Some(user_id),
        store::security_events::kind::ACCOUNT_DELETED,
        None,
    )
    .await?;
    txn.commit().await?;
    tracing::info!(user = %user_id, "account deleted");
    Ok(true)
}

/// `idp user delete USERNAME`.
pub async fn delete(db: &DatabaseConnection, username: &str) -> Result<User, AdminError> {
    let user = store::users::find_by_username(db, &normalize_username(username))
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no user named {username:?}")))?;
    if !delete_user(db, &user.id).await? {
        return Err(AdminError::NotFound(format!("no user named {username:?}")));
    }
    Ok(user)
}
