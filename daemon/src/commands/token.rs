//! `purser token create|list|revoke`: the API's bearer tokens. A token's secret is printed
//! once, at creation; Purser keeps only its hash.

use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use purser_sql::DbPool;
use purser_sql::auth::{self, NewToken};
use uuid::Uuid;

/// Options of `purser token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Role {
    /// Everything.
    Admin,
    /// A site daemon (needs --site).
    Daemon,
    /// A PI: their projects, members and change requests (needs --person).
    Pi,
    /// A member: their own memberships, usage and balances (needs --person).
    Member,
    /// Read-only.
    Reader,
}

#[derive(Debug, clap::Subcommand)]
enum TokenAction {
    /// Make a token and print its secret, once.
    Create {
        /// What it is for, e.g. "science gateway".
        #[arg(long)]
        name: String,
        /// What it may do.
        #[arg(long, value_enum)]
        role: Role,
        /// For pi and member tokens: the email of the person it acts for.
        #[arg(long, value_name = "EMAIL")]
        person: Option<String>,
        /// For daemon tokens: the site it serves.
        #[arg(long)]
        site: Option<String>,
        /// How long it works, e.g. 90d or 12h.
        #[arg(long, default_value = "90d", value_parser = humantime_serde::re::humantime::parse_duration)]
        expires_in: Duration,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token: it is refused from now on.
    Revoke {
        /// The token's id, as `list` shows it.
        id: Uuid,
    },
}

/// Runs a `token` action.
pub async fn run(pool: &DbPool, args: TokenArgs) -> anyhow::Result<()> {
    let client = pool.connection().await?;
    match args.action {
        TokenAction::Create {
            name,
            role,
            person,
            site,
            expires_in,
        } => {
            let needs_person = matches!(role, Role::Pi | Role::Member);
            let person_id = match (needs_person, person) {
                (true, Some(email)) => Some(
                    auth::person_by_email(&client, &email)
                        .await?
                        .with_context(|| format!("no person has the email {email}"))?,
                ),
                (true, None) => bail!("pi and member tokens act for a person: pass --person EMAIL"),
                (false, Some(_)) => bail!("--person goes with pi and member tokens only"),
                (false, None) => None,
            };
            if name.trim().is_empty() {
                bail!("--name must not be blank");
            }
            if expires_in.is_zero() {
                bail!("--expires-in must be more than 0s, e.g. 90d or 12h");
            }
            let is_daemon = matches!(role, Role::Daemon);
            if is_daemon != site.is_some() {
                bail!("daemon tokens, and only they, need --site");
            }
            let expires_at = Utc::now()
                + chrono::Duration::from_std(expires_in).context("--expires-in is too long")?;
            let token = NewToken {
                name,
                role: format!("{role:?}").to_lowercase(),
                person_id,
                site,
                expires_at,
            };
            let (id, secret) = auth::create_token(&client, &token).await?;
            println!("{secret}");
            eprintln!(
                "Token {id} ({}, expires {}). The secret above is shown once: store it now.",
                token.role,
                expires_at.format("%Y-%m-%d %H:%M UTC")
            );
        }
        TokenAction::List => {
            println!(
                "{:<36}  {:<7}  {:<24}  {:<10}  {:<16}  {:<16}  NAME",
                "ID", "ROLE", "PERSON OR SITE", "STATE", "EXPIRES", "LAST USED"
            );
            for token in auth::list_tokens(&client).await? {
                let state = if token.revoked_at.is_some() {
                    "revoked"
                } else if token.expires_at <= Utc::now() {
                    "expired"
                } else {
                    "active"
                };
                let subject = token.person_email.or(token.site).unwrap_or_default();
                let last_used = token
                    .last_used_at
                    .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "never".to_string());
                println!(
                    "{:<36}  {:<7}  {:<24}  {:<10}  {:<16}  {:<16}  {}",
                    token.id,
                    token.role,
                    subject,
                    state,
                    token.expires_at.format("%Y-%m-%d %H:%M"),
                    last_used,
                    token.name
                );
            }
        }
        TokenAction::Revoke { id } => {
            if !auth::revoke_token(&client, id).await? {
                bail!("no unrevoked token has the id {id}");
            }
            println!("token {id} is revoked");
        }
    }
    Ok(())
}
