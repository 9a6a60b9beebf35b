//! The initial schema: users and their credentials, clients, browser sessions, login
//! transactions, authorization codes, grants with their refresh and access tokens, signing keys.
//!
//! Every timestamp is a Unix time in seconds (`BIGINT`): it compares the same way on SQLite and
//! PostgreSQL and needs no time-zone handling.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    Email,
    Name,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

/// One row per authentication factor a user has enrolled. `kind` says which factor
/// (`password`, `passkey`, `totp`, `recovery_code`); `secret` holds what verifies it (a PHC
/// argon2id string, a serialized passkey, an encrypted TOTP secret, a recovery-code digest);
/// `external_id` is the factor's public identifier where it has one (a passkey credential id);
/// `metadata` is factor-specific JSON (AAGUID, transports, last accepted TOTP step, ...).
#[derive(DeriveIden)]
enum Credentials {
    Table,
    Id,
    UserId,
    Kind,
    Label,
    ExternalId,
    Secret,
    Metadata,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    Name,
    SecretHash,
    TokenEndpointAuthMethod,
    IdTokenSignedResponseAlg,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ClientRedirectUris {
    Table,
    Id,
    ClientId,
    Kind,
    Uri,
}

#[derive(DeriveIden)]
enum BrowserSessions {
    Table,
    Id,
    Data,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum UserSessions {
    Table,
    Id,
    UserId,
    Authentication,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum LoginTransactions {
    Table,
    Id,
    ClientId,
    BrowserBinding,
    Request,
    State,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
    ClientId,
    UserId,
    UserSessionId,
    Scope,
    Nonce,
    Authentication,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    ClientId,
    UserId,
    UserSessionId,
    RedirectUri,
    Scope,
    Nonce,
    CodeChallenge,
    Authentication,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
    GrantId,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    GrantId,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    Jti,
    GrantId,
    ClientId,
    UserId,
    Scope,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Alg,
    PrivateJwk,
    PublicJwk,
    CreatedAt,
    RetiredAt,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(string(Users::Id).primary_key())
                    .col(string_uniq(Users::Username))
                    .col(string_null(Users::Email))
                    .col(string_null(Users::Name))
                    .col(boolean(Users::Disabled).default(false))
                    .col(big_integer(Users::CreatedAt))
                    .col(big_integer(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Credentials::Table)
                    .col(string(Credentials::Id).primary_key())
                    .col(string(Credentials::UserId))
                    .col(string(Credentials::Kind))
                    .col(string_null(Credentials::Label))
                    .col(string_null(Credentials::ExternalId).unique_key())
                    .col(text(Credentials::Secret))
                    .col(text_null(Credentials::Metadata))
                    .col(big_integer(Credentials::CreatedAt))
                    .col(big_integer_null(Credentials::LastUsedAt))
                    .foreign_key(&mut fk(
                        "fk_credentials_user",
                        (Credentials::Table, Credentials::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_credentials_user_kind")
                    .table(Credentials::Table)
                    .col(Credentials::UserId)
                    .col(Credentials::Kind)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(string(Clients::Id).primary_key())
                    .col(string(Clients::Name))
                    .col(string_null(Clients::SecretHash))
                    .col(string(Clients::TokenEndpointAuthMethod))
                    .col(string(Clients::IdTokenSignedResponseAlg))
                    .col(big_integer(Clients::CreatedAt))
                    .col(big_integer(Clients::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ClientRedirectUris::Table)
                    .col(pk_auto(ClientRedirectUris::Id))
                    .col(string(ClientRedirectUris::ClientId))
                    .col(string(ClientRedirectUris::Kind))
                    .col(text(ClientRedirectUris::Uri))
                    .foreign_key(&mut fk(
                        "fk_client_redirect_uris_client",
                        (ClientRedirectUris::Table, ClientRedirectUris::ClientId),
                        (Clients::Table, Clients::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_client_redirect_uris_client")
                    .table(ClientRedirectUris::Table)
                    .col(ClientRedirectUris::ClientId)
                    .to_owned(),
            )
            .await?;

        // The tower-sessions store: cookie-identified browser sessions, shared by every node.
        manager
            .create_table(
                Table::create()
                    .table(BrowserSessions::Table)
                    .col(string(BrowserSessions::Id).primary_key())
                    .col(text(BrowserSessions::Data))
                    .col(big_integer(BrowserSessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_browser_sessions_expires_at")
                    .table(BrowserSessions::Table)
                    .col(BrowserSessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        // A signed-in user's single-sign-on session (the ID token's `sid`).
        manager
            .create_table(
                Table::create()
                    .table(UserSessions::Table)
                    .col(string(UserSessions::Id).primary_key())
                    .col(string(UserSessions::UserId))
                    .col(text(UserSessions::Authentication))
                    .col(big_integer(UserSessions::CreatedAt))
                    .col(big_integer(UserSessions::ExpiresAt))
                    .col(big_integer_null(UserSessions::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_user_sessions_user",
                        (UserSessions::Table, UserSessions::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginTransactions::Table)
                    .col(string(LoginTransactions::Id).primary_key())
                    .col(string(LoginTransactions::ClientId))
                    .col(string(LoginTransactions::BrowserBinding))
                    .col(text(LoginTransactions::Request))
                    .col(text(LoginTransactions::State))
                    .col(big_integer(LoginTransactions::CreatedAt))
                    .col(big_integer(LoginTransactions::ExpiresAt))
                    .foreign_key(&mut fk(
                        "fk_login_transactions_client",
                        (LoginTransactions::Table, LoginTransactions::ClientId),
                        (Clients::Table, Clients::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Grants::Table)
                    .col(string(Grants::Id).primary_key())
                    .col(string(Grants::ClientId))
                    .col(string(Grants::UserId))
                    .col(string_null(Grants::UserSessionId))
                    .col(text(Grants::Scope))
                    .col(text_null(Grants::Nonce))
                    .col(text(Grants::Authentication))
                    .col(big_integer(Grants::CreatedAt))
                    .col(big_integer(Grants::ExpiresAt))
                    .col(big_integer_null(Grants::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_grants_client",
                        (Grants::Table, Grants::ClientId),
                        (Clients::Table, Clients::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_grants_user",
                        (Grants::Table, Grants::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    .col(string(AuthorizationCodes::CodeHash).primary_key())
                    .col(string(AuthorizationCodes::ClientId))
                    .col(string(AuthorizationCodes::UserId))
                    .col(string_null(AuthorizationCodes::UserSessionId))
                    .col(text(AuthorizationCodes::RedirectUri))
                    .col(text(AuthorizationCodes::Scope))
                    .col(text_null(AuthorizationCodes::Nonce))
                    .col(string_null(AuthorizationCodes::CodeChallenge))
                    .col(text(AuthorizationCodes::Authentication))
                    .col(big_integer(AuthorizationCodes::CreatedAt))
                    .col(big_integer(AuthorizationCodes::ExpiresAt))
                    .col(big_integer_null(AuthorizationCodes::ConsumedAt))
                    .col(string_null(AuthorizationCodes::GrantId))
                    .foreign_key(&mut fk(
                        "fk_authorization_codes_client",
                        (AuthorizationCodes::Table, AuthorizationCodes::ClientId),
                        (Clients::Table, Clients::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_authorization_codes_user",
                        (AuthorizationCodes::Table, AuthorizationCodes::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(string(RefreshTokens::TokenHash).primary_key())
                    .col(string(RefreshTokens::GrantId))
                    .col(big_integer(RefreshTokens::CreatedAt))
                    .col(big_integer(RefreshTokens::ExpiresAt))
                    .col(big_integer_null(RefreshTokens::ConsumedAt))
                    .foreign_key(&mut fk(
                        "fk_refresh_tokens_grant",
                        (RefreshTokens::Table, RefreshTokens::GrantId),
                        (Grants::Table, Grants::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_grant")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::GrantId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessTokens::Table)
                    .col(string(AccessTokens::Jti).primary_key())
                    .col(string_null(AccessTokens::GrantId))
                    .col(string(AccessTokens::ClientId))
                    .col(string_null(AccessTokens::UserId))
                    .col(text(AccessTokens::Scope))
                    .col(big_integer(AccessTokens::CreatedAt))
                    .col(big_integer(AccessTokens::ExpiresAt))
                    .col(big_integer_null(AccessTokens::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_access_tokens_grant",
                        (AccessTokens::Table, AccessTokens::GrantId),
                        (Grants::Table, Grants::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_access_tokens_client",
                        (AccessTokens::Table, AccessTokens::ClientId),
                        (Clients::Table, Clients::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_access_tokens_grant")
                    .table(AccessTokens::Table)
                    .col(AccessTokens::GrantId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string(SigningKeys::Kid).primary_key())
                    .col(string(SigningKeys::Alg))
                    .col(text(SigningKeys::PrivateJwk))
                    .col(text(SigningKeys::PublicJwk))
                    .col(big_integer(SigningKeys::CreatedAt))
                    .col(big_integer_null(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SigningKeys::Table.into_iden(),
            AccessTokens::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            Grants::Table.into_iden(),
            LoginTransactions::Table.into_iden(),
            UserSessions::Table.into_iden(),
            BrowserSessions::Table.into_iden(),
            ClientRedirectUris::Table.into_iden(),
            Clients::Table.into_iden(),
            Credentials::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
