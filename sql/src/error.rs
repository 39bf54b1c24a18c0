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
    #[error("cannot {action} a transaction: {}", flatten_pg_error(.error))]
    Transaction {
        /// begin or commit.
        action: &'static str,
        /// What PostgreSQL said.
        error: tokio_postgres::Error,
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

impl DbError {
    /// Whether trying the same work again may succeed: the connection failed (no connection
    /// from the pool in time, refused, closed, an I/O error), the server is going away
    /// (SQLSTATE class 08, 57P01–57P03: admin shutdown, crash shutdown, cannot connect now),
    /// or the transaction lost a race (40001 serialization failure, 40P01 deadlock). Anything
    /// else is the database refusing the work itself, which would fail again the same way.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::Statement { error, .. } | Self::Transaction { error, .. } => {
                pg_error_is_transient(error)
            }
            Self::InvalidUrl(_)
            | Self::Ddl { .. }
            | Self::Migration(_)
            | Self::UnknownMigrations(_)
            | Self::DivergentMigration { .. } => false,
        }
    }
}

/// [`DbError::is_transient`] for a driver error: a closed connection or an I/O error, or one of
/// the SQLSTATEs of a server going away or a lost race.
fn pg_error_is_transient(error: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                ]
                .contains(code)
        }
        // No SQLSTATE: the driver failed, not the server. An I/O error is the connection's;
        // a parameter it could not encode or a column it could not decode is not.
        None => std::error::Error::source(error)
            .is_some_and(|cause| cause.downcast_ref::<std::io::Error>().is_some()),
    }
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
