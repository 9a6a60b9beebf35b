//! What a sign-in proved, and the `amr` (RFC 8176, plus `pop` from OpenID Connect EAP ACR
//! Values 1.0) and `acr` values derived from it. This is the only place either claim is
//! computed: a session, an authorization code, a grant and every token issued from them
//! carry an [`Authentication`] unchanged and ask it.

use serde::{Deserialize, Serialize};

/// A factor verified during one sign-in, with the facts `amr`/`acr` depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum AuthMethod {
    /// A memorized secret checked against its argon2id hash.
    Password,
    /// A code from an authenticator app (TOTP, RFC 6238).
    Totp,
    /// One of the user's one-time recovery codes.
    RecoveryCode,
    /// A WebAuthn assertion. User presence is always tested (webauthn-rs refuses assertions
    /// without it); the other flags come from the authenticator data.
    Passkey {
        user_verified: bool,
        /// The credential may be synced to other devices (a "synced passkey").
        backup_eligible: bool,
        backup_state: bool,
        /// Attestation proved a hardware-protected key. Never true with `none` attestation.
        #[serde(default)]
        attested_hardware: bool,
    },
}

/// RFC 8176 §2 authentication method reference values.
pub mod amr {
    pub const PWD: &str = "pwd";
    /// One-time password: an authenticator-app code.
    pub const OTP: &str = "otp";
    /// A one-time recovery code. RFC 8176 registers no value for these, and `otp` would hide
    /// from a relying party that the user's usual second factor was *not* used (the code may
    /// have been printed long ago), so we use this self-describing, unregistered value.
    pub const RECOVERY_CODE: &str = "recovery_code";
    /// Proof of possession of a key (OpenID Connect EAP ACR Values 1.0 §3).
    pub const POP: &str = "pop";
    /// User presence was tested.
    pub const USER: &str = "user";
    /// Hardware-secured key.
    pub const HWK: &str = "hwk";
    /// Software-secured key: we use it for synced (backup-eligible) passkeys.
    pub const SWK: &str = "swk";
    pub const MFA: &str = "mfa";
}

/// Levels of the acr ladder, lowest first; each satisfies everything below it.
pub mod acr {
    /// Single factor: a password only.
    pub const PWD: &str = "pwd";
    /// Two independent factors, not phishing-resistant (password + app code or recovery code).
    pub const MFA: &str = "mfa";
    /// Phishing-resistant (OpenID Connect EAP ACR Values 1.0): a passkey was used.
    pub const PHR: &str = "phr";
    /// Every value this server can assert, lowest first, for `acr_values_supported`.
    pub const SUPPORTED: &[&str] = &[PWD, MFA, PHR];

    /// A value's place on the ladder; `None` for values we cannot assert.
    pub fn rank(value: &str) -> Option<usize> {
        SUPPORTED.iter().position(|v| *v == value)
    }
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

    fn passkeys(&self) -> impl Iterator<Item = &AuthMethod> {
        self.factors
            .iter()
            .map(|f| &f.method)
            .filter(|m| matches!(m, AuthMethod::Passkey { .. }))
    }

    /// RFC 8176 values for what was verified in this sign-in (never what the account merely
    /// has enrolled), in a stable order.
    pub fn amr(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut push = |value: &'static str| {
            if !out.contains(&value) {
                out.push(value);
            }
        };
        let mut kinds = 0;
        let mut verified_passkey = false;
        for (method, value) in [
            (AuthMethod::Password, amr::PWD),
            (AuthMethod::Totp, amr::OTP),
            (AuthMethod::RecoveryCode, amr::RECOVERY_CODE),
        ] {
            if self.factors.iter().any(|f| f.method == method) {
                push(value);
                kinds += 1;
            }
        }
        for method in self.passkeys() {
            let AuthMethod::Passkey {
                user_verified,
                backup_eligible,
                attested_hardware,
                ..
            } = *method
            else {
                continue;
            };
            push(amr::POP);
            push(amr::USER);
            if backup_eligible {
                push(amr::SWK);
            } else if attested_hardware {
                push(amr::HWK);
            }
            verified_passkey |= user_verified;
        }
        if self.passkeys().next().is_some() {
            kinds += 1;
        }
        // Two independent factors, or a passkey with user verification: the authenticator
        // itself combined possession with a PIN or biometric.
        if kinds >= 2 || verified_passkey {
            push(amr::MFA);
        }
        out
    }

    /// Whether this sign-in reaches the ladder rung `required` (or a higher one).
    pub fn satisfies(&self, required: usize) -> bool {
        acr::rank(self.acr()).is_some_and(|rank| rank >= required)
    }

    /// The highest rung of the acr ladder the verified factors satisfy.
    pub fn acr(&self) -> &'static str {
        let distinct = self
            .factors
            .iter()
            .map(|f| std::mem::discriminant(&f.method))
            .collect::<std::collections::HashSet<_>>()
            .len();
        if self.passkeys().next().is_some() {
            acr::PHR
        } else if distinct >= 2 {
            acr::MFA
        } else {
            acr::PWD
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: AuthMethod = AuthMethod::Password;
    const fn passkey(uv: bool, synced: bool) -> AuthMethod {
        AuthMethod::Passkey {
            user_verified: uv,
            backup_eligible: synced,
            backup_state: synced,
            attested_hardware: false,
        }
    }

    #[test]
    fn amr_and_acr_for_every_combination() {
        let table: &[(&[AuthMethod], &[&str], &str)] = &[
            (&[PASSWORD], &["pwd"], "pwd"),
            (
                &[passkey(true, true)],
                &["pop", "user", "swk", "mfa"],
                "phr",
            ),
            (&[passkey(true, false)], &["pop", "user", "mfa"], "phr"),
            (&[passkey(false, false)], &["pop", "user"], "phr"),
            (
                &[PASSWORD, passkey(true, true)],
                &["pwd", "pop", "user", "swk", "mfa"],
                "phr",
            ),
            (
                &[PASSWORD, passkey(false, false)],
                &["pwd", "pop", "user", "mfa"],
                "phr",
            ),
            (&[PASSWORD, AuthMethod::Totp], &["pwd", "otp", "mfa"], "mfa"),
            (
                &[PASSWORD, AuthMethod::RecoveryCode],
                &["pwd", "recovery_code", "mfa"],
                "mfa",
            ),
            (
                &[AuthMethod::Passkey {
                    user_verified: true,
                    backup_eligible: false,
                    backup_state: false,
                    attested_hardware: true,
                }],
                &["pop", "user", "hwk", "mfa"],
                "phr",
            ),
        ];
        for (methods, amr, acr) in table {
            let factors = methods
                .iter()
                .enumerate()
                .map(|(i, &method)| VerifiedFactor {
                    method,
                    at: 100 + i as i64,
                })
                .collect();
            let auth = Authentication::new("u".into(), factors);
            assert_eq!(auth.amr(), *amr, "{methods:?}");
            assert_eq!(auth.acr(), *acr, "{methods:?}");
            assert_eq!(auth.auth_time, 100 + methods.len() as i64 - 1);
        }
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
