//! Table `users`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub username: String,
    /// The username's confusable skeleton (Unicode TS #39), to refuse look-alike names.
    pub username_skeleton: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub disabled: bool,
    /// The user must enroll a second factor at their next sign-in.
    pub require_mfa: bool,
    /// The user must add a passkey at their next sign-in (if they have none).
    pub require_passkey: bool,
    /// May use the admin pages and API.
    pub is_admin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
