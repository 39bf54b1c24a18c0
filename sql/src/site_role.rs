//! Per-site database roles: login roles that are members of `purser_daemon` and bound to one
//! site in `queue.site_role`, so that row-level security lets them see and change only that
//! site's queue rows (`purser site-role …`; see `V15__sites_apart.sql`).
//!
//! A role's password reaches the server only as a SCRAM-SHA-256 verifier computed here, so
//! the password itself is never in a statement, a server log or `pg_stat_activity`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use rand::RngExt;

use crate::bind;
use crate::error::DbError;
use crate::pool::{query, query_one};
use crate::statements::{SESSION_BINDING, SITE_ROLE_CREATE, SITE_ROLE_DROP, SITE_ROLE_LIST};

/// A role bound to a site, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRole {
    /// The login role.
    pub role_name: String,
    /// The site it serves.
    pub site: String,
    /// When it was bound.
    pub created_at: DateTime<Utc>,
    /// Whether the role still exists on the server (someone may have dropped it by hand).
    pub role_exists: bool,
    /// Whether it may log in.
    pub can_login: bool,
}

/// Who this session is: the role it logged in as, and the site that role is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBinding {
    /// `session_user`.
    pub role_name: String,
    /// Its site; `None` when it is bound to none and sees every site.
    pub site: Option<String>,
}

/// Creates login role `role_name`, a member of `purser_daemon`, bound to `site`, with
/// `password` or, when none is given, a generated one (256 random bits, URL-safe), which is
/// returned: it is shown once and kept nowhere but as the server's verifier.
pub async fn create(
    client: &impl GenericClient,
    role_name: &str,
    site: &str,
    password: Option<&str>,
) -> Result<Option<String>, DbError> {
    let generated = password.is_none().then(|| {
        let mut bytes = [0_u8; 32];
        rand::rng().fill(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    });
    let password = password.or(generated.as_deref());
    let verifier =
        password.map(|password| postgres_protocol::password::scram_sha_256(password.as_bytes()));
    query_one(
        client,
        bind!(
            SITE_ROLE_CREATE,
            role_name = &role_name,
            site = &site,
            password_verifier = &verifier,
        ),
    )
    .await?;
    Ok(generated)
}

/// Drops a site role and its binding; returns the site it served.
pub async fn drop_role(client: &impl GenericClient, role_name: &str) -> Result<String, DbError> {
    let row = query_one(client, bind!(SITE_ROLE_DROP, role_name = &role_name)).await?;
    Ok(row.get("site"))
}

/// Every role bound to a site, by site and name.
pub async fn list(client: &impl GenericClient) -> Result<Vec<SiteRole>, DbError> {
    Ok(query(client, bind!(SITE_ROLE_LIST))
        .await?
        .iter()
        .map(|row| SiteRole {
            role_name: row.get("role_name"),
            site: row.get("site"),
            created_at: row.get("created_at"),
            role_exists: row.get("role_exists"),
            can_login: row.get("can_login"),
        })
        .collect())
}

/// The role this session logged in as and the site it is bound to.
pub async fn session_binding(client: &impl GenericClient) -> Result<SessionBinding, DbError> {
    let row = query_one(client, bind!(SESSION_BINDING)).await?;
    Ok(SessionBinding {
        role_name: row.get("role_name"),
        site: row.get("site"),
    })
}
