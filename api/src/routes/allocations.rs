//! `/v1/allocations`: SU budgets of projects on clusters, and their balances. Admins and
//! readers see all; PIs and members see the allocations they lead or belong to. Admins create
//! them.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use purser_sql::bind;
use purser_sql::pool::{query, query_items};
use purser_sql::statements::{
    API_ALLOCATION_BALANCE, API_ALLOCATION_CREATE, API_ALLOCATION_GET, API_ALLOCATION_LIST,
    API_ALLOCATION_SCOPE, API_RESOURCE_GET,
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
use crate::routes::{
    IdInScope, IdempotencyHeader, PagedInScope, REGISTRY_READERS, created, get_in_scope,
    list_in_scope,
};
use crate::rules::{Amount, Limit, ProjectStatus, SlurmAccount};
use crate::write::{Idempotency, write_created};

/// An allocation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Allocation {
    /// Its id.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Its cluster.
    pub cluster_id: Uuid,
    /// The Slurm account it is charged under.
    pub account_name: String,
    /// active, suspended or closed.
    pub status: String,
    /// SUs it started with, a decimal string.
    pub initial_su: String,
    /// Start of its window.
    pub starts_at: DateTime<Utc>,
    /// End of its window.
    pub ends_at: DateTime<Utc>,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A resource a new allocation includes, with an optional SU limit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncludedResource {
    /// A resource of the allocation's cluster.
    pub resource_id: Uuid,
    /// The most SUs the allocation may charge for it, zero or more, as a decimal string;
    /// reaching it denies access, as a member's cap does. Omitted: no limit of its own.
    #[serde(default)]
    #[schema(value_type = Option<Amount>)]
    pub limit_su: Option<Decimal>,
}

/// A new allocation. It includes the `resources` listed, or every resource of its cluster
/// (without limits) when they are omitted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAllocation {
    /// Its project.
    pub project_id: Uuid,
    /// Its cluster.
    pub cluster_id: Uuid,
    /// The Slurm account: lower-case letters, digits, `_ . -`.
    #[schema(value_type = SlurmAccount)]
    pub account_name: String,
    /// SUs it starts with, zero or more, as a decimal string.
    #[schema(value_type = Amount)]
    pub initial_su: Decimal,
    /// Start of its window.
    pub starts_at: DateTime<Utc>,
    /// End of its window, after the start.
    pub ends_at: DateTime<Utc>,
    /// The resources it includes (one or more, each once), each with an optional SU limit;
    /// usage of any other resource is rejected. Omitted: every resource of its cluster, now and
    /// later, without limits.
    #[serde(default)]
    #[schema(min_items = 1)]
    pub resources: Option<Vec<IncludedResource>>,
}

/// Where a resource is (what the create checks before including it).
#[derive(Debug, Deserialize)]
struct ResourceCluster {
    cluster_id: Uuid,
}

impl Checked for NewAllocation {
    /// The window ends after it starts, and no resource is listed twice.
    fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.ends_at <= self.starts_at {
            errors.push(FieldError::new("/ends_at", "must be after starts_at"));
        }
        let resources = self.resources.as_deref().unwrap_or_default();
        for (index, resource) in resources.iter().enumerate() {
            if resources[..index]
                .iter()
                .any(|earlier| earlier.resource_id == resource.resource_id)
            {
                errors.push(FieldError::new(
                    &format!("/resources/{index}/resource_id"),
                    format!("lists resource {} a second time", resource.resource_id),
                ));
            }
        }
        errors
    }
}

/// Which allocations to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AllocationFilter {
    /// Only this project's.
    pub project_id: Option<Uuid>,
    /// Only on this cluster.
    pub cluster_id: Option<Uuid>,
    /// Only this status.
    #[param(value_type = Option<ProjectStatus>, inline)]
    pub status: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// An allocation's balance: initial + granted − charged, exact.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AllocationBalance {
    /// The allocation.
    pub allocation_id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Its cluster.
    pub cluster_id: Uuid,
    /// Its Slurm account.
    pub account_name: String,
    /// SUs it started with, a decimal string.
    pub initial_su: String,
    /// Σ supplements, adjustments and transfers, a decimal string.
    pub granted_su: String,
    /// Σ usage charges, a decimal string.
    pub charged_su: String,
    /// What is left, a decimal string.
    pub balance_su: String,
}

/// The allocation routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_allocations, create_allocation))
        .routes(routes!(get_allocation))
        .routes(routes!(get_allocation_balance))
}

/// What a write needs to know about an allocation's caller: 404 when the allocation does not
/// exist or the caller may not see it, 403 when they see it but do not lead its project.
pub async fn require_pi_of(
    client: &impl GenericClient,
    caller: &Caller,
    allocation_id: Uuid,
) -> Result<(), ApiError> {
    let rows = query(
        client,
        bind!(
            API_ALLOCATION_SCOPE,
            allocation_id = &allocation_id,
            person_id = &caller.person_id,
        ),
    )
    .await?;
    let not_found = || {
        ApiError::NotFound(format!(
            "there is no allocation {allocation_id} that you may see",
        ))
    };
    let row = rows.first().ok_or_else(not_found)?;
    if caller.role == Role::Admin {
        return Ok(());
    }
    let pi_id: Uuid = row.get("pi_id");
    let is_member: bool = row.get("is_member");
    if caller.person_id == Some(pi_id) {
        Ok(())
    } else if is_member {
        Err(ApiError::Forbidden(format!(
            "only the PI of allocation {allocation_id}'s project may do this",
        )))
    } else {
        Err(not_found())
    }
}

/// Lists allocations.
#[utoipa::path(get, path = "/v1/allocations", tag = "allocations", params(AllocationFilter),
    responses((status = 200, body = Page<Allocation>), Problems))]
async fn list_allocations(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<AllocationFilter>,
) -> Result<axum::Json<Page<Allocation>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    let cursor = filter.cursor.as_deref();
    list_in_scope(
        &state,
        &caller,
        bind!(
            API_ALLOCATION_LIST,
            project_id = &filter.project_id,
            cluster_id = &filter.cluster_id,
            status = &filter.status,
            ..PagedInScope,
        ),
        cursor,
        filter.limit,
        |row: &Allocation| row.id,
    )
    .await
}

/// Shows one allocation.
#[utoipa::path(get, path = "/v1/allocations/{id}", tag = "allocations",
    params(("id" = Uuid, Path, description = "Allocation id")),
    responses((status = 200, body = Allocation), Problems))]
async fn get_allocation(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<Allocation>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    get_in_scope(
        &state,
        &caller,
        bind!(API_ALLOCATION_GET, ..IdInScope),
        id,
        "allocation",
    )
    .await
}

/// Shows an allocation's balance: one row read, however much usage it has.
#[utoipa::path(get, path = "/v1/allocations/{id}/balance", tag = "allocations",
    params(("id" = Uuid, Path, description = "Allocation id")),
    responses((status = 200, body = AllocationBalance), Problems))]
async fn get_allocation_balance(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<AllocationBalance>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    get_in_scope(
        &state,
        &caller,
        bind!(API_ALLOCATION_BALANCE, ..IdInScope),
        id,
        "allocation",
    )
    .await
}

/// Creates an allocation including the resources listed, or every resource of its cluster
/// when none are (admin).
#[utoipa::path(post, path = "/v1/allocations", tag = "allocations", request_body = NewAllocation,
    params(IdempotencyHeader), responses((status = 201, body = Allocation), Problems))]
async fn create_allocation(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewAllocation>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    let included: Option<Vec<Uuid>> = new
        .resources
        .as_ref()
        .map(|resources| resources.iter().map(|r| r.resource_id).collect());
    let limits: Option<Vec<Option<Decimal>>> = new
        .resources
        .as_ref()
        .map(|resources| resources.iter().map(|r| r.limit_su).collect());
    write_created(
        &state,
        &caller,
        &idempotency,
        &new,
        |allocation: &Allocation| format!("/v1/allocations/{}", allocation.id),
        async |tx| {
            for (index, resource_id) in included.iter().flatten().enumerate() {
                let found: Vec<ResourceCluster> =
                    query_items(tx, bind!(API_RESOURCE_GET, id = resource_id)).await?;
                if found.first().map(|r| r.cluster_id) != Some(new.cluster_id) {
                    return Err(ApiError::invalid_field(
                        &format!("/resources/{index}/resource_id"),
                        format!(
                            "resource {resource_id} is not a resource of cluster {}",
                            new.cluster_id,
                        ),
                    ));
                }
            }
            created::<Allocation>(
                query_items(
                    tx,
                    bind!(
                        API_ALLOCATION_CREATE,
                        project_id = &new.project_id,
                        cluster_id = &new.cluster_id,
                        account_name = &new.account_name,
                        initial_su = &new.initial_su,
                        starts_at = &new.starts_at,
                        ends_at = &new.ends_at,
                        resource_ids = &included,
                        limits_su = &limits,
                    ),
                )
                .await?,
            )
        },
    )
    .await
}
