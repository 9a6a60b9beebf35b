//! The form bodies of the back-channel endpoints (token, revocation, introspection).

use axum::http::{HeaderMap, header};

use super::error::OAuthError;

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
        let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("the request body is not form-encoded"))?;
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
