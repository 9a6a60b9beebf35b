//! CSRF protection for hosted forms: the synchronizer-token pattern (OWASP CSRF Prevention
//! Cheat Sheet). A random token lives in the server-side session and in a hidden field of
//! every form; a POST whose field does not match is refused. SameSite=Lax cookies are a
//! second line of defence, not the only one.

use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::crypto::random;

const SESSION_KEY: &str = "csrf_token";

/// The session's CSRF token, created on first use.
pub async fn token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(token) = session.get::<String>(SESSION_KEY).await? {
        return Ok(token);
    }
    let token = random::secret();
    session.insert(SESSION_KEY, &token).await?;
    Ok(token)
}

/// The header the page scripts send the token in, for JSON requests.
pub const HEADER: &str = "x-csrf-token";

/// Whether the request's `X-CSRF-Token` header carries this session's token.
pub async fn verify_header(session: &Session, headers: &axum::http::HeaderMap) -> bool {
    match headers.get(HEADER).and_then(|v| v.to_str().ok()) {
        Some(token) => verify(session, token).await,
        None => false,
    }
}

/// Whether `submitted` is this session's token.
pub async fn verify(session: &Session, submitted: &str) -> bool {
    match session.get::<String>(SESSION_KEY).await {
        Ok(Some(expected)) => expected.as_bytes().ct_eq(submitted.as_bytes()).into(),
        _ => false,
    }
}
