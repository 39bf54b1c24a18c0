//! `purser demo`: Purser's main job, end to end, on this machine. It loads the demo centre into
//! a fresh database (on the private PostgreSQL unless one is configured), starts the REST API
//! and a daemon per demo site in this process, and walks a real story through the API over
//! HTTP: a PI asks for more SUs and an admin approves; an admin gives a new member an account
//! and the PI adds her with a cap; the daemons run the tasks this implies through the example
//! site scripts; usage is imported from a sample sacct file. It ends with the balances, the
//! access decisions and the task outcomes, in a fixed order with SU amounts written one way, so
//! two runs print the same story but for ids and the API's port; then the commands to explore
//! the database it leaves, naming this very binary so they work as printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use purser_sql::DbPool;
use purser_sql::auth::{NewToken, create_token, person_by_email};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::commands::GlobalOptions;
use crate::commands::{api, daemon, dev_db};
use crate::config::{self, Config, FileConfig};
use crate::engine::metrics::Metrics;
use crate::usage_import::{self, Format};

/// The database the demo makes afresh on the private PostgreSQL.
const DEMO_DATABASE: &str = "purser_demo";
/// The demo centre's sites, one per cluster.
const SITES: [&str; 2] = ["expanse", "delta"];
/// How long the demo waits for its tasks before it gives up.
const TASK_DEADLINE: Duration = Duration::from_secs(60);

/// Options of `purser demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the example site scripts, site configuration (purser.toml) and sample sacct file
    /// are.
    #[arg(long, value_name = "DIR", default_value = "deployments/examples")]
    examples: PathBuf,
}

/// Runs the demo.
pub async fn run(global: &GlobalOptions, args: DemoArgs) -> anyhow::Result<()> {
    let config_file = global
        .config
        .clone()
        .unwrap_or_else(|| args.examples.join("purser.toml"));
    let configured_url = match &global.database_url {
        Some(url) => Some(url.clone()),
        None => FileConfig::read(&config_file)?.database_url,
    };
    let database_url = match configured_url {
        Some(url) => url,
        None => {
            say(&format!(
                "Starting the private PostgreSQL, with a fresh database {DEMO_DATABASE}"
            ));
            dev_db::fresh_database(DEMO_DATABASE).await?
        }
    };
    let config = config::resolve(Some(&config_file), Some(&database_url))?;
    let pool = purser_sql::connect_pool(&config.database_url, config.database_pool_size)
        .context("cannot use the database")?;

    say("Migrating the schema and loading the demo centre");
    purser_sql::migrations::apply(&pool).await?;
    let client = pool.connection().await?;
    purser_sql::seed::demo_centre(&client)
        .await
        .context("cannot load the demo centre: the demo needs a database without it")?;
    let admin_token = token(&pool, "demo admin", "admin", None).await?;
    let ada = person_by_email(&client, "ada@esu.example")
        .await?
        .context("the demo centre has no Ada")?;
    let pi_token = token(&pool, "demo PI (Ada Lovelace)", "pi", Some(ada)).await?;
    drop(client);

    let shutdown = CancellationToken::new();
    let mut services = JoinSet::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on loopback")?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = api::state(&config).await?;
    let stop_api = shutdown.clone();
    services.spawn(async move {
        purser_api::serve(listener, state, stop_api.cancelled_owned())
            .await
            .context("the API failed")
    });
    for site in SITES {
        start_daemon(&config, &pool, site, &shutdown, &mut services)?;
    }
    say(&format!(
        "The API serves {base}; daemons run for sites {}",
        SITES.join(" and ")
    ));

    let story = story(&base, &admin_token, &pi_token, &pool, &args).await;
    shutdown.cancel();
    while let Some(finished) = services.join_next().await {
        finished.context("a demo service panicked")??;
    }
    story?;
    let purser = std::env::current_exe().context("cannot tell where this binary is")?;
    say("Done. The demo centre stays in its database; explore it with");
    for command in explore_commands(&purser, &config.database_url) {
        println!("    {command}");
    }
    Ok(())
}

/// The commands that explore the demo's database: psql, and the API with an admin token, each
/// naming `purser` by its path (it is not on PATH after a build) and the database by its URL.
fn explore_commands(purser: &Path, database_url: &str) -> [String; 3] {
    let purser = purser.display();
    [
        format!("psql '{database_url}'"),
        format!("{purser} token create --name me --role admin --database-url '{database_url}'"),
        format!("{purser} api --listen 127.0.0.1:8080 --database-url '{database_url}'"),
    ]
}

/// Makes a token for the demo's callers.
async fn token(
    pool: &DbPool,
    name: &str,
    role: &str,
    person: Option<uuid::Uuid>,
) -> anyhow::Result<String> {
    let client = pool.connection().await?;
    let (_, secret) = create_token(
        &client,
        &NewToken {
            name: name.to_string(),
            role: role.to_string(),
            person_id: person,
            site: None,
            expires_at: Utc::now() + chrono::Duration::hours(1),
        },
    )
    .await?;
    Ok(secret)
}

/// Starts one site's daemon in this process, with the executors its configuration names.
fn start_daemon(
    config: &Config,
    pool: &DbPool,
    site: &str,
    shutdown: &CancellationToken,
    services: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let site_config = config.sites.get(site).cloned().unwrap_or_default();
    let mut site_daemon = daemon::SiteDaemon::new(site, &site_config, &config.database_url, pool)?;
    site_daemon.engine.poll_interval = Duration::from_millis(200);
    site_daemon.reconciler.poll_interval = Duration::from_millis(200);
    let metrics = Arc::new(Metrics::new(site));
    services.spawn(site_daemon.run(pool.clone(), metrics, shutdown.clone()));
    Ok(())
}

/// A caller of the API.
struct Caller<'a> {
    base: &'a str,
    token: &'a str,
    http: reqwest::Client,
}

impl Caller<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{method} {path}: not JSON"))?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {}", body["detail"]);
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// The story, through the API.
async fn story(
    base: &str,
    admin_token: &str,
    pi_token: &str,
    pool: &DbPool,
    args: &DemoArgs,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let admin = Caller {
        base,
        token: admin_token,
        http: http.clone(),
    };
    let pi = Caller {
        base,
        token: pi_token,
        http,
    };

    let allocations = pi.get("/v1/allocations").await?;
    let che = find(&allocations["items"], "account_name", "che260001")?;
    let che_id = text(&che["id"])?;
    say("Ada, PI of CHE260001, asks for 10,000 more SUs on expanse (POST /v1/change-requests)");
    let request = pi
        .post(
            "/v1/change-requests",
            json!({"allocation_id": che_id, "kind": "supplement", "requested_su": "10000",
                   "justification": "The folding runs need a second campaign."}),
        )
        .await?;
    let request_id = text(&request["id"])?;
    println!(
        "    change request {request_id} is {}",
        text(&request["state"])?
    );

    say("An admin approves it (POST /v1/change-requests/{id}/approve)");
    let decided = admin
        .post(
            &format!("/v1/change-requests/{request_id}/approve"),
            json!({"comment": "Approved by the allocations committee."}),
        )
        .await?;
    let mut tasks = ids(&decided["task_ids"]);
    println!(
        "    {}: diff {} written, task {:?} enqueued for expanse",
        text(&decided["change_request"]["state"])?,
        text(&decided["diff_id"])?,
        tasks
    );

    let barbara = admin.get("/v1/people?email=barbara@cit.example").await?;
    let barbara_id = text(&barbara["items"][0]["id"])?;
    let expanse = admin.get("/v1/clusters?name=expanse").await?;
    let expanse_id = text(&expanse["items"][0]["id"])?;
    say(
        "An admin gives Barbara Liskov an account on expanse (POST /v1/people/{id}/cluster-accounts)",
    );
    admin
        .post(
            &format!("/v1/people/{barbara_id}/cluster-accounts"),
            json!({"cluster_id": expanse_id, "username": "barbara", "uid": 10006}),
        )
        .await?;
    say("Ada adds Barbara to CHE260001 with a cap of 1,000 SUs (POST /v1/memberships)");
    let added = pi
        .post(
            "/v1/memberships",
            json!({"allocation_id": che_id, "person_id": barbara_id, "cap_su": "1000"}),
        )
        .await?;
    let membership_id = text(&added["membership"]["id"])?;
    let added_tasks = ids(&added["task_ids"]);
    println!("    membership {membership_id}, task {added_tasks:?} enqueued for expanse");
    tasks.extend(added_tasks);

    say("The expanse daemon runs them through the example site scripts");
    wait_for_tasks(&admin, &tasks).await?;
    for id in &tasks {
        let task = admin.get(&format!("/v1/tasks/{id}")).await?;
        let applied: Vec<&str> = task["task"]["result"]["applied"]
            .as_array()
            .map(|applied| {
                applied
                    .iter()
                    .filter_map(|change| change["subject"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "    task {id} {} on {}: {} after {} attempt(s), applied {}",
            text(&task["task"]["kind"])?,
            text(&task["task"]["site"])?,
            text(&task["task"]["state"])?,
            task["task"]["attempts"],
            applied.join(", ")
        );
    }

    let sacct = args.examples.join("sacct-expanse.txt");
    say(&format!(
        "Importing expanse's usage from {} (purser usage import)",
        sacct.display()
    ));
    let summary = usage_import::import(pool, "expanse", &sacct, Format::Parsable2, |_| {}).await?;
    println!(
        "    {} records: {} charges, {} rejected (see registry.usage_rejection)",
        summary.records, summary.charged, summary.rejected
    );

    say("Balances (GET /v1/allocations/{id}/balance)");
    println!(
        "    {:<12} {:>12} {:>12} {:>12} {:>12}",
        "account", "initial", "granted", "charged", "balance"
    );
    let everything = admin.get("/v1/allocations").await?;
    let mut allocations = array(&everything["items"])?.clone();
    allocations.sort_by(|a, b| a["account_name"].as_str().cmp(&b["account_name"].as_str()));
    for allocation in &allocations {
        let balance = admin
            .get(&format!(
                "/v1/allocations/{}/balance",
                text(&allocation["id"])?
            ))
            .await?;
        println!(
            "    {:<12} {:>12} {:>12} {:>12} {:>12}",
            text(&balance["account_name"])?,
            su(&balance["initial_su"])?,
            su(&balance["granted_su"])?,
            su(&balance["charged_su"])?,
            su(&balance["balance_su"])?
        );
    }
    let member = pi
        .get(&format!("/v1/memberships/{membership_id}/balance"))
        .await?;
    println!(
        "    Barbara on che260001: charged {} of her {} SU cap",
        su(&member["charged_su"])?,
        su(&member["cap_su"])?
    );

    say("Access decisions (GET /v1/access/explain)");
    let explained = admin.get("/v1/access/explain").await?;
    let mut rows = array(&explained["items"])?.clone();
    rows.sort_by_key(|row| {
        ["cluster_name", "account_name", "username"].map(|field| row[field].to_string())
    });
    for row in &rows {
        let verdict = if row["granted"] == json!(true) {
            "granted".to_string()
        } else {
            format!("denied: {}", denial(row))
        };
        println!(
            "    {:<10} {:<12} on {:<8} {}",
            row["username"].as_str().unwrap_or("(no account)"),
            text(&row["account_name"])?,
            text(&row["cluster_name"])?,
            verdict
        );
    }

    say("Task outcomes (GET /v1/tasks)");
    let all_tasks = admin.get("/v1/tasks").await?;
    let mut all_tasks = array(&all_tasks["items"])?.clone();
    all_tasks.sort_by_key(|task| task["id"].as_i64());
    for task in &all_tasks {
        println!(
            "    task {:<4} {:<16} {:<8} {}",
            task["id"],
            text(&task["kind"])?,
            text(&task["site"])?,
            text(&task["state"])?
        );
    }
    Ok(())
}

/// Waits until every task has succeeded; fails on one that died or at the deadline.
async fn wait_for_tasks(admin: &Caller<'_>, tasks: &[i64]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + TASK_DEADLINE;
    for id in tasks {
        loop {
            let task = admin.get(&format!("/v1/tasks/{id}")).await?;
            match task["task"]["state"].as_str() {
                Some("succeeded") => break,
                Some(state @ ("dead" | "cancelled")) => {
                    bail!("task {id} is {state}: {}", task["task"]["last_error"])
                }
                _ if tokio::time::Instant::now() > deadline => {
                    bail!("task {id} did not finish within {TASK_DEADLINE:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    Ok(())
}

/// The conditions an access explanation fails.
fn denial(row: &Value) -> String {
    [
        "person_active",
        "project_active",
        "allocation_active",
        "allocation_in_window",
        "membership_active",
        "membership_in_window",
        "balance_positive",
        "under_cap",
    ]
    .into_iter()
    .filter(|condition| row[*condition] != json!(true))
    .map(|condition| format!("not {}", condition.replace('_', " ")))
    .collect::<Vec<_>>()
    .join(", ")
}

fn say(line: &str) {
    println!("==> {line}");
}

fn text(value: &Value) -> anyhow::Result<&str> {
    value
        .as_str()
        .with_context(|| format!("expected text, got {value}"))
}

/// An SU amount (a decimal string) written one way: exact, without trailing zeros.
fn su(value: &Value) -> anyhow::Result<String> {
    let amount: Decimal = text(value)?
        .parse()
        .with_context(|| format!("expected an SU amount, got {value}"))?;
    Ok(amount.normalize().to_string())
}

fn array(value: &Value) -> anyhow::Result<&Vec<Value>> {
    value
        .as_array()
        .with_context(|| format!("expected a list, got {value}"))
}

fn ids(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn find<'a>(items: &'a Value, field: &str, wanted: &str) -> anyhow::Result<&'a Value> {
    array(items)?
        .iter()
        .find(|item| item[field] == json!(wanted))
        .with_context(|| format!("no item with {field} {wanted}"))
}
