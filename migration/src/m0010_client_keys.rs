//! Clients that authenticate with a signed JWT (`private_key_jwt`, RFC 7523): their public
//! keys (a JWK Set, inline or by URL), and the assertion ids already used (replay cache).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    Jwks,
    JwksUri,
}

#[derive(DeriveIden)]
enum UsedAssertions {
    Table,
    Id,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(text_null(Clients::Jwks))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(string_null(Clients::JwksUri))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsedAssertions::Table)
                    // SHA-256 of client_id and jti: one row per assertion ever accepted.
                    .col(string(UsedAssertions::Id).primary_key())
                    .col(big_integer(UsedAssertions::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UsedAssertions::Table).to_owned())
            .await?;
        for column in [Clients::JwksUri, Clients::Jwks] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
