//! Parsing and checking an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core
//! §3.1.2.1). The checks run in this order, because the first two decide whether errors may
//! be redirected at all:
//! 1. `client_id` names a registered client            (else: error page)
//! 2. `redirect_uri` is one the client registered      (else: error page)
//! 3. no parameter appears twice (RFC 6749 §3.1)
//! 4. no `request`, `request_uri` or `registration` (OIDC Core §6, §7.2.1)
//! 5. `response_mode` is absent or `query`
//! 6. `response_type` is `code`
//! 7. `scope` includes `openid`; unsupported scopes are dropped (RFC 6749 §3.3)
//! 8. PKCE: S256 only; required for public clients (RFC 9700 §2.1.1)
//! 9. `prompt` and `max_age` are well-formed
//! 10. `acr_values` / `claims` name a level we can reach, if essentially required

use serde::{Deserialize, Serialize};

use super::error::{AuthorizeError, ErrorCode, OAuthError};
use crate::login::assurance::{AcrLadder, Level};
use crate::model::{
    client::{Client, ClientType, GrantType, VerifiedRedirectUri},
    scope::{self, Scopes},
};

/// A checked authorization request, kept with the login transaction until a code is issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The granted scope: what was asked for, less what we do not support.
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 code challenge, when the client uses PKCE.
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// OIDC Core §3.1.2.1: the allowable elapsed time in seconds since the last active
    /// authentication.
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    /// The authentication level asked for, by `acr_values` or the `claims` parameter.
    #[serde(default)]
    pub acr: AcrRequest,
    /// `prompt=consent` (OIDC Core §3.1.2.1): ask the user for consent even if given before.
    #[serde(default)]
    pub force_consent: bool,
}

/// A requested authentication level (OIDC Core §3.1.2.1 `acr_values`, §5.5.1.1 `claims`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcrRequest {
    /// The lowest rung of our ladder that satisfies the request (any listed value does), if
    /// a level was asked for.
    #[serde(default, deserialize_with = "level_or_rank")]
    pub required: Option<Level>,
    /// Essential (the `claims` parameter's `"essential": true`, or the client's minimum):
    /// when unmet, the client gets `unmet_authentication_requirements` instead of tokens.
    pub essential: bool,
}

/// Sign-ins stored by an earlier version (in flight during an upgrade, or on an older node)
/// hold the level as its position on the ladder.
fn level_or_rank<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Level>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Level(Level),
        Rank(usize),
    }
    Ok(match Option::<Stored>::deserialize(d)? {
        None => None,
        Some(Stored::Level(level)) => Some(level),
        Some(Stored::Rank(rank)) => Some(Level::ALL.get(rank).copied().unwrap_or(Level::Phrh)),
    })
}

impl AcrRequest {
    /// Adds a client's minimum level, which is always essential.
    pub fn with_minimum(self, minimum: Option<Level>) -> AcrRequest {
        match minimum {
            Some(min) if self.required.is_none_or(|r| r <= min) => AcrRequest {
                required: Some(min),
                essential: true,
            },
            _ => self,
        }
    }

    /// Whether `authentication` is good enough, counting voluntary requests as always met.
    pub fn is_met_by(&self, authentication: &crate::login::assurance::Authentication) -> bool {
        self.required.is_none_or(|r| authentication.satisfies(r))
    }
}

/// Reads the requested acr values. Unknown values are ignored; an essential request none of
/// whose values we can assert is `None` (it can never be met).
fn parse_acr(
    acr_values: Option<&str>,
    claims: Option<&str>,
    ladder: &AcrLadder<'_>,
) -> Result<Option<AcrRequest>, &'static str> {
    let listed = || -> Vec<String> {
        acr_values
            .map(|v| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let claims: Option<serde_json::Value> = match claims {
        Some(raw) => {
            let claims: serde_json::Value =
                serde_json::from_str(raw).map_err(|_| "the claims parameter is not valid JSON")?;
            if !claims.is_object() {
                return Err("the claims parameter is not a JSON object");
            }
            Some(claims)
        }
        None => None,
    };
    // The claims parameter's acr request wins over acr_values when both are sent.
    let (values, essential) = match claims
        .as_ref()
        .and_then(|c| c.pointer("/id_token/acr"))
        .filter(|v| !v.is_null())
    {
        Some(acr) => {
            let essential = acr
                .get("essential")
                .and_then(|e| e.as_bool())
                .unwrap_or(false);
            let mut values: Vec<String> = acr
                .get("values")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(value) = acr.get("value").and_then(|v| v.as_str()) {
                values.push(value.to_owned());
            }
            (values, essential)
        }
        None => (listed(), false),
    };
    let known: Vec<Level> = values.iter().filter_map(|v| ladder.level(v)).collect();
    Ok(match (known.iter().min(), values.is_empty(), essential) {
        (Some(&lowest), _, _) => Some(AcrRequest {
            required: Some(lowest),
            essential,
        }),
        // Nothing we know: ignored when voluntary, impossible when essential.
        (None, false, true) => None,
        (None, _, _) => Some(AcrRequest::default()),
    })
}

impl AuthorizationRequest {
    pub fn verified_redirect_uri(&self, client: &Client) -> Option<VerifiedRedirectUri> {
        client.verify_redirect_uri(&self.redirect_uri)
    }
}

/// The `prompt` parameter (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// No prompt given: reuse a valid session, else ask the user to sign in.
    #[default]
    Default,
    /// Never show a page; fail with `login_required` if the user must sign in.
    None,
    /// Always ask the user to sign in again.
    Login,
}

/// The prompt values we honour, for `prompt_values_supported`.
pub const PROMPT_VALUES_SUPPORTED: &[&str] = &["none", "login", "consent", "select_account"];

/// Longest value we accept for a free-form parameter (state, nonce, login_hint): generous
/// for any real client, and it keeps stored rows small.
const MAX_PARAM_LEN: usize = 2048;

/// Parses raw query or form pairs, looking the client up with `find_client`.
pub async fn parse<F, Fut>(
    params: &[(String, String)],
    ladder: &AcrLadder<'_>,
    find_client: F,
) -> Result<(Client, AuthorizationRequest), AuthorizeError>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Client>, AuthorizeError>>,
{
    let render = |d: &'static str| AuthorizeError::Render(OAuthError::invalid_request(d));
    let single = |name: &str| -> Result<Option<&str>, ()> {
        let mut values = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            Err(())
        } else {
            Ok(first)
        }
    };

    // 1. The client.
    let client_id = match single("client_id") {
        Ok(Some(id)) if !id.is_empty() => id.to_owned(),
        Ok(_) => return Err(render("the client_id parameter is missing")),
        Err(()) => return Err(render("the client_id parameter appears more than once")),
    };
    let client = find_client(client_id.clone())
        .await?
        .ok_or_else(|| render("unknown client"))?;

    // 2. The redirect URI. OIDC Core §3.1.2.1 makes it REQUIRED, so there is no default.
    let redirect_uri = match single("redirect_uri") {
        Ok(Some(uri)) if !uri.is_empty() => uri,
        Ok(_) => return Err(render("the redirect_uri parameter is missing")),
        Err(()) => return Err(render("the redirect_uri parameter appears more than once")),
    };
    let to = client
        .verify_redirect_uri(redirect_uri)
        .ok_or_else(|| render("the redirect_uri is not registered for this client"))?;

    // From here on errors go back to the client. `state` is echoed only if it is unambiguous.
    let state = single("state").ok().flatten().map(str::to_owned);
    let redirect = |code: ErrorCode, description: &'static str| AuthorizeError::Redirect {
        to: to.clone(),
        state: state.clone(),
        error: OAuthError::new(code, description),
    };
    let invalid = |d: &'static str| redirect(ErrorCode::InvalidRequest, d);

    // 3. RFC 6749 §3.1: parameters MUST NOT be included more than once.
    for (i, (name, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(other, _)| other == name) {
            return Err(invalid("a parameter appears more than once"));
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    for name in ["state", "nonce", "login_hint"] {
        if get(name).is_some_and(|v| v.len() > MAX_PARAM_LEN) {
            return Err(invalid("a parameter value is too long"));
        }
    }

    // 4. Request objects and registration are not supported (OIDC Core §6.1, §6.2, §7.2.1).
    if get("request").is_some() {
        return Err(redirect(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if get("request_uri").is_some() {
        return Err(redirect(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    if get("registration").is_some() {
        return Err(redirect(
            ErrorCode::RegistrationNotSupported,
            "the registration parameter is not supported",
        ));
    }

    // 5. Only the query response mode exists here (OAuth 2.0 Multiple Response Types §2.1).
    if get("response_mode").is_some_and(|m| m != "query") {
        return Err(invalid(
            "unsupported response_mode; only query is supported",
        ));
    }

    // 6. The authorization code flow only.
    match get("response_type") {
        None => return Err(invalid("the response_type parameter is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(redirect(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(redirect(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }

    // 7. Scopes.
    let requested = Scopes::parse(get("scope").unwrap_or_default())
        .ok_or_else(|| redirect(ErrorCode::InvalidScope, "the scope parameter is malformed"))?;
    if !requested.contains(scope::OPENID) {
        return Err(redirect(
            ErrorCode::InvalidScope,
            "the openid scope is required",
        ));
    }
    let scope = requested.supported_only();

    // 8. PKCE (RFC 7636 §4.3): a challenge without a method means `plain`, which RFC 9700
    //    §2.1.1 tells us not to accept.
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) if client.client_type == ClientType::Public => {
            return Err(invalid(
                "PKCE is required for public clients: send code_challenge with code_challenge_method=S256",
            ));
        }
        (None, None) => None,
        (None, Some(_)) => return Err(invalid("code_challenge_method without code_challenge")),
        (Some(_), Some("S256")) => get("code_challenge").map(str::to_owned),
        (Some(_), _) => {
            return Err(invalid("code_challenge_method must be S256"));
        }
    };
    if let Some(challenge) = &code_challenge {
        // A base64url SHA-256 digest is exactly 43 characters.
        if challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid("code_challenge is not a base64url SHA-256 digest"));
        }
    }

    // 9. prompt and max_age.
    let mut prompt = Prompt::Default;
    let mut force_consent = false;
    if let Some(raw) = get("prompt") {
        let values: Vec<&str> = raw.split(' ').filter(|v| !v.is_empty()).collect();
        if values.iter().any(|v| !PROMPT_VALUES_SUPPORTED.contains(v)) {
            return Err(invalid("unsupported prompt value"));
        }
        if values.contains(&"none") {
            // OIDC Core §3.1.2.1: none must not be combined with any other value.
            if values.len() > 1 {
                return Err(invalid("prompt=none cannot be combined with other values"));
            }
            prompt = Prompt::None;
        } else if values.contains(&"login") {
            prompt = Prompt::Login;
        }
        force_consent = values.contains(&"consent");
        // `select_account` needs no page of its own: a browser holds one account at a time.
    }
    let max_age = match get("max_age") {
        None => None,
        Some(raw) => Some(
            raw.parse::<u64>()
                .map_err(|_| invalid("max_age must be a non-negative integer"))?,
        ),
    };

    // 10. The authentication level asked for (OIDC Core §3.1.2.1, §5.5.1.1), raised to the
    //     client's minimum.
    let acr = parse_acr(get("acr_values"), get("claims"), ladder)
        .map_err(invalid)?
        .ok_or_else(|| {
            redirect(
                ErrorCode::UnmetAuthenticationRequirements,
                "none of the essential acr values can be met",
            )
        })?
        .with_minimum(client.min_acr);

    let request = AuthorizationRequest {
        client_id,
        redirect_uri: to.as_str().to_owned(),
        scope: scope.to_string(),
        state,
        nonce: get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        force_consent,
        max_age,
        login_hint: get("login_hint").map(str::to_owned),
        acr,
    };
    Ok((client, request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_levels_are_read_by_name_or_by_their_old_rank() {
        let read = |json: &str| serde_json::from_str::<AcrRequest>(json).unwrap().required;
        assert_eq!(
            read(r#"{"required":"phr","essential":true}"#),
            Some(Level::Phr)
        );
        assert_eq!(read(r#"{"required":2,"essential":true}"#), Some(Level::Phr));
        assert_eq!(read(r#"{"required":null,"essential":false}"#), None);
        assert_eq!(read(r#"{"essential":false}"#), None);
    }
}
