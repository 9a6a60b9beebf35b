//! Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser
//! in which an account's right password was typed gets a sealed cookie naming the account.
//!
//! Password guessing is limited per username (`store::attempts`), which on its own lets anyone
//! keep a victim's username blocked by guessing wrong now and then. With this cookie the
//! victim's own browsers count their failures under a key of their own: a stranger can block
//! the username for unknown browsers, never for one its owner signed in with before.

use axum::http::{HeaderMap, HeaderValue, header};
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::{Cookie, SameSite, time::Duration};

use crate::{app::AppState, crypto::random};

/// What the sealed value is bound to (`SecretBox` context).
const CONTEXT: &str = "device-cookie";
/// How long a browser stays known without another right password.
const LIFETIME_SECONDS: i64 = 180 * 24 * 3600;

#[derive(Serialize, Deserialize)]
struct DeviceClaim {
    /// The account's user id.
    user: String,
    /// When the right password was typed (Unix seconds).
    at: i64,
}

fn cookie_name(state: &AppState) -> &'static str {
    if state.config.is_https() {
        "__Host-idp_device"
    } else {
        "idp_device"
    }
}

/// If this browser holds a device cookie for `user_id` that we sealed and that is recent, the
/// key its password failures count under.
pub fn attempts_key(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    now: i64,
) -> Option<String> {
    let name = cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| Cookie::split_parse(value).filter_map(Result::ok))
        .filter(|cookie| cookie.name() == name)
        .find_map(|cookie| {
            let opened = state.secrets.open(cookie.value(), CONTEXT).ok()?;
            let claim: DeviceClaim = serde_json::from_slice(&opened).ok()?;
            (claim.user == user_id && (0..=LIFETIME_SECONDS).contains(&(now - claim.at)))
                .then(|| format!("password:device:{}", random::digest(cookie.value())))
        })
}

/// The `Set-Cookie` value that makes this browser known for `user_id`.
pub fn set_cookie(state: &AppState, user_id: &str, now: i64) -> Option<HeaderValue> {
    let claim = serde_json::to_vec(&DeviceClaim {
        user: user_id.to_owned(),
        at: now,
    })
    .ok()?;
    let cookie = Cookie::build((cookie_name(state), state.secrets.seal(&claim, CONTEXT)))
        .path("/")
        .http_only(true)
        .secure(state.config.is_https())
        // Only our own sign-in form, posted from our own page, reads it.
        .same_site(SameSite::Strict)
        .max_age(Duration::seconds(LIFETIME_SECONDS))
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}
