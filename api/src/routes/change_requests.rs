//! `/v1/change-requests`: requests for more SUs, fewer SUs (a reduction, e.g. at a project's
//! completion), a later end or another status. A PI submits for their own allocations (an
//! admin for anyone's); an admin approves or rejects; the requester or an admin cancels.
//! Approval writes the allocation's diff (a reduction: an adjustment of minus its SUs) in the
//! decision's transaction. A reduction may not take the allocation's balance below zero, at
//! submission or at approval.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use purser_sql::bind;
use purser_sql::pool::{query, query_one};
use purser_sql::statements::{
    API_CHANGE_REQUEST_DECIDE, API_CHANGE_REQUEST_GET, API_CHANGE_REQUEST_LIST,
    API_CHANGE_REQUEST_OWNER, API_CHANGE_REQUEST_SUBMIT,
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
use crate::routes::allocations::require_pi_of;
use crate::routes::ledger::withdrawal_refusal;
use crate::routes::{
    IdInScope, IdempotencyHeader, PagedInScope, REGISTRY_READERS, get_in_scope, list_in_scope,
    one_in_scope,
};
use crate::rules::{
    ChangeRequestKind, ChangeRequestState, Limit, NonBlank, PositiveAmount, ProjectStatus,
};
use crate::write::{Idempotency, write, write_created};

/// The kind of change request that gives SUs back.
const REDUCTION: &str = "reduction";

/// A change request and its history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangeRequest {
    /// Its id.
    pub id: Uuid,
    /// The allocation to change.
    pub allocation_id: Uuid,
    /// Who asked.
    pub requester_id: Uuid,
    /// supplement, reduction, extension or status.
    pub kind: String,
    /// For a supplement: the SUs asked for; for a reduction: the SUs given back; a decimal
    /// string.
    pub requested_su: Option<String>,
    /// For a status change: the status asked for.
    pub requested_status: Option<String>,
    /// For an extension: the new end asked for.
    pub requested_ends_at: Option<DateTime<Utc>>,
    /// Why.
    pub justification: String,
    /// PENDING, APPROVED, REJECTED or CANCELLED.
    pub state: String,
    /// When submitted.
    pub created_at: DateTime<Utc>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Every step, oldest first.
    pub events: Vec<ChangeRequestEvent>,
}

/// One step of a change request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangeRequestEvent {
    /// Its id.
    pub id: Uuid,
    /// The state before (absent for the submission).
    pub from_state: Option<String>,
    /// The state after.
    pub to_state: String,
    /// Who.
    pub actor: String,
    /// Their comment.
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A new change request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChangeRequest {
    /// The allocation to change.
    pub allocation_id: Uuid,
    /// supplement (give requested_su), reduction (requested_su: the SUs to give back),
    /// extension (requested_ends_at) or status (requested_status).
    #[schema(value_type = ChangeRequestKind)]
    pub kind: String,
    /// Why.
    #[schema(value_type = NonBlank)]
    pub justification: String,
    /// For a supplement or a reduction: the SUs, more than zero, as a decimal string. A
    /// reduction may not exceed the allocation's balance.
    #[schema(value_type = Option<PositiveAmount>)]
    pub requested_su: Option<Decimal>,
    /// For a status change: active, suspended or closed.
    #[schema(value_type = Option<ProjectStatus>)]
    pub requested_status: Option<String>,
    /// For an extension: the new end.
    pub requested_ends_at: Option<DateTime<Utc>>,
    /// Who asks: an admin names them; a PI's requests are their own.
    pub requester_id: Option<Uuid>,
}

impl Checked for NewChangeRequest {
    /// A request carries the one `requested_*` field its kind asks for, and no other.
    fn check(&self) -> Vec<FieldError> {
        let given: [(&[&str], &str, bool); 3] = [
            (
                &["supplement", REDUCTION],
                "/requested_su",
                self.requested_su.is_some(),
            ),
            (
                &["status"],
                "/requested_status",
                self.requested_status.is_some(),
            ),
            (
                &["extension"],
                "/requested_ends_at",
                self.requested_ends_at.is_some(),
            ),
        ];
        given
            .into_iter()
            .filter_map(|(kinds, pointer, present)| {
                match (kinds.contains(&self.kind.as_str()), present) {
                    (true, false) => Some(FieldError::new(
                        pointer,
                        format!("is required for a {} request", self.kind),
                    )),
                    (false, true) => Some(FieldError::new(
                        pointer,
                        format!(
                            "goes only with kind {}, not {}",
                            kinds.join(" or "),
                            self.kind
                        ),
                    )),
                    _ => None,
                }
            })
            .collect()
    }
}

/// A decision's comment.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Why; kept in the request's history (and, on approval, as the diff's reason).
    pub comment: Option<String>,
}

impl Checked for Decision {}

/// A decided request, and the diff an approval wrote.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangeRequestDecided {
    /// The request, as it is now.
    pub change_request: ChangeRequest,
    /// The allocation diff an approval wrote.
    pub diff_id: Option<Uuid>,
}

/// Which change requests to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeRequestFilter {
    /// Only this allocation's.
    pub allocation_id: Option<Uuid>,
    /// Only in this state (PENDING, APPROVED, REJECTED, CANCELLED).
    #[param(value_type = Option<ChangeRequestState>, inline)]
    pub state: Option<String>,
    /// Only this person's.
    pub requester_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// The change request routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_change_requests, submit_change_request))
        .routes(routes!(get_change_request))
        .routes(routes!(approve_change_request))
        .routes(routes!(reject_change_request))
        .routes(routes!(cancel_change_request))
}

/// Lists change requests.
#[utoipa::path(get, path = "/v1/change-requests", tag = "change-requests",
    params(ChangeRequestFilter), responses((status = 200, body = Page<ChangeRequest>), Problems))]
async fn list_change_requests(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<ChangeRequestFilter>,
) -> Result<axum::Json<Page<ChangeRequest>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    let cursor = filter.cursor.as_deref();
    list_in_scope(
        &state,
        &caller,
        bind!(
            API_CHANGE_REQUEST_LIST,
            allocation_id = &filter.allocation_id,
            state = &filter.state,
            requester_id = &filter.requester_id,
            ..PagedInScope,
        ),
        cursor,
        filter.limit,
        |row: &ChangeRequest| row.id,
    )
    .await
}

/// Shows one change request with its history.
#[utoipa::path(get, path = "/v1/change-requests/{id}", tag = "change-requests",
    params(("id" = Uuid, Path, description = "Change request id")),
    responses((status = 200, body = ChangeRequest), Problems))]
async fn get_change_request(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<ChangeRequest>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    get_in_scope(
        &state,
        &caller,
        bind!(API_CHANGE_REQUEST_GET, ..IdInScope),
        id,
        "change request",
    )
    .await
}

/// Reads one change request as the caller sees it, in their transaction.
async fn visible_request(
    client: &impl deadpool_postgres::GenericClient,
    caller: &Caller,
    id: Uuid,
) -> Result<ChangeRequest, ApiError> {
    one_in_scope(
        client,
        caller,
        bind!(API_CHANGE_REQUEST_GET, ..IdInScope),
        id,
        "change request",
    )
    .await
}

/// Submits a change request (a PI for their allocations, an admin for anyone's).
#[utoipa::path(post, path = "/v1/change-requests", tag = "change-requests",
    request_body = NewChangeRequest, params(IdempotencyHeader),
    responses((status = 201, body = ChangeRequest), Problems))]
async fn submit_change_request(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewChangeRequest>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin, Role::Pi])?;
    let requester = match caller.role {
        Role::Admin => new.requester_id.ok_or_else(|| {
            ApiError::invalid_field("/requester_id", "is required when an admin submits")
        })?,
        _ => match (new.requester_id, caller.person_id) {
            (Some(named), Some(me)) if named != me => {
                return Err(ApiError::Forbidden(
                    "a PI submits requests as themselves".to_string(),
                ));
            }
            (_, Some(me)) => me,
            (_, None) => {
                return Err(ApiError::Forbidden(
                    "this token acts for no person".to_string(),
                ));
            }
        },
    };
    write_created(
        &state,
        &caller,
        &idempotency,
        &new,
        |request: &ChangeRequest| format!("/v1/change-requests/{}", request.id),
        async |tx| {
            require_pi_of(tx, &caller, new.allocation_id).await?;
            if new.kind == REDUCTION
                && let Some(su) = new.requested_su
                && let Some(refusal) = withdrawal_refusal(tx, new.allocation_id, su).await?
            {
                return Err(ApiError::invalid_field(
                    "/requested_su",
                    format!("is more than the balance allows: {refusal}"),
                ));
            }
            let row = query_one(
                tx,
                bind!(
                    API_CHANGE_REQUEST_SUBMIT,
                    allocation_id = &new.allocation_id,
                    requester_id = &requester,
                    kind = &new.kind,
                    justification = &new.justification,
                    requested_su = &new.requested_su,
                    requested_status = &new.requested_status,
                    requested_ends_at = &new.requested_ends_at,
                ),
            )
            .await?;
            visible_request(tx, &caller, row.get("id")).await
        },
    )
    .await
}

/// Approves, rejects or cancels, in one transaction with the diff an approval writes, and
/// answers with the request as it is now.
async fn decide(
    state: &AppState,
    caller: &Caller,
    idempotency: &Idempotency,
    id: Uuid,
    outcome: &str,
    decision: &Decision,
) -> Result<Response, ApiError> {
    write(
        state,
        caller,
        idempotency,
        decision,
        StatusCode::OK,
        async |tx| decide_in(tx, caller, id, outcome, decision.comment.as_ref()).await,
    )
    .await
}

/// The decision's statements, in the request's transaction.
async fn decide_in(
    tx: &Transaction<'_>,
    caller: &Caller,
    id: Uuid,
    decision: &str,
    comment: Option<&String>,
) -> Result<ChangeRequestDecided, ApiError> {
    let rows = query(tx, bind!(API_CHANGE_REQUEST_OWNER, id = &id)).await?;
    let row = rows.first().ok_or_else(|| {
        ApiError::NotFound(format!("there is no change request {id} that you may see"))
    })?;
    let requester: Uuid = row.get("requester_id");
    let allocation_id: Uuid = row.get("allocation_id");
    let kind: String = row.get("kind");
    let requested_su: Option<Decimal> = row.get("requested_su");
    if caller.role != Role::Admin && caller.person_id != Some(requester) {
        // Not theirs: as if it did not exist, unless they may see it.
        visible_request(tx, caller, id).await?;
        return Err(ApiError::Forbidden(format!(
            "only the requester or an admin may cancel change request {id}",
        )));
    }
    if decision == "APPROVED"
        && kind == REDUCTION
        && let Some(su) = requested_su
        && let Some(refusal) = withdrawal_refusal(tx, allocation_id, su).await?
    {
        return Err(ApiError::Conflict(format!(
            "change request {id} cannot be approved: {refusal}",
        )));
    }
    let diff_id: Option<Uuid> = query_one(
        tx,
        bind!(
            API_CHANGE_REQUEST_DECIDE,
            id = &id,
            decision = &decision,
            comment = &comment,
        ),
    )
    .await?
    .get("diff_id");
    Ok(ChangeRequestDecided {
        change_request: visible_request(tx, caller, id).await?,
        diff_id,
    })
}

/// Approves a pending request and writes its diff (admin).
#[utoipa::path(post, path = "/v1/change-requests/{id}/approve", tag = "change-requests",
    request_body = Decision,
    params(("id" = Uuid, Path, description = "Change request id"), IdempotencyHeader),
    responses((status = 200, body = ChangeRequestDecided), Problems))]
async fn approve_change_request(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(decision): Body<Decision>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    decide(&state, &caller, &idempotency, id, "APPROVED", &decision).await
}

/// Rejects a pending request (admin).
#[utoipa::path(post, path = "/v1/change-requests/{id}/reject", tag = "change-requests",
    request_body = Decision,
    params(("id" = Uuid, Path, description = "Change request id"), IdempotencyHeader),
    responses((status = 200, body = ChangeRequestDecided), Problems))]
async fn reject_change_request(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(decision): Body<Decision>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    decide(&state, &caller, &idempotency, id, "REJECTED", &decision).await
}

/// Withdraws a pending request (its requester, or an admin).
#[utoipa::path(post, path = "/v1/change-requests/{id}/cancel", tag = "change-requests",
    request_body = Decision,
    params(("id" = Uuid, Path, description = "Change request id"), IdempotencyHeader),
    responses((status = 200, body = ChangeRequestDecided), Problems))]
async fn cancel_change_request(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(decision): Body<Decision>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin, Role::Pi])?;
    decide(&state, &caller, &idempotency, id, "CANCELLED", &decision).await
}
