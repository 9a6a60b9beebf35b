//! One-time, expiring recovery links an admin hands to a user who lost their sign-in methods:
//! the link lets them add a new passkey.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RecoveryLinks {
    Table,
    /// SHA-256 of the link's token.
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RecoveryLinks::Table)
                    .col(string(RecoveryLinks::Id).primary_key())
                    .col(string(RecoveryLinks::UserId))
                    .col(big_integer(RecoveryLinks::CreatedAt))
                    .col(big_integer(RecoveryLinks::ExpiresAt))
                    .col(big_integer_null(RecoveryLinks::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_links_user")
                            .from(RecoveryLinks::Table, RecoveryLinks::UserId)
                            .to(Alias::new("users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RecoveryLinks::Table).to_owned())
            .await
    }
}
