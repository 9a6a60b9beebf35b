//! All database access (SeaORM). Functions here return domain types from `model`, never raw
//! entity rows, and take any connection so callers can group writes in one transaction.

pub mod admin_tokens;
pub mod attempts;
pub mod browser_sessions;
pub mod ceremonies;
pub mod clients;
pub mod consents;
pub mod factors;
pub mod invitations;
pub mod keys;
pub mod passkeys;
pub mod pushed_requests;
pub mod recovery_codes;
pub mod recovery_links;
pub mod security_events;
pub mod tokens;
pub mod totp;
pub mod transactions;
pub mod user_sessions;
pub mod users;

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr, SqlErr};

pub use sea_orm::{DatabaseTransaction, TransactionTrait};

/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the database named by `url`. For SQLite the file (and its directory) is created if
/// missing.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut url = url.to_owned();
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        let dir = std::path::Path::new(path).parent();
        if let Some(dir) = dir.filter(|d| path != ":memory:" && !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!("cannot create database directory {}: {e}", dir.display())
            })?;
        }
        if !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
    }
    let mut options = ConnectOptions::new(url);
    // SQLite: write-ahead logging, so that readers never wait for a writer and background
    // clean-up does not make a sign-in fail with "database is locked"; synchronous stays
    // FULL, so a committed transaction survives a crash.
    options.map_sqlx_sqlite_opts(|sqlite| {
        sqlite
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
    });
    options.map_sqlx_sqlite_pool_opts(|pool| {
        pool.after_connect(|connection, _| {
            Box::pin(async move {
                let mut handle = connection.lock_handle().await?;
                enable_stable_query_plans(handle.as_raw_handle());
                Ok(())
            })
        })
    });
    options
        .max_connections(16)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    // Fail now, not on the first request, if the server is unreachable.
    db.ping()
        .await
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    Ok(db)
}

/// Turns on SQLite's query planner stability guarantee (QPSG) for a connection.
///
/// Without it, SQLite marks a prepared statement as expired whenever a value bound to it could
/// change its plan, and re-parses and re-plans it at its next run. SeaORM binds every `LIMIT`
/// (each `.one()` query has one) and sqlx clears the bindings of a cached statement before
/// reusing it, so those statements were compiled again on every call: an eighth of the CPU
/// time of a userinfo request went to SQLite's parser. Our queries are simple lookups by key,
/// whose best plan never depends on the values.
fn enable_stable_query_plans(db: std::ptr::NonNull<libsqlite3_sys::sqlite3>) {
    use std::ffi::c_int;
    // SAFETY: `db` is an open connection, held locked by sqlx for the duration of the call.
    // SQLITE_DBCONFIG_ENABLE_QPSG takes an int (1: on) and an int* to report the new setting,
    // which may be null (https://sqlite.org/c3ref/c_dbconfig_defensive.html).
    let status = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db.as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        )
    };
    if status != libsqlite3_sys::SQLITE_OK {
        tracing::warn!(
            status,
            "could not enable SQLite's query planner stability guarantee"
        );
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None)
        .await
        .map_err(|e| anyhow::anyhow!("applying migrations: {}", describe(&e)))?;
    // Data the migrations cannot compute themselves.
    users::backfill_skeletons(db)
        .await
        .map_err(|e| anyhow::anyhow!("filling in username skeletons: {}", describe(&e)))
}

/// How every writing transaction starts: on SQLite `BEGIN IMMEDIATE`, which takes the write
/// lock at once (waiting for it up to the busy timeout) rather than failing with "database is
/// locked" when a transaction that began by reading turns to writing while another writes.
/// PostgreSQL ignores it.
pub const WRITE: sea_orm::TransactionOptions = sea_orm::TransactionOptions {
    isolation_level: None,
    access_mode: None,
    sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
};

/// Puts this node's writers to SQLite in line, first come first served.
///
/// SQLite lets one connection write at a time. Without a queue, pooled connections that find
/// the write lock taken wait in SQLite's busy handler, which *sleeps* (1, 2, 5, ... up to
/// 100 ms a time) and lets later writers overtake: under load most of a refresh's time went
/// to those sleeps, with p99 latencies in seconds. Waiting on a fair async mutex instead costs
/// nothing while waiting and hands the lock over the moment it is free. The hot writers take
/// it (the token endpoint, sign-in, browser sessions); rarer ones still rely on the busy
/// timeout. PostgreSQL has row locks and needs none of this: there the queue is a no-op.
#[derive(Debug, Clone, Default)]
pub struct WriteQueue(Option<std::sync::Arc<tokio::sync::Mutex<()>>>);

impl WriteQueue {
    pub fn for_url(database_url: &str) -> WriteQueue {
        WriteQueue(database_url.starts_with("sqlite:").then(Default::default))
    }

    /// Waits for this node's turn to write; hold the guard until the write is committed.
    /// A turn that does not come within the busy timeout is skipped rather than waited for
    /// (SQLite's own locking still keeps the write correct), so a guard held by mistake
    /// across another write slows that request down instead of hanging it.
    pub async fn turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let mutex = self.0.as_ref()?;
        match tokio::time::timeout(SQLITE_BUSY_TIMEOUT, mutex.clone().lock_owned()).await {
            Ok(guard) => Some(guard),
            Err(_) => {
                tracing::warn!("waited too long for the SQLite write queue; writing without it");
                None
            }
        }
    }
}

/// Whether `e` (or what caused it) is the database being unreachable rather than a bug:
/// answered with 503 and "try again", not 500.
pub fn is_unavailable(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<DbErr>())
        .any(db_unavailable)
}

fn db_unavailable(e: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx::Error as SqlxError};
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                e.as_ref(),
                SqlxError::Io(_)
                    | SqlxError::PoolTimedOut
                    | SqlxError::PoolClosed
                    | SqlxError::Tls(_)
                    | SqlxError::WorkerCrashed
            )
        }
        _ => false,
    }
}

/// A one-line description of a database error, without connection secrets.
pub fn describe(e: &DbErr) -> String {
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(inner)) => inner.to_string(),
        other => other.to_string(),
    }
}

/// Whether the error is a unique-constraint violation.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
