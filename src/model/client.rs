//! OAuth clients and their redirect URIs.

use serde::Serialize;
use url::Url;

use crate::crypto::keys::SigningAlg;

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    Confidential,
    Public,
}

/// How a client authenticates at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenEndpointAuthMethod {
    #[serde(rename = "client_secret_basic")]
    ClientSecretBasic,
    #[serde(rename = "client_secret_post")]
    ClientSecretPost,
    #[serde(rename = "none")]
    None,
    /// A JWT signed with the client's private key (RFC 7523 §2.2, OIDC Core §9).
    #[serde(rename = "private_key_jwt")]
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "none" => Some(Self::None),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            _ => None,
        }
    }

    /// Whether a client authenticating this way holds a secret we issued.
    pub const fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// OAuth grant types (RFC 7591 §2 `grant_types`) a client may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// What a client registered without a choice may use: sign users in, refresh.
    pub const DEFAULT: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];
}

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    #[serde(serialize_with = "serialize_alg")]
    pub id_token_signed_response_alg: SigningAlg,
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards, matched exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// The lowest acr this client accepts; every request is raised to it, essentially.
    pub min_acr: Option<crate::login::assurance::Level>,
    pub grant_types: Vec<GrantType>,
    /// The scopes a `client_credentials` token may carry (space-separated), if any.
    pub scope: Option<String>,
    /// Authorization requests must be pushed first (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// A `private_key_jwt` client's JWK Set (JSON), or the URL to fetch it from.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    /// Access tokens only with a DPoP proof (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
    /// Where to POST a logout token when a user's session ends (Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// Refresh tokens for this client even without the `offline_access` scope.
    pub refresh_tokens_without_offline_access: bool,
    /// Rotate DPoP-bound refresh tokens on every use (the default). Off, such a token stays
    /// valid until it expires: it is useless without the DPoP key, and FAPI 2.0 §5.3.2.1
    /// advises against rotating sender-constrained refresh tokens.
    pub rotate_dpop_bound_refresh_tokens: bool,
    /// The operator's own application: users are not asked for consent.
    pub first_party: bool,
    /// Shown on the consent page (RFC 7591 §2).
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// Seconds an access token lives; `None`: the server's `tokens.access_token`.
    pub access_token_lifetime: Option<u64>,
    /// Seconds a grant's refresh tokens live at most; `None`: `tokens.refresh_token`.
    pub refresh_token_lifetime: Option<u64>,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub created_at: i64,
}

impl Client {
    /// A client with `client_id`, `name` and `client_type` and every other setting at its
    /// default: the authorization-code and refresh-token grants, no redirect URI, ES256 ID
    /// tokens, the client type's usual authentication method, no secret.
    pub fn new(client_id: &str, name: &str, client_type: ClientType) -> Client {
        Client {
            client_id: client_id.into(),
            name: name.into(),
            client_type,
            token_endpoint_auth_method: match client_type {
                ClientType::Public => TokenEndpointAuthMethod::None,
                ClientType::Confidential => TokenEndpointAuthMethod::ClientSecretBasic,
            },
            id_token_signed_response_alg: SigningAlg::Es256,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            min_acr: None,
            grant_types: GrantType::DEFAULT.to_vec(),
            scope: None,
            require_pushed_authorization_requests: false,
            jwks: None,
            jwks_uri: None,
            dpop_bound_access_tokens: false,
            backchannel_logout_uri: None,
            refresh_tokens_without_offline_access: false,
            rotate_dpop_bound_refresh_tokens: true,
            first_party: false,
            logo_uri: None,
            policy_uri: None,
            tos_uri: None,
            access_token_lifetime: None,
            refresh_token_lifetime: None,
            secret_hash: None,
            created_at: 0,
        }
    }
}

fn serialize_alg<S: serde::Serializer>(alg: &SigningAlg, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(alg.as_str())
}

/// A redirect URI that matched one the client registered. Only [`Client::verify_redirect_uri`]
/// makes one, so error redirects can only go to registered URIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRedirectUri(String);

impl VerifiedRedirectUri {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Matches `uri` against the registered redirect URIs by exact string comparison
    /// (RFC 9700 §4.1.3). The one exception is RFC 8252 §7.3: for public (native) clients, a
    /// loopback IP redirect URI matches on any port, since the app picks its port at run time.
    pub fn verify_redirect_uri(&self, uri: &str) -> Option<VerifiedRedirectUri> {
        if self.redirect_uris.iter().any(|r| r == uri) {
            return Some(VerifiedRedirectUri(uri.to_owned()));
        }
        if self.client_type == ClientType::Public {
            let requested = Url::parse(uri).ok()?;
            if requested.scheme() == "http" && is_loopback_ip(&requested) {
                let matches = self.redirect_uris.iter().any(|registered| {
                    Url::parse(registered).is_ok_and(|mut r| {
                        is_loopback_ip(&r)
                            && r.set_port(requested.port()).is_ok()
                            && r.as_str() == requested.as_str()
                    })
                });
                if matches {
                    return Some(VerifiedRedirectUri(uri.to_owned()));
                }
            }
        }
        None
    }
}

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Checks a redirect URI a client wants to register:
/// - an absolute URI without a fragment (RFC 6749 §3.1.2);
/// - `https`, or `http` on a loopback host (RFC 8252 §7.3), or a private-use scheme in
///   reverse-domain form such as `com.example.app:/cb` (RFC 8252 §7.1);
/// - never a scheme a browser would execute (`javascript:`, `data:`, ...).
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("redirect URI {uri:?} is not a URL: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "redirect URI {uri:?} must not contain a fragment (RFC 6749 §3.1.2)"
        ));
    }
    if url.as_str() != uri && url.as_str() != format!("{uri}/") {
        // The comparison at /authorize is by exact string; registering a form the URL
        // parser rewrites would never match what the client sends.
        return Err(format!(
            "redirect URI {uri:?} is not in normalized form (did you mean {:?}?)",
            url.as_str()
        ));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if crate::config::url_is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "redirect URI {uri:?} must use https (http is allowed only for localhost, 127.0.0.1 and [::1])"
        )),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(format!(
            "redirect URI {uri:?} must use https, http on a loopback host, or a private-use scheme such as com.example.app:/callback"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(kind: ClientType, uris: &[&str]) -> Client {
        Client {
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            ..Client::new("c", "n", kind)
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let c = client(ClientType::Confidential, &["https://app.example/cb"]);
        assert!(c.verify_redirect_uri("https://app.example/cb").is_some());
        assert!(c.verify_redirect_uri("https://app.example/cb/").is_none());
        assert!(
            c.verify_redirect_uri("https://app.example/cb?x=1")
                .is_none()
        );
        assert!(c.verify_redirect_uri("https://APP.example/cb").is_none());
    }

    #[test]
    fn native_loopback_redirects_match_any_port() {
        let public = client(ClientType::Public, &["http://127.0.0.1/cb"]);
        assert!(
            public
                .verify_redirect_uri("http://127.0.0.1:51004/cb")
                .is_some()
        );
        assert!(
            public
                .verify_redirect_uri("http://127.0.0.1:51004/other")
                .is_none()
        );
        let confidential = client(ClientType::Confidential, &["http://127.0.0.1/cb"]);
        assert!(
            confidential
                .verify_redirect_uri("http://127.0.0.1:51004/cb")
                .is_none()
        );
    }

    #[test]
    fn validates_registered_redirect_uris() {
        assert!(validate_redirect_uri("https://app.example/cb").is_ok());
        assert!(validate_redirect_uri("http://localhost:3000/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/oauth").is_ok());
        assert!(validate_redirect_uri("http://app.example/cb").is_err());
        assert!(validate_redirect_uri("https://app.example/cb#x").is_err());
        assert!(validate_redirect_uri("javascript:alert(1)").is_err());
        assert!(validate_redirect_uri("not a uri").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
    }
}
