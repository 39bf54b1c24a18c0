//! Reading the SU ledger: balances as `report.allocation_balance` gives them.

use deadpool_postgres::GenericClient;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::bind;
use crate::error::DbError;
use crate::pool::query;
use crate::statements::ALLOCATION_BALANCE_GET;

/// An allocation's balance: initial + granted − charged, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// The allocation.
    pub allocation_id: Uuid,
    /// SUs awarded at the start.
    pub initial_su: Decimal,
    /// Net SUs granted since.
    pub granted_su: Decimal,
    /// SUs charged.
    pub charged_su: Decimal,
    /// What is left.
    pub balance_su: Decimal,
}

/// One allocation's balance, if it exists.
pub async fn allocation_balance(
    client: &impl GenericClient,
    allocation_id: Uuid,
) -> Result<Option<Balance>, DbError> {
    let rows = query(client, bind!(ALLOCATION_BALANCE_GET, id = &allocation_id)).await?;
    Ok(rows.first().map(|row| Balance {
        allocation_id: row.get("allocation_id"),
        initial_su: row.get("initial_su"),
        granted_su: row.get("granted_su"),
        charged_su: row.get("charged_su"),
        balance_su: row.get("balance_su"),
    }))
}
