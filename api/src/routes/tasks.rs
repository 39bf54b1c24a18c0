//! `/v1/tasks`: the queue between the registry and the sites. Admins enqueue, inspect, retry
//! and cancel any task; a site daemon those of its own site; readers inspect. A task's
//! attempts come with it, so a failure's history is one request away.
//!
//! A daemon learns nothing of other sites: their tasks answer 404 as unknown ids do, a
//! dependency on one is refused in the words used for a missing task, and lanes and dedupe
//! keys are the site's own (`queue.enqueue`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use purser_sql::DbError;
use purser_sql::constraints::{Refusal, refusal};
use purser_sql::queue::{self, AttemptRecord, NewTask, TaskFilter, TaskRecord};
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{Body, Checked, Id, Params};
use crate::openapi::Problems;
use crate::page::{self, Page};
use crate::problem::{ApiError, FieldError};
use crate::routes::IdempotencyHeader;
use crate::rules::{self, Limit, Name, SiteName, TaskKind};
use crate::write::{Idempotency, write, write_created};

/// The roles that may see tasks.
const TASK_READERS: &[Role] = &[Role::Admin, Role::Reader, Role::Daemon];
/// The roles that may enqueue, retry and cancel tasks.
const TASK_WRITERS: &[Role] = &[Role::Admin, Role::Daemon];

/// A task.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Task {
    /// Its id.
    pub id: i64,
    /// The site whose daemons run it.
    pub site: String,
    /// The executor action.
    pub kind: String,
    /// Its arguments.
    pub payload: serde_json::Value,
    /// waiting, queued, running, succeeded, dead or cancelled.
    pub state: String,
    /// Smaller runs first.
    pub priority: i32,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// Claims so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Unique among unfinished tasks.
    pub dedupe_key: Option<String>,
    /// Tasks sharing a lane run one at a time, in order.
    pub lane: Option<String>,
    /// Tasks that must succeed first.
    pub depends_on: Option<Vec<i64>>,
    /// Dependencies not yet succeeded.
    pub pending_dependencies: i32,
    /// The last worker to claim it.
    pub worker_id: Option<Uuid>,
    /// While running: when its lease ends.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Latest claim.
    pub started_at: Option<DateTime<Utc>>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its executor's result, on success.
    pub result: Option<serde_json::Value>,
    /// The latest error.
    pub last_error: Option<String>,
}

impl From<TaskRecord> for Task {
    fn from(task: TaskRecord) -> Self {
        Self {
            id: task.id,
            site: task.site,
            kind: task.kind,
            payload: task.payload,
            state: task.state,
            priority: task.priority,
            run_at: task.run_at,
            attempts: task.attempts,
            max_attempts: task.max_attempts,
            dedupe_key: task.dedupe_key,
            lane: task.lane,
            depends_on: task.depends_on,
            pending_dependencies: task.pending_dependencies,
            worker_id: task.worker_id,
            lease_expires_at: task.lease_expires_at,
            started_at: task.started_at,
            created_at: task.created_at,
            finished_at: task.finished_at,
            result: task.result,
            last_error: task.last_error,
        }
    }
}

/// One attempt at a task.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// Its number, from 1.
    pub attempt: i32,
    /// The worker that ran it.
    pub worker_id: Option<Uuid>,
    /// Claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// running, succeeded, failed, lease_expired or released.
    pub outcome: String,
    /// What went wrong.
    pub error: Option<String>,
}

impl From<AttemptRecord> for Attempt {
    fn from(attempt: AttemptRecord) -> Self {
        Self {
            attempt: attempt.attempt,
            worker_id: attempt.worker_id,
            started_at: attempt.started_at,
            finished_at: attempt.finished_at,
            outcome: attempt.outcome,
            error: attempt.error,
        }
    }
}

/// A task with its attempts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskWithAttempts {
    /// The task.
    pub task: Task,
    /// Its attempts, oldest first.
    pub attempts: Vec<Attempt>,
}

/// A task to enqueue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskRequest {
    /// The site whose daemons run it (a daemon may enqueue only for its own).
    #[schema(value_type = SiteName)]
    pub site: String,
    /// The executor action: dotted lower-case words.
    #[schema(value_type = TaskKind)]
    pub kind: String,
    /// Its arguments, a JSON object.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Smaller runs first (default 0).
    #[serde(default)]
    #[schema(minimum = -32768, maximum = 32767)]
    pub priority: i32,
    /// Not before (default now).
    pub run_at: Option<DateTime<Utc>>,
    /// Attempts before it is dead (default 10).
    #[schema(minimum = 1)]
    pub max_attempts: Option<i32>,
    /// Unique among the site's unfinished tasks: enqueueing the same key again for the same
    /// site returns the same task.
    #[schema(value_type = Option<Name>)]
    pub dedupe_key: Option<String>,
    /// The site's tasks sharing a lane run one at a time, in order.
    #[schema(value_type = Option<Name>)]
    pub lane: Option<String>,
    /// Tasks of the same site that must succeed first.
    #[serde(default)]
    pub depends_on: Vec<i64>,
}

impl Checked for NewTaskRequest {}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Which tasks to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListFilter {
    /// Only this site's (a daemon sees only its own).
    pub site: Option<String>,
    /// Only in this state.
    #[param(value_type = Option<rules::TaskState>, inline)]
    pub state: Option<String>,
    /// Only of this kind.
    pub kind: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Option<u32>,
}

/// A task's state after a retry or cancel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskState {
    /// The task.
    pub id: i64,
    /// Its state now.
    pub state: String,
}

/// The task routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, enqueue_task))
        .routes(routes!(get_task))
        .routes(routes!(retry_task))
        .routes(routes!(cancel_task))
}

/// Refuses a daemon acting on another site's tasks.
fn require_site(caller: &Caller, site: &str) -> Result<(), ApiError> {
    match caller.site_limit() {
        Some(own) if own != site => Err(ApiError::Forbidden(format!(
            "a daemon of site {own} may not act on site {site}'s tasks"
        ))),
        _ => Ok(()),
    }
}

/// What `queue.enqueue` refused about `depends_on` (a task that is not one of the site's,
/// said the same whether it is another site's or missing) as a 422 naming the field; any
/// other error as every route maps it.
fn refused_dependency(error: DbError) -> ApiError {
    if let DbError::Statement { error: pg, .. } = &error
        && let Some(db) = pg.as_db_error()
        && *db.code() == SqlState::FOREIGN_KEY_VIOLATION
        && let Some(Refusal::Raised { message, .. }) = refusal(db)
    {
        tracing::debug!(error = %error, "queue.enqueue refused a dependency");
        return ApiError::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            errors: vec![FieldError {
                pointer: "/depends_on".to_string(),
                detail: message,
            }],
        };
    }
    error.into()
}

/// The task, if the caller may see it: 404 for another site's task shown to a daemon.
async fn visible_task(
    client: &impl GenericClient,
    caller: &Caller,
    id: i64,
) -> Result<TaskRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("there is no task {id} that you may see"));
    let task = queue::get(client, id).await?.ok_or_else(not_found)?;
    match caller.site_limit() {
        Some(own) if own != task.site => Err(not_found()),
        _ => Ok(task),
    }
}

/// Lists tasks, newest first.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(TaskListFilter),
    responses((status = 200, body = Page<Task>), Problems))]
async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
    Params(filter): Params<TaskListFilter>,
) -> Result<axum::Json<Page<Task>>, ApiError> {
    caller.allow(TASK_READERS)?;
    let limit = page::limit(filter.limit);
    let site = match (caller.site_limit(), filter.site) {
        (Some(own), Some(asked)) => {
            require_site(&caller, &asked)?;
            Some(own.to_string())
        }
        (Some(own), None) => Some(own.to_string()),
        (None, asked) => asked,
    };
    let client = state.connection().await?;
    let rows = queue::list(
        &*client,
        &TaskFilter {
            site,
            state: filter.state,
            kind: filter.kind,
            before_id: page::decode(filter.cursor.as_deref())?,
            limit: page::fetch_count(limit),
        },
    )
    .await?;
    let tasks: Vec<Task> = rows.into_iter().map(Task::from).collect();
    Ok(axum::Json(page::page(tasks, limit, |task| task.id)?))
}

/// Shows a task and its attempts.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, body = TaskWithAttempts), Problems))]
async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<i64>,
) -> Result<axum::Json<TaskWithAttempts>, ApiError> {
    caller.allow(TASK_READERS)?;
    let client = state.connection().await?;
    let task = visible_task(&*client, &caller, id).await?;
    let attempts = queue::attempts(&*client, id).await?;
    Ok(axum::Json(TaskWithAttempts {
        task: task.into(),
        attempts: attempts.into_iter().map(Attempt::from).collect(),
    }))
}

/// Enqueues a task (admin, or a daemon for its own site).
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", request_body = NewTaskRequest,
    params(IdempotencyHeader), responses((status = 201, body = Task), Problems))]
async fn enqueue_task(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Body(new): Body<NewTaskRequest>,
) -> Result<Response, ApiError> {
    caller.allow(TASK_WRITERS)?;
    require_site(&caller, &new.site)?;
    let task = NewTask {
        site: new.site.clone(),
        kind: new.kind.clone(),
        payload: new.payload.clone(),
        priority: new.priority,
        run_at: new.run_at,
        max_attempts: new.max_attempts,
        dedupe_key: new.dedupe_key.clone(),
        lane: new.lane.clone(),
        depends_on: new.depends_on.clone(),
    };
    write_created(
        &state,
        &caller,
        &idempotency,
        &new,
        |task: &Task| format!("/v1/tasks/{}", task.id),
        async |tx| {
            let id = queue::enqueue(tx, &task)
                .await
                .map_err(refused_dependency)?;
            visible_task(tx, &caller, id).await.map(Task::from)
        },
    )
    .await
}

/// What an operator does to a task.
#[derive(Debug, Clone, Copy)]
enum Transition {
    Retry,
    Cancel,
}

/// Retries or cancels a task the caller may see, and answers with its new state.
async fn transition(
    state: &AppState,
    caller: &Caller,
    idempotency: &Idempotency,
    id: i64,
    transition: Transition,
) -> Result<Response, ApiError> {
    write(
        state,
        caller,
        idempotency,
        &id,
        StatusCode::OK,
        async |tx| {
            visible_task(tx, caller, id).await?;
            let state = match transition {
                Transition::Retry => queue::retry(tx, id).await?,
                Transition::Cancel => queue::cancel(tx, id).await?,
            };
            Ok(TaskState { id, state })
        },
    )
    .await
}

/// Runs a dead, cancelled or delayed task again now (admin, or its site's daemon).
#[utoipa::path(post, path = "/v1/tasks/{id}/retry", tag = "tasks",
    params(("id" = i64, Path, description = "Task id"), IdempotencyHeader),
    responses((status = 200, body = TaskState), Problems))]
async fn retry_task(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<i64>,
) -> Result<Response, ApiError> {
    caller.allow(TASK_WRITERS)?;
    transition(&state, &caller, &idempotency, id, Transition::Retry).await
}

/// Cancels a task and the tasks waiting on it (admin, or its site's daemon).
#[utoipa::path(post, path = "/v1/tasks/{id}/cancel", tag = "tasks",
    params(("id" = i64, Path, description = "Task id"), IdempotencyHeader),
    responses((status = 200, body = TaskState), Problems))]
async fn cancel_task(
    State(state): State<AppState>,
    caller: Caller,
    idempotency: Idempotency,
    Id(id): Id<i64>,
) -> Result<Response, ApiError> {
    caller.allow(TASK_WRITERS)?;
    transition(&state, &caller, &idempotency, id, Transition::Cancel).await
}
