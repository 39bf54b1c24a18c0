//! The SU ledger's diffs through the API: an allocation's diffs (supplements, adjustments,
//! transfers, status and end-date changes), read in the caller's scope; an admin's adjustment
//! of an allocation (`registry.apply_diff`); and an admin's transfer between two allocations
//! (`registry.transfer_su`). Each write is one transaction with its ledger rows, each its own
//! audit record (actor and transaction). A transfer may not take its source's balance below
//! zero.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use purser_sql::bind;
use purser_sql::pool::{query_items, query_one};
use purser_sql::statements::{
    API_ADJUSTMENT_APPLY, API_ALLOCATION_GET, API_DIFF_GET, API_DIFF_LIST, API_TRANSFER,
    API_TRANSFER_DIFFS, API_WITHDRAWAL_REFUSAL,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{Body, Checked, Id, Params};
use crate::openapi::Problems;
use crate::page::Page;
use crate::problem::{ApiError, FieldError};
use crate::routes::allocations::{Allocation, require_pi_of};
use crate::routes::{
    IdInScope, IdempotencyHeader, PagedInScope, REGISTRY_READERS, created, get_in_scope,
    list_in_scope, one, one_in_scope,
};
use crate::rules::{DiffKind, Limit, NonBlank, PositiveAmount, SignedAmount};
use crate::write::{Idempotency, write_created};

/// A change to an allocation, from its append-only ledger.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AllocationDiff {
    /// Its id.
    pub id: Uuid,
    /// The allocation changed.
    pub allocation_id: Uuid,
    /// supplement, adjustment, transfer, status or end_date.
    pub kind: String,
    /// SUs granted (positive) or taken (negative), a decimal string; 0 for status and end_date.
    pub su_delta: String,
    /// For a status diff: the status set.
    pub new_status: Option<String>,
    /// For an end_date diff: the end set.
    pub new_ends_at: Option<DateTime<Utc>>,
    /// For a transfer: shared by its two halves.
    pub transfer_id: Option<Uuid>,
    /// Why.
    pub reason: String,
    /// change_request, automated or admin.
    pub source: String,
    /// The approved change request it came from.
    pub change_request_id: Option<Uuid>,
    /// Who made it, as the session claimed.
    pub actor: String,
    /// The database login that made it; null for diffs made before it was recorded.
    pub db_user: Option<String>,
    /// When it took effect.
    pub created_at: DateTime<Utc>,
    /// The transaction that made it, a decimal string.
    pub transaction_id: String,
}

/// Which diffs of an allocation to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffFilter {
    /// Only this kind (supplement, adjustment, transfer, status, end_date).
    #[param(value_type = Option<DiffKind>, inline)]
    pub kind: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// An admin's adjustment of an allocation's SUs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdjustment {
    /// SUs to add (positive) or take away (negative), not zero, as a decimal string.
    #[schema(value_type = SignedAmount)]
    pub su_delta: Decimal,
    /// Why, for the record.
    #[schema(value_type = NonBlank)]
    pub reason: String,
}

impl Checked for NewAdjustment {
    /// An adjustment of nothing is refused.
    fn check(&self) -> Vec<FieldError> {
        self.su_delta
            .is_zero()
            .then(|| FieldError::new("/su_delta", "must not be zero"))
            .into_iter()
            .collect()
    }
}

/// SUs to move from one allocation to another.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransfer {
    /// The allocation the SUs leave; its balance may not go below zero.
    pub from_allocation_id: Uuid,
    /// The allocation they go to.
    pub to_allocation_id: Uuid,
    /// How many, more than zero, as a decimal string.
    #[schema(value_type = PositiveAmount)]
    pub su: Decimal,
    /// Why, for the record.
    #[schema(value_type = NonBlank)]
    pub reason: String,
}

impl Checked for NewTransfer {
    /// A transfer moves SUs between two allocations.
    fn check(&self) -> Vec<FieldError> {
        (self.from_allocation_id == self.to_allocation_id)
            .then(|| FieldError::new("/to_allocation_id", "must differ from from_allocation_id"))
            .into_iter()
            .collect()
    }
}

/// A transfer written: its id and its two diffs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferWritten {
    /// Shared by the two diffs.
    pub transfer_id: Uuid,
    /// The diff out of the source, then the diff into the destination.
    pub diffs: Vec<AllocationDiff>,
}

/// The ledger routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_diffs))
        .routes(routes!(get_diff))
        .routes(routes!(adjust_allocation))
        .routes(routes!(transfer_su))
}

/// Why taking `su` SUs from an allocation would be refused (its balance would go below zero),
/// or None when it may go ahead: `registry.withdrawal_refusal`, the one place that rule lives.
pub async fn withdrawal_refusal(
    client: &impl GenericClient,
    allocation_id: Uuid,
    su: Decimal,
) -> Result<Option<String>, ApiError> {
    let row = query_one(
        client,
        bind!(
            API_WITHDRAWAL_REFUSAL,
            allocation_id = &allocation_id,
            su = &su,
        ),
    )
    .await?;
    Ok(row.get("refusal"))
}

/// Lists an allocation's diffs, oldest first.
#[utoipa::path(get, path = "/v1/allocations/{id}/diffs", tag = "allocations",
    params(("id" = Uuid, Path, description = "Allocation id"), DiffFilter),
    responses((status = 200, body = Page<AllocationDiff>), Problems))]
async fn list_diffs(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
    Params(filter): Params<DiffFilter>,
) -> Result<axum::Json<Page<AllocationDiff>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    // An allocation the caller may not see is a 404, not an empty list.
    get_in_scope::<Allocation>(
        &state,
        &caller,
        bind!(API_ALLOCATION_GET, ..IdInScope),
        id,
        "allocation",
    )
    .await
    .map(|_| ())?;
    let cursor = filter.cursor.as_deref();
    list_in_scope(
        &state,
        &caller,
        bind!(
            API_DIFF_LIST,
            allocation_id = &id,
            kind = &filter.kind,
            ..PagedInScope,
        ),
        cursor,
        filter.limit,
        |row: &AllocationDiff| row.id,
    )
    .await
}

/// Where a diff is read.
fn diff_location(diff: &AllocationDiff) -> String {
    format!("/v1/allocations/{}/diffs/{}", diff.allocation_id, diff.id)
}

/// Shows one diff of an allocation.
#[utoipa::path(get, path = "/v1/allocations/{id}/diffs/{diff_id}", tag = "allocations",
    params(("id" = Uuid, Path, description = "Allocation id"),
        ("diff_id" = Uuid, Path, description = "Diff id")),
    responses((status = 200, body = AllocationDiff), Problems))]
async fn get_diff(
    State(state): State<AppState>,
    caller: Caller,
    Id((id, diff_id)): Id<(Uuid, Uuid)>,
) -> Result<axum::Json<AllocationDiff>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    let client = state.connection().await?;
    one_in_scope::<Allocation>(
        &*client,
        &caller,
        bind!(API_ALLOCATION_GET, ..IdInScope),
        id,
        "allocation",
    )
    .await?;
    one(
        query_items(
            &*client,
            bind!(API_DIFF_GET, allocation_id = &id, id = &diff_id),
        )
        .await?,
        "diff",
        diff_id,
    )
}

/// Adjusts an allocation's SUs up or down (admin). An adjustment is a correction: unlike a
/// reduction, it may take the balance below zero.
#[utoipa::path(post, path = "/v1/allocations/{id}/adjustments", tag = "allocations",
    request_body = NewAdjustment,
    params(("id" = Uuid, Path, description = "Allocation id"), IdempotencyHeader),
    responses((status = 201, body = AllocationDiff), Problems))]
async fn adjust_allocation(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(new): Body<NewAdjustment>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    write_created(
        &state,
        &caller,
        &idempotency,
        &new,
        diff_location,
        async |tx| {
            require_pi_of(tx, &caller, id).await?;
            let diff_id: Uuid = query_one(
                tx,
                bind!(
                    API_ADJUSTMENT_APPLY,
                    allocation_id = &id,
                    reason = &new.reason,
                    su_delta = &new.su_delta,
                ),
            )
            .await?
            .get("diff_id");
            created::<AllocationDiff>(
                query_items(tx, bind!(API_DIFF_GET, allocation_id = &id, id = &diff_id)).await?,
            )
        },
    )
    .await
}

/// Moves SUs from one allocation to another: two diffs sharing a transfer id (admin). Refused
/// when the source's balance would go below zero.
#[utoipa::path(post, path = "/v1/transfers", tag = "allocations", request_body = NewTransfer,
    params(IdempotencyHeader), responses((status = 201, body = TransferWritten), Problems))]
async fn transfer_su(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewTransfer>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    write_created(
        &state,
        &caller,
        &idempotency,
        &new,
        |written: &TransferWritten| written.diffs.first().map(diff_location).unwrap_or_default(),
        async |tx| {
            let ends = [new.from_allocation_id, new.to_allocation_id];
            for allocation in ends {
                require_pi_of(tx, &caller, allocation).await?;
            }
            if let Some(refusal) = withdrawal_refusal(tx, new.from_allocation_id, new.su).await? {
                return Err(ApiError::invalid_field(
                    "/su",
                    format!("is more than the balance allows: {refusal}"),
                ));
            }
            let transfer_id: Uuid = query_one(
                tx,
                bind!(
                    API_TRANSFER,
                    from_allocation_id = &new.from_allocation_id,
                    to_allocation_id = &new.to_allocation_id,
                    su = &new.su,
                    reason = &new.reason,
                ),
            )
            .await?
            .get("transfer_id");
            let diffs =
                query_items(tx, bind!(API_TRANSFER_DIFFS, transfer_id = &transfer_id)).await?;
            Ok(TransferWritten { transfer_id, diffs })
        },
    )
    .await
}
