//! The daemon's Prometheus metrics, and the `/metrics` endpoint that serves them.
//!
//! Counters and histograms are updated as tasks move; queue depth by state and kind is read
//! from the database at each scrape, so it is true for every daemon, not just this one.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use purser_sql::DbPool;
use purser_sql::queue::{self, Clock};
use tokio_util::sync::CancellationToken;

/// Labels of per-kind series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The task kind.
    pub kind: String,
}

/// Labels of outcome series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The task kind.
    pub kind: String,
    /// succeeded, retrying, dead, fenced_out, lease_lost or released.
    pub outcome: &'static str,
}

/// Labels of queue depth series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DepthLabels {
    /// The site.
    pub site: String,
    /// The task kind.
    pub kind: String,
    /// The task state.
    pub state: String,
}

fn duration_histogram() -> Histogram {
    // 100 µs to ~100 s.
    Histogram::new(exponential_buckets(0.0001, 4.0, 11))
}

/// Every metric the engine updates.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Tasks claimed.
    pub claimed: Counter,
    /// Task outcomes, by kind.
    pub outcomes: Family<OutcomeLabels, Counter>,
    /// Executor run time, by kind.
    pub durations: Family<KindLabels, Histogram, fn() -> Histogram>,
    /// Leases this worker lost while running a task.
    pub lease_losses: Counter,
    /// Tasks this worker is running now.
    pub running: Gauge,
    /// Tasks in the queue, by site, kind and state (refreshed at each scrape).
    depth: Family<DepthLabels, Gauge>,
}

impl Metrics {
    /// A fresh set of metrics, labelled with the daemon's site.
    pub fn new(site: &str) -> Self {
        let mut registry = Registry::with_prefix("purser");
        let claimed = Counter::default();
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        let durations = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let lease_losses = Counter::default();
        let running = Gauge::default();
        let depth = Family::<DepthLabels, Gauge>::default();
        registry.register(
            "queue_tasks",
            "Tasks in the queue by site, kind and state",
            depth.clone(),
        );
        // This daemon's own series carry its site.
        let own = registry.sub_registry_with_label(("site".into(), site.to_string().into()));
        own.register(
            "tasks_claimed",
            "Tasks claimed by this daemon",
            claimed.clone(),
        );
        own.register(
            "task_outcomes",
            "Task outcomes recorded by this daemon",
            outcomes.clone(),
        );
        own.register(
            "task_duration_seconds",
            "Executor run time",
            durations.clone(),
        );
        own.register(
            "lease_losses",
            "Leases lost while a task was running",
            lease_losses.clone(),
        );
        own.register(
            "tasks_running",
            "Tasks this daemon is running",
            running.clone(),
        );
        Self {
            registry,
            claimed,
            outcomes,
            durations,
            lease_losses,
            running,
            depth,
        }
    }

    /// Counts one outcome.
    pub fn outcome(&self, kind: &str, outcome: &'static str) {
        self.outcomes
            .get_or_create(&OutcomeLabels {
                kind: kind.to_string(),
                outcome,
            })
            .inc();
    }

    /// Reads queue depth from the database, then renders everything in the text format.
    pub async fn render(&self, pool: &DbPool) -> Result<String, purser_sql::DbError> {
        let client = pool.connection().await?;
        let counts = queue::stats(&client, &Clock::Database).await?;
        self.depth.clear();
        for count in counts {
            self.depth
                .get_or_create(&DepthLabels {
                    site: count.site,
                    kind: count.kind,
                    state: count.state,
                })
                .set(count.tasks);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        Ok(text)
    }
}

/// Serves `GET /metrics` on `address` until `shutdown`.
pub async fn serve(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    pool: DbPool,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(address = %listener.local_addr()?, "serving metrics");
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state((metrics, pool));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn scrape(State((metrics, pool)): State<(Arc<Metrics>, DbPool)>) -> impl IntoResponse {
    match metrics.render(&pool).await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        ),
        Err(error) => {
            tracing::warn!(%error, "metrics scrape could not read the queue");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("cannot read the queue: {error}\n"),
            )
        }
    }
}
