//! `/v1/usage`: job charges. Admins and site daemons (for their own site's cluster) submit
//! batches, each record charged at the rate in force at the job's end through
//! `registry.charge_usage_batch`, the one charging path the importer uses too (docs/usage.md);
//! a job is charged once, so resubmitting is harmless, and one bad record never stops the
//! batch. PIs see their allocations' charges, members their own.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use purser_sql::bind;
use purser_sql::statements::API_USAGE_LIST;
use purser_sql::usage::{self, ChargeRecord, Outcomes};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{Body, Checked, Params};
use crate::openapi::Problems;
use crate::page::Page;
use crate::problem::ApiError;
use crate::routes::{IdempotencyHeader, PagedInScope, REGISTRY_READERS, list_in_scope};
use crate::rules::{Limit, Name, SignedAmount};
use crate::write::{Idempotency, write};

/// The most records one batch may hold: `UsageBatch`'s `max_items`, which the request is
/// validated against (a test keeps the two equal).
pub const MAX_BATCH: usize = 10_000;

/// One job's use of one resource, as charged.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The scheduler's job id.
    pub job_id: String,
    /// When the job was submitted.
    pub submit_time: DateTime<Utc>,
    /// The resource.
    pub resource_id: Uuid,
    /// When the job ended.
    pub end_time: DateTime<Utc>,
    /// The allocation charged.
    pub allocation_id: Uuid,
    /// Who ran it.
    pub person_id: Uuid,
    /// Raw units used, a decimal string.
    pub raw_amount: String,
    /// The rate applied, a decimal string.
    pub rate: String,
    /// SUs charged: raw ÷ rate, a decimal string.
    pub su_amount: String,
    /// When charged.
    pub calculated_at: DateTime<Utc>,
    /// Who charged it, as the session claimed.
    pub actor: String,
    /// The database login that charged it; null for charges made before it was recorded.
    pub db_user: Option<String>,
    /// The charging transaction, a decimal string.
    pub transaction_id: String,
}

/// One record to charge.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRecord {
    /// The cluster.
    pub cluster_id: Uuid,
    /// The scheduler's job id.
    #[schema(value_type = Name)]
    pub job_id: String,
    /// When the job was submitted.
    pub submit_time: DateTime<Utc>,
    /// When the job ended; its rate is the one in force then.
    pub end_time: DateTime<Utc>,
    /// The resource.
    pub resource_id: Uuid,
    /// The allocation to charge.
    pub allocation_id: Uuid,
    /// Who ran it.
    pub person_id: Uuid,
    /// Raw units used (e.g. core-hours), as a decimal string; a negative amount is not charged
    /// (the record is rejected with its reason, the rest of the batch is charged).
    #[schema(value_type = SignedAmount)]
    pub raw_amount: Decimal,
}

/// A batch to charge.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    /// 1 to 10,000 records.
    #[schema(min_items = 1, max_items = 10000)]
    pub records: Vec<UsageRecord>,
}

impl Checked for UsageBatch {}

/// What happened to one record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageOutcome {
    /// Its position in the batch, from 0.
    pub index: usize,
    /// charged, already_charged or rejected.
    pub outcome: String,
    /// The SUs charged, a decimal string.
    pub su_amount: Option<String>,
    /// Why it was rejected.
    pub error: Option<String>,
}

/// What happened to a batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageReceipt {
    /// Records charged now.
    pub charged: usize,
    /// Records charged before (a resubmission).
    pub already_charged: usize,
    /// Records refused, with their reasons below.
    pub rejected: usize,
    /// Every record's outcome, in order.
    pub results: Vec<UsageOutcome>,
}

/// Which charges to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageFilter {
    /// The allocation whose charges to list (required).
    pub allocation_id: Uuid,
    /// Only this person's.
    pub person_id: Option<Uuid>,
    /// Only jobs ending at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Only jobs ending before this.
    pub until: Option<DateTime<Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// The usage routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_usage, submit_usage).layer(
        axum::extract::DefaultBodyLimit::max(crate::USAGE_BODY_LIMIT),
    ))
}

/// Lists an allocation's charges by job end.
#[utoipa::path(get, path = "/v1/usage", tag = "usage", params(UsageFilter),
    responses((status = 200, body = Page<Usage>), Problems))]
async fn list_usage(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<UsageFilter>,
) -> Result<axum::Json<Page<Usage>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    // The key is (end time, job, submit time, resource), passed to SQL as a JSON array.
    let key = |row: &Usage| json!([row.end_time, row.job_id, row.submit_time, row.resource_id]);
    list_in_scope(
        &state,
        &caller,
        bind!(
            API_USAGE_LIST,
            allocation_id = &filter.allocation_id,
            person_id = &filter.person_id,
            since = &filter.since,
            until = &filter.until,
            ..PagedInScope,
        ),
        filter.cursor.as_deref(),
        filter.limit,
        key,
    )
    .await
}

/// Charges a batch of job records (admin, or a site daemon for its own cluster).
#[utoipa::path(post, path = "/v1/usage", tag = "usage", request_body = UsageBatch,
    params(IdempotencyHeader), responses((status = 200, body = UsageReceipt), Problems))]
async fn submit_usage(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(batch): Body<UsageBatch>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin, Role::Daemon])?;
    let site = caller.site_limit();
    write(
        &state,
        &caller,
        &idempotency,
        &batch,
        StatusCode::OK,
        async |tx| {
            let records = batch.records.iter().map(|record| ChargeRecord {
                cluster_id: record.cluster_id,
                job_id: &record.job_id,
                submit_time: record.submit_time,
                end_time: record.end_time,
                resource_id: record.resource_id,
                allocation_id: record.allocation_id,
                person_id: record.person_id,
                raw_amount: record.raw_amount,
            });
            let outcomes = usage::charge(tx, records, site, Outcomes::All).await?;
            let mut receipt = UsageReceipt {
                charged: 0,
                already_charged: 0,
                rejected: 0,
                results: Vec::with_capacity(outcomes.len()),
            };
            for charged in outcomes {
                let outcome = match (&charged.rejected, charged.already_charged) {
                    (Some(_), _) => {
                        receipt.rejected += 1;
                        "rejected"
                    }
                    (None, true) => {
                        receipt.already_charged += 1;
                        "already_charged"
                    }
                    (None, false) => {
                        receipt.charged += 1;
                        "charged"
                    }
                };
                receipt.results.push(UsageOutcome {
                    index: charged.index,
                    outcome: outcome.to_string(),
                    su_amount: charged.su_amount,
                    error: charged.rejected,
                });
            }
            Ok(receipt)
        },
    )
    .await
}
