//! Limits on guessing: failed attempts are counted per key (an account's second-factor codes,
//! a client address), and after a few failures the key is blocked for a time that doubles
//! with every further failure. The counters live in the database, so every node enforces
//! the same limits.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};

use entity::attempt_limit;

/// How a kind of key is limited.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// The failure that starts the first block.
    pub block_after: i32,
    /// Length of the first block, in seconds; each further failure doubles it.
    pub first_block: i64,
    pub max_block: i64,
    /// A key with no failure for this long starts again from zero.
    pub forget_after: i64,
}

/// Second-factor codes of one account: after 5 failures 30 s, then 1 min, 2 min, ... up to
/// 15 min for each further failure.
pub const ACCOUNT_CODES: Limit = Limit {
    block_after: 5,
    first_block: 30,
    max_block: 15 * 60,
    forget_after: 3600,
};

/// Second-factor codes from one client address, whatever the account.
pub const ADDRESS_CODES: Limit = Limit {
    block_after: 20,
    first_block: 60,
    max_block: 30 * 60,
    forget_after: 3600,
};

/// Passwords for one username (whether or not it exists, so a block says nothing about
/// which usernames are real): after 10 failures 30 s, doubling up to 15 min.
pub const USERNAME_PASSWORDS: Limit = Limit {
    block_after: 10,
    first_block: 30,
    max_block: 15 * 60,
    forget_after: 3600,
};

/// Passwords from one client address, whatever the username.
pub const ADDRESS_PASSWORDS: Limit = Limit {
    block_after: 50,
    first_block: 60,
    max_block: 30 * 60,
    forget_after: 3600,
};

/// If `key` is blocked at `now`, until when.
pub async fn blocked_until(
    db: &impl ConnectionTrait,
    key: &str,
    now: i64,
) -> Result<Option<i64>, DbErr> {
    let row = attempt_limit::Entity::find_by_id(key).one(db).await?;
    Ok(row.map(|r| r.blocked_until).filter(|until| *until > now))
}

/// Counts a failure and returns until when the key is now blocked, if it is.
pub async fn record_failure(
    db: &impl ConnectionTrait,
    key: &str,
    limit: Limit,
    now: i64,
) -> Result<Option<i64>, DbErr> {
    let previous = attempt_limit::Entity::find_by_id(key).one(db).await?;
    let failures = match previous {
        Some(row) if now - row.last_failure_at < limit.forget_after => row.failures + 1,
        _ => 1,
    };
    let over = failures - limit.block_after;
    let blocked_until = if over >= 0 {
        let block = limit
            .first_block
            .saturating_mul(1i64 << over.min(30))
            .min(limit.max_block);
        now + block
    } else {
        0
    };
    attempt_limit::Entity::insert(attempt_limit::ActiveModel {
        key: Set(key.to_owned()),
        failures: Set(failures),
        last_failure_at: Set(now),
        blocked_until: Set(blocked_until),
    })
    .on_conflict(
        OnConflict::column(attempt_limit::Column::Key)
            .update_columns([
                attempt_limit::Column::Failures,
                attempt_limit::Column::LastFailureAt,
                attempt_limit::Column::BlockedUntil,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok((blocked_until > now).then_some(blocked_until))
}

/// Forgets the failures of `key` after a success.
pub async fn reset(db: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    attempt_limit::Entity::delete_many()
        .filter(attempt_limit::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}
