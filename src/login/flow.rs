//! The login transaction: one browser's attempt to answer one authorization request, kept
//! server-side as an explicit state machine. Handlers never set the step themselves: they
//! verify one factor, call one transition here, and follow [`LoginTransaction::next_url`].
//!
//! ```text
//!   /authorize ──► decide() ──► UseSession ──────────────────────────► code
//!                          ├──► LoginRequired (prompt=none) ─────────► error
//!                          └──► SignIn: Identify ──password──► Authenticated ──finish──► code
//! ```
//! The second-factor and passkey steps slot in between `Identify` and `Authenticated`.

use serde::{Deserialize, Serialize};

use super::assurance::{AuthMethod, Authentication, VerifiedFactor};
use crate::{
    crypto::random,
    oidc::authorize_request::{AuthorizationRequest, Prompt},
    routes,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Waiting for the user to say who they are and prove it with a first factor.
    Identify,
    /// Every factor the request needs is verified.
    Authenticated { authentication: Authentication },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginTransaction {
    pub id: String,
    /// A random value also kept in the browser session that started the transaction: a
    /// transaction id leaked from one browser is useless in another.
    pub browser_binding: String,
    pub request: AuthorizationRequest,
    pub step: Step,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("this sign-in is not at that step")]
    WrongStep,
}

/// What `/authorize` does with the browser's existing single-sign-on session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The session satisfies the request: issue a code without showing a page.
    UseSession(Authentication),
    /// `prompt=none`, but the user would have to sign in (OIDC Core §3.1.2.6).
    LoginRequired,
    /// Show the sign-in page.
    SignIn,
}

/// Decides whether an existing session can answer `request` (OIDC Core §3.1.2.1 `prompt`,
/// `max_age`).
pub fn decide(
    request: &AuthorizationRequest,
    session: Option<Authentication>,
    now: i64,
) -> Decision {
    let fresh_enough = |auth: &Authentication| match request.max_age {
        None => true,
        // max_age=0 means the user must authenticate now, like prompt=login.
        Some(0) => false,
        Some(max_age) => now.saturating_sub(auth.auth_time) <= max_age as i64,
    };
    match (request.prompt, session) {
        (Prompt::Login, _) => Decision::SignIn,
        (_, Some(auth)) if fresh_enough(&auth) => Decision::UseSession(auth),
        (Prompt::None, _) => Decision::LoginRequired,
        _ => Decision::SignIn,
    }
}

impl LoginTransaction {
    pub fn start(
        request: AuthorizationRequest,
        browser_binding: String,
        now: i64,
        ttl: i64,
    ) -> Self {
        LoginTransaction {
            id: random::id(),
            browser_binding,
            request,
            step: Step::Identify,
            created_at: now,
            expires_at: now + ttl,
        }
    }

    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// The user proved a password. With no second factor enrolled, that completes sign-in.
    pub fn password_verified(self, user_id: String, now: i64) -> Result<Self, FlowError> {
        match self.step {
            Step::Identify => {
                let factors = vec![VerifiedFactor {
                    method: AuthMethod::Password,
                    at: now,
                }];
                Ok(LoginTransaction {
                    step: Step::Authenticated {
                        authentication: Authentication::new(user_id, factors),
                    },
                    ..self
                })
            }
            Step::Authenticated { .. } => Err(FlowError::WrongStep),
        }
    }

    /// Ends the transaction, yielding what the user proved.
    pub fn finish(self) -> Result<(AuthorizationRequest, Authentication), FlowError> {
        match self.step {
            Step::Authenticated { authentication } => Ok((self.request, authentication)),
            Step::Identify => Err(FlowError::WrongStep),
        }
    }

    /// The page for the current step.
    pub fn next_url(&self) -> String {
        format!("{}?tx={}", routes::LOGIN, self.id)
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
        }
    }

    fn auth(at: i64) -> Authentication {
        Authentication::new(
            "u".into(),
            vec![VerifiedFactor {
                method: AuthMethod::Password,
                at,
            }],
        )
    }

    #[test]
    fn a_session_is_reused_unless_the_request_forbids_it() {
        let now = 1000;
        let d = |p, m, s| decide(&request(p, m), s, now);
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

    #[test]
    fn password_then_finish_yields_the_authentication() {
        let tx = LoginTransaction::start(request(Prompt::Default, None), "b".into(), 10, 600);
        assert_eq!(tx.clone().finish(), Err(FlowError::WrongStep));
        let tx = tx.password_verified("u".into(), 20).unwrap();
        assert_eq!(
            tx.clone().password_verified("u".into(), 21),
            Err(FlowError::WrongStep)
        );
        let (_, auth) = tx.finish().unwrap();
        assert_eq!(auth.amr(), vec!["pwd"]);
        assert_eq!(auth.auth_time, 20);
    }
}
