//! Administrative operations on clients and users, free of any interface: the CLI calls
//! these now, and the admin API and pages will call the same functions.

pub mod clients;
pub mod users;

/// An operation refused because of its input; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for AdminError {
    fn from(e: sea_orm::DbErr) -> Self {
        AdminError::Internal(anyhow::anyhow!(crate::store::describe(&e)))
    }
}
