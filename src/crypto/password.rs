//! Password hashing with argon2id (RFC 9106). Hashing and verification are CPU-bound, so they
//! run on the blocking thread pool, never on the async workers.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::config::Argon2Config;

#[derive(Clone)]
pub struct PasswordHasherConfig {
    params: Params,
    /// A hash of a random password, verified against when the user does not exist so that a
    /// failed sign-in takes the same time whether or not the username is known.
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasherConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasherConfig")
            .finish_non_exhaustive()
    }
}

impl PasswordHasherConfig {
    pub fn new(config: &Argon2Config) -> anyhow::Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let dummy_hash = dummy_phc(&params);
        Ok(Self { params, dummy_hash })
    }

    fn argon2(params: &Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || hash_with(&params, &password)).await?
    }

    /// Verifies `password` against a PHC string; `None` verifies against the dummy hash and
    /// always fails, taking the same time.
    pub async fn verify(&self, password: String, phc: Option<String>) -> bool {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.clone());
        let params = self.params.clone();
        let ok = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(&phc) else {
                return false;
            };
            Self::argon2(&params)
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .await
        .unwrap_or(false);
        ok && known
    }
}

/// A PHC string with our parameters, a random salt and a random 32-byte "hash" that no
/// password produces (but for a chance of 2^-256). Verifying against it costs exactly one
/// argon2id computation with these parameters, like verifying a real hash, while making it
/// costs nothing: hashing a throw-away password here took 30-80 ms of every start.
fn dummy_phc(params: &Params) -> String {
    use base64::{Engine, engine::general_purpose::STANDARD_NO_PAD};
    let salt: [u8; 16] = super::random::bytes();
    let output: [u8; 32] = super::random::bytes();
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(output),
    )
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let hash = PasswordHasherConfig::argon2(params)
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasherConfig {
        PasswordHasherConfig::new(&Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = cheap();
        let phc = hasher.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(
            hasher
                .verify("correct horse".into(), Some(phc.clone()))
                .await
        );
        assert!(!hasher.verify("wrong".into(), Some(phc)).await);
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let hasher = cheap();
        let dummy = hasher.dummy_hash.clone();
        assert!(!hasher.verify("anything".into(), None).await);
        assert!(
            !hasher
                .verify("anything".into(), Some("not a phc".into()))
                .await
        );
        assert!(dummy.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{dummy}");
        // It parses as a hash with our parameters, so verifying against it does the work.
        let parsed = argon2::password_hash::phc::PasswordHash::new(&dummy).unwrap();
        assert_eq!(parsed.hash.map(|h| h.len()), Some(32));
    }
}
