//! API tokens: made with a random secret that is shown once, stored as its SHA-256 only,
//! listed, and revoked (`purser token …`; the API authenticates with them).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use rand::RngExt;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::bind;
use crate::error::DbError;
use crate::pool::{query, query_one};
use crate::statements::{PERSON_BY_EMAIL, TOKEN_CREATE, TOKEN_LIST, TOKEN_REVOKE};

/// Marks a Purser secret, so a leaked one is recognisable (and findable by secret scanners).
pub const SECRET_PREFIX: &str = "purser_";

/// A token to make.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// What it is for.
    pub name: String,
    /// admin, daemon, pi, member or reader.
    pub role: String,
    /// For pi and member tokens: whom it acts for.
    pub person_id: Option<Uuid>,
    /// For daemon tokens: its site.
    pub site: Option<String>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A token as listed: everything but its secret, which is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Token id.
    pub id: Uuid,
    /// What it is for.
    pub name: String,
    /// Its role.
    pub role: String,
    /// The person it acts for.
    pub person_email: Option<String>,
    /// The site it serves.
    pub site: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The SHA-256 of a secret, as stored.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Makes a token: 256 random bits from the operating system's generator, returned once as
/// `purser_…`, stored only as a hash. Returns the token's id and its secret.
pub async fn create_token(
    client: &impl GenericClient,
    token: &NewToken,
) -> Result<(Uuid, String), DbError> {
    let mut bytes = [0_u8; 32];
    rand::rng().fill(&mut bytes);
    let secret = format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let row = query_one(
        client,
        bind!(
            TOKEN_CREATE,
            name = &token.name,
            secret_hash = &secret_hash(&secret),
            role = &token.role,
            person_id = &token.person_id,
            site = &token.site,
            expires_at = &token.expires_at,
        ),
    )
    .await?;
    Ok((row.get("id"), secret))
}

/// Every token, newest first.
pub async fn list_tokens(client: &impl GenericClient) -> Result<Vec<TokenInfo>, DbError> {
    Ok(query(client, bind!(TOKEN_LIST))
        .await?
        .iter()
        .map(|row| TokenInfo {
            id: row.get("id"),
            name: row.get("name"),
            role: row.get("role"),
            person_email: row.get("person_email"),
            site: row.get("site"),
            created_by: row.get("created_by"),
            created_at: row.get("created_at"),
            expires_at: row.get("expires_at"),
            revoked_at: row.get("revoked_at"),
            last_used_at: row.get("last_used_at"),
        })
        .collect())
}

/// Revokes a token; `false` when there is no such unrevoked token.
pub async fn revoke_token(client: &impl GenericClient, id: Uuid) -> Result<bool, DbError> {
    Ok(!query(client, bind!(TOKEN_REVOKE, id = &id))
        .await?
        .is_empty())
}

/// The person with this email, regardless of case.
pub async fn person_by_email(
    client: &impl GenericClient,
    email: &str,
) -> Result<Option<Uuid>, DbError> {
    Ok(query(client, bind!(PERSON_BY_EMAIL, email = &email))
        .await?
        .first()
        .map(|row| row.get("id")))
}
