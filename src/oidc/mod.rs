//! The OpenID Connect / OAuth 2.0 protocol endpoints: JSON and redirects, no HTML of its own.

pub mod authorize;
pub mod authorize_request;
pub mod backchannel;
pub mod client_assertion;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod end_session;
pub mod error;
pub mod form;
pub mod introspection;
pub mod par;
pub mod pkce;
pub mod registration;
pub mod response;
pub mod revocation;
pub mod token;
pub mod tokens;
pub mod userinfo;

use axum::{Router, routing::get};

use crate::{app::AppState, routes};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(routes::DISCOVERY, get(discovery::get_discovery))
        .route(routes::JWKS, get(discovery::get_jwks))
        .route(
            routes::AUTHORIZE,
            get(authorize::get_authorize).post(authorize::post_authorize),
        )
        .route(routes::TOKEN, axum::routing::post(token::post_token))
        .route(routes::PAR, axum::routing::post(par::post_par))
        .route(routes::REVOKE, axum::routing::post(revocation::post_revoke))
        .route(
            routes::INTROSPECT,
            axum::routing::post(introspection::post_introspect),
        )
        .route(
            routes::END_SESSION,
            get(end_session::get_end_session).post(end_session::post_end_session),
        )
        .route(
            routes::END_SESSION_CONFIRM,
            axum::routing::post(end_session::post_confirm),
        )
        .route(
            routes::REGISTER,
            axum::routing::post(registration::post_register),
        )
        .route(
            routes::REGISTER_CLIENT,
            get(registration::get_registration)
                .put(registration::put_registration)
                .delete(registration::delete_registration),
        )
        .route(
            routes::USERINFO,
            get(userinfo::get_userinfo).post(userinfo::post_userinfo),
        )
}
