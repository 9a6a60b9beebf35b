//! Pending WebAuthn ceremonies. The challenge state never leaves the server: the browser gets
//! an opaque id, and finishing a ceremony deletes its row, so a challenge answers once.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};
use serde::{Serialize, de::DeserializeOwned};

use entity::webauthn_ceremony;

use crate::crypto::random;

/// What a ceremony is for; a state of one kind is never accepted as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    Registration,
    Discoverable,
    SecondFactor,
    /// Making the first passkey of an account that does not exist yet.
    Signup,
}

impl CeremonyKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Discoverable => "discoverable",
            Self::SecondFactor => "second_factor",
            Self::Signup => "signup",
        }
    }
}

/// Stores a ceremony's state bound to `binding` (a login transaction or a user session) and
/// returns its id.
pub async fn start<S: Serialize>(
    db: &impl ConnectionTrait,
    kind: CeremonyKind,
    binding: &str,
    user_id: Option<&str>,
    state: &S,
    now: i64,
    lifetime: i64,
) -> Result<String, DbErr> {
    let id = random::id();
    webauthn_ceremony::ActiveModel {
        id: Set(id.clone()),
        kind: Set(kind.as_str().into()),
        binding: Set(binding.to_owned()),
        user_id: Set(user_id.map(str::to_owned)),
        state: Set(serde_json::to_string(state).expect("ceremony state serializes")),
        created_at: Set(now),
        expires_at: Set(now + lifetime),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// A ceremony taken for finishing: its user (if bound to one) and its state.
pub struct Taken<S> {
    pub user_id: Option<String>,
    pub state: S,
}

/// Consumes a ceremony: `None` if it does not exist, was already used, has expired, or
/// belongs to another binding or kind. Deleting first makes a replay lose even a race.
pub async fn take<S: DeserializeOwned>(
    db: &impl ConnectionTrait,
    id: &str,
    kind: CeremonyKind,
    binding: &str,
    now: i64,
) -> Result<Option<Taken<S>>, DbErr> {
    let Some(row) = webauthn_ceremony::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    if row.binding != binding || row.kind != kind.as_str() {
        return Ok(None);
    }
    let deleted = webauthn_ceremony::Entity::delete_many()
        .filter(webauthn_ceremony::Column::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected;
    if deleted != 1 || row.expires_at <= now {
        return Ok(None);
    }
    let state = serde_json::from_str(&row.state)
        .map_err(|e| DbErr::Custom(format!("ceremony {id}: {e}")))?;
    Ok(Some(Taken {
        user_id: row.user_id,
        state,
    }))
}

pub async fn delete_expired(db: &impl ConnectionTrait, now: i64) -> Result<(), DbErr> {
    webauthn_ceremony::Entity::delete_many()
        .filter(webauthn_ceremony::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(())
}
