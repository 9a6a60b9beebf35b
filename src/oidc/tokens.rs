//! Minting tokens for a grant: the ID token (OIDC Core §2), a JWT access token (RFC 9068)
//! recorded by its `jti`, and an opaque refresh token stored as a digest.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::{
    app::AppState,
    crypto::random,
    model::{
        client::Client,
        scope::{self, Scopes},
    },
    routes,
    store::{
        self,
        tokens::{AccessTokenRecord, Grant},
    },
};

/// RFC 9068 §2.1: the `typ` of a JWT access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The token endpoint's success response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// The audience of our access tokens. RFC 9068 §3: without a `resource` parameter the server
/// uses a default resource indicator; ours is the userinfo endpoint, the one resource we serve.
pub fn access_token_audience(state: &AppState) -> String {
    format!("{}{}", state.config.issuer, routes::USERINFO)
}

/// What happens to refresh tokens when a grant's tokens are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTokenIssue {
    /// A new refresh token, if the client and the grant get refresh tokens at all.
    Mint,
    /// None: the client keeps using the one it presented (not rotated).
    KeepPresented,
}

/// Whether `client` gets refresh tokens for a grant of `grant_scope`: only with the
/// `refresh_token` grant, and only for offline access (OIDC Core §11) unless the client is
/// registered to get them anyway.
pub fn gets_refresh_tokens(client: &Client, grant_scope: &str) -> bool {
    client.allows(crate::model::client::GrantType::RefreshToken)
        && (client.refresh_tokens_without_offline_access
            || Scopes::parse(grant_scope)
                .unwrap_or_default()
                .contains(scope::OFFLINE_ACCESS))
}

/// When a refresh token minted or used at `now` expires: after the idle (sliding) lifetime,
/// never past the grant's absolute one.
pub fn refresh_token_expiry(state: &AppState, grant: &Grant, now: i64) -> i64 {
    (now + state.config.tokens.refresh_token_idle.as_secs() as i64).min(grant.expires_at)
}

/// Tokens signed and ready to hand out, with the records that must be written (in the same
/// transaction as whatever else the request changes) before they are.
pub struct MintedTokens {
    pub response: TokenResponse,
    access_token: AccessTokenRecord,
    /// The new refresh token's digest and expiry.
    refresh_token: Option<(String, i64)>,
    grant_id: String,
    issued_at: i64,
}

impl MintedTokens {
    /// Writes the records of the minted tokens; only then may the response be sent.
    pub async fn record(self, db: &impl ConnectionTrait) -> anyhow::Result<TokenResponse> {
        store::tokens::insert_access_token(db, &self.access_token, self.issued_at).await?;
        if let Some((digest, expires_at)) = &self.refresh_token {
            store::tokens::insert_refresh_token(
                db,
                digest,
                &self.grant_id,
                self.issued_at,
                *expires_at,
            )
            .await?;
        }
        Ok(self.response)
    }
}

/// Signs the tokens of `grant` for `scope` (the grant's, or a narrower one on refresh),
/// without writing anything: signing is done before the caller's write transaction begins,
/// so the database's write lock is never held while a signature is computed.
/// `nonce` is set only on the code exchange: OIDC Core §12.2 says a refreshed ID token should
/// not carry one.
pub fn mint(
    state: &AppState,
    client: &Client,
    grant: &Grant,
    scope: &str,
    nonce: Option<&str>,
    dpop_jkt: Option<&str>,
    refresh: RefreshTokenIssue,
) -> anyhow::Result<MintedTokens> {
    let now = crate::model::now();
    let auth = &grant.authentication;
    let lifetime = access_token_lifetime(state, client);
    let jti = random::id();
    let record = AccessTokenRecord {
        jti: jti.clone(),
        grant_id: Some(grant.id.clone()),
        client_id: client.client_id.clone(),
        user_id: Some(auth.user_id.clone()),
        scope: scope.to_owned(),
        expires_at: now + lifetime as i64,
    };
    let access_token = state.keys.sign(
        state.config.tokens.access_token_alg,
        ACCESS_TOKEN_TYP,
        to_map(json!({
            "iss": state.config.issuer,
            "sub": auth.user_id,
            "aud": access_token_audience(state),
            "client_id": client.client_id,
            "iat": now,
            "exp": record.expires_at,
            "jti": jti,
            "scope": scope,
            "auth_time": auth.auth_time,
            "acr": auth.acr(&state.config.acr_ladder()),
            "amr": auth.amr(),
        }))
        .with_cnf(dpop_jkt),
    )?;

    let scopes = Scopes::parse(scope).unwrap_or_default();
    let id_token = if scopes.contains(scope::OPENID) {
        let mut claims = to_map(json!({
            "iss": state.config.issuer,
            "sub": auth.user_id,
            "aud": client.client_id,
            "iat": now,
            "exp": now + state.config.tokens.id_token.as_secs() as i64,
            "auth_time": auth.auth_time,
            "acr": auth.acr(&state.config.acr_ladder()),
            "amr": auth.amr(),
            "at_hash": at_hash(&access_token),
        }));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        if let Some(sid) = &grant.user_session_id {
            claims.insert("sid".into(), sid.clone().into());
        }
        Some(
            state
                .keys
                .sign(client.id_token_signed_response_alg, "JWT", claims)?,
        )
    } else {
        None
    };

    // The grant's scope decides, not a narrower one asked for on refresh (RFC 6749 §6).
    let refresh_token = (refresh == RefreshTokenIssue::Mint
        && gets_refresh_tokens(client, &grant.scope))
    .then(random::secret);
    let refresh_record = refresh_token.as_ref().map(|token| {
        (
            random::digest(token),
            refresh_token_expiry(state, grant, now),
        )
    });

    Ok(MintedTokens {
        response: TokenResponse {
            access_token,
            token_type: token_type(dpop_jkt),
            expires_in: lifetime,
            scope: scope.to_owned(),
            refresh_token,
            id_token,
        },
        access_token: record,
        refresh_token: refresh_record,
        grant_id: grant.id.clone(),
        issued_at: now,
    })
}

/// OIDC Core §3.1.3.6: the base64url left half of the access token's SHA-256 (both our
/// algorithms use SHA-256).
fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

fn to_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("claims are built as JSON objects"),
    }
}

/// Issues a `client_credentials` access token: the client is its own subject (RFC 9068 §2.2:
/// `sub` is the client id when no user is involved).
///
/// Nothing is written: such a token has no grant and no user that could be revoked behind
/// its back, so its signature, expiry and client say all there is to know, and a machine
/// client asking for thousands of tokens costs no database writes. Revoking one writes a
/// revoked record under its `jti` (see `revocation`), which introspection then finds.
pub fn issue_for_client(
    state: &AppState,
    client: &Client,
    scope: &str,
    dpop_jkt: Option<&str>,
) -> anyhow::Result<TokenResponse> {
    let now = crate::model::now();
    let lifetime = access_token_lifetime(state, client);
    let jti = random::id();
    let access_token = state.keys.sign(
        state.config.tokens.access_token_alg,
        ACCESS_TOKEN_TYP,
        to_map(json!({
            "iss": state.config.issuer,
            "sub": client.client_id,
            "aud": access_token_audience(state),
            "client_id": client.client_id,
            "iat": now,
            "exp": now + lifetime as i64,
            "jti": jti,
            "scope": scope,
        }))
        .with_cnf(dpop_jkt),
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: token_type(dpop_jkt),
        expires_in: lifetime,
        scope: scope.to_owned(),
        refresh_token: None,
        id_token: None,
    })
}

/// Whether the (verified) claims of one of our access tokens are those of a
/// `client_credentials` token: its subject is the client itself, and only tokens issued for
/// a user carry `auth_time`.
pub fn is_client_credentials_token(claims: &Map<String, Value>) -> bool {
    let client_id = claims.get("client_id").and_then(Value::as_str);
    !claims.contains_key("auth_time")
        && client_id.is_some()
        && claims.get("sub").and_then(Value::as_str) == client_id
}

/// How long `client`'s access tokens live, in seconds: its own setting or the server's.
fn access_token_lifetime(state: &AppState, client: &Client) -> u64 {
    client
        .access_token_lifetime
        .unwrap_or_else(|| state.config.tokens.access_token.as_secs())
}

/// `Bearer`, or `DPoP` for a sender-constrained token (RFC 9449 §5).
fn token_type(dpop_jkt: Option<&str>) -> &'static str {
    if dpop_jkt.is_some() { "DPoP" } else { "Bearer" }
}

trait WithCnf {
    fn with_cnf(self, dpop_jkt: Option<&str>) -> Self;
}

impl WithCnf for Map<String, Value> {
    /// RFC 9449 §6.1: a DPoP-bound JWT access token names its key in `cnf.jkt`.
    fn with_cnf(mut self, dpop_jkt: Option<&str>) -> Self {
        if let Some(jkt) = dpop_jkt {
            self.insert("cnf".into(), json!({ "jkt": jkt }));
        }
        self
    }
}
