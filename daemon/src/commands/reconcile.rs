//! `purser reconcile --site NAME [--connector NAME] [--dry-run] [--json] [--allow-mass-delete]`:
//! the plan of a site, what its daemon would do on its next full pass, made now. Every subject
//! whose desired state (`provision.desired`) differs from what its connector last observed
//! (`provision.observed`) gets an action, with from → to and why; without `--dry-run` the
//! actions are enqueued as the connector's tasks (`provision.reconcile`). A plan that would
//! delete more than the site's threshold applies nothing, says why and exits 1;
//! `--allow-mass-delete` applies it.
//!
//! With `--config`, the site's connectors are registered from its `[sites.NAME]` first, as its
//! daemon does at start.

use anyhow::{Context, bail};
use purser_sql::DbPool;
use purser_sql::provision::{self, Outcome, PlanRequest, PlannedAction};
use purser_sql::queue::Clock;
use serde_json::{Value, json};

use crate::config::Config;
use crate::reconcile as reconciler;

/// Options of `purser reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// The site to plan: a cluster's name, or a `[sites.NAME]` of the config file.
    #[arg(long)]
    site: String,
    /// Only this connector of the site (default: each of them).
    #[arg(long)]
    connector: Option<String>,
    /// Print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON: one object per connector, with its actions.
    #[arg(long)]
    json: bool,
    /// Apply a plan that deletes more than the site's threshold (mass_delete_percent).
    #[arg(long)]
    allow_mass_delete: bool,
}

/// Plans the site, prints the plan, and (unless a dry run) enqueues it.
pub async fn run(config: &Config, pool: &DbPool, args: ReconcileArgs) -> anyhow::Result<()> {
    config.ensure_known_site(pool, &args.site).await?;
    if let Some(site) = config.sites.get(&args.site)
        && !args.dry_run
    {
        reconciler::register(
            &site.reconciler_config(&args.site, &config.database_url),
            pool,
        )
        .await?;
    }
    let mut client = pool.connection().await.context("cannot plan the site")?;
    let registered = provision::connectors(&client, Some(&args.site))
        .await
        .context("cannot read the site's connectors")?;
    if registered.is_empty() {
        bail!(
            "site {} has no connector: configure one in [sites.{}] (docs/reconciler.md) and start its daemon, or pass that --config here",
            args.site,
            args.site
        );
    }
    let chosen: Vec<_> = registered
        .iter()
        .filter(|k| {
            args.connector
                .as_deref()
                .is_none_or(|wanted| k.connector == wanted)
        })
        .collect();
    if chosen.is_empty() {
        bail!(
            "site {} has no connector {:?} (it has: {})",
            args.site,
            args.connector.as_deref().unwrap_or_default(),
            registered
                .iter()
                .map(|k| k.connector.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut refused = Vec::new();
    for connector in chosen {
        let actions = provision::reconcile(
            &mut client,
            &PlanRequest {
                site: &args.site,
                connector: &connector.connector,
                scopes: None,
                allow_mass_delete: args.allow_mass_delete,
                dry_run: args.dry_run,
            },
            &Clock::Database,
        )
        .await
        .with_context(|| {
            format!(
                "cannot plan connector {} of site {}",
                connector.connector, args.site
            )
        })?;
        if let Some(reason) = provision::refusal(&actions) {
            refused.push(reason.to_string());
        }
        if args.json {
            println!(
                "{}",
                json!({"site": args.site, "connector": connector.connector, "dry_run": args.dry_run, "actions": actions})
            );
        } else {
            print_plan(&args, &connector.connector, &actions);
        }
    }
    // A refused plan is an error: a script running this must not take it for done.
    if let Some(reason) = refused.first() {
        bail!("{reason}");
    }
    Ok(())
}

fn print_plan(args: &ReconcileArgs, connector: &str, actions: &[PlannedAction]) {
    let verb = if args.dry_run {
        "would enqueue"
    } else {
        "enqueued"
    };
    let count = |outcome: Outcome| actions.iter().filter(|a| a.outcome == outcome).count();
    if actions.is_empty() {
        println!(
            "site {}, connector {connector}: nothing to do (desired and observed state agree)",
            args.site
        );
        return;
    }
    let would = if args.dry_run {
        count(Outcome::WouldEnqueue)
    } else {
        count(Outcome::Enqueued)
    };
    println!(
        "site {}, connector {connector}: {} subject(s) differ; {verb} {would}",
        args.site,
        actions.len()
    );
    for action in actions {
        let task = match action.task_id {
            Some(id) => format!("  task {id}"),
            None => String::new(),
        };
        println!(
            "  {:<8} {}  {} → {}{task}",
            action.action,
            action.subject,
            brief(action.from.as_ref()),
            brief(action.to.as_ref()),
        );
        println!("           why: {}", reasons(&action.why));
        if let Some(note) = &action.note {
            println!("           {note}");
        }
    }
}

/// A state in one line: its keys and values, or "nothing".
fn brief(state: Option<&Value>) -> String {
    match state {
        None | Some(Value::Null) => "nothing".to_string(),
        Some(state) => state.to_string(),
    }
}

/// The conditions that decided it: the verdict and each condition that does not hold.
fn reasons(why: &Value) -> String {
    let access = why
        .get("access")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let failing: Vec<&str> = why
        .as_object()
        .map(|conditions| {
            conditions
                .iter()
                .filter(|(_, held)| **held == Value::Bool(false))
                .map(|(condition, _)| condition.as_str())
                .collect()
        })
        .unwrap_or_default();
    let note = why.get("note").and_then(Value::as_str);
    match (failing.is_empty(), note) {
        (_, Some(note)) => format!("{access}: {note}"),
        (true, None) => access.to_string(),
        (false, None) => format!("{access}: not {}", failing.join(", not ")),
    }
}
