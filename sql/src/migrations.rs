//! The schema's migrations: the plain SQL files in `sql/migrations/`, embedded in the binary
//! and applied by refinery, with the checks that keep a database and a binary in step.

use std::fmt;

use deadpool_postgres::GenericClient;
use refinery::Target;

use crate::bind;
use crate::error::DbError;
use crate::pool::{DbPool, execute, query, query_one};
use crate::statements::{
    MIGRATION_HISTORY, MIGRATION_HISTORY_EXISTS, MIGRATION_LOCK, MIGRATION_UNLOCK,
};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// A migration's identity: `V{version}__{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationId {
    /// The number in the file name.
    pub version: i64,
    /// The words after the `__`.
    pub name: String,
}

impl fmt::Display for MigrationId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "V{}__{}", self.version, self.name)
    }
}

/// Where a database stands against this binary's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationPlan {
    /// Already applied, oldest first.
    pub applied: Vec<MigrationId>,
    /// Known to this binary and not yet applied, in the order they would run.
    pub pending: Vec<MigrationId>,
}

struct KnownMigration {
    id: MigrationId,
    checksum: u64,
}

fn known_migrations() -> Vec<KnownMigration> {
    let mut known: Vec<KnownMigration> = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|migration| KnownMigration {
            id: MigrationId {
                version: i64::from(migration.version()),
                name: migration.name().to_string(),
            },
            checksum: migration.checksum(),
        })
        .collect();
    known.sort_by_key(|migration| migration.id.version);
    known
}

/// The migrations this binary carries, oldest first.
pub fn known() -> Vec<MigrationId> {
    known_migrations()
        .into_iter()
        .map(|migration| migration.id)
        .collect()
}

/// A short hex digest of every migration's version and checksum: two binaries with the same
/// fingerprint build the same schema (the test harness names its template database by it).
pub fn fingerprint() -> String {
    // FNV-1a over the (version, checksum) pairs: stable across builds and toolchains.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for migration in known_migrations() {
        for byte in migration
            .id
            .version
            .to_le_bytes()
            .into_iter()
            .chain(migration.checksum.to_le_bytes())
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Reads what the database has applied and compares it with this binary's migrations.
///
/// Fails when the database has a migration this binary does not know (it was migrated by a
/// newer purser) or one whose contents differ from ours (a landed migration was edited).
pub async fn plan(client: &impl GenericClient) -> Result<MigrationPlan, DbError> {
    let known = known_migrations();
    let history_exists: bool = query_one(client, bind!(MIGRATION_HISTORY_EXISTS))
        .await?
        .get("present");
    let mut applied = Vec::new();
    let mut unknown = Vec::new();
    if history_exists {
        for row in query(client, bind!(MIGRATION_HISTORY)).await? {
            let id = MigrationId {
                version: row.get("version"),
                name: row.get("name"),
            };
            let checksum: String = row.get("checksum");
            match known
                .iter()
                .find(|migration| migration.id.version == id.version)
            {
                None => unknown.push(id.to_string()),
                Some(ours) if ours.id.name != id.name || checksum != ours.checksum.to_string() => {
                    return Err(DbError::DivergentMigration {
                        version: id.version,
                        applied: id.to_string(),
                        embedded: ours.id.to_string(),
                    });
                }
                Some(_) => applied.push(id),
            }
        }
    }
    if !unknown.is_empty() {
        return Err(DbError::UnknownMigrations(unknown));
    }
    let pending = known
        .into_iter()
        .map(|migration| migration.id)
        .filter(|id| !applied.contains(id))
        .collect();
    Ok(MigrationPlan { applied, pending })
}

/// Applies every pending migration, each in its own transaction, and returns what it applied.
///
/// Concurrent callers are serialised by an advisory lock, so two `purser migrate` runs at
/// once apply each migration once.
pub async fn apply(pool: &DbPool) -> Result<Vec<MigrationId>, DbError> {
    apply_up_to(pool, Target::Latest).await
}

/// Applies the pending migrations up to and including `version`: a database as an older
/// purser left it, for the tests of a migration's data step.
#[cfg(feature = "test-harness")]
pub async fn apply_through(pool: &DbPool, version: i64) -> Result<Vec<MigrationId>, DbError> {
    let version = refinery::SchemaVersion::try_from(version)
        .map_err(|_| DbError::Migration(format!("there is no migration {version}")))?;
    apply_up_to(pool, Target::Version(version)).await
}

async fn apply_up_to(pool: &DbPool, target: Target) -> Result<Vec<MigrationId>, DbError> {
    let mut client = pool.connection().await?;
    execute(&client, bind!(MIGRATION_LOCK)).await?;
    let outcome = apply_locked(&mut client, target).await;
    // Unlock even after a failure; if the connection broke, the lock went with it.
    let unlocked = execute(&client, bind!(MIGRATION_UNLOCK)).await;
    let applied = outcome?;
    unlocked?;
    Ok(applied)
}

async fn apply_locked(
    client: &mut deadpool_postgres::Client,
    target: Target,
) -> Result<Vec<MigrationId>, DbError> {
    // Our own check first: it names unknown and divergent migrations more plainly than refinery.
    plan(&*client).await?;
    let raw_client: &mut tokio_postgres::Client = client;
    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .set_target(target)
        .run_async(raw_client)
        .await
        .map_err(|error| DbError::Migration(error.to_string()))?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|migration| MigrationId {
            version: i64::from(migration.version()),
            name: migration.name().to_string(),
        })
        .collect())
}
