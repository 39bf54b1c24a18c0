//! `/v1/memberships`: who may use an allocation, with an optional per-member SU cap. Admins and
//! readers see all; a PI sees their allocations' members; a member sees their own. Admins and
//! the allocation's PI add and change members.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use purser_sql::bind;
use purser_sql::pool::{query, query_items};
use purser_sql::statements::{
    API_MEMBER_BALANCE, API_MEMBERSHIP_ALLOCATION, API_MEMBERSHIP_CREATE, API_MEMBERSHIP_GET,
    API_MEMBERSHIP_LIST, API_MEMBERSHIP_UPDATE,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
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
use crate::routes::{
    IdInScope, IdempotencyHeader, PagedInScope, REGISTRY_READERS, created, get_in_scope,
    list_in_scope, one,
};
use crate::rules::{Amount, Limit, MembershipStatus};
use crate::write::{Idempotency, write, write_created};

/// A membership: a person's use of an allocation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    /// Its id.
    pub id: Uuid,
    /// The allocation.
    pub allocation_id: Uuid,
    /// The member.
    pub person_id: Uuid,
    /// Their cap in SUs, a decimal string (no cap when absent).
    pub cap_su: Option<String>,
    /// From when.
    pub starts_at: DateTime<Utc>,
    /// Until when (open-ended when absent).
    pub ends_at: Option<DateTime<Utc>>,
    /// active, suspended or removed.
    pub status: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// A new membership.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMembership {
    /// The allocation.
    pub allocation_id: Uuid,
    /// The member.
    pub person_id: Uuid,
    /// Their cap in SUs, zero or more, as a decimal string (no cap when absent).
    #[schema(value_type = Option<Amount>)]
    pub cap_su: Option<Decimal>,
    /// From when (now when absent).
    pub starts_at: Option<DateTime<Utc>>,
    /// Until when (open-ended when absent).
    pub ends_at: Option<DateTime<Utc>>,
}

impl Checked for NewMembership {
    fn check(&self) -> Vec<FieldError> {
        match (self.starts_at, self.ends_at) {
            (Some(starts_at), Some(ends_at)) if ends_at <= starts_at => {
                vec![FieldError::new("/ends_at", "must be after starts_at")]
            }
            _ => Vec::new(),
        }
    }
}

/// Changes to a membership. An absent field stays as it is; `cap_su` or `ends_at` set to null
/// removes the cap or the end.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipChange {
    /// A new cap (a decimal string), or null for none.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Amount>)]
    pub cap_su: Option<Option<Decimal>>,
    /// active, suspended or removed.
    #[schema(value_type = Option<MembershipStatus>)]
    pub status: Option<String>,
    /// A new end, or null for none.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
}

impl Checked for MembershipChange {}

/// Tells a field sent as null (`Some(None)`) from one not sent (`None`, by `#[serde(default)]`).
/// A field read with it is also serialized only when sent
/// (`skip_serializing_if = "Option::is_none"`), so the request's idempotency fingerprint
/// ([`crate::write`]) tells "remove the cap" from "leave it".
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Which memberships to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembershipFilter {
    /// Only this allocation's.
    pub allocation_id: Option<Uuid>,
    /// Only this person's.
    pub person_id: Option<Uuid>,
    /// Only this status.
    #[param(value_type = Option<MembershipStatus>, inline)]
    pub status: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// A member's use against their cap.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberBalance {
    /// The membership.
    pub membership_id: Uuid,
    /// The allocation.
    pub allocation_id: Uuid,
    /// The member.
    pub person_id: Uuid,
    /// Their cap, a decimal string (none when absent).
    pub cap_su: Option<String>,
    /// What their jobs were charged, a decimal string.
    pub charged_su: String,
    /// Cap − charged, a decimal string (absent without a cap).
    pub remaining_su: Option<String>,
}

/// The membership routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_memberships, create_membership))
        .routes(routes!(get_membership, update_membership))
        .routes(routes!(get_member_balance))
}

/// Lists memberships.
#[utoipa::path(get, path = "/v1/memberships", tag = "memberships", params(MembershipFilter),
    responses((status = 200, body = Page<Membership>), Problems))]
async fn list_memberships(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<MembershipFilter>,
) -> Result<axum::Json<Page<Membership>>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    let cursor = filter.cursor.as_deref();
    list_in_scope(
        &state,
        &caller,
        bind!(
            API_MEMBERSHIP_LIST,
            allocation_id = &filter.allocation_id,
            person_id = &filter.person_id,
            status = &filter.status,
            ..PagedInScope,
        ),
        cursor,
        filter.limit,
        |row: &Membership| row.id,
    )
    .await
}

/// Shows one membership.
#[utoipa::path(get, path = "/v1/memberships/{id}", tag = "memberships",
    params(("id" = Uuid, Path, description = "Membership id")),
    responses((status = 200, body = Membership), Problems))]
async fn get_membership(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<Membership>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    get_in_scope(
        &state,
        &caller,
        bind!(API_MEMBERSHIP_GET, ..IdInScope),
        id,
        "membership",
    )
    .await
}

/// Shows a member's use against their cap.
#[utoipa::path(get, path = "/v1/memberships/{id}/balance", tag = "memberships",
    params(("id" = Uuid, Path, description = "Membership id")),
    responses((status = 200, body = MemberBalance), Problems))]
async fn get_member_balance(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<Uuid>,
) -> Result<axum::Json<MemberBalance>, ApiError> {
    caller.allow(REGISTRY_READERS)?;
    get_in_scope(
        &state,
        &caller,
        bind!(API_MEMBER_BALANCE, ..IdInScope),
        id,
        "membership",
    )
    .await
}

/// Adds a member to an allocation (admin, or the allocation's PI).
#[utoipa::path(post, path = "/v1/memberships", tag = "memberships", request_body = NewMembership,
    params(IdempotencyHeader), responses((status = 201, body = Membership), Problems))]
async fn create_membership(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewMembership>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin, Role::Pi])?;
    write_created(
        &state,
        &caller,
        &idempotency,
        &new,
        |membership: &Membership| format!("/v1/memberships/{}", membership.id),
        async |tx| {
            require_pi_of(tx, &caller, new.allocation_id).await?;
            created::<Membership>(
                query_items(
                    tx,
                    bind!(
                        API_MEMBERSHIP_CREATE,
                        allocation_id = &new.allocation_id,
                        person_id = &new.person_id,
                        cap_su = &new.cap_su,
                        starts_at = &new.starts_at,
                        ends_at = &new.ends_at,
                    ),
                )
                .await?,
            )
        },
    )
    .await
}

/// Changes a member's cap, status or end (admin, or the allocation's PI).
#[utoipa::path(patch, path = "/v1/memberships/{id}", tag = "memberships",
    request_body = MembershipChange,
    params(("id" = Uuid, Path, description = "Membership id"), IdempotencyHeader),
    responses((status = 200, body = Membership), Problems))]
async fn update_membership(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<Uuid>,
    Body(change): Body<MembershipChange>,
) -> Result<Response, ApiError> {
    caller.allow(&[Role::Admin, Role::Pi])?;
    write(
        &state,
        &caller,
        &idempotency,
        &change,
        StatusCode::OK,
        async |tx| {
            let rows = query(tx, bind!(API_MEMBERSHIP_ALLOCATION, id = &id)).await?;
            let allocation_id: Uuid = rows
                .first()
                .map(|row| row.get("allocation_id"))
                .ok_or_else(|| {
                    ApiError::NotFound(format!("there is no membership {id} that you may see"))
                })?;
            require_pi_of(tx, &caller, allocation_id).await?;
            let remove_cap = matches!(change.cap_su, Some(None));
            let new_cap = change.cap_su.flatten();
            let remove_end = matches!(change.ends_at, Some(None));
            let new_end = change.ends_at.flatten();
            let rows = query_items(
                tx,
                bind!(
                    API_MEMBERSHIP_UPDATE,
                    id = &id,
                    clear_cap = &remove_cap,
                    cap_su = &new_cap,
                    status = &change.status,
                    clear_ends_at = &remove_end,
                    ends_at = &new_end,
                ),
            )
            .await?;
            let axum::Json(membership): axum::Json<Membership> = one(rows, "membership", id)?;
            Ok(membership)
        },
    )
    .await
}
