//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a user's session here
//! ends, every client that received tokens in that session and registered a
//! `backchannel_logout_uri` gets a signed logout token (§2.4) POSTed to it (§2.5), so it can
//! end its own session for that user. Delivery runs in the background, with a few retries;
//! failures are logged.

use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;

use crate::{app::AppState, crypto::random, model::now, store};

/// §2.4: the event that makes a JWT a logout token.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Waits before the second and third attempt.
const RETRIES: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(10)];

/// Tells the clients of session `sid` (of `user_id`) that it ended. Returns at once.
pub fn session_ended(state: &AppState, sid: &str, user_id: &str) {
    let (state, sid, user_id) = (state.clone(), sid.to_owned(), user_id.to_owned());
    tokio::spawn(async move {
        match prepare(&state, &sid, &user_id).await {
            Ok(deliveries) => send(&state, deliveries),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), %sid, "back-channel logout failed");
            }
        }
    });
}

/// A logout token ready to be sent.
pub struct Delivery {
    client_id: String,
    uri: String,
    token: String,
}

/// Sends prepared logout tokens in the background.
pub fn send(state: &AppState, deliveries: Vec<Delivery>) {
    for delivery in deliveries {
        let state = state.clone();
        tokio::spawn(async move {
            deliver(&state, &delivery.client_id, &delivery.uri, &delivery.token).await
        });
    }
}

/// The logout tokens for every session of `user_id` that is still active, made before the
/// records they are computed from go (an account being deleted).
pub async fn prepare_for_user(state: &AppState, user_id: &str) -> anyhow::Result<Vec<Delivery>> {
    prepare_for_sessions(state, user_id, None).await
}

/// The logout tokens for the sessions of `user_id` that an action is about to end (all, or
/// all but `keep_sid`), made before it revokes them. Sent only if the action succeeds; a
/// failure to make them is logged and costs the notifications, not the action.
pub async fn before_ending_sessions(
    state: &AppState,
    user_id: &str,
    keep_sid: Option<&str>,
) -> Vec<Delivery> {
    prepare_for_sessions(state, user_id, keep_sid)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(
                error = format!("{e:#}"),
                "back-channel logout tokens not made"
            );
            Vec::new()
        })
}

async fn prepare_for_sessions(
    state: &AppState,
    user_id: &str,
    keep_sid: Option<&str>,
) -> anyhow::Result<Vec<Delivery>> {
    let mut deliveries = Vec::new();
    for session in store::user_sessions::active_for_user(&state.db, user_id, now()).await? {
        if Some(session.id.as_str()) != keep_sid {
            deliveries.extend(prepare(state, &session.id, user_id).await?);
        }
    }
    Ok(deliveries)
}

/// The logout tokens for the clients of session `sid`.
async fn prepare(state: &AppState, sid: &str, user_id: &str) -> anyhow::Result<Vec<Delivery>> {
    let mut deliveries = Vec::new();
    let client_ids: Vec<String> = entity::grant::Entity::find()
        .select_only()
        .column(entity::grant::Column::ClientId)
        .distinct()
        .filter(entity::grant::Column::UserSessionId.eq(sid))
        .into_tuple()
        .all(&state.db)
        .await?;
    for client_id in client_ids {
        let Some(client) = store::clients::get(&state.db, &client_id).await? else {
            continue;
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            continue;
        };
        let now = now();
        let claims = json!({
            "iss": state.config.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": random::id(),
            "sub": user_id,
            "sid": sid,
            "events": { LOGOUT_EVENT: {} },
        });
        let Some(claims) = claims.as_object().cloned() else {
            continue;
        };
        // §2.4: typ logout+jwt, signed like the client's ID tokens; never a nonce.
        let token = state
            .keys
            .sign(client.id_token_signed_response_alg, "logout+jwt", claims)?;
        deliveries.push(Delivery {
            client_id: client.client_id,
            uri,
            token,
        });
    }
    Ok(deliveries)
}

async fn deliver(state: &AppState, client_id: &str, uri: &str, token: &str) {
    let mut waits = RETRIES.iter();
    loop {
        let sent = state
            .client_keys
            .http()
            .post(uri)
            .form(&[("logout_token", token)])
            .send()
            .await;
        match sent {
            // §2.8: 200 (or 204) means the client ended its session.
            Ok(response) if response.status().is_success() => return,
            outcome => {
                let why = match outcome {
                    Ok(response) => format!("status {}", response.status()),
                    Err(e) => e.to_string(),
                };
                match waits.next() {
                    Some(wait) => {
                        tracing::info!(client = %client_id, %why, "back-channel logout not accepted; retrying");
                        tokio::time::sleep(*wait).await;
                    }
                    None => {
                        tracing::warn!(client = %client_id, %why, "back-channel logout not delivered; giving up");
                        return;
                    }
                }
            }
        }
    }
}
