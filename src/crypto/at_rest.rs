//! Encryption of secrets at rest (signing keys now; TOTP secrets later): XChaCha20-Poly1305
//! with a 256-bit server key kept outside the database, in `secret_key_file`. A copy of the
//! database alone reveals no private key.
//!
//! Each value is sealed with a random 192-bit nonce and with associated data naming the row
//! it belongs to, so a ciphertext moved to another row does not decrypt.
//! Format: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).

use std::{io::Write, path::Path};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};

use super::random;

const VERSION: &str = "v1.";
const NONCE_LEN: usize = 24;

pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Reads the key file, or creates it (mode 0600) when `may_create`: that is, when the
    /// database holds nothing sealed with an earlier key. Creating a new key over existing
    /// secrets would lose them, so that is an error naming the file instead.
    pub fn load_or_create(path: &Path, may_create: bool) -> anyhow::Result<SecretBox> {
        let describe = path.display();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = URL_SAFE_NO_PAD
                    .decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "secret_key_file: {describe} does not hold a 32-byte base64url key"
                        )
                    })?;
                Ok(SecretBox::from_key(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => {
                let key = random::bytes::<32>();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        anyhow::anyhow!("secret_key_file: cannot create {}: {e}", dir.display())
                    })?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(|e| {
                    anyhow::anyhow!("secret_key_file: cannot create {describe}: {e}")
                })?;
                writeln!(file, "{}", URL_SAFE_NO_PAD.encode(key))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| {
                        anyhow::anyhow!("secret_key_file: cannot write {describe}: {e}")
                    })?;
                tracing::info!(file = %describe, "created a new secret key for data at rest");
                Ok(SecretBox::from_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(anyhow::anyhow!(
                "secret_key_file: {describe} is missing, but the database holds secrets encrypted with it; restore the file (every node needs the same one)"
            )),
            Err(e) => Err(anyhow::anyhow!(
                "secret_key_file: cannot read {describe}: {e}"
            )),
        }
    }

    /// Encrypts `plaintext` for the row named by `context`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let nonce_bytes = random::bytes::<NONCE_LEN>();
        let nonce = XNonce::from(nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ciphertext);
        format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts a value sealed for `context`; fails for a wrong key, row or a tampered value.
    pub fn open(&self, sealed: &str, context: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(|| anyhow::anyhow!("not a sealed value"))?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| anyhow::anyhow!("bad nonce"))?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!("cannot decrypt (wrong secret key, or the value was altered)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let sealed_box = SecretBox::from_key(&[7; 32]);
        let sealed = sealed_box.seal(b"private key", "signing_key:a");
        assert!(!sealed.contains("private"));
        assert_eq!(
            sealed_box.open(&sealed, "signing_key:a").unwrap(),
            b"private key"
        );
        assert!(sealed_box.open(&sealed, "signing_key:b").is_err());
        assert!(
            SecretBox::from_key(&[8; 32])
                .open(&sealed, "signing_key:a")
                .is_err()
        );
        assert!(sealed_box.open("v1.AAAA", "signing_key:a").is_err());
        assert_ne!(sealed, sealed_box.seal(b"private key", "signing_key:a"));
    }

    #[test]
    fn the_key_file_is_created_once_and_never_silently_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/secret.key");
        assert!(SecretBox::load_or_create(&path, false).is_err());
        let first = SecretBox::load_or_create(&path, true).unwrap();
        let sealed = first.seal(b"x", "c");
        let again = SecretBox::load_or_create(&path, true).unwrap();
        assert_eq!(again.open(&sealed, "c").unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "short").unwrap();
        assert!(SecretBox::load_or_create(&path, true).is_err());
    }
}
