//! idp: a passkey-first OpenID Connect identity provider.
//!
//! Layers, outside in (dependencies point inward only):
//! - [`web`]: HTTP plumbing (router, sessions, templates, CSRF, error pages);
//! - [`oidc`] (protocol endpoints) and [`login`] (hosted sign-in pages and the login state
//!   machine), [`admin_api`] (the admin REST API);
//! - [`admin`]: administrative operations behind the CLI, the admin API and pages;
//! - [`crypto`], [`model`]: keys, secrets, passwords, domain types;
//! - [`store`]: all SQL, over the `entity` crate.

pub mod account;
pub mod admin;
pub mod admin_api;
pub mod admin_pages;
pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod login;
pub mod mfa;
pub mod model;
pub mod oidc;
pub mod routes;
pub mod signup;
pub mod store;
pub mod web;

/// Logs to standard error; `RUST_LOG` overrides the default level (info for the server,
/// warnings only for one-shot commands), and `IDP_LOG_FORMAT=json` writes one JSON object per
/// line for log collectors. No secret, code, token or password is ever a log field.
pub fn init_tracing(server: bool) {
    let default = if server {
        "info,sqlx=warn,sea_orm=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let json = std::env::var("IDP_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
