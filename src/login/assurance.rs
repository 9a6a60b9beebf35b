//! What a sign-in proved, and the `amr` (RFC 8176) and `acr` values derived from it. This is
//! the only place either claim is computed: a session, an authorization code, a grant and
//! every token issued from them carry an [`Authentication`] unchanged and ask it.

use serde::{Deserialize, Serialize};

/// A factor verified during one sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum AuthMethod {
    /// A memorized secret checked against its argon2id hash.
    Password,
}

/// RFC 8176 §2 authentication method reference values.
pub mod amr {
    pub const PWD: &str = "pwd";
}

/// Levels of the acr ladder, lowest first. The assurance work adds `mfa`, `phr` and `phrh`.
pub mod acr {
    /// Single factor: a password only.
    pub const PWD: &str = "pwd";
    /// Every value this server can assert, for `acr_values_supported`.
    pub const SUPPORTED: &[&str] = &[PWD];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedFactor {
    #[serde(flatten)]
    pub method: AuthMethod,
    /// Unix time of the verification.
    pub at: i64,
}

/// The outcome of a completed sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    pub user_id: String,
    pub factors: Vec<VerifiedFactor>,
    /// When the user last actively authenticated (OIDC Core §2 `auth_time`): the time of the
    /// last factor verified.
    pub auth_time: i64,
}

impl Authentication {
    pub fn new(user_id: String, factors: Vec<VerifiedFactor>) -> Authentication {
        let auth_time = factors.iter().map(|f| f.at).max().unwrap_or_default();
        Authentication {
            user_id,
            factors,
            auth_time,
        }
    }

    /// RFC 8176 values for what was verified in this sign-in (never what the account merely
    /// has enrolled), in a stable order.
    pub fn amr(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for factor in &self.factors {
            let value = match factor.method {
                AuthMethod::Password => amr::PWD,
            };
            if !out.contains(&value) {
                out.push(value);
            }
        }
        out
    }

    /// The highest rung of the acr ladder the verified factors satisfy.
    pub fn acr(&self) -> &'static str {
        acr::PWD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_sign_in_is_pwd() {
        let auth = Authentication::new(
            "u".into(),
            vec![VerifiedFactor {
                method: AuthMethod::Password,
                at: 100,
            }],
        );
        assert_eq!(auth.amr(), vec!["pwd"]);
        assert_eq!(auth.acr(), "pwd");
        assert_eq!(auth.auth_time, 100);
    }

    #[test]
    fn serializes_compactly() {
        let f = VerifiedFactor {
            method: AuthMethod::Password,
            at: 5,
        };
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"method":"password","at":5}"#
        );
    }
}
