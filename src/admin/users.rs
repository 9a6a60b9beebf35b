//! Creating and managing users.

use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::json;

use super::{Actor, AdminError, audit};
use crate::{
    crypto::{at_rest::SecretBox, password::PasswordHasherConfig},
    model::{
        now,
        user::{User, normalize_username, validate_password, validate_username},
    },
    store::{self, security_events::kind, users::CreateUserError},
};

/// The user named `username` (compared as usernames are: case- and width-insensitively).
pub async fn find(db: &DatabaseConnection, username: &str) -> Result<User, AdminError> {
    store::users::find_by_username(db, &normalize_username(username))
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no user named {username:?}")))
}

/// One of a user's sign-in methods as an admin sees it: what it is, when it was added and
/// last used. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignInMethod {
    /// `password`, `passkey` or `totp`.
    pub kind: &'static str,
    /// The passkey's name; none for the others.
    pub name: Option<String>,
    pub created_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A user's sign-in methods and how many unused recovery codes they have.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignInMethods {
    pub methods: Vec<SignInMethod>,
    pub recovery_codes_left: u64,
}

/// What the user with id `user_id` can sign in with.
pub async fn sign_in_methods(
    db: &DatabaseConnection,
    secrets: &SecretBox,
    user_id: &str,
) -> Result<SignInMethods, AdminError> {
    let mut methods = Vec::new();
    if store::users::password_hash(db, user_id).await?.is_some() {
        methods.push(SignInMethod {
            kind: "password",
            name: None,
            created_at: None,
            last_used_at: None,
        });
    }
    for passkey in store::passkeys::list(db, user_id).await? {
        methods.push(SignInMethod {
            kind: "passkey",
            name: Some(passkey.name),
            created_at: Some(passkey.created_at),
            last_used_at: passkey.last_used_at,
        });
    }
    if let Some(totp) = store::totp::active(db, secrets, user_id).await? {
        methods.push(SignInMethod {
            kind: "totp",
            name: None,
            created_at: Some(totp.created_at),
            last_used_at: totp.last_used_at,
        });
    }
    Ok(SignInMethods {
        methods,
        recovery_codes_left: store::recovery_codes::remaining(db, user_id).await?,
    })
}

/// The user with id `user_id`.
pub async fn get(db: &DatabaseConnection, user_id: &str) -> Result<User, AdminError> {
    store::users::find_by_id(db, user_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no user with id {user_id:?}")))
}

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
    actor: &Actor,
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
    let txn = db.begin_with_options(store::WRITE).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let user = store::users::insert(&txn, &id, &username, new.email, name, hash)
        .await
        .map_err(|e| match e {
            CreateUserError::UsernameTaken(_) => AdminError::Invalid(e.to_string()),
            CreateUserError::Db(e) => e.into(),
        })?;
    audit(
        &txn,
        actor,
        Some(&user.id),
        kind::USER_CREATED,
        Some(json!({"username": user.username})),
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<User>, AdminError> {
    Ok(store::users::list(db).await?)
}

/// What an admin can make a user set up at their next sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    SecondFactor,
    Passkey,
}

/// Makes a user set up `requirement` at their next sign-in (or, with `false`, lifts it).
pub async fn set_requirement(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
    requirement: Requirement,
    require: bool,
) -> Result<(), AdminError> {
    let user = find(db, username).await?;
    let txn = db.begin_with_options(store::WRITE).await?;
    let event = match requirement {
        Requirement::SecondFactor => {
            store::users::set_require_mfa(&txn, &user.username, require).await?;
            if require {
                kind::MFA_REQUIRED
            } else {
                kind::MFA_NO_LONGER_REQUIRED
            }
        }
        Requirement::Passkey => {
            // Met already: a flag nothing would clear would surprise the user the day they
            // remove their last passkey.
            if require && store::passkeys::count(&txn, &user.id).await? > 0 {
                return Err(AdminError::Invalid(format!(
                    "{} already has a passkey.",
                    user.username
                )));
            }
            store::users::set_require_passkey(&txn, &user.id, require).await?;
            if require {
                kind::PASSKEY_REQUIRED
            } else {
                kind::PASSKEY_NO_LONGER_REQUIRED
            }
        }
    };
    audit(&txn, actor, Some(&user.id), event, None).await?;
    txn.commit().await?;
    Ok(())
}

/// Flags a user to set up a second factor at their next sign-in (or, with `false`, unflags).
pub async fn set_require_mfa(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
    require: bool,
) -> Result<(), AdminError> {
    set_requirement(db, actor, username, Requirement::SecondFactor, require).await
}

/// Flags a user to add a passkey at their next sign-in (or, with `false`, unflags). Adding a
/// passkey, wherever it happens, clears the flag; a user who has one cannot be flagged.
pub async fn set_require_passkey(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
    require: bool,
) -> Result<(), AdminError> {
    set_requirement(db, actor, username, Requirement::Passkey, require).await
}

/// Disables (or enables again) a user. Disabling signs them out everywhere and revokes every
/// grant with its refresh and access tokens, so enabling them later revives nothing.
pub async fn set_disabled(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
    disabled: bool,
) -> Result<(), AdminError> {
    let user = find(db, username).await?;
    let txn = db.begin_with_options(store::WRITE).await?;
    store::users::set_disabled(&txn, &user.username, disabled).await?;
    if disabled {
        revoke_everything(&txn, &user.id).await?;
    }
    let event = if disabled {
        kind::USER_DISABLED
    } else {
        kind::USER_ENABLED
    };
    audit(&txn, actor, Some(&user.id), event, None).await?;
    txn.commit().await?;
    Ok(())
}

/// Signs a user out of every browser and revokes every grant with its tokens; the user can
/// sign in again.
pub async fn sign_out_everywhere(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
) -> Result<(), AdminError> {
    let user = find(db, username).await?;
    let txn = db.begin_with_options(store::WRITE).await?;
    let (sessions, grants) = revoke_everything(&txn, &user.id).await?;
    let detail = json!({"sessions": sessions, "grants": grants});
    audit(
        &txn,
        actor,
        Some(&user.id),
        kind::SIGNED_OUT_EVERYWHERE,
        Some(detail),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Revokes the user's sessions and grants; returns how many of each were active.
async fn revoke_everything(
    txn: &impl sea_orm::ConnectionTrait,
    user_id: &str,
) -> Result<(u64, usize), AdminError> {
    let now = now();
    let sessions = store::user_sessions::revoke_all(txn, user_id, now).await?;
    let grants = store::tokens::revoke_user_grants(txn, user_id, now).await?;
    Ok((sessions, grants.len()))
}

/// Makes a user an admin (or, with `false`, takes the role away).
pub async fn set_admin(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
    admin: bool,
) -> Result<User, AdminError> {
    let user = find(db, username).await?;
    let txn = db.begin_with_options(store::WRITE).await?;
    store::users::set_admin(&txn, &user.id, admin).await?;
    let event = if admin {
        kind::ADMIN_GRANTED
    } else {
        kind::ADMIN_REVOKED
    };
    audit(&txn, actor, Some(&user.id), event, None).await?;
    txn.commit().await?;
    Ok(User {
        is_admin: admin,
        ..user
    })
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
    actor: &Actor,
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
    let txn = db.begin_with_options(store::WRITE).await?;
    let detail = json!({"email": email, "username": username});
    let (invitation, token) = store::invitations::create(
        &txn,
        Some(email),
        username,
        now,
        now + lifetime.as_secs() as i64,
    )
    .await?;
    audit(&txn, actor, None, kind::INVITATION_CREATED, Some(detail)).await?;
    txn.commit().await?;
    let link = format!(
        "{issuer}{}",
        crate::routes::SIGNUP_INVITE.replace("{token}", &token)
    );
    Ok(NewInvitation { invitation, link })
}

/// Deletes a user and everything that signs them in (credentials, sessions, grants, tokens)
/// in one transaction, recording a security event that keeps only the user id.
pub async fn delete_user(
    db: &DatabaseConnection,
    actor: &Actor,
    user_id: &str,
) -> Result<bool, AdminError> {
    let txn = db.begin_with_options(store::WRITE).await?;
    if !store::users::delete(&txn, user_id).await? {
        return Ok(false);
    }
    audit(&txn, actor, Some(user_id), kind::ACCOUNT_DELETED, None).await?;
    txn.commit().await?;
    tracing::info!(user = %user_id, "account deleted");
    Ok(true)
}

/// `idp user delete USERNAME`.
pub async fn delete(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
) -> Result<User, AdminError> {
    let user = find(db, username).await?;
    if !delete_user(db, actor, &user.id).await? {
        return Err(AdminError::NotFound(format!("no user named {username:?}")));
    }
    Ok(user)
}

/// Which sign-in methods an admin resets; all of them when none is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FactorReset {
    pub passkeys: bool,
    pub totp: bool,
    pub recovery_codes: bool,
}

impl FactorReset {
    fn or_all(self) -> FactorReset {
        if self == FactorReset::default() {
            FactorReset {
                passkeys: true,
                totp: true,
                recovery_codes: true,
            }
        } else {
            self
        }
    }
}

/// Removes a user's passkeys, authenticator app and/or recovery codes (an account that lost
/// them, or whose devices were stolen), and signs them out everywhere. The password stays.
/// A recovery link ([`recovery_link`]) lets them add a new passkey afterwards.
pub async fn reset_factors(
    db: &DatabaseConnection,
    actor: &Actor,
    username: &str,
    reset: FactorReset,
) -> Result<(), AdminError> {
    let reset = reset.or_all();
    let user = find(db, username).await?;
    let txn = db.begin_with_options(store::WRITE).await?;
    if reset.passkeys {
        store::passkeys::delete_all(&txn, &user.id).await?;
    }
    if reset.totp {
        store::totp::remove(&txn, &user.id).await?;
    }
    if reset.recovery_codes {
        store::recovery_codes::remove_all(&txn, &user.id).await?;
    }
    revoke_everything(&txn, &user.id).await?;
    let detail = json!({
        "passkeys": reset.passkeys,
        "totp": reset.totp,
        "recovery_codes": reset.recovery_codes,
    });
    audit(
        &txn,
        actor,
        Some(&user.id),
        kind::FACTORS_RESET,
        Some(detail),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The longest a recovery link may stay valid.
pub const MAX_RECOVERY_LINK_LIFETIME: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 3600);

/// Makes a one-time link (shown once; stored as a digest) with which the user adds a new
/// passkey and is signed in to their account.
pub async fn recovery_link(
    db: &DatabaseConnection,
    actor: &Actor,
    issuer: &str,
    username: &str,
    lifetime: std::time::Duration,
) -> Result<(String, i64), AdminError> {
    if lifetime < std::time::Duration::from_secs(60) || lifetime > MAX_RECOVERY_LINK_LIFETIME {
        return Err(AdminError::Invalid(
            "a recovery link lasts between 1 minute and 7 days".into(),
        ));
    }
    let user = find(db, username).await?;
    if user.disabled {
        return Err(AdminError::Invalid(format!(
            "{} is disabled; enable them first",
            user.username
        )));
    }
    let now = now();
    let expires_at = now + lifetime.as_secs() as i64;
    let txn = db.begin_with_options(store::WRITE).await?;
    let token = store::recovery_links::create(&txn, &user.id, now, expires_at).await?;
    audit(
        &txn,
        actor,
        Some(&user.id),
        kind::RECOVERY_LINK_CREATED,
        Some(json!({"expires_at": expires_at})),
    )
    .await?;
    txn.commit().await?;
    let link = format!(
        "{issuer}{}",
        crate::routes::LOGIN_RECOVERY_LINK.replace("{token}", &token)
    );
    Ok((link, expires_at))
}
