//! `purser site-role create|list|drop`: database login roles bound to one site. A site's
//! daemons connect as its role: row-level security lets that role see and change only its own
//! site's tasks, so the credential on one site's host cannot touch another site's work. An
//! unbound role (purser_daemon's own login users) still serves every site.
//!
//! Run it as an admin who may create roles (CREATEROLE, or the superuser). A password is
//! sent to the server only as its SCRAM-SHA-256 verifier.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use purser_sql::DbPool;
use purser_sql::site_role;

use crate::config::Config;

/// Options of `purser site-role`.
#[derive(Debug, clap::Args)]
pub struct SiteRoleArgs {
    #[command(subcommand)]
    action: SiteRoleAction,
}

#[derive(Debug, clap::Subcommand)]
enum SiteRoleAction {
    /// Make a login role for one site's daemons, and print its password once when generated.
    Create {
        /// The site it serves: a cluster's name, or a `[sites.NAME]` of the config file.
        #[arg(long)]
        site: String,
        /// The role's name (lower-case letters, digits and _); default purser_site_SITE.
        #[arg(long)]
        role: Option<String>,
        /// Read its password from this file's first line instead of generating one.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List the roles bound to a site.
    List,
    /// Drop a site role: its daemons can no longer log in.
    Drop {
        /// The role's name, as `list` shows it.
        role: String,
    },
}

/// The role name `create` uses when none is given: `purser_site_` and the site, lower case,
/// with `.` and `-` as `_`.
fn default_role_name(site: &str) -> String {
    format!(
        "purser_site_{}",
        site.to_ascii_lowercase().replace(['.', '-'], "_")
    )
}

/// The first line of a password file, without its line ending; an empty one is refused.
fn read_password(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --password-file {}", path.display()))?;
    let password = text.lines().next().unwrap_or_default();
    if password.is_empty() {
        bail!(
            "--password-file {} has an empty first line: write the password there",
            path.display()
        );
    }
    Ok(password.to_string())
}

/// Runs a `site-role` action.
pub async fn run(config: &Config, pool: &DbPool, args: SiteRoleArgs) -> anyhow::Result<()> {
    match args.action {
        SiteRoleAction::Create {
            site,
            role,
            password_file,
        } => {
            config.ensure_known_site(pool, &site).await?;
            let role = role.unwrap_or_else(|| default_role_name(&site));
            let password = password_file.as_deref().map(read_password).transpose()?;
            let client = pool.connection().await?;
            let generated = site_role::create(&client, &role, &site, password.as_deref())
                .await
                .with_context(|| format!("cannot create site role {role}"))?;
            if let Some(generated) = &generated {
                println!("{generated}");
            }
            eprintln!(
                "Role {role} (LOGIN, member of purser_daemon) serves site {site} only: it sees and \
                 changes that site's tasks alone. Run the site's daemons with \
                 --database-url postgresql://{role}:PASSWORD@HOST/DATABASE{}",
                if generated.is_some() {
                    ". The password above is shown once: store it now."
                } else {
                    ""
                }
            );
        }
        SiteRoleAction::List => {
            let client = pool.connection().await?;
            println!("{:<40}  {:<24}  {:<16}  STATE", "ROLE", "SITE", "CREATED");
            for role in site_role::list(&client).await? {
                let state = match (role.role_exists, role.can_login) {
                    (false, _) => "dropped outside purser",
                    (true, false) => "cannot log in",
                    (true, true) => "active",
                };
                println!(
                    "{:<40}  {:<24}  {:<16}  {state}",
                    role.role_name,
                    role.site,
                    role.created_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        SiteRoleAction::Drop { role } => {
            let client = pool.connection().await?;
            let site = site_role::drop_role(&client, &role)
                .await
                .with_context(|| format!("cannot drop site role {role}"))?;
            println!("role {role} of site {site} is dropped");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::default_role_name;

    #[test]
    fn a_default_role_name_is_the_site_in_lower_case_with_underscores() {
        assert_eq!(
            default_role_name("Expanse.SDSC-2"),
            "purser_site_expanse_sdsc_2"
        );
    }
}
