//! Login transactions: pending authorization requests and the sign-in steps done so far.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::Expr,
};

use entity::login_transaction;

use crate::login::flow::{LoginTransaction, Purpose, Step};

pub async fn insert(db: &impl ConnectionTrait, tx: &LoginTransaction) -> Result<(), DbErr> {
    login_transaction::ActiveModel {
        id: Set(tx.id.clone()),
        client_id: Set(tx.authorization_request().map(|r| r.client_id.clone())),
        browser_binding: Set(tx.browser_binding.clone()),
        request: Set(serde_json::to_string(&tx.purpose).expect("purpose serializes")),
        state: Set(serde_json::to_string(&tx.step).expect("step serializes")),
        created_at: Set(tx.created_at),
        expires_at: Set(tx.expires_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The transaction, if it exists (expired ones included: the caller says why it cannot go on).
pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<LoginTransaction>, DbErr> {
    let Some(row) = login_transaction::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let corrupt = |e: serde_json::Error| DbErr::Custom(format!("login transaction {id}: {e}"));
    Ok(Some(LoginTransaction {
        purpose: serde_json::from_str::<Purpose>(&row.request).map_err(corrupt)?,
        step: serde_json::from_str::<Step>(&row.state).map_err(corrupt)?,
        id: row.id,
        browser_binding: row.browser_binding,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }))
}

/// Saves a new step, only if the stored step is still `previous`: two concurrent submissions
/// of the same step cannot both advance the transaction. Returns whether it was saved.
pub async fn advance(
    db: &impl ConnectionTrait,
    id: &str,
    previous: &Step,
    next: &Step,
) -> Result<bool, DbErr> {
    let result = login_transaction::Entity::update_many()
        .col_expr(
            login_transaction::Column::State,
            Expr::value(serde_json::to_string(next).expect("step serializes")),
        )
        .filter(login_transaction::Column::Id.eq(id))
        .filter(
            login_transaction::Column::State
                .eq(serde_json::to_string(previous).expect("step serializes")),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes a transaction; returns whether it still existed (so it is consumed only once).
pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    Ok(login_transaction::Entity::delete_by_id(id)
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

pub async fn delete_expired(db: &impl ConnectionTrait, now: i64) -> Result<(), DbErr> {
    login_transaction::Entity::delete_many()
        .filter(login_transaction::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(())
}
