//! Passkeys: server-side WebAuthn ceremony state, a security-event log, and login
//! transactions that may serve the account pages rather than a client (so `client_id`
//! becomes optional). Login transactions are short-lived, so that table is recreated.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebauthnCeremonies {
    Table,
    Id,
    Kind,
    Binding,
    UserId,
    State,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SecurityEvents {
    Table,
    Id,
    UserId,
    Kind,
    Detail,
    CreatedAt,
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
enum Clients {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A challenge is bound to what started it (`binding`: a login transaction or a
        // signed-in session) and consumed by deleting the row.
        manager
            .create_table(
                Table::create()
                    .table(WebauthnCeremonies::Table)
                    .col(string(WebauthnCeremonies::Id).primary_key())
                    .col(string(WebauthnCeremonies::Kind))
                    .col(string(WebauthnCeremonies::Binding))
                    .col(string_null(WebauthnCeremonies::UserId))
                    .col(text(WebauthnCeremonies::State))
                    .col(big_integer(WebauthnCeremonies::CreatedAt))
                    .col(big_integer(WebauthnCeremonies::ExpiresAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SecurityEvents::Table)
                    .col(big_pk_auto(SecurityEvents::Id))
                    .col(string_null(SecurityEvents::UserId))
                    .col(string(SecurityEvents::Kind))
                    .col(text_null(SecurityEvents::Detail))
                    .col(big_integer(SecurityEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_security_events_user")
                    .table(SecurityEvents::Table)
                    .col(SecurityEvents::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .drop_table(Table::drop().table(LoginTransactions::Table).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginTransactions::Table)
                    .col(string(LoginTransactions::Id).primary_key())
                    .col(string_null(LoginTransactions::ClientId))
                    .col(string(LoginTransactions::BrowserBinding))
                    .col(text(LoginTransactions::Request))
                    .col(text(LoginTransactions::State))
                    .col(big_integer(LoginTransactions::CreatedAt))
                    .col(big_integer(LoginTransactions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_login_transactions_client")
                            .from(LoginTransactions::Table, LoginTransactions::ClientId)
                            .to(Clients::Table, Clients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SecurityEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebauthnCeremonies::Table).to_owned())
            .await?;
        Ok(())
    }
}
