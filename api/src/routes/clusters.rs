//! `/v1/clusters` and `/v1/resources`: the clusters, the kinds of unit each charges for (CPU
//! and GPU hours, mapped to Slurm partitions and TRES) and their rates over time. Anyone
//! authenticated reads them; admins write them.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use purser_sql::bind;
use purser_sql::pool::query_items;
use purser_sql::statements::{
    API_CLUSTER_CREATE, API_CLUSTER_GET, API_CLUSTER_LIST, API_RATE_CREATE, API_RATE_GET,
    API_RATE_LIST, API_RESOURCE_CREATE, API_RESOURCE_GET, API_RESOURCE_LIST,
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
use crate::routes::{EVERYONE, IdempotencyHeader, Paged, create, list, one};
use crate::rules::{Limit, Name, PositiveAmount, ResourceType, SiteName, SlurmTres};
use crate::write::Idempotency;

/// A cluster. Its tasks go to the site of the same name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Cluster {
    /// Its id.
    pub id: Uuid,
    /// Its name, unique; also its site's name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A new cluster.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    /// Its name: letters, digits, `_ . -`, up to 63.
    #[schema(value_type = SiteName)]
    pub name: String,
    /// What it is.
    #[serde(default)]
    pub description: String,
}

impl Checked for NewCluster {}

/// Which clusters to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClusterFilter {
    /// Only the one with this name.
    pub name: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// A kind of unit a cluster charges for, and how job usage maps to it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Resource {
    /// Its id.
    pub id: Uuid,
    /// Its cluster.
    pub cluster_id: Uuid,
    /// Its name, unique on the cluster ("CPU", "GPU H200").
    pub name: String,
    /// cpu, gpu, memory, storage or other.
    pub resource_type: String,
    /// What one raw unit is ("core-hours").
    pub unit: String,
    /// Jobs in this partition count (any partition when absent).
    pub slurm_partition: Option<String>,
    /// The Slurm TRES they count ("cpu", "gres/gpu").
    pub slurm_tres: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A new resource.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResource {
    /// Its cluster.
    pub cluster_id: Uuid,
    /// Its name, unique on the cluster.
    #[schema(value_type = Name)]
    pub name: String,
    /// cpu, gpu, memory, storage or other.
    #[schema(value_type = ResourceType)]
    pub resource_type: String,
    /// What one raw unit is.
    #[schema(value_type = Name)]
    pub unit: String,
    /// Jobs in this partition count (any partition when absent).
    #[schema(value_type = Option<Name>)]
    pub slurm_partition: Option<String>,
    /// The Slurm TRES they count.
    #[schema(value_type = SlurmTres)]
    pub slurm_tres: String,
}

impl Checked for NewResource {}

/// Which resources to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResourceFilter {
    /// Only this cluster's.
    pub cluster_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// A resource's rate over a time window: SU = raw ÷ rate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rate {
    /// Its id.
    pub id: Uuid,
    /// The resource.
    pub resource_id: Uuid,
    /// Raw units per SU, a decimal string.
    pub rate: String,
    /// In force from.
    pub valid_from: DateTime<Utc>,
    /// In force until (open-ended when absent).
    pub valid_until: Option<DateTime<Utc>>,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A new rate. Windows of one resource never overlap.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRate {
    /// Raw units per SU, more than zero, as a decimal string.
    #[schema(value_type = PositiveAmount)]
    pub rate: Decimal,
    /// In force from.
    pub valid_from: DateTime<Utc>,
    /// In force until (open-ended when absent).
    pub valid_until: Option<DateTime<Utc>>,
}

impl Checked for NewRate {
    fn check(&self) -> Vec<FieldError> {
        match self.valid_until {
            Some(until) if until <= self.valid_from => {
                vec![FieldError::new("/valid_until", "must be after valid_from")]
            }
            _ => Vec::new(),
        }
    }
}

/// Which rates to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RateFilter {
    /// Only the one in force at this time.
    pub at: Option<DateTime<Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// The cluster and resource routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clusters, create_cluster))
        .routes(routes!(get_cluster))
        .routes(routes!(list_resources, create_resource))
        .routes(routes!(get_resource))
        .routes(routes!(list_rates, create_rate))
        .routes(routes!(get_rate))
}

/// Lists clusters.
#[utoipa::path(get, path = "/v1/clusters", tag = "clusters", params(ClusterFilter),
    responses((status = 200, body = Page<Cluster>), Problems))]
async fn list_clusters(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<ClusterFilter>,
) -> Result<axum::Json<Page<Cluster>>, ApiError> {
    caller.allow(EVERYONE)?;
    let cursor = filter.cursor.as_deref();
    list(
        &state,
        bind!(API_CLUSTER_LIST, name = &filter.name, ..Paged),
        cursor,
        filter.limit,
        |row: &Cluster| row.id,
    )
    .await
}

/// Shows one cluster.
#[utoipa::path(get, path = "/v1/clusters/{id}", tag = "clusters",
    params(("id" = Uuid, Path, description = "Cluster id")),
    responses((status = 200, body = Cluster), Problems))]
async fn get_cluster(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<Cluster>, ApiError> {
    caller.allow(EVERYONE)?;
    let client = state.connection().await?;
    one(
        query_items(&*client, bind!(API_CLUSTER_GET, id = &id)).await?,
        "cluster",
        id,
    )
}

/// Records a cluster (admin).
#[utoipa::path(post, path = "/v1/clusters", tag = "clusters", request_body = NewCluster,
    params(IdempotencyHeader), responses((status = 201, body = Cluster), Problems))]
async fn create_cluster(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewCluster>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    create::<Cluster>(
        &state,
        &caller,
        &idempotency,
        &new,
        bind!(
            API_CLUSTER_CREATE,
            name = &new.name,
            description = &new.description,
        ),
        |row: &Cluster| format!("/v1/clusters/{}", row.id),
    )
    .await
}

/// Lists resources.
#[utoipa::path(get, path = "/v1/resources", tag = "clusters", params(ResourceFilter),
    responses((status = 200, body = Page<Resource>), Problems))]
async fn list_resources(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<ResourceFilter>,
) -> Result<axum::Json<Page<Resource>>, ApiError> {
    caller.allow(EVERYONE)?;
    let cursor = filter.cursor.as_deref();
    list(
        &state,
        bind!(API_RESOURCE_LIST, cluster_id = &filter.cluster_id, ..Paged),
        cursor,
        filter.limit,
        |row: &Resource| row.id,
    )
    .await
}

/// Shows one resource.
#[utoipa::path(get, path = "/v1/resources/{id}", tag = "clusters",
    params(("id" = Uuid, Path, description = "Resource id")),
    responses((status = 200, body = Resource), Problems))]
async fn get_resource(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<Resource>, ApiError> {
    caller.allow(EVERYONE)?;
    let client = state.connection().await?;
    one(
        query_items(&*client, bind!(API_RESOURCE_GET, id = &id)).await?,
        "resource",
        id,
    )
}

/// Records a resource (admin).
#[utoipa::path(post, path = "/v1/resources", tag = "clusters", request_body = NewResource,
    params(IdempotencyHeader), responses((status = 201, body = Resource), Problems))]
async fn create_resource(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewResource>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    create::<Resource>(
        &state,
        &caller,
        &idempotency,
        &new,
        bind!(
            API_RESOURCE_CREATE,
            cluster_id = &new.cluster_id,
            name = &new.name,
            resource_type = &new.resource_type,
            unit = &new.unit,
            slurm_partition = &new.slurm_partition,
            slurm_tres = &new.slurm_tres,
        ),
        |row: &Resource| format!("/v1/resources/{}", row.id),
    )
    .await
}

/// Lists a resource's rates.
#[utoipa::path(get, path = "/v1/resources/{id}/rates", tag = "clusters",
    params(("id" = Uuid, Path, description = "Resource id"), RateFilter),
    responses((status = 200, body = Page<Rate>), Problems))]
async fn list_rates(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
    Params(filter): Params<RateFilter>,
) -> Result<axum::Json<Page<Rate>>, ApiError> {
    caller.allow(EVERYONE)?;
    let cursor = filter.cursor.as_deref();
    list(
        &state,
        bind!(API_RATE_LIST, resource_id = &id, at = &filter.at, ..Paged),
        cursor,
        filter.limit,
        |row: &Rate| row.id,
    )
    .await
}

/// Shows one of a resource's rates.
#[utoipa::path(get, path = "/v1/resources/{id}/rates/{rate_id}", tag = "clusters",
    params(("id" = Uuid, Path, description = "Resource id"),
        ("rate_id" = Uuid, Path, description = "Rate id")),
    responses((status = 200, body = Rate), Problems))]
async fn get_rate(
    State(state): State<AppState>,
    caller: Caller,
    Id((id, rate_id)): Id<(Uuid, Uuid)>,
) -> Result<axum::Json<Rate>, ApiError> {
    caller.allow(EVERYONE)?;
    let client = state.connection().await?;
    one(
        query_items(
            &*client,
            bind!(API_RATE_GET, resource_id = &id, id = &rate_id),
        )
        .await?,
        "rate",
        rate_id,
    )
}

/// Sets a resource's rate for a time window (admin).
#[utoipa::path(post, path = "/v1/resources/{id}/rates", tag = "clusters", request_body = NewRate,
    params(("id" = Uuid, Path, description = "Resource id"), IdempotencyHeader),
    responses((status = 201, body = Rate), Problems))]
async fn create_rate(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(new): Body<NewRate>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin])?;
    create::<Rate>(
        &state,
        &caller,
        &idempotency,
        &new,
        bind!(
            API_RATE_CREATE,
            resource_id = &id,
            rate = &new.rate,
            valid_from = &new.valid_from,
            valid_until = &new.valid_until,
        ),
        |row: &Rate| format!("/v1/resources/{}/rates/{}", row.resource_id, row.id),
    )
    .await
}
