//! The tower-sessions store: browser sessions live in the database, not in a node's memory,
//! so any node can serve any request. Rows are keyed by the SHA-256 of the cookie's session
//! id, so a copy of the table does not let anyone take over a session.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};
use time::OffsetDateTime;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store::{Error, Result},
};

use entity::browser_session;

use crate::crypto::random::digest;

#[derive(Debug, Clone)]
pub struct DbSessionStore {
    db: DatabaseConnection,
    write_queue: super::WriteQueue,
}

impl DbSessionStore {
    pub fn new(db: DatabaseConnection, write_queue: super::WriteQueue) -> Self {
        Self { db, write_queue }
    }

    /// Removes every expired session.
    pub async fn delete_expired(&self) -> Result<()> {
        browser_session::Entity::delete_many()
            .filter(
                browser_session::Column::ExpiresAt.lt(OffsetDateTime::now_utc().unix_timestamp()),
            )
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

fn backend(e: sea_orm::DbErr) -> Error {
    Error::Backend(crate::store::describe(&e))
}

fn key(id: &Id) -> String {
    digest(&id.to_string())
}

#[async_trait::async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // A fresh 128-bit id colliding is practically impossible; still, never overwrite.
        loop {
            let exists = browser_session::Entity::find_by_id(key(&record.id))
                .one(&self.db)
                .await
                .map_err(backend)?
                .is_some();
            if !exists {
                break;
            }
            record.id = Id::default();
        }
        self.save(record).await
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        let row = browser_session::ActiveModel {
            id: Set(key(&record.id)),
            data: Set(data),
            expires_at: Set(record.expiry_date.unix_timestamp()),
        };
        let _writer = self.write_queue.turn().await;
        browser_session::Entity::insert(row)
            .on_conflict(
                OnConflict::column(browser_session::Column::Id)
                    .update_columns([
                        browser_session::Column::Data,
                        browser_session::Column::ExpiresAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let Some(row) = browser_session::Entity::find_by_id(key(id))
            .one(&self.db)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let expiry_date = OffsetDateTime::from_unix_timestamp(row.expires_at)
            .map_err(|e| Error::Decode(e.to_string()))?;
        if expiry_date <= OffsetDateTime::now_utc() {
            return Ok(None);
        }
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&row.data).map_err(|e| Error::Decode(e.to_string()))?,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        let _writer = self.write_queue.turn().await;
        browser_session::Entity::delete_by_id(key(id))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
