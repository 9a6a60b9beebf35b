//! JWT parsing of client assertions (RFC 7523) and DPoP proofs (RFC 9449): the input is a
//! JWT, optionally followed by a NUL and a JWK Set to verify it against.
#![no_main]

use idp::oidc::{client_assertion, dpop};
use libfuzzer_sys::fuzz_target;

/// A real public key, so that inputs reusing it get past the key lookup.
const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256",
"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (jwt, jwks) = text.split_once('\0').unwrap_or((text, JWKS));
    let _ = client_assertion::unverified_claims(jwt);
    let _ = client_assertion::verify(jwt, jwks);
    let _ = client_assertion::check_jwks(jwks);
    for (method, url, ath) in [
        ("POST", "https://idp.example/token", None),
        (
            "GET",
            "https://idp.example/userinfo",
            Some("an access token"),
        ),
    ] {
        let _ = dpop::verify(jwt, method, url, ath, 1_700_000_000);
    }
});
