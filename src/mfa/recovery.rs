//! One-time recovery codes: ten per set, 80 random bits each, shown once as
//! `xxxx-xxxx-xxxx-xxxx` and stored only as SHA-256 digests (they are high-entropy secrets we
//! generate, like client secrets). Typing is forgiving: case, spaces and dashes are ignored.

use crate::crypto::random;

pub const CODES_PER_SET: usize = 10;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new set of codes, formatted for reading.
pub fn generate() -> Vec<String> {
    (0..CODES_PER_SET)
        .map(|_| {
            // 10 random bytes = 80 bits = 16 base32 characters.
            let bytes = random::bytes::<10>();
            let mut bits: u128 = 0;
            for b in bytes {
                bits = (bits << 8) | u128::from(b);
            }
            let chars: String = (0..16)
                .map(|i| ALPHABET[((bits >> (75 - 5 * i)) & 31) as usize] as char)
                .collect();
            chars
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// The canonical form of a typed code, or `None` if it cannot be one of ours.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == 16 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The stored form of a code.
pub fn digest(typed: &str) -> Option<String> {
    normalize(typed).map(|code| random::digest(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_have_ten_distinct_readable_codes() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 19);
            assert_eq!(code.matches('-').count(), 3);
            assert!(normalize(code).is_some(), "{code}");
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn typing_is_forgiving_but_exact() {
        let code = "abcd-efgh-ijkl-mnop";
        assert_eq!(digest(code), digest("ABCD EFGH IJKL MNOP"));
        assert_eq!(digest(code), digest(" abcdefghijklmnop "));
        assert_ne!(digest(code), digest("abcd-efgh-ijkl-mnoq"));
        for bad in [
            "",
            "abcd-efgh-ijkl",
            "abcd-efgh-ijkl-mno1",
            "abcd-efgh-ijkl-mnop-q",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }
}
