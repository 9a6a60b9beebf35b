//! Table `login_transactions`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_transactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The client whose authorization request this answers; `None` for the account pages.
    pub client_id: Option<String>,
    pub browser_binding: String,
    #[sea_orm(column_type = "Text")]
    pub request: String,
    #[sea_orm(column_type = "Text")]
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
