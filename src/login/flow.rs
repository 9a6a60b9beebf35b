//! The login transaction: one browser's attempt to answer one authorization request, kept
//! server-side as an explicit state machine. Handlers never set the step themselves: they
//! verify one factor, call one transition here, and follow [`LoginTransaction::next_url`].
//!
//! ```text
//!   /authorize ──► decide() ──► UseSession ─────────────────────────────────────► code
//!                          ├──► LoginRequired (prompt=none) ────────────────────► error
//!                          └──► SignIn ─┐
//!   /account (not signed in) ───────────┴► Identify ─┬─passkey (UV)──────────► Authenticated
//!                                                    └─password─┬─(no 2nd factor)─►  "
//!                                                               └─► SecondFactor ─passkey─► "
//!   Authenticated ──finish──► code for the client, or the account page
//!         └─(third-party client lacking consent)─► Consent ─allow─► code
//!   /authorize ─► UseSession, consent lacking ──────────► Consent ─deny──► access_denied
//! ```

use serde::{Deserialize, Serialize};

use super::assurance::{AuthMethod, Authentication, Level, VerifiedFactor};
use crate::{
    crypto::random,
    mfa::passkey::AssertionFacts,
    oidc::authorize_request::{AuthorizationRequest, Prompt},
    routes,
};

/// What the sign-in is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "purpose", rename_all = "snake_case")]
pub enum Purpose {
    /// Answer a client's authorization request with a code.
    Authorize(Box<AuthorizationRequest>),
    /// Sign in to the account pages.
    Account,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Waiting for the user to say who they are and prove it with a first factor.
    Identify,
    /// The password was right; the user has a passkey and must use it too.
    SecondFactor {
        user_id: String,
        factors: Vec<VerifiedFactor>,
    },
    /// The user must set up a factor before going on: a second factor after a password
    /// (admin-driven onboarding), a new passkey after a recovery code or link, or a passkey
    /// an admin asked for (`passkey_required`) after whatever the user proved.
    Enroll {
        user_id: String,
        factors: Vec<VerifiedFactor>,
        /// Only a passkey will do. Absent from transactions stored before it existed.
        #[serde(default)]
        passkey_required: bool,
    },
    /// Every factor the request needs is verified.
    Authenticated { authentication: Authentication },
    /// Signed in (session `sid`); a third-party client waits for the user to allow it the
    /// scopes it asked for.
    Consent {
        authentication: Authentication,
        sid: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginTransaction {
    pub id: String,
    /// A random value also kept in the browser session that started the transaction: a
    /// transaction id leaked from one browser is useless in another.
    pub browser_binding: String,
    pub purpose: Purpose,
    pub step: Step,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("this sign-in is not at that step")]
    WrongStep,
    #[error("that passkey belongs to another account")]
    WrongUser,
}

/// What `/authorize` does with the browser's existing single-sign-on session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The session satisfies the request: issue a code without showing a page.
    UseSession(Authentication),
    /// `prompt=none`, but the user would have to sign in (OIDC Core §3.1.2.6).
    LoginRequired,
    /// `prompt=none`, but the session is below the essential level asked for.
    InteractionRequired,
    /// The session is below the level asked for: ask for the factor(s) it lacks.
    StepUp(Authentication),
    /// Show the sign-in page.
    SignIn,
}

/// Decides whether an existing session can answer `request` (OIDC Core §3.1.2.1 `prompt`,
/// `max_age`).
/// `level_lifetime` says how long a sign-in counts at a ladder rung (`None`: as long as the
/// session lasts): an elevated level does not outlive its freshness window.
pub fn decide(
    request: &AuthorizationRequest,
    session: Option<Authentication>,
    now: i64,
    level_lifetime: impl Fn(Level) -> Option<i64>,
) -> Decision {
    let fresh_enough = |auth: &Authentication| match request.max_age {
        None => true,
        // max_age=0 means the user must authenticate now, like prompt=login.
        Some(0) => false,
        Some(max_age) => now.saturating_sub(auth.auth_time) <= max_age as i64,
    };
    match (request.prompt, session) {
        (Prompt::Login, _) => Decision::SignIn,
        (prompt, Some(auth)) if fresh_enough(&auth) => {
            let level_met = request
                .acr
                .required
                .is_none_or(|r| auth.holds(r, now, level_lifetime(r)));
            match prompt {
                _ if level_met => Decision::UseSession(auth),
                // A voluntary level may be answered with what the session has.
                Prompt::None if !request.acr.essential => Decision::UseSession(auth),
                Prompt::None => Decision::InteractionRequired,
                _ => Decision::StepUp(auth),
            }
        }
        (Prompt::None, _) => Decision::LoginRequired,
        _ => Decision::SignIn,
    }
}

impl LoginTransaction {
    pub fn start(purpose: Purpose, browser_binding: String, now: i64, ttl: i64) -> Self {
        LoginTransaction {
            id: random::id(),
            browser_binding,
            purpose,
            step: Step::Identify,
            created_at: now,
            expires_at: now + ttl,
        }
    }

    /// A sign-in that continues an existing session's authentication with a further factor
    /// (step-up): it starts at the second-factor step.
    /// A transaction that only asks for consent: the user is signed in already (single
    /// sign-on) but has not allowed this client what it asks for.
    pub fn start_consent(
        purpose: Purpose,
        browser_binding: String,
        authentication: Authentication,
        sid: String,
        now: i64,
        ttl: i64,
    ) -> Self {
        LoginTransaction {
            step: Step::Consent {
                authentication,
                sid,
            },
            ..Self::start(purpose, browser_binding, now, ttl)
        }
    }

    /// The user answered the consent page: the request, the sign-in and its session.
    pub fn consent_answered(
        self,
    ) -> Result<(Box<AuthorizationRequest>, Authentication, String), FlowError> {
        match (self.step, self.purpose) {
            (
                Step::Consent {
                    authentication,
                    sid,
                },
                Purpose::Authorize(request),
            ) => Ok((request, authentication, sid)),
            _ => Err(FlowError::WrongStep),
        }
    }

    pub fn start_step_up(
        purpose: Purpose,
        browser_binding: String,
        session: Authentication,
        now: i64,
        ttl: i64,
    ) -> Self {
        LoginTransaction {
            step: Step::SecondFactor {
                user_id: session.user_id,
                factors: session.factors,
            },
            ..Self::start(purpose, browser_binding, now, ttl)
        }
    }

    /// The authentication level the client asked for, if any.
    pub fn acr_request(&self) -> Option<&crate::oidc::authorize_request::AcrRequest> {
        self.authorization_request().map(|r| &r.acr)
    }

    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// The client's request, unless this sign-in is for the account pages.
    pub fn authorization_request(&self) -> Option<&AuthorizationRequest> {
        match &self.purpose {
            Purpose::Authorize(request) => Some(request),
            Purpose::Account => None,
        }
    }

    /// The user proved a password. A user with a second factor must use it next; a user who
    /// must have one and has none must set one up.
    pub fn password_verified(
        self,
        user_id: String,
        has_second_factor: bool,
        must_enroll: bool,
        now: i64,
    ) -> Result<Self, FlowError> {
        let Step::Identify = self.step else {
            return Err(FlowError::WrongStep);
        };
        let factors = vec![VerifiedFactor::proven(AuthMethod::Password, now)];
        let step = if has_second_factor {
            Step::SecondFactor { user_id, factors }
        } else if must_enroll {
            Step::Enroll {
                user_id,
                factors,
                passkey_required: false,
            }
        } else {
            Step::Authenticated {
                authentication: Authentication::new(user_id, factors),
            }
        };
        Ok(LoginTransaction { step, ..self })
    }

    /// The user proved a passkey: on its own (usernameless sign-in, with user
    /// verification) or as the second factor after their password.
    pub fn passkey_verified(
        self,
        user_id: String,
        facts: AssertionFacts,
        now: i64,
    ) -> Result<Self, FlowError> {
        let passkey = VerifiedFactor::proven(
            AuthMethod::Passkey {
                user_verified: facts.user_verified,
                backup_eligible: facts.backup_eligible,
                backup_state: facts.backup_state,
                attested_hardware: facts.attested_hardware,
            },
            now,
        );
        let factors = match self.step {
            Step::Identify if facts.user_verified => vec![passkey],
            Step::SecondFactor {
                user_id: ref expected,
                ref factors,
            } => {
                if *expected != user_id {
                    return Err(FlowError::WrongUser);
                }
                let mut factors = factors.clone();
                factors.push(passkey);
                factors
            }
            _ => return Err(FlowError::WrongStep),
        };
        Ok(LoginTransaction {
            step: Step::Authenticated {
                authentication: Authentication::new(user_id, factors),
            },
            ..self
        })
    }

    /// The user proved an authenticator-app code or a recovery code after their password.
    pub fn code_verified(
        self,
        user_id: &str,
        method: AuthMethod,
        now: i64,
    ) -> Result<Self, FlowError> {
        let Step::SecondFactor {
            user_id: expected,
            mut factors,
        } = self.step
        else {
            return Err(FlowError::WrongStep);
        };
        if expected != user_id || !matches!(method, AuthMethod::Totp | AuthMethod::RecoveryCode) {
            return Err(FlowError::WrongUser);
        }
        factors.push(VerifiedFactor::proven(method, now));
        Ok(LoginTransaction {
            step: Step::Authenticated {
                authentication: Authentication::new(expected, factors),
            },
            ..self
        })
    }

    /// The user set up a second factor during sign-in and proved it works doing so (a verified
    /// authenticator-app code, or a new passkey created with user verification over a fresh
    /// challenge). It counts as set up, not used: see [`VerifiedFactor::enrolled`].
    pub fn enrolled(self, user_id: &str, method: AuthMethod, now: i64) -> Result<Self, FlowError> {
        let Step::Enroll {
            user_id: expected,
            mut factors,
            passkey_required,
        } = self.step
        else {
            return Err(FlowError::WrongStep);
        };
        if expected != user_id {
            return Err(FlowError::WrongUser);
        }
        if passkey_required && !matches!(method, AuthMethod::Passkey { .. }) {
            return Err(FlowError::WrongStep);
        }
        factors.push(VerifiedFactor::enrolled(method, now));
        Ok(LoginTransaction {
            step: Step::Authenticated {
                authentication: Authentication::new(expected, factors),
            },
            ..self
        })
    }

    /// A new account was just created with `method` (a passkey made with user verification,
    /// or a password): creating it is this sign-in.
    pub fn signed_up(
        self,
        user_id: String,
        method: AuthMethod,
        now: i64,
    ) -> Result<Self, FlowError> {
        let Step::Identify = self.step else {
            return Err(FlowError::WrongStep);
        };
        let factors = vec![VerifiedFactor::proven(method, now)];
        Ok(LoginTransaction {
            step: Step::Authenticated {
                authentication: Authentication::new(user_id, factors),
            },
            ..self
        })
    }

    /// A user without a password who lost their passkeys proved a recovery code: they are
    /// taken to adding a new passkey, and signed in only once they have.
    pub fn recovery_code_verified(self, user_id: String, now: i64) -> Result<Self, FlowError> {
        let Step::Identify = self.step else {
            return Err(FlowError::WrongStep);
        };
        let factors = vec![VerifiedFactor::proven(AuthMethod::RecoveryCode, now)];
        Ok(LoginTransaction {
            step: Step::Enroll {
                user_id,
                factors,
                passkey_required: false,
            },
            ..self
        })
    }

    /// A recovery link from an admin: the user adds a new passkey, and is signed in to their
    /// account only once they have. The link proves nothing by itself, so no factor is
    /// verified yet.
    pub fn start_recovery_link(
        browser_binding: String,
        user_id: String,
        now: i64,
        ttl: i64,
    ) -> Self {
        LoginTransaction {
            step: Step::Enroll {
                user_id,
                factors: Vec::new(),
                passkey_required: false,
            },
            ..Self::start(Purpose::Account, browser_binding, now, ttl)
        }
    }

    /// The user proved everything the sign-in needs, but an admin asked them to add a passkey
    /// and they have none: they add one before the sign-in finishes. What they proved so far
    /// stays, and the new passkey joins it.
    pub fn passkey_enrollment_required(self) -> Result<Self, FlowError> {
        let Step::Authenticated { authentication } = self.step else {
            return Err(FlowError::WrongStep);
        };
        Ok(LoginTransaction {
            step: Step::Enroll {
                user_id: authentication.user_id,
                factors: authentication.factors,
                passkey_required: true,
            },
            ..self
        })
    }

    /// Whether the level the client asked for is not met yet but would be once the user signs
    /// in with the passkey they just set up: a passkey created after a password proves the
    /// password's owner made it, not that this sign-in resisted phishing.
    pub fn new_passkey_must_be_used(&self) -> bool {
        let Step::Authenticated { authentication } = &self.step else {
            return false;
        };
        self.acr_request()
            .and_then(|acr| acr.required)
            .is_some_and(|level| authentication.satisfied_once_new_factors_are_used(level))
    }

    /// Asks the user to sign in with the passkey they just set up (see
    /// [`Self::new_passkey_must_be_used`]); what they proved so far stays.
    pub fn use_new_passkey(self) -> Result<Self, FlowError> {
        let Step::Authenticated { authentication } = self.step else {
            return Err(FlowError::WrongStep);
        };
        Ok(LoginTransaction {
            step: Step::SecondFactor {
                user_id: authentication.user_id,
                factors: authentication.factors,
            },
            ..self
        })
    }

    /// Whether only a new passkey may be enrolled at this step: after a recovery code alone
    /// (an app code would let whoever holds one recovery code replace the owner's app and
    /// codes), or because an admin asked for a passkey.
    pub fn enrolls_passkey_only(&self) -> bool {
        self.is_recovering()
            || matches!(
                &self.step,
                Step::Enroll {
                    passkey_required: true,
                    ..
                }
            )
    }

    /// Whether an admin asked this user to add a passkey, and that is the step.
    pub fn is_adding_required_passkey(&self) -> bool {
        matches!(
            &self.step,
            Step::Enroll {
                passkey_required: true,
                ..
            }
        )
    }

    /// Whether the user is here to replace lost passkeys (after a recovery code alone).
    pub fn is_recovering(&self) -> bool {
        matches!(&self.step, Step::Enroll { factors, .. }
            if factors.iter().all(|f| f.method == AuthMethod::RecoveryCode))
    }

    /// The user who must set up a second factor now, if that is the step.
    pub fn enrolling_user(&self) -> Option<&str> {
        match &self.step {
            Step::Enroll { user_id, .. } => Some(user_id),
            _ => None,
        }
    }

    /// The user who must prove a second factor now, if that is the step.
    pub fn second_factor_user(&self) -> Option<&str> {
        match &self.step {
            Step::SecondFactor { user_id, .. } => Some(user_id),
            _ => None,
        }
    }

    /// Ends the transaction, yielding what it was for and what the user proved.
    pub fn finish(self) -> Result<(Purpose, Authentication), FlowError> {
        match self.step {
            Step::Authenticated { authentication } => Ok((self.purpose, authentication)),
            _ => Err(FlowError::WrongStep),
        }
    }

    /// The page for the current step.
    pub fn next_url(&self) -> String {
        let page = match self.step {
            Step::Consent { .. } => routes::CONSENT,
            _ => routes::LOGIN,
        };
        format!("{page}?tx={}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(prompt: Prompt, max_age: Option<u64>) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "c".into(),
            redirect_uri: "https://app/cb".into(),
            scope: "openid".into(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt,
            max_age,
            login_hint: None,
            acr: Default::default(),
            force_consent: false,
        }
    }

    fn auth(at: i64) -> Authentication {
        Authentication::new(
            "u".into(),
            vec![VerifiedFactor::proven(AuthMethod::Password, at)],
        )
    }

    #[test]
    fn a_session_is_reused_unless_the_request_forbids_it() {
        let now = 1000;
        let d = |p, m, s| decide(&request(p, m), s, now, |_| None);
        assert_eq!(
            d(Prompt::Default, None, Some(auth(1))),
            Decision::UseSession(auth(1))
        );
        assert_eq!(d(Prompt::Default, None, None), Decision::SignIn);
        assert_eq!(d(Prompt::Login, None, Some(auth(999))), Decision::SignIn);
        assert_eq!(d(Prompt::None, None, None), Decision::LoginRequired);
        assert_eq!(
            d(Prompt::None, None, Some(auth(1))),
            Decision::UseSession(auth(1))
        );
        assert_eq!(
            d(Prompt::Default, Some(100), Some(auth(900))),
            Decision::UseSession(auth(900))
        );
        assert_eq!(
            d(Prompt::Default, Some(100), Some(auth(899))),
            Decision::SignIn
        );
        assert_eq!(
            d(Prompt::None, Some(100), Some(auth(899))),
            Decision::LoginRequired
        );
        assert_eq!(
            d(Prompt::Default, Some(0), Some(auth(1000))),
            Decision::SignIn
        );
    }

    fn start() -> LoginTransaction {
        let purpose = Purpose::Authorize(Box::new(request(Prompt::Default, None)));
        LoginTransaction::start(purpose, "b".into(), 10, 600)
    }

    const UV: AssertionFacts = AssertionFacts {
        user_verified: true,
        backup_eligible: true,
        backup_state: true,
        attested_hardware: false,
    };

    #[test]
    fn a_level_asked_for_steps_up_when_missing_or_stale() {
        let mut phr = request(Prompt::Default, None);
        phr.acr = crate::oidc::authorize_request::AcrRequest {
            required: Some(Level::Phr),
            essential: true,
        };
        let passkey = Authentication::new(
            "u".into(),
            vec![VerifiedFactor::proven(
                AuthMethod::Passkey {
                    user_verified: true,
                    backup_eligible: false,
                    backup_state: false,
                    attested_hardware: false,
                },
                1000,
            )],
        );
        let lifetime = |_| Some(3600);
        assert_eq!(
            decide(&phr, Some(auth(1000)), 1000, lifetime),
            Decision::StepUp(auth(1000))
        );
        assert_eq!(
            decide(&phr, Some(passkey.clone()), 4600, lifetime),
            Decision::UseSession(passkey.clone())
        );
        assert_eq!(
            decide(&phr, Some(passkey.clone()), 4601, lifetime),
            Decision::StepUp(passkey.clone())
        );
        phr.prompt = Prompt::None;
        assert_eq!(
            decide(&phr, Some(auth(1000)), 1000, lifetime),
            Decision::InteractionRequired
        );
        phr.acr.essential = false;
        assert_eq!(
            decide(&phr, Some(auth(1000)), 1000, lifetime),
            Decision::UseSession(auth(1000))
        );
    }

    #[test]
    fn password_then_finish_yields_the_authentication() {
        let tx = start();
        assert_eq!(tx.clone().finish(), Err(FlowError::WrongStep));
        let tx = tx.password_verified("u".into(), false, false, 20).unwrap();
        assert_eq!(
            tx.clone().password_verified("u".into(), false, false, 21),
            Err(FlowError::WrongStep)
        );
        let (_, auth) = tx.finish().unwrap();
        assert_eq!(auth.amr(), vec!["pwd"]);
        assert_eq!(auth.auth_time, 20);
    }

    #[test]
    fn a_user_with_a_passkey_needs_it_after_the_password() {
        let tx = start()
            .password_verified("u".into(), true, false, 20)
            .unwrap();
        assert!(matches!(tx.step, Step::SecondFactor { .. }));
        assert_eq!(tx.clone().finish(), Err(FlowError::WrongStep));
        assert_eq!(
            tx.clone().passkey_verified("other".into(), UV, 21),
            Err(FlowError::WrongUser)
        );
        let (_, auth) = tx
            .passkey_verified("u".into(), UV, 21)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(auth.amr(), vec!["pwd", "pop", "user", "swk", "mfa"]);
        assert_eq!(auth.auth_time, 21);
    }

    #[test]
    fn an_app_code_or_recovery_code_completes_the_second_step() {
        let tx = start()
            .password_verified("u".into(), true, false, 20)
            .unwrap();
        assert_eq!(
            tx.clone().code_verified("other", AuthMethod::Totp, 21),
            Err(FlowError::WrongUser)
        );
        let (_, auth) = tx
            .clone()
            .code_verified("u", AuthMethod::Totp, 21)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(auth.amr(), vec!["pwd", "otp", "mfa"]);
        assert_eq!(auth.level(), Level::Mfa);
        let (_, auth) = tx
            .code_verified("u", AuthMethod::RecoveryCode, 21)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(auth.amr(), vec!["pwd", "recovery_code", "mfa"]);
        assert_eq!(
            start().code_verified("u", AuthMethod::Totp, 21),
            Err(FlowError::WrongStep)
        );
    }

    #[test]
    fn a_user_who_must_have_a_second_factor_sets_one_up_first() {
        let tx = start()
            .password_verified("u".into(), false, true, 20)
            .unwrap();
        assert_eq!(tx.enrolling_user(), Some("u"));
        assert_eq!(tx.clone().finish(), Err(FlowError::WrongStep));
        assert_eq!(
            tx.clone().enrolled("v", AuthMethod::Totp, 21),
            Err(FlowError::WrongUser)
        );
        let (_, auth) = tx
            .enrolled("u", AuthMethod::Totp, 21)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(auth.amr(), vec!["pwd", "otp", "mfa"]);
    }

    #[test]
    fn a_passkey_asked_for_by_an_admin_joins_what_was_proven() {
        let proven = start()
            .password_verified("u".into(), false, false, 20)
            .unwrap();
        assert!(!proven.enrolls_passkey_only());
        let tx = proven.passkey_enrollment_required().unwrap();
        assert!(tx.enrolls_passkey_only() && tx.is_adding_required_passkey());
        assert!(!tx.is_recovering());
        assert_eq!(tx.enrolling_user(), Some("u"));
        assert_eq!(tx.clone().finish(), Err(FlowError::WrongStep));
        assert_eq!(
            tx.clone().passkey_enrollment_required(),
            Err(FlowError::WrongStep)
        );
        // An authenticator app will not do.
        assert_eq!(
            tx.clone().enrolled("u", AuthMethod::Totp, 21),
            Err(FlowError::WrongStep)
        );
        let passkey = AuthMethod::Passkey {
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
            attested_hardware: false,
        };
        let added = tx.enrolled("u", passkey, 21).unwrap();
        assert!(
            !added.new_passkey_must_be_used(),
            "the client asked for no level"
        );
        let (_, auth) = added.finish().unwrap();
        assert_eq!(auth.amr(), vec!["pwd", "pop", "user", "mfa"]);
        assert_eq!(auth.level(), Level::Mfa);
        assert_eq!(auth.auth_time, 21);
    }

    #[test]
    fn a_client_asking_for_phr_gets_it_once_the_new_passkey_is_used() {
        let mut phr = request(Prompt::Default, None);
        phr.acr = crate::oidc::authorize_request::AcrRequest {
            required: Some(Level::Phr),
            essential: true,
        };
        let purpose = Purpose::Authorize(Box::new(phr));
        let added = LoginTransaction::start(purpose, "b".into(), 10, 600)
            .password_verified("u".into(), false, false, 20)
            .unwrap()
            .passkey_enrollment_required()
            .unwrap()
            .enrolled(
                "u",
                AuthMethod::Passkey {
                    user_verified: true,
                    backup_eligible: true,
                    backup_state: true,
                    attested_hardware: false,
                },
                21,
            )
            .unwrap();
        assert!(added.new_passkey_must_be_used());
        let asked = added.use_new_passkey().unwrap();
        assert_eq!(asked.second_factor_user(), Some("u"));
        assert!(!asked.new_passkey_must_be_used());
        let (_, auth) = asked
            .passkey_verified("u".into(), UV, 22)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(auth.level(), Level::Phr);
        assert_eq!(auth.amr(), vec!["pwd", "pop", "user", "swk", "mfa"]);
    }

    #[test]
    fn a_sign_up_is_a_sign_in_and_a_recovery_code_leads_to_a_new_passkey() {
        let (_, auth) = start()
            .signed_up(
                "u".into(),
                AuthMethod::Passkey {
                    user_verified: true,
                    backup_eligible: true,
                    backup_state: true,
                    attested_hardware: false,
                },
                10,
            )
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(auth.amr(), vec!["pop", "user", "swk", "mfa"]);
        assert_eq!(auth.user_id, "u");

        let recovering = start().recovery_code_verified("u".into(), 10).unwrap();
        assert!(recovering.is_recovering());
        assert_eq!(recovering.enrolling_user(), Some("u"));
        assert_eq!(recovering.clone().finish(), Err(FlowError::WrongStep));
        let (_, auth) = recovering
            .enrolled(
                "u",
                AuthMethod::Passkey {
                    user_verified: true,
                    backup_eligible: false,
                    backup_state: false,
                    attested_hardware: false,
                },
                11,
            )
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(auth.amr(), vec!["recovery_code", "pop", "user", "mfa"]);
        assert_eq!(auth.level(), Level::Mfa, "the new passkey was not used yet");
        // Neither starts anywhere but at the beginning.
        let second = start()
            .password_verified("u".into(), true, false, 20)
            .unwrap();
        assert_eq!(
            second.clone().recovery_code_verified("u".into(), 21),
            Err(FlowError::WrongStep)
        );
        assert_eq!(
            second.signed_up("u".into(), AuthMethod::Password, 21),
            Err(FlowError::WrongStep)
        );
    }

    #[test]
    fn a_verified_passkey_alone_signs_in() {
        let (_, auth) = start()
            .passkey_verified("u".into(), UV, 30)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(auth.level(), Level::Phr);
        // Without user verification a passkey is not enough on its own.
        let unverified = AssertionFacts {
            user_verified: false,
            ..UV
        };
        assert_eq!(
            start().passkey_verified("u".into(), unverified, 30),
            Err(FlowError::WrongStep)
        );
    }
}
