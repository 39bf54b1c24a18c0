//! The errors of the SQL layer: what failed, and against which statement or server.

use crate::statements::Statement;

/// An error talking to PostgreSQL, naming what we were doing.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database URL could not be parsed.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// No connection could be made or taken from the pool.
    #[error("cannot connect to PostgreSQL at {target}: {reason}")]
    Connect {
        /// Host, port and database, never the password.
        target: String,
        /// The underlying reason, already flattened to one line.
        reason: String,
    },
    /// A statement failed. The message says what the database refused as a sentence for a user
    /// (`crate::constraints::describe`), never a constraint name or a failing row.
    #[error("{} failed: {}", .statement.name, crate::constraints::describe(.error))]
    Statement {
        /// The statement that failed.
        statement: Statement,
        /// What PostgreSQL said (in the message, so not a `source` too: one line, no repeats).
        error: tokio_postgres::Error,
    },
    /// A transaction could not begin or commit.
    #[error("cannot {action} a transaction: {reason}")]
    Transaction {
        /// begin or commit.
        action: &'static str,
        /// What PostgreSQL said.
        reason: String,
    },
    /// Database-level DDL (create, rename, drop a database) failed.
    #[error("{ddl} failed: {reason}")]
    Ddl {
        /// The statement.
        ddl: String,
        /// What PostgreSQL said.
        reason: String,
    },
    /// A migration could not be applied.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database holds migrations this binary does not know: it is newer than us.
    #[error(
        "the database has migrations this purser does not know: {}; upgrade purser before using this database",
        .0.join(", ")
    )]
    UnknownMigrations(Vec<String>),
    /// An applied migration differs from the one with the same version in this binary.
    #[error(
        "migration {version} in the database differs from this purser's ({applied} vs {embedded}); a landed migration was edited"
    )]
    DivergentMigration {
        /// The version both share.
        version: i64,
        /// The applied migration's name.
        applied: String,
        /// This binary's migration's name.
        embedded: String,
    },
}

/// Renders a driver error as one line: the server's message, detail and hint when it sent them.
pub fn flatten_pg_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_string();
            if let Some(detail) = db.detail() {
                text.push_str(" (");
                text.push_str(detail);
                text.push(')');
            }
            if let Some(hint) = db.hint() {
                text.push_str("; hint: ");
                text.push_str(hint);
            }
            text
        }
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}
