//! Administrative operations on clients and users, free of any interface: the CLI, the
//! admin API and the admin pages call the same functions. Each operation names who did it
//! ([`Actor`]) and records an audit event in the same transaction as its change.

pub mod clients;
pub mod tokens;
pub mod users;

/// Who performs an administrative operation; recorded with its audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Someone at the server's command line (`idp ...`), who holds the database itself.
    Cli,
    /// A signed-in admin, through the admin pages or the API with their session.
    Admin { user_id: String },
    /// Automation holding an admin API token.
    Token { id: String },
    /// The user acting on their own account (the account console).
    Owner,
    /// A client managing its own registration (RFC 7592).
    Client { client_id: String },
}

impl Actor {
    /// The `security_events.actor` value: `cli`, `admin:<user id>`, `token:<token id>`, or
    /// none for the owner.
    pub fn column(&self) -> Option<String> {
        match self {
            Actor::Cli => Some("cli".into()),
            Actor::Admin { user_id } => Some(format!("admin:{user_id}")),
            Actor::Token { id } => Some(format!("token:{id}")),
            Actor::Owner => None,
            Actor::Client { client_id } => Some(format!("client:{client_id}")),
        }
    }
}

/// Records an audit event for an administrative operation, in the caller's transaction.
pub(crate) async fn audit(
    db: &impl sea_orm::ConnectionTrait,
    actor: &Actor,
    user_id: Option<&str>,
    kind: &str,
    detail: Option<serde_json::Value>,
) -> Result<(), sea_orm::DbErr> {
    crate::store::security_events::record_by(db, user_id, kind, detail, actor.column().as_deref())
        .await
}

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
