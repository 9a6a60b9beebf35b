//! Every URL path the server answers, in one place: the router, the discovery document, the
//! templates and the tests all use these.

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/jwks";
pub const AUTHORIZE: &str = "/authorize";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = "/userinfo";
pub const LOGIN: &str = "/login";
pub const STATIC: &str = "/static";
pub const HEALTH: &str = "/healthz";
