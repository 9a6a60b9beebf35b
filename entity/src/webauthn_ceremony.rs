//! Table `webauthn_ceremonies`: pending WebAuthn challenges, single-use.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webauthn_ceremonies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `registration`, `discoverable` or `second_factor`.
    pub kind: String,
    /// What the ceremony belongs to: a login transaction id or a user session id.
    pub binding: String,
    pub user_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
