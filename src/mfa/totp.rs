//! Authenticator-app codes (TOTP, RFC 6238) through totp-rs: SHA-1, 6 digits, 30-second steps,
//! which every authenticator app supports. A code is accepted for the current step ±1, and
//! never for a step at or before the last one accepted (RFC 6238 §5.2: a code is used once).

use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::crypto::random;

pub const DIGITS: u8 = 6;
pub const STEP_SECONDS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("enter the 6-digit code from your authenticator app")]
    Malformed,
    #[error("that code is not right")]
    Wrong,
    #[error("that code was already used; wait for the next one")]
    Replayed,
}

/// A new 160-bit secret (the HMAC-SHA-1 key size RFC 4226 §4 recommends).
pub fn new_secret() -> Vec<u8> {
    random::bytes::<20>().to_vec()
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(Secret::from(secret.to_vec()))
        // ':' separates issuer and account in the otpauth label.
        .with_issuer(Some(issuer.replace(':', "")))
        .with_account_name(account.replace(':', ""))
        .build()
        .expect("SHA-1, 6 digits, a 160-bit secret and a 30 s step are valid")
}

/// The secret as people type it into an app ("Setup key"): base32, in groups of four.
pub fn setup_key(secret: &[u8]) -> String {
    let encoded = Secret::from(secret.to_vec()).to_base32();
    encoded
        .trim_end_matches('=')
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `otpauth://totp/...` URI apps read from the QR code.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    totp(secret, issuer, account)
        .to_url()
        .expect("the account name is set")
}

/// The URI as an inline SVG QR code, rendered here: no external service sees the secret.
pub fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// Normalizes what a person typed: spaces and dashes ignored, exactly six digits.
fn normalize(code: &str) -> Result<String, TotpError> {
    let digits: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(TotpError::Malformed)
    }
}

/// Checks `code` at Unix time `now`; returns the matched step, which the caller stores so the
/// step can never be accepted again.
pub fn verify(
    secret: &[u8],
    code: &str,
    now: u64,
    last_step: Option<u64>,
) -> Result<u64, TotpError> {
    let code = normalize(code)?;
    let step = totp(secret, "idp", "user")
        .check(&code, now)
        .ok_or(TotpError::Wrong)?;
    if last_step.is_some_and(|last| step <= last) {
        return Err(TotpError::Replayed);
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed, and the last six digits of its 8-digit codes.
    const SEED: &[u8] = b"12345678901234567890";
    const VECTORS: &[(u64, &str)] = &[
        (59, "287082"),
        (1_111_111_109, "081804"),
        (1_111_111_111, "050471"),
        (1_234_567_890, "005924"),
        (2_000_000_000, "279037"),
        (20_000_000_000, "353130"),
    ];

    #[test]
    fn rfc6238_test_vectors_verify() {
        for &(time, code) in VECTORS {
            assert_eq!(verify(SEED, code, time, None), Ok(time / 30), "T={time}");
        }
    }

    #[test]
    fn neighbouring_steps_are_accepted_and_others_not() {
        let (time, code) = VECTORS[3];
        assert!(verify(SEED, code, time + 30, None).is_ok());
        assert!(verify(SEED, code, time - 30, None).is_ok());
        assert_eq!(verify(SEED, code, time + 90, None), Err(TotpError::Wrong));
    }

    #[test]
    fn a_step_is_accepted_once() {
        let (time, code) = VECTORS[2];
        let step = verify(SEED, code, time, None).unwrap();
        assert_eq!(
            verify(SEED, code, time, Some(step)),
            Err(TotpError::Replayed)
        );
        assert_eq!(
            verify(SEED, code, time, Some(step + 1)),
            Err(TotpError::Replayed)
        );
    }

    #[test]
    fn malformed_codes_are_named_as_such() {
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６"] {
            assert_eq!(
                verify(SEED, bad, 59, None),
                Err(TotpError::Malformed),
                "{bad:?}"
            );
        }
        assert!(verify(SEED, " 287 082 ", 59, None).is_ok());
        assert!(verify(SEED, "287-082", 59, None).is_ok());
    }

    #[test]
    fn setup_key_and_uri_carry_the_secret() {
        assert_eq!(setup_key(SEED), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
        let uri = otpauth_uri(SEED, "idp", "alice");
        assert!(uri.starts_with("otpauth://totp/idp:alice?"), "{uri}");
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(qr_svg(&uri).contains("<svg"));
    }
}
