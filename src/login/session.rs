//! The single-sign-on session of a browser, kept apart from the login transaction: the
//! browser session (tower-sessions) holds only the `sid` of a server-side user session row.

use tower_sessions::Session;

use super::assurance::Authentication;
use crate::{app::AppState, crypto::random, model::now, store};

const SID_KEY: &str = "sid";
const BINDING_KEY: &str = "login_binding";

/// The browser's current sign-in, if its session is valid and the user is still enabled.
pub async fn current(
    state: &AppState,
    session: &Session,
) -> anyhow::Result<Option<(String, Authentication)>> {
    let Some(sid) = session.get::<String>(SID_KEY).await? else {
        return Ok(None);
    };
    let Some(auth) = store::user_sessions::get_active(&state.db, &sid, now()).await? else {
        return Ok(None);
    };
    match store::users::find_by_id(&state.db, &auth.user_id).await? {
        Some(user) if !user.disabled => Ok(Some((sid, auth))),
        _ => Ok(None),
    }
}

/// The `sid` this browser session points at, valid or not.
pub async fn current_sid(session: &Session) -> anyhow::Result<Option<String>> {
    Ok(session.get::<String>(SID_KEY).await?)
}

/// The random value binding login transactions to this browser, created on first use.
pub async fn browser_binding(session: &Session) -> anyhow::Result<String> {
    if let Some(binding) = session.get::<String>(BINDING_KEY).await? {
        return Ok(binding);
    }
    let binding = random::secret();
    session.insert(BINDING_KEY, &binding).await?;
    Ok(binding)
}

/// Whether this browser started the transaction with `binding`.
pub async fn owns(session: &Session, binding: &str) -> bool {
    matches!(session.get::<String>(BINDING_KEY).await, Ok(Some(b)) if b == binding)
}

/// Points the browser at its new sign-in, under a new session id so that an id planted
/// before sign-in is worthless after it (session fixation).
pub async fn signed_in(session: &Session, sid: &str) -> anyhow::Result<()> {
    session.cycle_id().await?;
    session.insert(SID_KEY, sid).await?;
    Ok(())
}

/// Signs this browser out: its session row is revoked and the browser session emptied.
/// The clients that got tokens in the session are told by back-channel logout.
pub async fn sign_out(state: &AppState, session: &Session) -> anyhow::Result<()> {
    let active = current(state, session).await?;
    if let Some(sid) = current_sid(session).await? {
        store::user_sessions::revoke(&state.db, &sid, now()).await?;
    }
    session.flush().await?;
    if let Some((sid, auth)) = active {
        crate::oidc::backchannel::session_ended(state, &sid, &auth.user_id);
    }
    Ok(())
}
