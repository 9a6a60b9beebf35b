//! SeaORM entities of idp: table shapes only, no logic and no I/O. Tables change only through
//! the `migration` crate.

pub mod access_token;
pub mod admin_token;
pub mod attempt_limit;
pub mod authorization_code;
pub mod browser_session;
pub mod client;
pub mod client_redirect_uri;
pub mod consent;
pub mod credential;
pub mod grant;
pub mod invitation;
pub mod login_transaction;
pub mod pushed_request;
pub mod recovery_link;
pub mod refresh_token;
pub mod security_event;
pub mod signing_key;
pub mod used_assertion;
pub mod user;
pub mod user_session;
pub mod webauthn_ceremony;
