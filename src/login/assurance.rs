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

/// The rungs of the acr ladder, lowest first; each satisfies everything below it. The names
/// sent on the wire are configurable ([`AcrLadder`]); these variants (and their serialized
/// form, which is also the default name) are what the database and transactions store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Single factor: a password only.
    Pwd,
    /// Two independent factors, not phishing-resistant (password + app code or recovery code).
    Mfa,
    /// Phishing-resistant (OpenID Connect EAP ACR Values 1.0 `phr`): a passkey was used.
    Phr,
    /// Phishing-resistant with a hardware-protected key (EAP ACR Values `phrh`): a
    /// device-bound passkey whose attestation chains to an authenticator the operator trusts.
    Phrh,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Pwd, Level::Mfa, Level::Phr, Level::Phrh];

    /// The storage key (and default wire name).
    pub const fn key(self) -> &'static str {
        match self {
            Level::Pwd => "pwd",
            Level::Mfa => "mfa",
            Level::Phr => "phr",
            Level::Phrh => "phrh",
        }
    }

    pub fn from_key(key: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.key() == key)
    }

    /// Only passkeys reach this level.
    pub fn needs_passkey(self) -> bool {
        self >= Level::Phr
    }
}

/// The acr values this server asserts: the configured name of each rung, and which rungs are
/// reachable (`phrh` only when attestation is requested and some authenticator is trusted).
#[derive(Debug, Clone, Copy)]
pub struct AcrLadder<'a> {
    pub names: &'a crate::config::AcrNames,
    pub hardware: bool,
}

impl AcrLadder<'_> {
    pub fn name(&self, level: Level) -> &str {
        self.names.name(level)
    }

    /// The rungs we can assert, lowest first.
    pub fn levels(&self) -> impl Iterator<Item = Level> + '_ {
        Level::ALL
            .into_iter()
            .filter(|l| *l != Level::Phrh || self.hardware)
    }

    /// The rung a wire value names; `None` for values we cannot assert.
    pub fn level(&self, value: &str) -> Option<Level> {
        self.levels().find(|l| self.name(*l) == value)
    }

    /// For discovery's `acr_values_supported`.
    pub fn supported(&self) -> Vec<&str> {
        self.levels().map(|l| self.name(l)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedFactor {
    #[serde(flatten)]
    pub method: AuthMethod,
    /// Unix time of the verification.
    pub at: i64,
    /// The factor was set up during this sign-in of an existing account (onboarding, or
    /// replacing lost passkeys): creating it proved the new authenticator works, not who the
    /// user is. It appears in `amr` (the ceremony happened) but lifts the level only as far as
    /// `mfa`: a passkey bootstrapped from a phishable password is not a phishing-resistant
    /// sign-in until it is used to sign in ([`Authentication::level`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enrolled: bool,
}

impl VerifiedFactor {
    /// A factor the user proved by using it.
    pub const fn proven(method: AuthMethod, at: i64) -> VerifiedFactor {
        VerifiedFactor {
            method,
            at,
            enrolled: false,
        }
    }

    /// A factor the user set up during this sign-in.
    pub const fn enrolled(method: AuthMethod, at: i64) -> VerifiedFactor {
        VerifiedFactor {
            method,
            at,
            enrolled: true,
        }
    }
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
    pub fn satisfies(&self, required: Level) -> bool {
        self.level() >= required
    }

    /// Whether this sign-in still counts at `required` at `now`: it reaches the rung, and a
    /// sign-in counts at it for `lifetime` seconds (`None`: as long as the session).
    pub fn holds(&self, required: Level, now: i64, lifetime: Option<i64>) -> bool {
        self.satisfies(required) && lifetime.is_none_or(|life| now - self.auth_time <= life)
    }

    /// The highest rung of the acr ladder the verified factors satisfy. Only a passkey used to
    /// sign in reaches `phr`: one created during this sign-in counts as a second factor.
    pub fn level(&self) -> Level {
        let distinct = self
            .factors
            .iter()
            .map(|f| std::mem::discriminant(&f.method))
            .collect::<std::collections::HashSet<_>>()
            .len();
        let mut used_passkeys = self
            .factors
            .iter()
            .filter(|f| !f.enrolled)
            .map(|f| f.method)
            .filter(|m| matches!(m, AuthMethod::Passkey { .. }))
            .peekable();
        let any_used_passkey = used_passkeys.peek().is_some();
        let hardware = used_passkeys.any(|m| {
            matches!(
                m,
                AuthMethod::Passkey {
                    attested_hardware: true,
                    backup_eligible: false,
                    ..
                }
            )
        });
        if hardware {
            Level::Phrh
        } else if any_used_passkey {
            Level::Phr
        } else if distinct >= 2 {
            Level::Mfa
        } else {
            Level::Pwd
        }
    }

    /// The level this sign-in would reach once the factors set up during it are used: whether
    /// asking the user to sign in with their new passkey now would meet `required`.
    pub fn satisfied_once_new_factors_are_used(&self, required: Level) -> bool {
        let used = Authentication {
            factors: self
                .factors
                .iter()
                .map(|f| VerifiedFactor::proven(f.method, f.at))
                .collect(),
            ..self.clone()
        };
        !self.satisfies(required) && used.satisfies(required)
    }

    /// The `acr` claim: the configured name of [`Self::level`].
    pub fn acr<'a>(&self, ladder: &AcrLadder<'a>) -> &'a str {
        ladder.names.name(self.level())
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

    const fn attested(synced: bool) -> AuthMethod {
        AuthMethod::Passkey {
            user_verified: true,
            backup_eligible: synced,
            backup_state: synced,
            attested_hardware: true,
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
            (&[attested(false)], &["pop", "user", "hwk", "mfa"], "phrh"),
            (
                &[PASSWORD, attested(false)],
                &["pwd", "pop", "user", "hwk", "mfa"],
                "phrh",
            ),
            // A synced passkey never counts as hardware-protected, attested or not.
            (&[attested(true)], &["pop", "user", "swk", "mfa"], "phr"),
            (
                &[PASSWORD, AuthMethod::Totp, AuthMethod::RecoveryCode],
                &["pwd", "otp", "recovery_code", "mfa"],
                "mfa",
            ),
            (
                &[PASSWORD, AuthMethod::Totp, passkey(true, true)],
                &["pwd", "otp", "pop", "user", "swk", "mfa"],
                "phr",
            ),
        ];
        let names = crate::config::AcrNames::default();
        for (methods, amr, acr) in table {
            let factors = methods
                .iter()
                .enumerate()
                .map(|(i, &method)| VerifiedFactor::proven(method, 100 + i as i64))
                .collect();
            let auth = Authentication::new("u".into(), factors);
            assert_eq!(auth.amr(), *amr, "{methods:?}");
            assert_eq!(auth.level().key(), *acr, "{methods:?}");
            assert_eq!(names.name(auth.level()), *acr);
            assert_eq!(auth.auth_time, 100 + methods.len() as i64 - 1);
        }
    }

    #[test]
    fn a_passkey_set_up_during_a_sign_in_is_not_phishing_resistant_until_used() {
        let with = |factors: Vec<VerifiedFactor>| Authentication::new("u".into(), factors);
        // A password, then a passkey an admin asked for: two factors, not phr.
        let onboarding = with(vec![
            VerifiedFactor::proven(PASSWORD, 1),
            VerifiedFactor::enrolled(attested(false), 2),
        ]);
        assert_eq!(onboarding.level(), Level::Mfa);
        assert_eq!(onboarding.amr(), ["pwd", "pop", "user", "hwk", "mfa"]);
        assert!(onboarding.satisfied_once_new_factors_are_used(Level::Phr));
        assert!(onboarding.satisfied_once_new_factors_are_used(Level::Phrh));
        assert!(!onboarding.satisfied_once_new_factors_are_used(Level::Mfa));
        // Then used: phr (phrh for the attested one).
        let mut used = onboarding.factors.clone();
        used.push(VerifiedFactor::proven(attested(false), 3));
        assert_eq!(with(used).level(), Level::Phrh);
        // A recovery code and a replacement passkey: two factors.
        let recovered = with(vec![
            VerifiedFactor::proven(AuthMethod::RecoveryCode, 1),
            VerifiedFactor::enrolled(passkey(true, true), 2),
        ]);
        assert_eq!(recovered.level(), Level::Mfa);
        // An app set up after a password: mfa at once, nothing more to use.
        let app = with(vec![
            VerifiedFactor::proven(PASSWORD, 1),
            VerifiedFactor::enrolled(AuthMethod::Totp, 2),
        ]);
        assert_eq!(app.level(), Level::Mfa);
        assert!(!app.satisfied_once_new_factors_are_used(Level::Phr));
    }

    #[test]
    fn the_ladder_uses_configured_names_and_offers_phrh_only_when_reachable() {
        let names = crate::config::AcrNames {
            phr: "urn:example:phr".into(),
            ..Default::default()
        };
        let ladder = AcrLadder {
            names: &names,
            hardware: false,
        };
        assert_eq!(ladder.supported(), ["pwd", "mfa", "urn:example:phr"]);
        assert_eq!(ladder.level("urn:example:phr"), Some(Level::Phr));
        assert_eq!(ladder.level("phr"), None);
        assert_eq!(ladder.level("phrh"), None);
        let ladder = AcrLadder {
            hardware: true,
            ..ladder
        };
        assert_eq!(ladder.level("phrh"), Some(Level::Phrh));
        assert!(Level::Phrh > Level::Phr && Level::Mfa > Level::Pwd);
    }

    #[test]
    fn serializes_compactly() {
        let f = VerifiedFactor::proven(AuthMethod::Password, 5);
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"method":"password","at":5}"#
        );
        let new = VerifiedFactor::enrolled(AuthMethod::Totp, 6);
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(json, r#"{"method":"totp","at":6,"enrolled":true}"#);
        assert_eq!(serde_json::from_str::<VerifiedFactor>(&json).unwrap(), new);
        assert_eq!(
            serde_json::from_str::<VerifiedFactor>(r#"{"method":"password","at":5}"#).unwrap(),
            f,
            "factors stored before the flag existed were proven"
        );
    }
}
