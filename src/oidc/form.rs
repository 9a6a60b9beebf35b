//! The form bodies of the back-channel endpoints (token, revocation, introspection).

use axum::http::{HeaderMap, header};

use super::error::OAuthError;

/// Decodes `application/x-www-form-urlencoded` bytes, a body or a query string. Names and
/// values must be UTF-8 once percent-decoded (RFC 6749 Appendix B): a lenient parser would
/// replace bad bytes with U+FFFD and so turn different inputs into the same value.
pub fn decode(raw: &[u8]) -> Option<Vec<(String, String)>> {
    let text = |bytes: &[u8]| {
        let spaced: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    raw.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            Some((text(name)?, text(value)?))
        })
        .collect()
}

/// A parsed `application/x-www-form-urlencoded` body.
pub struct FormParams(Vec<(String, String)>);

impl FormParams {
    /// Parses the body, refusing another content type and parameters sent twice
    /// (RFC 6749 §3.2).
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<FormParams, OAuthError> {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::invalid_request(
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        let params = decode(body).ok_or_else(|| {
            OAuthError::invalid_request("the request body is not form-encoded UTF-8")
        })?;
        for (i, (name, _)) in params.iter().enumerate() {
            if params[..i].iter().any(|(other, _)| other == name) {
                return Err(OAuthError::invalid_request(format!(
                    "the {name} parameter appears more than once"
                )));
            }
        }
        Ok(FormParams(params))
    }

    /// Every parameter, in order.
    pub fn pairs(&self) -> impl Iterator<Item = &(String, String)> {
        self.0.iter()
    }

    /// A parameter's value; empty values count as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_forms_and_refuses_what_is_not_utf8() {
        let pairs = |v: Vec<(String, String)>| v;
        assert_eq!(
            decode(b"a=1&b=x+y%21&&c&d=%E2%9C%93").map(pairs),
            Some(vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("c".into(), "".into()),
                ("d".into(), "\u{2713}".into()),
            ])
        );
        assert_eq!(decode(b"").map(pairs), Some(vec![]));
        // The `=` of a value stays in it; only the first one separates.
        assert_eq!(
            decode(b"k=a=b").map(pairs),
            Some(vec![("k".into(), "a=b".into())])
        );
        for bad in [&b"code=%FF"[..], b"%C3%28=x", b"state=\xff", b"x=%ED%A0%80"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
