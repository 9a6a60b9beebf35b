//! Authenticator apps and recovery codes: a per-user "must enroll a second factor" flag, and
//! attempt counters that slow down guessing of codes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    RequireMfa,
}

#[derive(DeriveIden)]
enum AttemptLimits {
    Table,
    Key,
    Failures,
    LastFailureAt,
    BlockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(Users::RequireMfa).default(false))
                    .to_owned(),
            )
            .await?;
        // One row per thing being guessed at (an account's codes, a client address).
        manager
            .create_table(
                Table::create()
                    .table(AttemptLimits::Table)
                    .col(string(AttemptLimits::Key).primary_key())
                    .col(integer(AttemptLimits::Failures))
                    .col(big_integer(AttemptLimits::LastFailureAt))
                    .col(big_integer(AttemptLimits::BlockedUntil))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AttemptLimits::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::RequireMfa)
                    .to_owned(),
            )
            .await
    }
}
