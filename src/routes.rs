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
pub const LOGIN_PASSKEY_BEGIN: &str = "/login/passkey/begin";
pub const LOGIN_PASSKEY_FINISH: &str = "/login/passkey/finish";
pub const LOGOUT: &str = "/logout";
pub const ACCOUNT: &str = "/account";
pub const ACCOUNT_REAUTHENTICATE: &str = "/account/reauthenticate";
pub const ACCOUNT_PASSKEY_RENAME: &str = "/account/passkeys/{id}/rename";
pub const ACCOUNT_PASSKEY_DELETE: &str = "/account/passkeys/{id}/delete";
pub const API_PASSKEYS: &str = "/account/api/passkeys";
pub const API_PASSKEY: &str = "/account/api/passkeys/{id}";
pub const API_PASSKEY_REGISTER_BEGIN: &str = "/account/api/passkeys/register/begin";
pub const API_PASSKEY_REGISTER_FINISH: &str = "/account/api/passkeys/register/finish";
pub const LOGIN_CODE: &str = "/login/code";
pub const ACCOUNT_TOTP: &str = "/account/totp";
pub const ACCOUNT_TOTP_REMOVE: &str = "/account/totp/remove";
pub const ACCOUNT_RECOVERY_CODES: &str = "/account/recovery-codes";
pub const LOGIN_CONTINUE: &str = "/login/continue";
pub const LOGIN_ENROLL_TOTP: &str = "/login/enroll/totp";
pub const LOGIN_ENROLL_PASSKEY_BEGIN: &str = "/login/enroll/passkey/begin";
pub const LOGIN_ENROLL_PASSKEY_FINISH: &str = "/login/enroll/passkey/finish";
pub const ACCOUNT_PASSWORD: &str = "/account/password";
pub const ACCOUNT_SESSIONS_REVOKE_OTHERS: &str = "/account/sessions/revoke-others";
pub const REVOKE: &str = "/revoke";
pub const INTROSPECT: &str = "/introspect";
