//! Configuration: defaults, then `idp.toml` (or `--config PATH`), then `IDP_*` environment
//! variables. Unknown keys are errors, so a typo never silently falls back to a default.
//!
//! Every key is documented in the shipped `idp.toml`; a test checks that file parses to
//! exactly [`Config::default`].

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// The file `serve` and every other subcommand read when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "idp.toml";

/// Top-level keys that environment variables may set (`IDP_ISSUER`, `IDP_TOKENS__...`).
/// Other `IDP_*` variables are ignored rather than rejected, so that unrelated tools sharing
/// the prefix cannot stop the server.
const ENV_KEYS: &[&str] = &[
    "issuer",
    "listen",
    "database_url",
    "secret_key_file",
    "theme",
    "themes_dir",
    "tokens",
    "session",
    "argon2",
    "webauthn",
    "policy",
    "acr",
    "signup",
    "allow_password_signup",
    "require_pushed_authorization_requests",
    "pushed_request_lifetime",
    "keys",
    "dpop",
    "rate_limits",
    "audit",
    "registration",
    "branding",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The issuer identifier: an https URL (http only for localhost) with no query or fragment.
    pub issuer: String,
    /// Address and port the HTTP server listens on.
    pub listen: SocketAddr,
    /// `sqlite://path/to/file.db` (created on first start) or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// File holding the 256-bit key that encrypts secrets stored in the database (signing
    /// keys). Created on first start; every node of one deployment needs the same file.
    pub secret_key_file: PathBuf,
    /// Name of the theme under `themes_dir`; `default` is built into the binary.
    pub theme: String,
    /// Directory holding custom themes (`<themes_dir>/<theme>/templates`, `.../static`).
    pub themes_dir: PathBuf,
    pub tokens: TokenConfig,
    pub session: SessionConfig,
    pub argon2: Argon2Config,
    pub webauthn: WebauthnConfig,
    pub policy: PolicyConfig,
    pub acr: AcrNames,
    /// Who may create an account: nobody but operators (`closed`), people holding an
    /// invitation link (`invite`), or anyone (`open`).
    pub signup: SignupMode,
    /// Sign-up may offer "Use a password instead" to browsers without passkeys.
    pub allow_password_signup: bool,
    /// Every client must push its authorization requests first (RFC 9126 §5).
    pub require_pushed_authorization_requests: bool,
    /// How long a pushed request's `request_uri` can be used (once).
    #[serde(with = "humantime_serde")]
    pub pushed_request_lifetime: Duration,
    pub keys: KeysConfig,
    pub dpop: DpopConfig,
    /// Networks of the reverse proxies / load balancers in front of this server (CIDR, e.g.
    /// `10.0.0.0/8`). Requests from them are attributed to the address they name in
    /// `X-Forwarded-For`; from anyone else that header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub rate_limits: RateLimitConfig,
    pub audit: AuditConfig,
    pub registration: RegistrationConfig,
    pub branding: Branding,
}

/// The product's look on the hosted pages, without a theme of one's own.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Branding {
    /// Shown in every page's header and title.
    pub product_name: String,
    /// A logo for the header: a URL path (a theme's `/static/logo.svg`) or an https URL.
    pub logo_url: Option<String>,
    /// Buttons, links and focus rings: a CSS hex colour such as `#2456d6`.
    pub accent_color: String,
}

impl Branding {
    /// The WCAG 2.2 contrast ratio of white button text on the accent colour (AA asks 4.5:1).
    /// `None` if the colour is not valid hex (validation refuses those).
    pub fn accent_contrast_with_white(&self) -> Option<f64> {
        let hex = self.accent_color.strip_prefix('#')?;
        let hex: String = match hex.len() {
            3 => hex.chars().flat_map(|c| [c, c]).collect(),
            6 => hex.to_owned(),
            _ => return None,
        };
        let channel = |i: usize| -> Option<f64> {
            let c = u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()? as f64 / 255.0;
            // sRGB to linear light (WCAG 2.2, "relative luminance").
            Some(if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            })
        };
        let luminance = 0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?;
        Some(1.05 / (luminance + 0.05))
    }
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            product_name: "idp".into(),
            logo_url: None,
            accent_color: "#2456d6".into(),
        }
    }
}

/// Dynamic client registration (RFC 7591, RFC 7592).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Apps may register themselves at `/register` with an initial access token from
    /// `idp admin-token create --scope register`.
    pub enabled: bool,
}

/// The audit log (security and admin events).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Events older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(365 * 24 * 3600),
        }
    }
}

/// Request-rate limits per client address, per node (`web::rate_limit`). 0 turns one off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// POSTs to the sign-in and sign-up endpoints (passkey ceremonies, password and code
    /// forms) per minute; a burst of this many, then one every 60/n seconds.
    pub sign_in_per_minute: u32,
    /// POSTs to the token, pushed-authorization, revocation and introspection endpoints per
    /// second (and as a burst).
    pub token_per_second: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            sign_in_per_minute: 600,
            token_per_second: 200,
        }
    }
}

/// DPoP (RFC 9449) sender-constrained tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// Proofs must carry a nonce this server issued in the last 5 minutes (RFC 9449 §8):
    /// a proof made in advance by malware then expires quickly.
    pub require_nonce: bool,
}

/// Signing-key rotation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// How long a rotated-in key is published before it signs, so that relying parties
    /// caching the JWKS (we allow 5 minutes) have it before they meet it.
    #[serde(with = "humantime_serde")]
    pub prepublication: Duration,
    /// How often each node re-reads the keys from the database.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            prepublication: Duration::from_secs(3600),
            reload_interval: Duration::from_secs(30),
        }
    }
}

/// How long `Cache-Control` lets relying parties keep the JWKS.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SignupMode {
    #[default]
    Closed,
    Invite,
    Open,
}

/// The `acr` value sent for each rung of the ladder. The defaults are the values of OpenID
/// Connect EAP ACR Values 1.0 (`phr`, `phrh`) and our own short names below them; a
/// deployment that must speak a federation's vocabulary (URIs, say) renames them here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AcrNames {
    pub pwd: String,
    pub mfa: String,
    pub phr: String,
    pub phrh: String,
}

impl Default for AcrNames {
    fn default() -> Self {
        use crate::login::assurance::Level;
        Self {
            pwd: Level::Pwd.key().into(),
            mfa: Level::Mfa.key().into(),
            phr: Level::Phr.key().into(),
            phrh: Level::Phrh.key().into(),
        }
    }
}

impl AcrNames {
    pub fn name(&self, level: crate::login::assurance::Level) -> &str {
        use crate::login::assurance::Level;
        match level {
            Level::Pwd => &self.pwd,
            Level::Mfa => &self.mfa,
            Level::Phr => &self.phr,
            Level::Phrh => &self.phrh,
        }
    }
}

/// Sign-in policy for every user and client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Every user must have a second factor: users without one set one up at their next
    /// sign-in before they can continue (as `idp user require-mfa` does for one user).
    pub require_mfa: bool,
    /// Users who have a passkey can no longer start a sign-in with their password.
    pub passkeys_only: bool,
    /// How long a sign-in counts at the `mfa` level before a request for that level asks
    /// again (NIST SP 800-63B §4.2.3: AAL2 reauthentication at least every 12 hours).
    #[serde(with = "humantime_serde")]
    pub mfa_lifetime: Duration,
    /// The same for the phishing-resistant `phr` level (AAL3 allows 12 hours as well).
    #[serde(with = "humantime_serde")]
    pub phr_lifetime: Duration,
    /// The same for `phrh` (hardware-protected, attested passkey).
    #[serde(with = "humantime_serde")]
    pub phrh_lifetime: Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            require_mfa: false,
            passkeys_only: false,
            mfa_lifetime: Duration::from_secs(12 * 3600),
            phr_lifetime: Duration::from_secs(12 * 3600),
            phrh_lifetime: Duration::from_secs(12 * 3600),
        }
    }
}

impl PolicyConfig {
    /// How long a sign-in counts at `level`; `None` for as long as the session.
    pub fn level_lifetime(&self, level: crate::login::assurance::Level) -> Option<i64> {
        use crate::login::assurance::Level;
        let lifetime = match level {
            Level::Pwd => return None,
            Level::Mfa => self.mfa_lifetime,
            Level::Phr => self.phr_lifetime,
            Level::Phrh => self.phrh_lifetime,
        };
        Some(lifetime.as_secs() as i64)
    }
}

/// Passkeys (WebAuthn Level 3). User verification is always required: a passkey is then a
/// multi-factor authenticator on its own.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// The relying-party id passkeys are bound to [default: the issuer's host]. It must be the
    /// issuer's host or a registrable suffix of it, and never an IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    /// Name shown by authenticators when a passkey is created.
    pub rp_name: String,
    /// Origins allowed to run ceremonies [default: the issuer's origin].
    pub origins: Vec<String>,
    /// How many passkeys one user may register.
    pub max_passkeys_per_user: u32,
    /// How long the browser waits for the user during a ceremony.
    #[serde(with = "humantime_serde")]
    pub ceremony_timeout: Duration,
    /// How long a registration or authentication challenge stays valid on the server.
    #[serde(with = "humantime_serde")]
    pub challenge_lifetime: Duration,
    /// `required`, the only value: every passkey here may sign in on its own, so it must
    /// verify the user (PIN, biometric), and webauthn-rs holds a credential to the policy it
    /// was registered with for life.
    pub user_verification: String,
    /// Attestation conveyance asked of authenticators at registration: `none` (the default:
    /// nothing about the device is disclosed) or `direct` (the authenticator's make and model,
    /// signed by its manufacturer, checked against `trusted_authenticators`).
    pub attestation: AttestationConveyance,
    /// With `attestation = "direct"`: refuse passkeys from authenticators that are not in
    /// `trusted_authenticators` (synced passkeys included), instead of registering them as
    /// ordinary passkeys.
    pub require_trusted_authenticator: bool,
    /// Authenticator models whose attested, device-bound passkeys reach the `phrh` level.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_authenticators: Vec<TrustedAuthenticator>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AttestationConveyance {
    #[default]
    None,
    Direct,
}

/// One trusted authenticator model: its manufacturer's attestation root certificate and the
/// AAGUIDs (model ids) accepted under it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrustedAuthenticator {
    /// Shown to users, and the default name of passkeys made with it.
    pub name: String,
    pub aaguids: Vec<uuid::Uuid>,
    /// The attestation root certificate, PEM or DER.
    pub ca_file: PathBuf,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        Self {
            rp_id: None,
            rp_name: "idp".into(),
            origins: Vec::new(),
            max_passkeys_per_user: 10,
            ceremony_timeout: Duration::from_secs(60),
            challenge_lifetime: Duration::from_secs(5 * 60),
            user_verification: "required".into(),
            attestation: AttestationConveyance::None,
            require_trusted_authenticator: false,
            trusted_authenticators: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Lifetime of an authorization code; at most 60 s.
    #[serde(with = "humantime_serde")]
    pub authorization_code: Duration,
    #[serde(with = "humantime_serde")]
    pub access_token: Duration,
    /// How access tokens are signed. RFC 9068 §4 makes RS256 the one every resource server
    /// must accept, hence the default; ES256 is much cheaper to sign.
    pub access_token_alg: crate::crypto::keys::SigningAlg,
    #[serde(with = "humantime_serde")]
    pub id_token: Duration,
    /// Absolute lifetime of a grant's refresh tokens, counted from the sign-in.
    #[serde(with = "humantime_serde")]
    pub refresh_token: Duration,
    /// Sliding lifetime: a refresh token unused this long expires before the absolute one.
    #[serde(with = "humantime_serde")]
    pub refresh_token_idle: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// How long a user stays signed in at the IdP (single sign-on), from the sign-in.
    #[serde(with = "humantime_serde")]
    pub lifetime: Duration,
    /// A browser session unused for this long is forgotten.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How long a user has to finish signing in once an application sent them here.
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    /// Adding a sign-in method needs a sign-in at most this old; older sessions sign in again.
    #[serde(with = "humantime_serde")]
    pub reauthentication_window: Duration,
}

/// argon2id parameters for password hashing (default: OWASP's first recommendation).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://localhost:8080".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://data/idp.db".into(),
            secret_key_file: PathBuf::from("data/secret.key"),
            theme: "default".into(),
            themes_dir: PathBuf::from("themes"),
            tokens: TokenConfig::default(),
            session: SessionConfig::default(),
            argon2: Argon2Config::default(),
            webauthn: WebauthnConfig::default(),
            policy: PolicyConfig::default(),
            acr: AcrNames::default(),
            signup: SignupMode::Closed,
            allow_password_signup: false,
            require_pushed_authorization_requests: false,
            pushed_request_lifetime: Duration::from_secs(60),
            keys: KeysConfig::default(),
            dpop: DpopConfig::default(),
            trusted_proxies: Vec::new(),
            rate_limits: RateLimitConfig::default(),
            audit: AuditConfig::default(),
            registration: RegistrationConfig::default(),
            branding: Branding::default(),
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            authorization_code: Duration::from_secs(60),
            access_token: Duration::from_secs(10 * 60),
            access_token_alg: crate::crypto::keys::SigningAlg::Rs256,
            id_token: Duration::from_secs(10 * 60),
            refresh_token: Duration::from_secs(30 * 24 * 3600),
            refresh_token_idle: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(12 * 3600),
            idle_timeout: Duration::from_secs(2 * 3600),
            login_timeout: Duration::from_secs(15 * 60),
            reauthentication_window: Duration::from_secs(10 * 60),
        }
    }
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Loads the configuration. `path` is the `--config` argument: when given, the file must
    /// exist; otherwise `idp.toml` in the working directory is read if present.
    pub fn load(path: Option<&std::path::Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) if !path.exists() => return Err(ConfigError::Missing(path.to_owned())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if std::path::Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        figment = figment.merge(
            Env::prefixed("IDP_")
                .filter(|key| {
                    let top = key.as_str().split("__").next().unwrap_or_default();
                    ENV_KEYS.iter().any(|k| top.eq_ignore_ascii_case(k))
                })
                .split("__"),
        );
        let config: Config = figment.extract().map_err(|e| {
            // figment may collect several errors; the first names the key and its source.
            let first = e.into_iter().next().map(|e| e.to_string());
            ConfigError::Invalid(first.unwrap_or_else(|| "invalid configuration".into()))
        })?;
        config.validate()
    }

    fn validate(mut self) -> Result<Config, ConfigError> {
        let invalid = |key: &str, why: String| ConfigError::Invalid(format!("{key}: {why}"));
        let issuer = url::Url::parse(&self.issuer).map_err(|e| {
            invalid(
                "issuer",
                format!("not a valid URL ({e}): {:?}", self.issuer),
            )
        })?;
        // OIDC Discovery §3: the issuer is a URL using the https scheme with no query or
        // fragment. Plain http is accepted for a loopback host only, for development.
        match issuer.scheme() {
            "https" => {}
            "http" if is_loopback_host(&issuer) => {}
            _ => {
                return Err(invalid(
                    "issuer",
                    format!(
                        "must be an https URL (http is allowed for localhost only): {:?}",
                        self.issuer
                    ),
                ));
            }
        }
        if issuer.query().is_some() || issuer.fragment().is_some() || issuer.host().is_none() {
            return Err(invalid(
                "issuer",
                format!(
                    "must have a host and no query or fragment: {:?}",
                    self.issuer
                ),
            ));
        }
        // Endpoints are appended to the issuer, so keep it without a trailing slash.
        self.issuer = self.issuer.trim_end_matches('/').to_owned();
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                format!(
                    "must start with sqlite: or postgres://, got {:?}",
                    self.database_url
                ),
            ));
        }
        if self.tokens.authorization_code > Duration::from_secs(60)
            || self.tokens.authorization_code.is_zero()
        {
            return Err(invalid(
                "tokens.authorization_code",
                "must be between 1s and 60s".into(),
            ));
        }
        for (key, value) in [
            ("tokens.access_token", self.tokens.access_token),
            ("tokens.id_token", self.tokens.id_token),
            ("tokens.refresh_token", self.tokens.refresh_token),
            ("tokens.refresh_token_idle", self.tokens.refresh_token_idle),
            ("session.lifetime", self.session.lifetime),
            ("session.idle_timeout", self.session.idle_timeout),
            ("session.login_timeout", self.session.login_timeout),
            (
                "session.reauthentication_window",
                self.session.reauthentication_window,
            ),
            ("webauthn.ceremony_timeout", self.webauthn.ceremony_timeout),
            (
                "webauthn.challenge_lifetime",
                self.webauthn.challenge_lifetime,
            ),
            ("policy.mfa_lifetime", self.policy.mfa_lifetime),
            ("policy.phr_lifetime", self.policy.phr_lifetime),
            ("policy.phrh_lifetime", self.policy.phrh_lifetime),
            ("pushed_request_lifetime", self.pushed_request_lifetime),
            ("keys.reload_interval", self.keys.reload_interval),
            ("audit.retention", self.audit.retention),
        ] {
            if value < Duration::from_secs(1) {
                return Err(invalid(key, "must be at least 1s".into()));
            }
        }
        if argon2::Params::new(
            self.argon2.memory_kib,
            self.argon2.iterations,
            self.argon2.parallelism,
            None,
        )
        .is_err()
        {
            return Err(invalid(
                "argon2",
                "memory_kib, iterations and parallelism are out of range".into(),
            ));
        }
        self.validate_webauthn(&issuer)?;
        self.validate_acr_names()?;
        self.validate_branding()?;
        if self.keys.prepublication < JWKS_MAX_AGE + self.keys.reload_interval {
            return Err(invalid(
                "keys.prepublication",
                format!(
                    "must be at least the JWKS cache time ({} s) plus keys.reload_interval, so that every node and relying party has a new key before it signs",
                    JWKS_MAX_AGE.as_secs()
                ),
            ));
        }
        if self.theme.is_empty() || self.theme.contains(['/', '\\', '.']) {
            return Err(invalid(
                "theme",
                format!("not a theme name: {:?}", self.theme),
            ));
        }
        Ok(self)
    }

    /// Browsers reject a relying-party id that is an IP address or that is not the page's
    /// host or a registrable suffix of it (WebAuthn §5.1.3 step 8); catch that now.
    fn validate_webauthn(&self, issuer: &url::Url) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: String| ConfigError::Invalid(format!("{key}: {why}"));
        let host = issuer.host_str().unwrap_or_default();
        let Some(rp_id) = self.rp_id() else {
            // An issuer on an IP address with no explicit rp_id: the server runs, without
            // passkeys (App::build logs why).
            return Ok(());
        };
        if is_ip_literal(&rp_id) {
            return Err(invalid(
                "webauthn.rp_id",
                format!(
                    "{rp_id:?} is an IP address, which browsers refuse as a passkey relying party; use a host name (for local use: http://localhost)"
                ),
            ));
        }
        let within = |h: &str| h == rp_id || h.ends_with(&format!(".{rp_id}"));
        if !within(host) {
            return Err(invalid(
                "webauthn.rp_id",
                format!(
                    "{rp_id:?} is neither the issuer's host {host:?} nor a parent domain of it"
                ),
            ));
        }
        for origin in &self.webauthn.origins {
            let url = url::Url::parse(origin)
                .map_err(|e| invalid("webauthn.origins", format!("{origin:?}: {e}")))?;
            let secure =
                url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(&url));
            if !secure || !url.host_str().is_some_and(within) {
                return Err(invalid(
                    "webauthn.origins",
                    format!(
                        "{origin:?} must be an https origin on {rp_id:?} or one of its subdomains"
                    ),
                ));
            }
        }
        if self.webauthn.max_passkeys_per_user == 0 {
            return Err(invalid(
                "webauthn.max_passkeys_per_user",
                "must be at least 1".into(),
            ));
        }
        self.validate_attestation()
    }

    fn validate_attestation(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: &str| ConfigError::Invalid(format!("{key}: {why}"));
        let webauthn = &self.webauthn;
        if webauthn.user_verification != "required" {
            return Err(invalid(
                "webauthn.user_verification",
                "only \"required\" is supported: every passkey can sign in without a password, so it must verify the user (PIN or biometric)",
            ));
        }
        let direct = webauthn.attestation == AttestationConveyance::Direct;
        if !direct && !webauthn.trusted_authenticators.is_empty() {
            return Err(invalid(
                "webauthn.trusted_authenticators",
                "needs attestation = \"direct\" (with \"none\" authenticators disclose nothing to check)",
            ));
        }
        if webauthn.require_trusted_authenticator
            && (!direct || webauthn.trusted_authenticators.is_empty())
        {
            return Err(invalid(
                "webauthn.require_trusted_authenticator",
                "needs attestation = \"direct\" and at least one entry in trusted_authenticators",
            ));
        }
        for trusted in &webauthn.trusted_authenticators {
            if trusted.name.trim().is_empty() || trusted.aaguids.is_empty() {
                return Err(invalid(
                    "webauthn.trusted_authenticators",
                    "each entry needs a name and at least one AAGUID",
                ));
            }
        }
        Ok(())
    }

    fn validate_branding(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: String| ConfigError::Invalid(format!("{key}: {why}"));
        let colour = &self.branding.accent_color;
        let hex = colour
            .strip_prefix('#')
            .is_some_and(|h| matches!(h.len(), 3 | 6) && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !hex {
            return Err(invalid(
                "branding.accent_color",
                format!("{colour:?} is not a CSS hex colour such as #2456d6"),
            ));
        }
        let name = self.branding.product_name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(invalid(
                "branding.product_name",
                "must be 1 to 60 characters".into(),
            ));
        }
        if let Some(logo) = &self.branding.logo_url {
            let ok =
                logo.starts_with('/') && !logo.starts_with("//") || logo.starts_with("https://");
            if !ok {
                return Err(invalid(
                    "branding.logo_url",
                    format!("{logo:?} must be a path such as /static/logo.svg or an https URL"),
                ));
            }
        }
        Ok(())
    }

    fn validate_acr_names(&self) -> Result<(), ConfigError> {
        let names = crate::login::assurance::Level::ALL.map(|l| self.acr.name(l));
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(ConfigError::Invalid(format!(
                    "acr: {name:?} cannot be an acr value (acr_values is space-separated)"
                )));
            }
            if names[..i].contains(name) {
                return Err(ConfigError::Invalid(format!(
                    "acr: {name:?} names two levels"
                )));
            }
        }
        Ok(())
    }

    /// How long a replaced signing key stays published after its successor starts signing:
    /// until every token it signed has expired (plus a minute of clock skew).
    pub fn keys_overlap(&self) -> i64 {
        self.tokens.access_token.max(self.tokens.id_token).as_secs() as i64 + 60
    }

    /// The acr values in effect: configured names; `phrh` only when it can be reached.
    pub fn acr_ladder(&self) -> crate::login::assurance::AcrLadder<'_> {
        crate::login::assurance::AcrLadder {
            names: &self.acr,
            hardware: self.webauthn.attestation == AttestationConveyance::Direct
                && !self.webauthn.trusted_authenticators.is_empty(),
        }
    }

    /// The WebAuthn relying-party id in effect: the configured one, else the issuer's host
    /// unless that is an IP address (browsers refuse those, so there are no passkeys then).
    pub fn rp_id(&self) -> Option<String> {
        match &self.webauthn.rp_id {
            Some(rp_id) => Some(rp_id.clone()),
            None => url::Url::parse(&self.issuer)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .filter(|host| !is_ip_literal(host)),
        }
    }

    /// The origins allowed to run WebAuthn ceremonies.
    pub fn webauthn_origins(&self) -> Vec<url::Url> {
        if self.webauthn.origins.is_empty() {
            vec![url::Url::parse(&self.issuer).expect("validated in Config::load")]
        } else {
            self.webauthn
                .origins
                .iter()
                .filter_map(|o| url::Url::parse(o).ok())
                .collect()
        }
    }

    /// Whether cookies must be `Secure` (and may use the `__Host-` prefix).
    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The issuer's host, for messages and (later) the WebAuthn relying-party id.
    pub fn issuer_url(&self) -> url::Url {
        url::Url::parse(&self.issuer).expect("validated in Config::load")
    }
}

fn is_ip_literal(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[')
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A public helper for redirect-URI validation, which shares the loopback rule.
pub(crate) fn url_is_loopback(url: &url::Url) -> bool {
    is_loopback_host(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_idp_toml_is_exactly_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("idp.toml");
        let shipped: Config = Figment::from(Toml::file_exact(path)).extract().unwrap();
        assert_eq!(shipped, Config::default());
    }

    #[test]
    fn the_accent_contrast_follows_wcag() {
        let ratio = |c: &str| {
            Branding {
                accent_color: c.into(),
                ..Branding::default()
            }
            .accent_contrast_with_white()
        };
        // Black on white is 21:1, white on white 1:1; the default accent passes AA.
        assert!((ratio("#000").unwrap() - 21.0).abs() < 1e-9);
        assert!((ratio("#ffffff").unwrap() - 1.0).abs() < 1e-9);
        assert!(ratio("#2456d6").unwrap() > 4.5);
        assert!(ratio("#ffcc00").unwrap() < 4.5);
        assert_eq!(ratio("blue"), None);
    }

    #[test]
    fn validation_rejects_bad_values_by_name() {
        let check = |f: fn(&mut Config)| {
            let mut config = Config::default();
            f(&mut config);
            config.validate().unwrap_err().to_string()
        };
        assert!(check(|c| c.issuer = "ftp://x".into()).starts_with("issuer"));
        assert!(check(|c| c.issuer = "https://x/?q".into()).starts_with("issuer"));
        assert!(check(|c| c.database_url = "mysql://x".into()).starts_with("database_url"));
        assert!(
            check(|c| c.tokens.authorization_code = Duration::from_secs(61))
                .starts_with("tokens.authorization_code")
        );
        assert!(check(|c| c.argon2.memory_kib = 1).starts_with("argon2"));
        assert!(check(|c| c.theme = "../etc".into()).starts_with("theme"));
        assert!(
            check(|c| c.webauthn.rp_id = Some("127.0.0.1".into())).starts_with("webauthn.rp_id")
        );
        assert!(
            check(|c| c.webauthn.rp_id = Some("example.com".into())).starts_with("webauthn.rp_id")
        );
        assert!(
            check(|c| c.webauthn.origins = vec!["https://evil.example".into()])
                .starts_with("webauthn.origins")
        );
        assert!(
            check(|c| c.webauthn.user_verification = "preferred".into())
                .starts_with("webauthn.user_verification")
        );
        assert!(
            check(|c| c.webauthn.require_trusted_authenticator = true)
                .starts_with("webauthn.require_trusted_authenticator")
        );
        assert!(
            check(
                |c| c.webauthn.trusted_authenticators = vec![TrustedAuthenticator {
                    name: "key".into(),
                    aaguids: vec![uuid::Uuid::nil()],
                    ca_file: "ca.pem".into(),
                }]
            )
            .starts_with("webauthn.trusted_authenticators")
        );
        assert!(check(|c| c.acr.mfa = "pwd".into()).starts_with("acr"));
        assert!(
            check(|c| c.keys.prepublication = Duration::from_secs(60))
                .starts_with("keys.prepublication")
        );
        assert!(check(|c| c.acr.phr = "a b".into()).starts_with("acr"));
    }

    #[test]
    fn an_ip_issuer_runs_without_passkeys() {
        let config = Config {
            issuer: "http://127.0.0.1:8080".into(),
            ..Config::default()
        };
        assert_eq!(config.validate().unwrap().rp_id(), None);
        assert_eq!(Config::default().rp_id().as_deref(), Some("localhost"));
    }

    #[test]
    fn the_issuer_loses_its_trailing_slash() {
        let config = Config {
            issuer: "https://idp.example/".into(),
            ..Config::default()
        };
        assert_eq!(config.validate().unwrap().issuer, "https://idp.example");
    }
}
