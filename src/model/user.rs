//! Users.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    /// Stable, opaque identifier; the `sub` claim.
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub disabled: bool,
    /// Must enroll a second factor at the next sign-in (admin-driven onboarding).
    pub require_mfa: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The canonical form of a username: usernames are compared without regard to ASCII case, so
/// "Alice" and "alice" are one account.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_ascii_lowercase()
}

/// Checks a new username: 1 to 64 characters from a conservative set, so that usernames are
/// unambiguous to read and type. (Unicode usernames arrive with self-service sign-up.)
pub fn validate_username(username: &str) -> Result<(), String> {
    if username.is_empty() || username.len() > 64 {
        return Err("a username has 1 to 64 characters".into());
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(format!(
            "username {username:?} may only contain letters, digits and . _ - @"
        ));
    }
    Ok(())
}

/// Checks a new password chosen by a person (NIST SP 800-63B §5.1.1.2: at least 8 characters,
/// no composition rules, a generous maximum).
pub fn validate_password(password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    let len = password.chars().count();
    if len < 8 {
        return Err("a password has at least 8 characters".into());
    }
    if len > 1024 {
        return Err("a password has at most 1024 characters".into());
    }
    Ok(())
}
