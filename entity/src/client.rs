//! Table `clients`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the client secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub token_endpoint_auth_method: String,
    pub id_token_signed_response_alg: String,
    /// The lowest acr this client accepts, applied to every request.
    pub min_acr: Option<String>,
    /// Space-separated grant types the client may use; NULL: authorization_code refresh_token.
    pub grant_types: Option<String>,
    /// Space-separated scopes a client_credentials client may ask for.
    pub scope: Option<String>,
    /// The client must push its authorization requests (RFC 9126 §6).
    pub require_par: bool,
    /// The public keys of a `private_key_jwt` client: a JWK Set...
    #[sea_orm(column_type = "Text", nullable)]
    pub jwks: Option<String>,
    /// ...or where to fetch it.
    pub jwks_uri: Option<String>,
    /// Access tokens only with a DPoP proof (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    pub dpop_bound: bool,
    /// Where to POST logout tokens when a user's session ends (Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// Refresh tokens even when `offline_access` was not asked for.
    pub refresh_without_offline_access: bool,
    /// Whether DPoP-bound refresh tokens are rotated on use (FAPI 2.0 advises against it).
    pub rotate_dpop_refresh_tokens: bool,
    /// The operator's own application: no consent page.
    pub first_party: bool,
    /// Shown on the consent page (RFC 7591 §2 `logo_uri`, `policy_uri`, `tos_uri`).
    #[sea_orm(column_type = "Text", nullable)]
    pub logo_uri: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub policy_uri: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub tos_uri: Option<String>,
    /// Seconds; NULL: the server's `tokens.access_token`.
    pub access_token_lifetime: Option<i64>,
    /// Seconds; NULL: the server's `tokens.refresh_token` (a grant's absolute lifetime).
    pub refresh_token_lifetime: Option<i64>,
    /// Hex SHA-256 of the registration access token of a client that registered itself
    /// (RFC 7592 §1); `None` for clients registered by an admin.
    pub registration_token_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::client_redirect_uri::Entity")]
    RedirectUris,
}

impl Related<super::client_redirect_uri::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RedirectUris.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
