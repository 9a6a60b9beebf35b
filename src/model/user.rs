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
    /// Must add a passkey at the next sign-in, whatever else they prove (admin-driven
    /// passkey onboarding); cleared once they have one.
    pub require_passkey: bool,
    /// May use the admin pages and API (`idp user grant-admin`).
    pub is_admin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The canonical form of a username: Unicode NFKC (so that compatibility forms such as
/// full-width "ａｌｉｃｅ" are the plain letters), then lower case, so "Alice" and "alice" are
/// one account.
pub fn normalize_username(username: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    username.trim().nfkc().collect::<String>().to_lowercase()
}

/// The username's confusable skeleton (Unicode TS #39 §4): names with the same skeleton look
/// alike ("paypal" and "pаypal" with a Cyrillic "а", "rn" and "m"), so only one may exist.
pub fn username_skeleton(username: &str) -> String {
    unicode_security::skeleton(&normalize_username(username)).collect()
}

/// Names nobody may take at sign-up: they would look like the service speaking.
const RESERVED_USERNAMES: &[&str] = &[
    "admin",
    "administrator",
    "root",
    "system",
    "support",
    "security",
    "help",
    "info",
    "idp",
    "account",
    "accounts",
    "login",
    "signin",
    "signup",
    "register",
    "postmaster",
    "webmaster",
    "hostmaster",
    "abuse",
    "noreply",
    "no-reply",
    "null",
    "undefined",
    "anonymous",
    "everyone",
];

/// Checks a username a person chose at sign-up and returns its canonical form: 3 to 32
/// letters or digits of one script (plus `.`, `_` and `-` between them), not a reserved name.
/// The message says what to change.
pub fn check_new_username(raw: &str) -> Result<String, String> {
    use unicode_security::MixedScript;
    let username = normalize_username(raw);
    let len = username.chars().count();
    if !(3..=32).contains(&len) {
        return Err("A username has 3 to 32 characters.".into());
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-');
    let starts_and_ends_well =
        username.starts_with(char::is_alphanumeric) && username.ends_with(char::is_alphanumeric);
    if !username.chars().all(allowed) || !starts_and_ends_well {
        return Err(
            "A username may contain letters, digits and . _ - (not at the start or end).".into(),
        );
    }
    // Mixing scripts is the usual way to build a look-alike name.
    if !username.as_str().is_single_script() {
        return Err("A username uses the letters of one alphabet only.".into());
    }
    let reserved = username_skeleton(&username);
    if RESERVED_USERNAMES
        .iter()
        .any(|r| username_skeleton(r) == reserved)
    {
        return Err("That username is not available. Choose another one.".into());
    }
    Ok(username)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_usernames_are_normalized_and_checked() {
        assert_eq!(check_new_username("  Alice ").unwrap(), "alice");
        assert_eq!(check_new_username("ＡＬＩＣＥ").unwrap(), "alice");
        assert_eq!(check_new_username("zoë.k").unwrap(), "zoë.k");
        assert_eq!(check_new_username("Ζωή").unwrap(), "ζωή");
        assert!(check_new_username("al").is_err());
        assert!(check_new_username(&"a".repeat(33)).is_err());
        assert!(check_new_username("a b c").is_err());
        assert!(check_new_username(".alice").is_err());
        assert!(check_new_username("alice@example").is_err());
        // Latin "p" and "l" with a Cyrillic "а": two scripts.
        assert!(check_new_username("pаypal").is_err());
        assert!(check_new_username("Admin").is_err());
        assert!(check_new_username("adm1n").is_ok());
        assert!(check_new_username("rn0t").is_ok());
    }

    #[test]
    fn look_alike_usernames_share_a_skeleton() {
        assert_eq!(username_skeleton("paypal"), username_skeleton("pаypal"));
        assert_eq!(username_skeleton("Paypal"), username_skeleton("paypal"));
        assert_eq!(username_skeleton("modern"), username_skeleton("rnodern"));
        assert_ne!(username_skeleton("alice"), username_skeleton("alicia"));
    }
}
