//! Table `used_assertions`: client assertion ids already accepted (RFC 7523 §3 `jti`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "used_assertions")]
pub struct Model {
    /// Hex SHA-256 of `client_id` and `jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// When the assertion expires; the row can go after that.
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
