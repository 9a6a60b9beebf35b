//! Secrets we generate (client secrets, authorization codes, refresh tokens, ids) and how they
//! are stored: 256 bits from the OS RNG, base64url without padding, and kept at rest only as a
//! SHA-256 digest compared in constant time. Slow hashing is for human-chosen passwords only.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Returns `N` bytes from the operating system's CSPRNG.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system RNG is available");
    buf
}

/// A new secret with 256 bits of randomness, base64url-encoded (43 characters).
pub fn secret() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// A new random identifier (128 bits, base64url), for ids that are not secrets.
pub fn id() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<16>())
}

/// A new client identifier: 128 random bits in lower-case hex, so that it is safe on any
/// command line (base64url may start with "-") and in any URL.
pub fn client_id() -> String {
    hex(&bytes::<16>())
}

/// The at-rest form of a generated secret: hex SHA-256.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` matches the stored digest, in constant time.
pub fn verify_digest(secret: &str, stored_digest: &str) -> bool {
    digest(secret)
        .as_bytes()
        .ct_eq(stored_digest.as_bytes())
        .into()
}

/// Whether two digests are equal, in constant time.
pub fn digests_equal(digest: &str, stored_digest: &str) -> bool {
    digest.as_bytes().ct_eq(stored_digest.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_256_bits_and_differ() {
        let a = secret();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, secret());
    }

    #[test]
    fn digest_verifies_only_the_same_secret() {
        let s = secret();
        let d = digest(&s);
        assert_eq!(d.len(), 64);
        assert!(verify_digest(&s, &d));
        assert!(!verify_digest("other", &d));
        // The SHA-256 test vector from FIPS 180-2.
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
