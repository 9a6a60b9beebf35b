//! Token signing keys (josekit): one ES256 (P-256) and one RS256 (2048-bit) key, generated on
//! first start and kept in the database so that every node and every restart signs with the
//! same keys. OIDC Discovery §3 requires RS256 among the ID-token algorithms; ES256 is our
//! default for clients created with the CLI because its keys and signatures are small and fast.

use std::{collections::HashMap, fmt, str::FromStr};

use josekit::{
    jwk::Jwk,
    jws::{ES256, JwsHeader, JwsSigner, JwsVerifier, RS256},
    jwt::{self, JwtPayload},
};
use serde_json::{Map, Value};

/// The JWS algorithms we sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SigningAlg {
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "RS256")]
    Rs256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::Es256, SigningAlg::Rs256];

    pub const fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::Rs256 => "RS256",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(SigningAlg::Es256),
            "RS256" => Ok(SigningAlg::Rs256),
            other => Err(format!(
                "unsupported signing algorithm {other:?} (use ES256 or RS256)"
            )),
        }
    }
}

/// A key as stored: private and public JWK JSON.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub private_jwk: String,
    pub public_jwk: String,
    /// Unix time from which it signs (before that it is only published).
    pub active_from: i64,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    /// Generates a new key pair with a random `kid`.
    pub fn generate(alg: SigningAlg) -> anyhow::Result<StoredKey> {
        let kid = super::random::id();
        let (mut private, mut public) = match alg {
            SigningAlg::Es256 => {
                let pair = ES256.generate_key_pair()?;
                (pair.to_jwk_private_key(), pair.to_jwk_public_key())
            }
            SigningAlg::Rs256 => {
                let pair = RS256.generate_key_pair(2048)?;
                (pair.to_jwk_private_key(), pair.to_jwk_public_key())
            }
        };
        for jwk in [&mut private, &mut public] {
            jwk.set_key_id(&kid);
            jwk.set_algorithm(alg.as_str());
            jwk.set_key_use("sig");
        }
        Ok(StoredKey {
            kid,
            alg,
            private_jwk: private.to_string(),
            public_jwk: public.to_string(),
            active_from: 0,
        })
    }
}

struct LoadedKey {
    kid: String,
    alg: SigningAlg,
    active_from: i64,
    public: Jwk,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
}

/// The published keys: all of them verify and appear in the JWKS; of each algorithm, the
/// newest one whose `active_from` has come signs. Reloaded from the database now and then
/// ([`SigningKeys::reload`]), so a rotation made by the CLI reaches every node.
pub struct SigningKeys {
    set: std::sync::RwLock<std::sync::Arc<KeySet>>,
}

struct KeySet {
    keys: Vec<LoadedKey>,
    by_kid: HashMap<String, usize>,
    /// The serialized JWK Set, made once per key set rather than per request.
    jwks_json: bytes::Bytes,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.current();
        f.debug_list()
            .entries(set.keys.iter().map(|k| (&k.kid, k.alg)))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed or wrongly signed token")]
    Invalid,
}

impl SigningKeys {
    /// Builds the key set from stored keys. Every algorithm must be present.
    pub fn load(stored: &[StoredKey]) -> anyhow::Result<SigningKeys> {
        Ok(SigningKeys {
            set: std::sync::RwLock::new(std::sync::Arc::new(KeySet::load(stored)?)),
        })
    }

    /// Replaces the key set (after a rotation, or a key's retirement).
    pub fn reload(&self, stored: &[StoredKey]) -> anyhow::Result<()> {
        let set = std::sync::Arc::new(KeySet::load(stored)?);
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = set;
        Ok(())
    }

    fn current(&self) -> std::sync::Arc<KeySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Signs `claims` as a compact JWS with `typ` in the header.
    pub fn sign(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: Map<String, Value>,
    ) -> anyhow::Result<String> {
        self.current().sign(alg, typ, claims, crate::model::now())
    }

    /// Verifies a JWS we issued and returns its header `typ` and claims. Expiry and other
    /// claim checks are the caller's.
    pub fn verify(&self, token: &str) -> Result<(Option<String>, Map<String, Value>), TokenError> {
        self.current().verify(token)
    }

    /// The JWK Set document (RFC 7517 §5) of every published key.
    pub fn jwks(&self) -> Value {
        self.current().jwks()
    }

    /// The same document, serialized (cheap to clone into a response body).
    pub fn jwks_json(&self) -> bytes::Bytes {
        self.current().jwks_json.clone()
    }
}

impl KeySet {
    fn load(stored: &[StoredKey]) -> anyhow::Result<KeySet> {
        let mut keys = Vec::new();
        for key in stored {
            let private = Jwk::from_bytes(key.private_jwk.as_bytes())?;
            let public = Jwk::from_bytes(key.public_jwk.as_bytes())?;
            let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match key.alg {
                SigningAlg::Es256 => (
                    Box::new(ES256.signer_from_jwk(&private)?),
                    Box::new(ES256.verifier_from_jwk(&public)?),
                ),
                SigningAlg::Rs256 => (
                    Box::new(RS256.signer_from_jwk(&private)?),
                    Box::new(RS256.verifier_from_jwk(&public)?),
                ),
            };
            keys.push(LoadedKey {
                kid: key.kid.clone(),
                alg: key.alg,
                active_from: key.active_from,
                public,
                signer,
                verifier,
            });
        }
        for alg in SigningAlg::ALL {
            anyhow::ensure!(
                keys.iter().any(|k| k.alg == alg),
                "no {alg} signing key is stored"
            );
        }
        let by_kid = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.kid.clone(), i))
            .collect();
        let mut set = KeySet {
            keys,
            by_kid,
            jwks_json: Default::default(),
        };
        set.jwks_json = set.jwks().to_string().into();
        Ok(set)
    }

    /// The newest key of `alg` that may sign at `now`; before any has come into force (only
    /// possible with a clock far behind), the oldest.
    fn signing_key(&self, alg: SigningAlg, now: i64) -> &LoadedKey {
        let of_alg = || self.keys.iter().filter(|k| k.alg == alg);
        of_alg()
            .filter(|k| k.active_from <= now)
            .max_by_key(|k| k.active_from)
            .or_else(|| of_alg().min_by_key(|k| k.active_from))
            .expect("KeySet::load checks every algorithm has a key")
    }

    fn sign(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: Map<String, Value>,
        now: i64,
    ) -> anyhow::Result<String> {
        let key = self.signing_key(alg, now);
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&key.kid);
        let payload = JwtPayload::from_map(claims)?;
        Ok(jwt::encode_with_signer(
            &payload,
            &header,
            key.signer.as_ref(),
        )?)
    }

    fn verify(&self, token: &str) -> Result<(Option<String>, Map<String, Value>), TokenError> {
        let (payload, header) = jwt::decode_with_verifier_selector(token, |header| {
            Ok(header
                .key_id()
                .and_then(|kid| self.by_kid.get(kid))
                .map(|&i| self.keys[i].verifier.as_ref()))
        })
        .map_err(|_| TokenError::Invalid)?;
        Ok((
            header.token_type().map(str::to_owned),
            payload.claims_set().clone(),
        ))
    }

    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| Value::Object(k.public.as_ref().clone()))
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SigningKeys {
        let stored: Vec<_> = SigningAlg::ALL
            .iter()
            .map(|&alg| StoredKey::generate(alg).unwrap())
            .collect();
        SigningKeys::load(&stored).unwrap()
    }

    #[test]
    fn signs_and_verifies_with_both_algorithms() {
        let keys = keys();
        for alg in SigningAlg::ALL {
            let mut claims = Map::new();
            claims.insert("sub".into(), "alice".into());
            let token = keys.sign(alg, "JWT", claims).unwrap();
            let (typ, claims) = keys.verify(&token).unwrap();
            assert_eq!(typ.as_deref(), Some("JWT"));
            assert_eq!(claims["sub"], "alice");
        }
    }

    #[test]
    fn rejects_tampered_and_foreign_tokens() {
        let keys = keys();
        let token = keys.sign(SigningAlg::Es256, "JWT", Map::new()).unwrap();
        let mut tampered = token.clone();
        tampered.push('A');
        assert!(keys.verify(&tampered).is_err());
        let other = self::keys();
        let foreign = other.sign(SigningAlg::Rs256, "JWT", Map::new()).unwrap();
        assert!(keys.verify(&foreign).is_err());
        assert!(keys.verify("not.a.jwt").is_err());
    }

    #[test]
    fn jwks_publishes_public_keys_only() {
        let jwks = keys().jwks();
        let list = jwks["keys"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        for key in list {
            assert!(key["kid"].is_string());
            assert_eq!(key["use"], "sig");
            assert!(key.get("d").is_none(), "private part leaked: {key}");
        }
    }
}
