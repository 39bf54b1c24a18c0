//! `purser task`: enqueue, inspect, retry and cancel tasks from the command line. The same
//! operations are plain SQL (`queue.enqueue`, `queue.retry`, `queue.cancel`, `queue.task`,
//! `queue.task_history`) for scripts.

use anyhow::Context;
use chrono::{DateTime, Utc};
use purser_sql::DbPool;
use purser_sql::queue::{self, Clock, NewTask, TaskFilter, TaskRecord};

use crate::config::Config;

/// Options of `purser task`.
#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    action: TaskAction,
}

/// Task states, for filters.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StateFilter {
    Waiting,
    Queued,
    Running,
    Succeeded,
    Dead,
    Cancelled,
}

/// Options of `purser task enqueue`: the arguments of `queue.enqueue`.
#[derive(Debug, clap::Args)]
struct EnqueueArgs {
    /// The site whose daemons run it: a cluster's name, or a `[sites.NAME]` of the config file.
    #[arg(long)]
    site: String,
    /// The executor action, e.g. slurm.account.ensure.
    #[arg(long)]
    kind: String,
    /// Its arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    payload: String,
    /// Smaller runs first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    priority: i32,
    /// Not before this time (RFC 3339, e.g. 2026-12-01T09:00:00Z).
    #[arg(long)]
    run_at: Option<DateTime<Utc>>,
    /// Attempts before it is dead (default 10).
    #[arg(long)]
    max_attempts: Option<i32>,
    /// Unique among the site's unfinished tasks: enqueueing it again returns the existing task.
    #[arg(long)]
    dedupe_key: Option<String>,
    /// The site's tasks sharing a lane run one at a time, in order.
    #[arg(long)]
    lane: Option<String>,
    /// A task of the same site that must succeed first (repeat for several).
    #[arg(long = "depends-on", value_name = "ID")]
    depends_on: Vec<i64>,
}

impl EnqueueArgs {
    fn into_task(self) -> anyhow::Result<NewTask> {
        Ok(NewTask {
            payload: super::parse_payload(&self.payload)?,
            priority: self.priority,
            run_at: self.run_at,
            max_attempts: self.max_attempts,
            dedupe_key: self.dedupe_key,
            lane: self.lane,
            depends_on: self.depends_on,
            ..NewTask::new(self.site, self.kind)
        })
    }
}

#[derive(Debug, clap::Subcommand)]
enum TaskAction {
    /// Enqueue a task and print its id.
    Enqueue(EnqueueArgs),
    /// List tasks, newest first.
    List {
        /// Only this site.
        #[arg(long)]
        site: Option<String>,
        /// Only this state.
        #[arg(long, value_enum)]
        state: Option<StateFilter>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only tasks older than this id (the next page).
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON, one object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show a task and its attempt history.
    Show {
        /// The task id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a dead, cancelled or delayed task again now.
    Retry {
        /// The task id.
        id: i64,
    },
    /// Cancel an unfinished task and what waits on it.
    Cancel {
        /// The task id.
        id: i64,
    },
    /// Task counts by site, kind and state.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `task` action.
pub async fn run(config: &Config, pool: &DbPool, args: TaskArgs) -> anyhow::Result<()> {
    let client = pool.connection().await?;
    match args.action {
        TaskAction::Enqueue(args) => {
            config.ensure_known_site(pool, &args.site).await?;
            println!("{}", queue::enqueue(&client, &args.into_task()?).await?)
        }
        TaskAction::List {
            site,
            state,
            kind,
            before,
            limit,
            json,
        } => {
            let filter = TaskFilter {
                site,
                state: state.map(|state| format!("{state:?}").to_lowercase()),
                kind,
                before_id: before,
                limit,
            };
            let tasks = queue::list(&client, &filter).await?;
            if json {
                for task in &tasks {
                    println!("{}", serde_json::to_string(task)?);
                }
            } else {
                print_table(&tasks);
            }
        }
        TaskAction::Show { id, json } => {
            let task = queue::get(&client, id)
                .await?
                .with_context(|| format!("task {id} does not exist"))?;
            let attempts = queue::attempts(&client, id).await?;
            if json {
                let mut value = serde_json::to_value(&task)?;
                value["attempt_history"] = serde_json::to_value(&attempts)?;
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print_task(&task);
                println!("attempts:");
                if attempts.is_empty() {
                    println!("  (none yet)");
                }
                for attempt in attempts {
                    println!(
                        "  #{} {} worker={} started={} finished={}{}",
                        attempt.attempt,
                        attempt.outcome,
                        optional(attempt.worker_id),
                        optional(attempt.started_at),
                        optional(attempt.finished_at),
                        attempt
                            .error
                            .map(|error| format!(" error: {error}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        TaskAction::Retry { id } => println!("task {id} is {}", queue::retry(&client, id).await?),
        TaskAction::Cancel { id } => println!("task {id} is {}", queue::cancel(&client, id).await?),
        TaskAction::Stats { json } => {
            let counts = queue::stats(&client, &Clock::Database).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&counts)?);
            } else {
                println!(
                    "{:<16} {:<32} {:<10} {:>10} {:>14}",
                    "SITE", "KIND", "STATE", "TASKS", "OLDEST READY"
                );
                for count in counts {
                    let oldest = count
                        .oldest_ready_seconds
                        .map(|seconds| format!("{seconds:.1}s"))
                        .unwrap_or_default();
                    println!(
                        "{:<16} {:<32} {:<10} {:>10} {:>14}",
                        count.site, count.kind, count.state, count.tasks, oldest
                    );
                }
            }
        }
    }
    Ok(())
}

fn optional(value: Option<impl std::fmt::Display>) -> String {
    value
        .map(|value| value.to_string())
        .unwrap_or_else(|| "-".to_string())
}

fn print_table(tasks: &[TaskRecord]) {
    println!(
        "{:>10} {:<16} {:<32} {:<10} {:>8} CREATED",
        "ID", "SITE", "KIND", "STATE", "ATTEMPTS"
    );
    for task in tasks {
        println!(
            "{:>10} {:<16} {:<32} {:<10} {:>8} {}",
            task.id,
            task.site,
            task.kind,
            task.state,
            format!("{}/{}", task.attempts, task.max_attempts),
            task.created_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
}

fn print_task(task: &TaskRecord) {
    println!(
        "task {} ({} on {}): {}",
        task.id, task.kind, task.site, task.state
    );
    println!("  payload:      {}", task.payload);
    println!("  priority:     {}", task.priority);
    println!("  run at:       {}", task.run_at);
    println!("  attempts:     {} of {}", task.attempts, task.max_attempts);
    println!("  created:      {}", task.created_at);
    println!("  finished:     {}", optional(task.finished_at));
    println!("  dedupe key:   {}", optional(task.dedupe_key.as_ref()));
    println!("  lane:         {}", optional(task.lane.as_ref()));
    if let Some(depends_on) = &task.depends_on {
        println!(
            "  depends on:   {depends_on:?} ({} not yet succeeded)",
            task.pending_dependencies
        );
    }
    println!("  worker:       {}", optional(task.worker_id));
    println!("  lease until:  {}", optional(task.lease_expires_at));
    println!("  result:       {}", optional(task.result.as_ref()));
    println!("  last error:   {}", optional(task.last_error.as_ref()));
}
