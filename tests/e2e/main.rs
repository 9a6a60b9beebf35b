//! End-to-end tests: each starts the real server on port 0 with a fresh database and talks
//! HTTP to it, with the `openidconnect` crate as the relying party where a protocol flow runs.

mod account;
mod admin_api;
mod assurance;
mod attestation;
mod authorize;
mod bad_input;
mod browser;
mod browser_passkeys;
mod browser_signup;
mod browser_totp;
mod cli;
mod client_credentials;
mod consent;
mod crash;
mod demo_rp;
mod dpop;
mod flow;
mod headers;
mod keys;
mod login;
mod logout;
mod nodes;
mod outage;
mod par;
mod passkey_api;
mod private_key_jwt;
mod rate_limits;
mod refresh_policy;
mod registration;
mod revocation;
mod signup;
mod support;
mod token;
mod totp;
mod userinfo;
