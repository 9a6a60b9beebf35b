//! Pushed authorization requests (RFC 9126): requests waiting for their `request_uri` to be
//! used, and the per-client rule that a client must push its requests.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    RequirePar,
}

#[derive(DeriveIden)]
enum PushedRequests {
    Table,
    Id,
    ClientId,
    Params,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(boolean(Clients::RequirePar).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PushedRequests::Table)
                    // SHA-256 of the request_uri: the URI itself is never stored.
                    .col(string(PushedRequests::Id).primary_key())
                    .col(string(PushedRequests::ClientId))
                    .col(text(PushedRequests::Params))
                    .col(big_integer(PushedRequests::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_pushed_requests_client")
                            .from(PushedRequests::Table, PushedRequests::ClientId)
                            .to(Clients::Table, Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PushedRequests::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::RequirePar)
                    .to_owned(),
            )
            .await
    }
}
