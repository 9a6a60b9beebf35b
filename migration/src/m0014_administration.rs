//! Administration: the admin role, admin API tokens, who did what in the security-event log,
//! and the client metadata an admin manages beyond the protocol settings (consent-page
//! details, first-party flag, per-client token lifetimes).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    IsAdmin,
}

#[derive(DeriveIden)]
enum SecurityEvents {
    Table,
    Actor,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    FirstParty,
    LogoUri,
    PolicyUri,
    TosUri,
    AccessTokenLifetime,
    RefreshTokenLifetime,
}

#[derive(DeriveIden)]
enum AdminTokens {
    Table,
    Id,
    Name,
    TokenHash,
    Scope,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

/// SQLite's ALTER TABLE adds one column per statement.
async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: &mut ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await
}

async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Users::Table,
            boolean(Users::IsAdmin).default(false),
        )
        .await?;
        // "admin:<user id>", "token:<admin token id>", "cli", or none (the user themself).
        add_column(
            manager,
            SecurityEvents::Table,
            &mut string_null(SecurityEvents::Actor),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_security_events_created_at")
                    .table(SecurityEvents::Table)
                    .col(SecurityEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_security_events_kind")
                    .table(SecurityEvents::Table)
                    .col(SecurityEvents::Kind)
                    .to_owned(),
            )
            .await?;
        add_column(
            manager,
            Clients::Table,
            boolean(Clients::FirstParty).default(false),
        )
        .await?;
        add_column(manager, Clients::Table, &mut text_null(Clients::LogoUri)).await?;
        add_column(manager, Clients::Table, &mut text_null(Clients::PolicyUri)).await?;
        add_column(manager, Clients::Table, &mut text_null(Clients::TosUri)).await?;
        add_column(
            manager,
            Clients::Table,
            &mut big_integer_null(Clients::AccessTokenLifetime),
        )
        .await?;
        add_column(
            manager,
            Clients::Table,
            &mut big_integer_null(Clients::RefreshTokenLifetime),
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminTokens::Table)
                    .col(string(AdminTokens::Id).primary_key())
                    .col(string(AdminTokens::Name))
                    // SHA-256 of the token: the token itself is shown once and never stored.
                    .col(string_uniq(AdminTokens::TokenHash))
                    // "admin" (the admin API) or "register" (dynamic client registration).
                    .col(string(AdminTokens::Scope))
                    .col(big_integer(AdminTokens::CreatedAt))
                    .col(big_integer_null(AdminTokens::ExpiresAt))
                    .col(big_integer_null(AdminTokens::RevokedAt))
                    .col(big_integer_null(AdminTokens::LastUsedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AdminTokens::Table).to_owned())
            .await?;
        for column in [
            Clients::RefreshTokenLifetime,
            Clients::AccessTokenLifetime,
            Clients::TosUri,
            Clients::PolicyUri,
            Clients::LogoUri,
            Clients::FirstParty,
        ] {
            drop_column(manager, Clients::Table, column).await?;
        }
        for index in ["idx_security_events_kind", "idx_security_events_created_at"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(index)
                        .table(SecurityEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        drop_column(manager, SecurityEvents::Table, SecurityEvents::Actor).await?;
        drop_column(manager, Users::Table, Users::IsAdmin).await
    }
}
