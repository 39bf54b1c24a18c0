//! `purser demo`: Purser's main job, end to end, on this machine. It loads the demo centre into
//! a fresh database (on the private PostgreSQL unless one is configured), starts the REST API
//! and a daemon per demo site in this process, and walks a real story through the API over
//! HTTP while the daemons' reconcilers keep the sites in step with the registry through the
//! example site programs of the script connector (`deployments/examples/hooks/script-apply`
//! and `script-observe`, which keep a make-believe Slurm in a directory of their own):
//!
//! 1. at start, the reconcilers create every account and association the registry wants;
//! 2. a PI's supplement is approved, and the account's awarded SUs follow;
//! 3. a member added before she has a cluster account waits (no association is wanted yet,
//!    nothing fails), and gets her association once an admin gives her the account;
//! 4. a week of jobs is charged (GPU hours dearer from July): a member over his cap is blocked
//!    at the site, and unblocked when the PI raises his cap;
//! 5. an allocation whose balance reaches zero is blocked, and unblocked by its supplement.
//!
//! After each step it waits, against a deadline, until the site's drift (`report.drift`) is
//! empty and what the connector observed (`provision.observed`) holds the new state, then
//! prints one line for it and the `sacctmgr` commands the example programs say a real site
//! would have run. It ends with the balances, the access decisions and the tasks by kind and
//! state, in a fixed order with SU amounts written one way, so two runs print the same story but
//! for ids and the API's port; then the commands to explore the database it leaves, naming this
//! very binary so they work as printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use purser_sql::DbPool;
use purser_sql::auth::{NewToken, create_token, person_by_email};
use purser_sql::provision;
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
/// How long the demo waits for a site to reach what the registry wants before it gives up.
const SETTLE_DEADLINE: Duration = Duration::from_secs(150);
/// How often it looks while it waits.
const SETTLE_POLL: Duration = Duration::from_millis(100);
/// The environment variable that tells the example site programs where their make-believe
/// Slurm is (`deployments/examples/hooks/script-apply`).
const EXAMPLE_STATE_VARIABLE: &str = "PURSER_EXAMPLE_STATE";

/// Options of `purser demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the example site programs, site configuration (purser.toml) and sample sacct file
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
    for site in SITES {
        if config
            .sites
            .get(site)
            .is_none_or(|settings| settings.script.is_none())
        {
            bail!(
                "{} has no [sites.{site}.script]: the demo's sites are kept in step by the reconciler's script connector",
                config_file.display()
            );
        }
    }
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

    // The example programs' make-believe Slurm, fresh for this run's fresh database.
    let site_state = std::env::temp_dir().join(format!("purser-demo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&site_state)
        .with_context(|| format!("cannot make {}", site_state.display()))?;

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
        start_daemon(&config, &pool, site, &site_state, &shutdown, &mut services)?;
    }
    say(&format!(
        "The API serves {base}; daemons run for sites {}, each reconciling through the example script connector",
        SITES.join(" and ")
    ));

    let sites = Sites {
        pool: &pool,
        logs: SITES
            .iter()
            .map(|site| SiteLog {
                site,
                path: site_state.join(format!("{site}.log")),
                printed: 0,
            })
            .collect(),
    };
    let story = story(&base, &admin_token, &pi_token, sites, &args).await;
    shutdown.cancel();
    while let Some(finished) = services.join_next().await {
        finished.context("a demo service panicked")??;
    }
    if let Err(error) = std::fs::remove_dir_all(&site_state) {
        tracing::warn!(directory = %site_state.display(), %error, "cannot remove the example sites' state");
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

/// Starts one site's daemon in this process, with the executors its configuration names, its
/// site programs told where this run's make-believe Slurm is.
fn start_daemon(
    config: &Config,
    pool: &DbPool,
    site: &str,
    site_state: &Path,
    shutdown: &CancellationToken,
    services: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let mut site_config = config.sites.get(site).cloned().unwrap_or_default();
    if let Some(script) = &mut site_config.script {
        let state = site_state.display().to_string();
        script
            .apply
            .env
            .insert(EXAMPLE_STATE_VARIABLE.to_string(), state.clone());
        if let Some(observe) = &mut script.observe {
            observe
                .env
                .insert(EXAMPLE_STATE_VARIABLE.to_string(), state);
        }
    }
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

    async fn patch(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// Every item of a list, page after page.
    async fn all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut page = self.get(path).await?;
        loop {
            items.extend(array(&page["items"])?.iter().cloned());
            let Some(cursor) = page["next_cursor"].as_str() else {
                return Ok(items);
            };
            page = self
                .get(&format!("{path}{separator}cursor={cursor}"))
                .await?;
        }
    }
}

/// The demo's sites as the reconciler sees them, and what their site programs said they ran.
struct Sites<'a> {
    pool: &'a DbPool,
    logs: Vec<SiteLog>,
}

/// The commands one site's example apply program logged (`SITE.log` in its state directory),
/// and how many of them the demo has printed.
struct SiteLog {
    site: &'static str,
    path: PathBuf,
    printed: usize,
}

/// What a step waits for a subject to be observed holding.
enum Expect {
    /// Observed with these keys at these values.
    Holds(Value),
    /// Not observed (and, for the demo's story, not wanted either).
    Absent,
}

impl Sites<'_> {
    /// Waits until every site's connectors are registered and its drift is empty: the
    /// reconcilers' first full plans have been carried out.
    async fn settle_all(&self, admin: &Caller<'_>) -> anyhow::Result<()> {
        for site in SITES {
            self.settle(admin, site, &[]).await?;
        }
        Ok(())
    }

    /// Waits until `site` has a connector, its drift (`report.drift`) is empty and each subject
    /// is observed (`provision.observed`) as expected; fails on a dead task or at the deadline.
    async fn settle(
        &self,
        admin: &Caller<'_>,
        site: &str,
        expected: &[(&str, Expect)],
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + SETTLE_DEADLINE;
        loop {
            let client = self.pool.connection().await?;
            let registered = !provision::connectors(&client, Some(site)).await?.is_empty();
            let drift = provision::drift(&client, site).await?;
            let subjects = provision::subjects(&client, site).await?;
            drop(client);
            let observed_as_expected = expected.iter().all(|(subject, expect)| {
                let observed = subjects
                    .iter()
                    .find(|candidate| candidate.subject == *subject)
                    .and_then(|found| found.observed.as_ref());
                match (expect, observed) {
                    (Expect::Holds(wanted), Some(state)) => json_contains(state, wanted),
                    (Expect::Holds(_), None) => false,
                    (Expect::Absent, observed) => observed.is_none(),
                }
            });
            if registered && drift.is_empty() && observed_as_expected {
                return Ok(());
            }
            let dead = admin.get("/v1/tasks?state=dead").await?;
            if let Some(task) = array(&dead["items"])?.first() {
                bail!(
                    "task {} ({} on {}) is dead: {}",
                    task["id"],
                    text(&task["kind"])?,
                    text(&task["site"])?,
                    task["last_error"]
                );
            }
            if tokio::time::Instant::now() > deadline {
                let drifted: Vec<String> = drift
                    .iter()
                    .map(|d| format!("{} {}", d.action, d.subject))
                    .collect();
                bail!(
                    "site {site} did not reach what the registry wants within {SETTLE_DEADLINE:?} (drift: {})",
                    if drifted.is_empty() {
                        "none".to_string()
                    } else {
                        drifted.join(", ")
                    }
                );
            }
            tokio::time::sleep(SETTLE_POLL).await;
        }
    }

    /// What the connectors of `site` observe it holding, counted by kind of subject.
    async fn observed_counts(&self, site: &str) -> anyhow::Result<BTreeMap<String, usize>> {
        let client = self.pool.connection().await?;
        let mut counts = BTreeMap::new();
        for subject in provision::subjects(&client, site).await? {
            if subject.observed.is_some() {
                let kind = subject.subject.split('/').next().unwrap_or_default();
                *counts.entry(kind.to_string()).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    /// Whether the registry derives `subject` for `site` (`provision.desired` has a row).
    async fn derived(&self, site: &str, subject: &str) -> anyhow::Result<bool> {
        let client = self.pool.connection().await?;
        Ok(provision::subjects(&client, site)
            .await?
            .iter()
            .any(|candidate| candidate.subject == subject && candidate.derived))
    }

    /// Prints the commands the sites' example programs logged since the last call, site by
    /// site.
    fn print_commands(&mut self) -> anyhow::Result<()> {
        for log in &mut self.logs {
            let logged = match std::fs::read_to_string(&log.path) {
                Ok(logged) => logged,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("cannot read {}", log.path.display()));
                }
            };
            let lines: Vec<&str> = logged.lines().collect();
            for line in lines.iter().skip(log.printed) {
                println!("      {} would run: {line}", log.site);
            }
            log.printed = lines.len();
        }
        Ok(())
    }
}

/// Whether `state` holds every key of `wanted` at the same value.
fn json_contains(state: &Value, wanted: &Value) -> bool {
    wanted.as_object().is_some_and(|wanted| {
        wanted
            .iter()
            .all(|(key, value)| state.get(key) == Some(value))
    })
}

/// The story, through the API.
async fn story(
    base: &str,
    admin_token: &str,
    pi_token: &str,
    mut sites: Sites<'_>,
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

    say("The reconcilers bring each site in step with the registry (report.drift empty)");
    sites.settle_all(&admin).await?;
    for site in SITES {
        let counts = sites.observed_counts(site).await?;
        println!(
            "    {site}: {} account(s) and {} association(s) created",
            counts.get("account").copied().unwrap_or(0),
            counts.get("association").copied().unwrap_or(0)
        );
    }
    sites.print_commands()?;

    let allocations = pi.get("/v1/allocations").await?;
    let che = find(&allocations["items"], "account_name", "che260001")?;
    let che_id = text(&che["id"])?.to_string();
    let bio = find(&allocations["items"], "account_name", "bio7")?;
    let bio_id = text(&bio["id"])?.to_string();
    say("Ada, PI of CHE260001, asks for 10,000 more SUs on expanse (POST /v1/change-requests)");
    let request = supplement(
        &pi,
        &che_id,
        "10000",
        "The folding runs need a second campaign.",
    )
    .await?;
    let request_id = text(&request["id"])?;
    println!(
        "    change request {request_id} is {}",
        text(&request["state"])?
    );
    say("An admin approves it (POST /v1/change-requests/{id}/approve)");
    let decided = approve(&admin, request_id).await?;
    println!(
        "    {}: diff {} written",
        text(&decided["change_request"]["state"])?,
        text(&decided["diff_id"])?
    );
    sites
        .settle(
            &admin,
            "expanse",
            &[(
                "account/che260001",
                Expect::Holds(json!({"awarded_su": "60000"})),
            )],
        )
        .await?;
    println!("    che260001 on expanse: updated (awarded_su 60000)");
    sites.print_commands()?;

    let barbara = admin.get("/v1/people?email=barbara@cit.example").await?;
    let barbara_id = text(&barbara["items"][0]["id"])?.to_string();
    let expanse = admin.get("/v1/clusters?name=expanse").await?;
    let expanse_id = text(&expanse["items"][0]["id"])?.to_string();
    say(
        "Ada adds Barbara Liskov to CHE260001 with a cap of 1,000 SUs, before Barbara has an account on expanse (POST /v1/memberships)",
    );
    let added = pi
        .post(
            "/v1/memberships",
            json!({"allocation_id": che_id, "person_id": barbara_id, "cap_su": "1000"}),
        )
        .await?;
    let barbara_membership = text(&added["id"])?.to_string();
    println!("    membership {barbara_membership}");
    sites
        .settle(
            &admin,
            "expanse",
            &[("association/che260001/barbara", Expect::Absent)],
        )
        .await?;
    let wanted = sites
        .derived("expanse", "association/che260001/barbara")
        .await?;
    println!(
        "    barbara on che260001: waits (no cluster account, so {} in provision.desired; no task failed)",
        if wanted {
            "an association"
        } else {
            "no association"
        }
    );
    sites.print_commands()?;

    say("An admin gives Barbara an account on expanse (POST /v1/people/{id}/cluster-accounts)");
    admin
        .post(
            &format!("/v1/people/{barbara_id}/cluster-accounts"),
            json!({"cluster_id": expanse_id, "username": "barbara", "uid": 10006}),
        )
        .await?;
    sites
        .settle(
            &admin,
            "expanse",
            &[(
                "association/che260001/barbara",
                Expect::Holds(json!({"status": "active", "cap_su": "1000"})),
            )],
        )
        .await?;
    println!("    barbara on che260001: created (cap_su 1000)");
    sites.print_commands()?;

    let sacct = args.examples.join("sacct-expanse.txt");
    say(&format!(
        "Importing a week of expanse's jobs from {} (purser usage import)",
        sacct.display()
    ));
    let summary =
        usage_import::import(sites.pool, "expanse", &sacct, Format::Parsable2, |_| {}).await?;
    println!(
        "    {} records: {} charges, {} rejected (see registry.usage_rejection)",
        summary.records, summary.charged, summary.rejected
    );
    sites
        .settle(
            &admin,
            "expanse",
            &[(
                "association/che260001/alan",
                Expect::Holds(json!({"status": "blocked"})),
            )],
        )
        .await?;
    let alan = explanation(&admin, "che260001", "alan").await?;
    println!(
        "    alan on che260001: blocked ({})",
        failed_conditions(&alan)
    );
    sites.print_commands()?;

    say("Ada raises Alan's cap to 10,000 SUs (PATCH /v1/memberships/{id})");
    let memberships = admin
        .all(&format!("/v1/memberships?allocation_id={che_id}"))
        .await?;
    let alan_person = text(&alan["person_id"])?;
    let alan_membership = memberships
        .iter()
        .find(|membership| membership["person_id"] == json!(alan_person))
        .context("Alan has no membership of che260001")?;
    pi.patch(
        &format!("/v1/memberships/{}", text(&alan_membership["id"])?),
        json!({"cap_su": "10000"}),
    )
    .await?;
    sites
        .settle(
            &admin,
            "expanse",
            &[(
                "association/che260001/alan",
                Expect::Holds(json!({"status": "active", "cap_su": "10000"})),
            )],
        )
        .await?;
    let alan = explanation(&admin, "che260001", "alan").await?;
    println!(
        "    alan on che260001: unblocked (under_cap {})",
        alan["under_cap"]
    );
    sites.print_commands()?;

    say(
        "An admin takes back the 5,000 SUs of bio7 on delta: its balance reaches zero (POST /v1/allocations/{id}/adjustments)",
    );
    admin
        .post(
            &format!("/v1/allocations/{bio_id}/adjustments"),
            json!({"su_delta": "-5000", "reason": "The course moved to next term."}),
        )
        .await?;
    let blocked_bio = [
        ("account/bio7", Expect::Holds(json!({"status": "blocked"}))),
        (
            "association/bio7/ada",
            Expect::Holds(json!({"status": "blocked"})),
        ),
        (
            "association/bio7/katherine",
            Expect::Holds(json!({"status": "blocked"})),
        ),
    ];
    sites.settle(&admin, "delta", &blocked_bio).await?;
    let bio_access = explanation(&admin, "bio7", "ada").await?;
    println!(
        "    bio7 on delta: blocked ({}), with its 2 associations",
        failed_conditions(&bio_access)
    );
    sites.print_commands()?;

    say("Ada asks for 2,000 SUs for BIO-7 and an admin approves them (POST /v1/change-requests)");
    let request = supplement(&pi, &bio_id, "2000", "The course runs again next term.").await?;
    approve(&admin, text(&request["id"])?).await?;
    let unblocked_bio = [
        (
            "account/bio7",
            Expect::Holds(json!({"status": "active", "awarded_su": "2000"})),
        ),
        (
            "association/bio7/ada",
            Expect::Holds(json!({"status": "active"})),
        ),
        (
            "association/bio7/katherine",
            Expect::Holds(json!({"status": "active"})),
        ),
    ];
    sites.settle(&admin, "delta", &unblocked_bio).await?;
    println!("    bio7 on delta: unblocked (awarded_su 2000), with its 2 associations");
    sites.print_commands()?;

    balances(&admin, &pi, &barbara_membership).await?;
    access_decisions(sites.pool).await?;
    task_summary(&admin).await
}

/// A PI's supplement request.
async fn supplement(
    pi: &Caller<'_>,
    allocation_id: &str,
    su: &str,
    justification: &str,
) -> anyhow::Result<Value> {
    pi.post(
        "/v1/change-requests",
        json!({"allocation_id": allocation_id, "kind": "supplement", "requested_su": su,
               "justification": justification}),
    )
    .await
}

/// An admin's approval of a change request.
async fn approve(admin: &Caller<'_>, request_id: &str) -> anyhow::Result<Value> {
    admin
        .post(
            &format!("/v1/change-requests/{request_id}/approve"),
            json!({"comment": "Approved by the allocations committee."}),
        )
        .await
}

/// The access explanation of one member of an account.
async fn explanation(admin: &Caller<'_>, account: &str, username: &str) -> anyhow::Result<Value> {
    admin
        .all("/v1/access/explain")
        .await?
        .into_iter()
        .find(|row| row["account_name"] == json!(account) && row["username"] == json!(username))
        .with_context(|| format!("no access explanation for {username} on {account}"))
}

/// Every allocation's balance, and Barbara's against her cap.
async fn balances(
    admin: &Caller<'_>,
    pi: &Caller<'_>,
    barbara_membership: &str,
) -> anyhow::Result<()> {
    say("Balances (GET /v1/allocations/{id}/balance)");
    println!(
        "    {:<12} {:>12} {:>12} {:>12} {:>12}",
        "account", "initial", "granted", "charged", "balance"
    );
    let mut allocations = admin.all("/v1/allocations").await?;
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
        .get(&format!("/v1/memberships/{barbara_membership}/balance"))
        .await?;
    println!(
        "    Barbara on che260001: charged {} of her {} SU cap",
        su(&member["charged_su"])?,
        su(&member["cap_su"])?
    );
    Ok(())
}

/// Every member's access verdict, with the conditions a verdict other than granted fails.
/// Read from report.access_explain itself: the API's explanations (GET /v1/access/explain)
/// carry the conditions but not the verdict's word (`access`).
async fn access_decisions(pool: &DbPool) -> anyhow::Result<()> {
    say("Access decisions (report.access_explain)");
    let rows = provision::access_verdicts(&pool.connection().await?).await?;
    for row in &rows {
        let access = text(&row["access"])?;
        let verdict = if access == "granted" {
            access.to_string()
        } else {
            format!("{access} ({})", failed_conditions(row))
        };
        println!(
            "    {:<10} {:<12} on {:<8} {}",
            row["username"].as_str().unwrap_or("(no account)"),
            text(&row["account_name"])?,
            text(&row["cluster_name"])?,
            verdict
        );
    }
    Ok(())
}

/// How many tasks of each kind are in each state.
async fn task_summary(admin: &Caller<'_>) -> anyhow::Result<()> {
    say("Tasks by kind and state (GET /v1/tasks)");
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for task in admin.all("/v1/tasks").await? {
        let key = (
            text(&task["kind"])?.to_string(),
            text(&task["state"])?.to_string(),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    for ((kind, state), count) in &counts {
        println!("    {kind:<24} {state:<10} {count:>4}");
    }
    Ok(())
}

/// The conditions an access explanation fails, as `condition false`.
fn failed_conditions(row: &Value) -> String {
    [
        "person_active",
        "project_active",
        "allocation_active",
        "allocation_in_window",
        "membership_active",
        "membership_in_window",
        "balance_positive",
        "under_cap",
        "under_resource_limits",
    ]
    .into_iter()
    .filter(|condition| row[*condition] != json!(true))
    .map(|condition| format!("{condition} false"))
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

fn find<'a>(items: &'a Value, field: &str, wanted: &str) -> anyhow::Result<&'a Value> {
    array(items)?
        .iter()
        .find(|item| item[field] == json!(wanted))
        .with_context(|| format!("no item with {field} {wanted}"))
}
