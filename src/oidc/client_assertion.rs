//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core §9): the client
//! signs a short-lived JWT with its private key; we check it with the public keys it
//! registered (a JWK Set, inline or fetched from its `jwks_uri`).
//!
//! Checked: the signature (RS256, PS256 or ES256, never `none` or an HMAC); `iss` and `sub`
//! both the client id; `aud` naming us (the issuer, or one of our endpoints); `exp` in the
//! future and at most five minutes away; `iat`/`nbf` not in the future; and `jti` never seen
//! before for this client (kept until the assertion expires), so an intercepted assertion
//! cannot be replayed.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use josekit::{
    jwk::{Jwk, JwkSet},
    jws::{ES256, JwsVerifier, PS256, RS256},
    jwt,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Map, Value};

use super::error::{ErrorCode, OAuthError};
use crate::{
    app::AppState,
    crypto::random,
    model::client::{Client, TokenEndpointAuthMethod},
    routes, store,
};

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The algorithms we accept, for discovery.
pub const SIGNING_ALGS: &[&str] = &["RS256", "PS256", "ES256"];

/// Clock skew we tolerate, and the longest an assertion may live.
const SKEW: i64 = 60;
const MAX_LIFETIME: i64 = 300;

/// How long a fetched JWK Set is used before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(300);
/// An assertion the cached set cannot verify triggers a refetch (the client may have rotated
/// its keys), at most this often per URL, so that junk assertions cannot make us hammer it.
const JWKS_REFETCH: Duration = Duration::from_secs(30);
/// The largest JWK Set we read from a `jwks_uri`.
const MAX_JWKS_BYTES: usize = 64 * 1024;

fn invalid_client(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

/// Checks a JWK Set given at registration: valid JSON, at least one key, and only public
/// keys (a private key pasted by mistake is refused, not stored). Returns it compacted.
pub fn check_jwks(jwks: &str) -> Result<String, String> {
    let set = JwkSet::from_bytes(jwks.as_bytes())
        .map_err(|e| format!("the JWK Set is not valid: {e}"))?;
    if set.keys().is_empty() {
        return Err("the JWK Set has no keys".into());
    }
    for key in set.keys() {
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|member| key.parameter(member).is_some())
        {
            return Err(
                "the JWK Set holds a private or symmetric key; register only public keys".into(),
            );
        }
        if !matches!(key.key_type(), "RSA" | "EC") {
            return Err(format!(
                "key type {:?} is not supported (RSA or EC)",
                key.key_type()
            ));
        }
    }
    let value: Value =
        serde_json::from_str(jwks).map_err(|e| format!("the JWK Set is not valid: {e}"))?;
    Ok(value.to_string())
}

/// A `jwks_uri` must be https (http only on a loopback host, for development).
pub fn check_jwks_uri(uri: &str) -> Result<(), String> {
    let url = url::Url::parse(uri).map_err(|e| format!("jwks_uri {uri:?} is not a URL: {e}"))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if crate::config::url_is_loopback(&url) => Ok(()),
        _ => Err(format!(
            "jwks_uri {uri:?} must use https (http only on localhost)"
        )),
    }
}

/// Fetched JWK Sets, per URL.
#[derive(Default)]
pub struct JwksCache {
    entries: Mutex<HashMap<String, CachedJwks>>,
    http: std::sync::OnceLock<reqwest::Client>,
}

#[derive(Clone)]
struct CachedJwks {
    fetched_at: Instant,
    jwks: String,
    /// When a refetch was last forced by an unverifiable assertion.
    forced_at: Option<Instant>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwksCache")
    }
}

impl JwksCache {
    /// The outbound HTTP client (also used for back-channel logout).
    pub(crate) fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client")
        })
    }

    /// The JWK Set at `uri`: cached, unless older than the TTL or `fresh` is asked for (and
    /// the last fetch is not too recent).
    async fn get(&self, uri: &str, fresh: bool) -> Result<String, OAuthError> {
        let cached = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uri)
            .cloned();
        if let Some(entry) = &cached {
            let throttled = entry
                .forced_at
                .is_some_and(|at| at.elapsed() < JWKS_REFETCH);
            if entry.fetched_at.elapsed() < JWKS_TTL && (!fresh || throttled) {
                return Ok(entry.jwks.clone());
            }
        }
        let fetched = async {
            let mut response = self.http().get(uri).send().await?.error_for_status()?;
            // A JWK Set is small; a client's server cannot make us read without end.
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                body.extend_from_slice(&chunk);
                anyhow::ensure!(body.len() <= MAX_JWKS_BYTES, "the JWK Set is too large");
            }
            anyhow::Ok(String::from_utf8(body)?)
        }
        .await
        .and_then(|body| check_jwks(&body).map_err(anyhow::Error::msg));
        match fetched {
            Ok(jwks) => {
                let now = Instant::now();
                let forced_at = if fresh {
                    Some(now)
                } else {
                    cached.as_ref().and_then(|c| c.forced_at)
                };
                self.entries
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(
                        uri.to_owned(),
                        CachedJwks {
                            fetched_at: now,
                            jwks: jwks.clone(),
                            forced_at,
                        },
                    );
                Ok(jwks)
            }
            Err(e) => {
                tracing::warn!(%uri, error = format!("{e:#}"), "fetching a client's jwks_uri failed");
                // A failed forced fetch counts against the throttle too.
                if fresh
                    && let Some(entry) = self
                        .entries
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_mut(uri)
                {
                    entry.forced_at = Some(Instant::now());
                }
                // A stale set beats none while the client's server is down.
                cached
                    .map(|c| c.jwks)
                    .ok_or_else(|| invalid_client("the client's keys could not be fetched"))
            }
        }
    }
}

/// A verifier for a public JWK of an algorithm we accept (RS256, PS256, ES256).
pub(crate) fn verifier(jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    let alg = jwk.algorithm();
    let boxed: Box<dyn JwsVerifier> = match (jwk.key_type(), alg) {
        ("RSA", None | Some("RS256")) => Box::new(RS256.verifier_from_jwk(jwk).ok()?),
        ("RSA", Some("PS256")) => Box::new(PS256.verifier_from_jwk(jwk).ok()?),
        ("EC", None | Some("ES256")) => Box::new(ES256.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    };
    Some(boxed)
}

/// Verifies `assertion` with the keys in `jwks`; `None` if no key verifies it.
pub fn verify(assertion: &str, jwks: &str) -> Option<Map<String, Value>> {
    let set = JwkSet::from_bytes(jwks.as_bytes()).ok()?;
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(assertion.split('.').next()?).ok()?).ok()?;
    let alg = header.get("alg")?.as_str()?;
    if !SIGNING_ALGS.contains(&alg) {
        return None;
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates = set.keys().into_iter().filter(|k| {
        kid.is_none_or(|kid| k.key_id() == Some(kid))
            && k.key_use().is_none_or(|u| u == "sig")
            && k.algorithm().is_none_or(|a| a == alg)
    });
    for jwk in candidates {
        // An RSA key without `alg` serves RS256 and PS256 alike.
        let mut jwk = jwk.clone();
        if jwk.algorithm().is_none() {
            jwk.set_algorithm(alg);
        }
        let Some(verifier) = verifier(&jwk) else {
            continue;
        };
        if verifier.algorithm().name() != alg {
            continue;
        }
        if let Ok((payload, _)) = jwt::decode_with_verifier(assertion, verifier.as_ref()) {
            return Some(payload.claims_set().clone());
        }
    }
    None
}

/// The claims of a JWT, unverified: only to find out which client claims to have signed it.
pub fn unverified_claims(assertion: &str) -> Option<Map<String, Value>> {
    let payload = assertion.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// Authenticates the client of a request carrying `client_assertion`.
pub async fn authenticate(
    state: &AppState,
    form_client_id: Option<String>,
    assertion: &str,
) -> Result<Client, OAuthError> {
    let claims = unverified_claims(assertion)
        .ok_or_else(|| invalid_client("the client assertion is not a JWT"))?;
    let client_id = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_client("the client assertion has no sub"))?
        .to_owned();
    if form_client_id.is_some_and(|id| id != client_id) {
        return Err(invalid_client(
            "client_id is not the client assertion's sub",
        ));
    }
    let client = store::clients::get(&state.db, &client_id)
        .await
        .map_err(|e| OAuthError::internal("loading a client", e))?
        .filter(|c| c.token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt)
        .ok_or_else(|| invalid_client("client authentication failed"))?;

    let verified = match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => verify(assertion, jwks),
        (None, Some(uri)) => {
            let jwks = state.client_keys.get(uri, false).await?;
            match verify(assertion, &jwks) {
                Some(claims) => Some(claims),
                // The client may have rotated its keys since we fetched them.
                None => verify(assertion, &state.client_keys.get(uri, true).await?),
            }
        }
        (None, None) => None,
    };
    let claims =
        verified.ok_or_else(|| invalid_client("the client assertion's signature is not valid"))?;

    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let int_claim = |name: &str| claims.get(name).and_then(Value::as_i64);
    if str_claim("iss") != Some(client_id.as_str()) || str_claim("sub") != Some(client_id.as_str())
    {
        return Err(invalid_client(
            "the client assertion's iss and sub must be the client_id",
        ));
    }
    // RFC 7523 §3 item 3: the audience identifies the authorization server.
    let ours: Vec<String> = std::iter::once(state.config.issuer.clone())
        .chain(
            [
                routes::TOKEN,
                routes::PAR,
                routes::REVOKE,
                routes::INTROSPECT,
            ]
            .iter()
            .map(|path| format!("{}{path}", state.config.issuer)),
        )
        .collect();
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => ours.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| ours.iter().any(|o| o == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err(invalid_client(
            "the client assertion is not addressed to this server",
        ));
    }
    let now = crate::model::now();
    let exp = int_claim("exp").ok_or_else(|| invalid_client("the client assertion has no exp"))?;
    if exp <= now - SKEW {
        return Err(invalid_client("the client assertion has expired"));
    }
    if exp > now + MAX_LIFETIME + SKEW {
        return Err(invalid_client(
            "the client assertion lives too long (at most 5 minutes)",
        ));
    }
    if ["iat", "nbf"]
        .iter()
        .any(|name| int_claim(name).is_some_and(|t| t > now + SKEW))
    {
        return Err(invalid_client("the client assertion is not valid yet"));
    }
    let jti = str_claim("jti").ok_or_else(|| invalid_client("the client assertion has no jti"))?;
    // RFC 7523 §3 item 7: a jti is used once. The primary key refuses the second insert.
    let recorded = entity::used_assertion::ActiveModel {
        id: Set(random::digest(&format!("{client_id}\n{jti}"))),
        expires_at: Set(exp + SKEW),
    }
    .insert(&state.db)
    .await;
    match recorded {
        Ok(_) => Ok(client),
        Err(e) if store::is_unique_violation(&e) => {
            tracing::warn!(client = %client_id, "client assertion replayed");
            Err(invalid_client("the client assertion was already used"))
        }
        Err(e) => Err(OAuthError::internal("recording a client assertion", e)),
    }
}

/// Forgets assertions that have expired (they can no longer be replayed anyway).
pub async fn delete_expired(
    db: &impl sea_orm::ConnectionTrait,
    now: i64,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::used_assertion::Entity::delete_many()
        .filter(entity::used_assertion::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::{jwk::alg::ec::EcCurve, jws::JwsHeader, jwt::JwtPayload};

    #[test]
    fn verifies_with_a_registered_key() {
        let mut key = Jwk::generate_ec_key(EcCurve::P256).unwrap();
        key.set_key_id("k1");
        key.set_algorithm("ES256");
        // josekit's to_public_key() drops kid and alg: put them back, as a client would.
        let mut public = key.to_public_key().unwrap();
        public.set_key_id("k1");
        public.set_algorithm("ES256");
        let jwks =
            serde_json::json!({"keys": [Value::Object(public.as_ref().clone())]}).to_string();
        let jwks = check_jwks(&jwks).unwrap();
        let mut header = JwsHeader::new();
        header.set_key_id("k1");
        let mut payload = JwtPayload::new();
        payload.set_subject("c");
        let token =
            jwt::encode_with_signer(&payload, &header, &ES256.signer_from_jwk(&key).unwrap())
                .unwrap();
        let set = JwkSet::from_bytes(jwks.as_bytes()).unwrap();
        let jwk = set.keys()[0].clone();
        let v = verifier(&jwk).expect("a verifier");
        let r = jwt::decode_with_verifier(&token, v.as_ref());
        assert!(r.is_ok(), "{r:?}");
        assert!(verify(&token, &jwks).is_some());
    }
}
