//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! the types' `ToSchema` derives, so it cannot describe an endpoint that does not exist. It is
//! served at `/v1/openapi.json` and kept in `docs/openapi.json`; a test fails when they differ.

use std::collections::BTreeMap;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::problem::Problem;
use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Purser",
        description = "Allocations and access for research computing. Every write is one \
            transaction with the audit record naming the caller. A registry write enqueues no \
            task: each site's reconciler plans what the site needs from it. Lists are paged \
            with opaque cursors; errors are RFC 9457 problem documents; POSTs accept an \
            Idempotency-Key header.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth, &ProblemResponses),
    security(("bearer" = [])),
    components(schemas(Problem)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "organizations", description = "Universities and institutes"),
        (name = "people", description = "People, their external identities and cluster accounts"),
        (name = "clusters", description = "Clusters, their resources and rates"),
        (name = "projects", description = "Projects and their PIs"),
        (name = "allocations", description = "SU budgets on clusters, their balances, diffs, adjustments and transfers"),
        (name = "memberships", description = "Who may use an allocation, with per-member caps"),
        (name = "change-requests", description = "Supplements, reductions, extensions and status changes"),
        (name = "usage", description = "Job charges"),
        (name = "access", description = "Who should have access where, and why"),
        (name = "tasks", description = "The queue between the registry and the sites"),
        (name = "audit", description = "The append-only change log"),
    )
)]
struct ApiDoc;

/// Declares the bearer scheme every operation but the health checks requires.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A Purser API token (purser token create) or, when configured, an OIDC JWT.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The error responses every operation can give, each a problem document: (status, name in
/// `components.responses`, description).
const PROBLEMS: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "Malformed request: bad JSON, query parameter or path",
    ),
    ("401", "Unauthorized", "No valid credentials"),
    ("403", "Forbidden", "The caller's role may not do this"),
    (
        "404",
        "NotFound",
        "No such thing, or not one the caller may see",
    ),
    ("409", "Conflict", "Conflicts with the current state"),
    ("413", "PayloadTooLarge", "Body too large"),
    ("415", "UnsupportedMediaType", "Body is not JSON"),
    (
        "422",
        "UnprocessableEntity",
        "Well-formed but unacceptable values; errors name the fields",
    ),
    (
        "500",
        "InternalServerError",
        "A fault of the server's; the detail is in its log",
    ),
    (
        "503",
        "ServiceUnavailable",
        "The database is unreachable or the request timed out",
    ),
];

/// Refers every operation to the shared problem responses.
pub struct Problems;

impl IntoResponses for Problems {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        PROBLEMS
            .iter()
            .map(|(status, name, _)| {
                (
                    status.to_string(),
                    RefOr::Ref(Ref::from_response_name(*name)),
                )
            })
            .collect()
    }
}

/// Adds the shared problem responses to `components.responses`.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (_, name, description) in PROBLEMS {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build();
            components
                .responses
                .insert(name.to_string(), RefOr::T(response));
        }
    }
}

/// Every route, with its part of the document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::health::routes())
        .merge(routes::organizations::routes())
        .merge(routes::people::routes())
        .merge(routes::clusters::routes())
        .merge(routes::projects::routes())
        .merge(routes::allocations::routes())
        .merge(routes::ledger::routes())
        .merge(routes::memberships::routes())
        .merge(routes::change_requests::routes())
        .merge(routes::usage::routes())
        .merge(routes::access::routes())
        .merge(routes::tasks::routes())
        .merge(routes::audit::routes())
}

/// The document, as served and as kept in docs/openapi.json.
pub fn document() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}
