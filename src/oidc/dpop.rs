//! DPoP (RFC 9449): sender-constrained tokens. A client proves, with a fresh JWT signed by a
//! key it holds (the "proof" in the `DPoP` header), that it is the one a token was issued
//! to; the token carries that key's thumbprint (`cnf.jkt`), so a stolen token is useless.
//!
//! A proof is checked as RFC 9449 §4.3 lists: one `DPoP` header; `typ` `dpop+jwt`; an
//! asymmetric `alg` we support; a public `jwk` in the header whose signature verifies; `htm`
//! and `htu` naming this request; `iat` recent; a `jti` never seen before (replay cache shared
//! by all nodes); `ath` the hash of the access token when one is presented; and, when
//! `dpop.require_nonce` is on, a `nonce` we issued in the last five minutes.

use axum::http::HeaderMap;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use josekit::{jwk::Jwk, jwt};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{
    client_assertion,
    error::{ErrorCode, OAuthError},
};
use crate::{app::AppState, crypto::random, store};

/// The proof algorithms we accept, for discovery (`dpop_signing_alg_values_supported`).
pub const SIGNING_ALGS: &[&str] = &["ES256", "RS256", "PS256"];

/// How old a proof's `iat` may be, and how far in the future (clock skew).
const MAX_AGE: i64 = 300;
const SKEW: i64 = 60;
/// How long a server nonce stays good.
const NONCE_LIFETIME: i64 = 300;
const NONCE_CONTEXT: &str = "dpop-nonce";

/// A verified proof: the key's thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
}

/// Why a proof was refused; the caller renders it for its endpoint (400 at the token
/// endpoint, 401 with a `DPoP` challenge at a resource).
#[derive(Debug)]
pub enum ProofError {
    Invalid(&'static str),
    /// A (new) server nonce is needed: send it in `DPoP-Nonce`.
    NonceNeeded(String),
}

impl ProofError {
    /// As a token-endpoint error (RFC 9449 §5, §8).
    pub fn oauth(&self) -> OAuthError {
        match self {
            ProofError::Invalid(why) => OAuthError::new(ErrorCode::InvalidDpopProof, *why),
            ProofError::NonceNeeded(_) => OAuthError::new(
                ErrorCode::UseDpopNonce,
                "a DPoP nonce from this server is required",
            ),
        }
    }

    pub fn nonce(&self) -> Option<&str> {
        match self {
            ProofError::NonceNeeded(nonce) => Some(nonce),
            ProofError::Invalid(_) => None,
        }
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key: its required members in
/// lexicographic order, no whitespace.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    // serde_json's map is ordered by key, which is the order RFC 7638 §3.2 asks for.
    let required = match member("kty")? {
        "EC" => json!({"crv": member("crv")?, "kty": "EC", "x": member("x")?, "y": member("y")?}),
        "RSA" => json!({"e": member("e")?, "kty": "RSA", "n": member("n")?}),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(required.to_string().as_bytes())))
}

/// `ath`: the base64url SHA-256 of an access token (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A fresh server nonce: the time, sealed with the deployment's key, so any node can check it.
pub fn new_nonce(state: &AppState) -> String {
    state
        .secrets
        .seal(crate::model::now().to_string().as_bytes(), NONCE_CONTEXT)
}

fn nonce_is_fresh(state: &AppState, nonce: &str) -> bool {
    state
        .secrets
        .open(nonce, NONCE_CONTEXT)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|issued| crate::model::now() - issued <= NONCE_LIFETIME)
}

/// Checks the request's `DPoP` proof, if it has one, for `method` at `url`; `ath_of` is the
/// access token the proof must cover (at a resource). `Ok(None)`: no proof was sent.
pub async fn check(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    url: &str,
    ath_of: Option<&str>,
) -> Result<Option<Proof>, ProofError> {
    let mut values = headers.get_all("dpop").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ProofError::Invalid("send one DPoP proof"));
    }
    let proof = value
        .to_str()
        .map_err(|_| ProofError::Invalid("the DPoP proof is not a JWT"))?;
    let verified =
        verify(proof, method, url, ath_of, crate::model::now()).map_err(ProofError::Invalid)?;
    if state.config.dpop.require_nonce
        && !verified
            .nonce
            .as_deref()
            .is_some_and(|nonce| nonce_is_fresh(state, nonce))
    {
        return Err(ProofError::NonceNeeded(new_nonce(state)));
    }
    // A proof is used once: the replay cache refuses a second insert of its jti.
    let recorded = entity::used_assertion::ActiveModel {
        id: Set(random::digest(&format!(
            "dpop\n{}\n{}",
            verified.jkt, verified.jti
        ))),
        expires_at: Set(verified.iat + MAX_AGE + SKEW),
    }
    .insert(&state.db)
    .await;
    match recorded {
        Ok(_) => Ok(Some(Proof { jkt: verified.jkt })),
        Err(e) if store::is_unique_violation(&e) => {
            Err(ProofError::Invalid("the DPoP proof was already used"))
        }
        Err(e) => {
            tracing::error!(error = %e, "recording a DPoP proof failed");
            Err(ProofError::Invalid("the DPoP proof could not be checked"))
        }
    }
}

/// A proof whose form, signature and claims are right; what is left to check needs the
/// server's state (nonce, replay cache).
#[derive(Debug)]
pub struct VerifiedProof {
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub nonce: Option<String>,
}

/// Checks a proof JWT for `method` at `url` at time `now` (RFC 9449 §4.3 items 2-9, 11);
/// `ath_of` is the access token it must cover, at a resource.
pub fn verify(
    proof: &str,
    method: &str,
    url: &str,
    ath_of: Option<&str>,
    now: i64,
) -> Result<VerifiedProof, &'static str> {
    let header: Map<String, Value> = proof
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or("the DPoP proof is not a JWT")?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err("the DPoP proof's typ must be dpop+jwt");
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .filter(|alg| SIGNING_ALGS.contains(alg))
        .ok_or("the DPoP proof's alg is not supported")?;
    let jwk_json = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or("the DPoP proof has no jwk")?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| jwk_json.contains_key(*m))
    {
        return Err("the DPoP proof's jwk must be a public key");
    }
    let mut jwk =
        Jwk::from_map(jwk_json.clone()).map_err(|_| "the DPoP proof's jwk is not valid")?;
    jwk.set_algorithm(alg);
    let verifier = client_assertion::verifier(&jwk)
        .filter(|v| v.algorithm().name() == alg)
        .ok_or("the DPoP proof's jwk does not fit its alg")?;
    let (payload, _) = jwt::decode_with_verifier(proof, verifier.as_ref())
        .map_err(|_| "the DPoP proof's signature is not valid")?;
    let claims = payload.claims_set();
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);

    if str_claim("htm") != Some(method) {
        return Err("the DPoP proof's htm is not this request's method");
    }
    // RFC 9449 §4.3 item 9: compare without query and fragment.
    let htu = str_claim("htu")
        .and_then(|u| url::Url::parse(u).ok())
        .map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        });
    if htu.as_deref() != url::Url::parse(url).ok().map(|u| u.to_string()).as_deref() {
        return Err("the DPoP proof's htu is not this request's URL");
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("the DPoP proof has no iat")?;
    if iat < now - MAX_AGE || iat > now + SKEW {
        return Err("the DPoP proof is too old or from the future");
    }
    let jti = str_claim("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or("the DPoP proof has no jti")?;
    if let Some(token) = ath_of
        && str_claim("ath") != Some(access_token_hash(token).as_str())
    {
        return Err("the DPoP proof's ath is not the access token's hash");
    }
    let jkt = thumbprint(jwk_json).ok_or("the DPoP proof's jwk is not valid")?;
    Ok(VerifiedProof {
        jkt,
        jti: jti.to_owned(),
        iat,
        nonce: str_claim("nonce").map(str::to_owned),
    })
}
