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
