//! What a new account is made of, checked before anything is written: the username rules
//! (model::user), an optional display name and e-mail (profile data only, never a sign-in
//! factor), and the invitation it uses, if any.

use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};

use crate::{
    model::user::{check_new_username, username_skeleton},
    store::{
        self,
        invitations::{Invitation, Lookup},
    },
};

/// A checked request for an account. Kept server-side with the passkey ceremony, so what the
/// browser sends when finishing is not trusted for any of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub invitation_id: Option<String>,
}

/// Why an account cannot be made as asked, in words for the person signing up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignupError {
    #[error("{0}")]
    Username(String),
    /// Taken, or too like a taken name: said the same way, so nothing more is revealed.
    #[error("That username is not available. Choose another one.")]
    Unavailable,
    #[error("A display name has at most 64 characters and no control characters.")]
    DisplayName,
    #[error("That does not look like an e-mail address.")]
    Email,
    #[error("This invitation link is not valid.")]
    InvitationUnknown,
    #[error("This invitation has already been used.")]
    InvitationUsed,
    #[error("This invitation has expired. Ask for a new one.")]
    InvitationExpired,
}

impl SignupError {
    /// The machine-readable code of the JSON API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Username(_) => "invalid_username",
            Self::Unavailable => "username_unavailable",
            Self::DisplayName => "invalid_display_name",
            Self::Email => "invalid_email",
            Self::InvitationUnknown | Self::InvitationUsed | Self::InvitationExpired => {
                "invalid_invitation"
            }
        }
    }

    pub fn of_lookup(lookup: &Lookup) -> Option<SignupError> {
        match lookup {
            Lookup::Valid(_) => None,
            Lookup::Used => Some(Self::InvitationUsed),
            Lookup::Expired => Some(Self::InvitationExpired),
            Lookup::Unknown => Some(Self::InvitationUnknown),
        }
    }
}

/// A free-text profile field: trimmed, empty means absent.
fn optional(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

pub fn check_display_name(value: &str) -> Result<Option<String>, SignupError> {
    let name = optional(value);
    match &name {
        Some(n) if n.chars().count() > 64 || n.chars().any(char::is_control) => {
            Err(SignupError::DisplayName)
        }
        _ => Ok(name),
    }
}

/// A plausible address: one `@` with something on both sides, a dot in the domain, no
/// spaces, at most 254 characters (RFC 5321 §4.5.3.1.3). It is profile data and never
/// verified or used to sign in, so plausibility is all we check.
pub fn check_email(value: &str) -> Result<Option<String>, SignupError> {
    let Some(email) = optional(value) else {
        return Ok(None);
    };
    let plausible = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if plausible {
        Ok(Some(email))
    } else {
        Err(SignupError::Email)
    }
}

/// Checks what the person typed, with the invitation (if any) deciding the username and
/// e-mail it names.
pub fn check(
    username: &str,
    display_name: &str,
    email: &str,
    invitation: Option<&Invitation>,
) -> Result<NewAccount, SignupError> {
    let username = match invitation.and_then(|i| i.username.as_deref()) {
        Some(chosen) => chosen.to_owned(),
        None => check_new_username(username).map_err(SignupError::Username)?,
    };
    let email = match invitation.and_then(|i| i.email.clone()) {
        Some(invited) if email.trim().is_empty() => Some(invited),
        _ => check_email(email)?,
    };
    Ok(NewAccount {
        username,
        display_name: check_display_name(display_name)?,
        email,
        invitation_id: invitation.map(|i| i.id.clone()),
    })
}

/// Whether the username (or one that looks like it) is taken.
pub async fn is_available(db: &impl ConnectionTrait, username: &str) -> Result<bool, DbErr> {
    Ok(store::users::find_by_username(db, username)
        .await?
        .is_none()
        && !store::users::skeleton_taken(db, &username_skeleton(username)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_fields_are_optional_and_checked() {
        let account = check(" Zoë ", "  ", "", None).unwrap();
        assert_eq!(account.username, "zoë");
        assert_eq!(account.display_name, None);
        assert_eq!(account.email, None);
        let account = check("zoe", "Zoë K.", "zoe@example.com", None).unwrap();
        assert_eq!(account.display_name.as_deref(), Some("Zoë K."));
        assert_eq!(account.email.as_deref(), Some("zoe@example.com"));
        assert_eq!(check("zoe", "", "zoe", None), Err(SignupError::Email));
        assert_eq!(check("zoe", "", "a@b", None), Err(SignupError::Email));
        assert_eq!(check("zoe", "", "a b@c.d", None), Err(SignupError::Email));
        assert_eq!(
            check("zoe", &"x".repeat(65), "", None),
            Err(SignupError::DisplayName)
        );
        assert!(matches!(
            check("z", "", "", None),
            Err(SignupError::Username(_))
        ));
    }

    #[test]
    fn an_invitation_decides_the_username_and_suggests_the_email() {
        let invitation = Invitation {
            id: "i".into(),
            email: Some("new@example.com".into()),
            username: Some("newbie".into()),
            created_at: 0,
            expires_at: 10,
            used_at: None,
        };
        let account = check("somebody", "", "", Some(&invitation)).unwrap();
        assert_eq!(account.username, "newbie");
        assert_eq!(account.email.as_deref(), Some("new@example.com"));
        assert_eq!(account.invitation_id.as_deref(), Some("i"));
    }
}
