//! What the database refused, said for a user: each constraint of the tables the API and the
//! CLI write, with the field it guards and a sentence without row data, in one table; and the
//! messages of Purser's own SQL functions (`RAISE EXCEPTION`), which are written for users.
//! PostgreSQL's own text (constraint names, `Failing row contains (…)`, `Key (…)=(…)`) never
//! reaches a user: the API logs it, and [`crate::DbError`]'s message says the sentence instead.
//!
//! A migration that adds a constraint to one of [`GUARDED_TABLES`] or [`GUARDED_DOMAINS`] adds
//! its line to [`CONSTRAINTS`]; `sql/tests/constraints.rs` fails until it does.

use tokio_postgres::error::{DbError as PgError, SqlState};

/// The tables whose every constraint has a sentence here: those the API and the CLI write.
pub const GUARDED_TABLES: &[&str] = &[
    "registry.organization",
    "registry.person",
    "registry.identity",
    "registry.cluster",
    "registry.cluster_account",
    "registry.project",
    "registry.resource",
    "registry.resource_rate",
    "registry.allocation",
    "registry.allocation_resource",
    "registry.change_request",
    "registry.membership",
    "auth.token",
    "queue.site_role",
    "queue.task",
    "queue.schedule",
];

/// The domains whose every constraint has a sentence here: the bounds of amounts, rates and
/// times, which the tables above and the ledger's functions share.
pub const GUARDED_DOMAINS: &[&str] =
    &["registry.su_amount", "registry.su_rate", "registry.instant"];

/// A constraint, the field it guards and what it requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint {
    /// Its name in PostgreSQL (a unique index's name for an index).
    pub name: &'static str,
    /// The request field it guards, as the API names it; `None` when it is about the row the
    /// request names in its path (an identity's person, a rate's resource) or no one field.
    pub field: Option<&'static str>,
    /// What was wrong, as one sentence naming the field and no value.
    pub sentence: &'static str,
}

/// Shortens the table below.
const fn rule(
    name: &'static str,
    field: Option<&'static str>,
    sentence: &'static str,
) -> Constraint {
    Constraint {
        name,
        field,
        sentence,
    }
}

/// Every constraint of [`GUARDED_TABLES`] but primary keys, and of [`GUARDED_DOMAINS`].
pub const CONSTRAINTS: &[Constraint] = &[
    // The domains: a value of one has no one field (the API checks its fields' bounds first).
    rule(
        "su_amount_check",
        None,
        "an amount must be a finite number less than 10^15 in magnitude, with at most 6 decimals",
    ),
    rule(
        "su_rate_check",
        None,
        "a rate must be more than 0 and less than 10^15, with at most 6 decimals",
    ),
    rule(
        "instant_check",
        None,
        "a time must be from 1970-01-01 to 9999-12-31 UTC, and not infinity",
    ),
    // registry.organization
    rule(
        "organization_name_check",
        Some("name"),
        "name must not be blank",
    ),
    rule(
        "organization_name_key",
        Some("name"),
        "an organization with this name already exists",
    ),
    rule(
        "organization_name_length",
        Some("name"),
        "name must be at most 256 characters",
    ),
    rule(
        "organization_origination_check",
        Some("origination"),
        "origination must be ACCESS, NAIRR, XRAS or LOCAL",
    ),
    rule(
        "organization_originated_id_check",
        Some("originated_id"),
        "originated_id must not be blank",
    ),
    rule(
        "organization_originated_id_length",
        Some("originated_id"),
        "originated_id must be at most 256 characters",
    ),
    rule(
        "organization_originated_pair",
        Some("originated_id"),
        "origination and originated_id go together: give both or neither",
    ),
    rule(
        "organization_originated_unique",
        Some("originated_id"),
        "an organization with this originated_id already exists for this origination",
    ),
    // registry.person
    rule(
        "person_first_name_check",
        Some("first_name"),
        "first_name must not be blank",
    ),
    rule(
        "person_middle_name_check",
        Some("middle_name"),
        "middle_name must not be blank",
    ),
    rule(
        "person_last_name_check",
        Some("last_name"),
        "last_name must not be blank",
    ),
    rule("person_name_check", Some("name"), "name must not be blank"),
    rule(
        "person_name_length",
        Some("name"),
        "name must be at most 256 characters",
    ),
    rule(
        "person_first_name_length",
        Some("first_name"),
        "first_name must be at most 256 characters",
    ),
    rule(
        "person_middle_name_length",
        Some("middle_name"),
        "middle_name must be at most 256 characters",
    ),
    rule(
        "person_last_name_length",
        Some("last_name"),
        "last_name must be at most 256 characters",
    ),
    rule(
        "person_email_length",
        Some("email"),
        "email must be at most 320 characters",
    ),
    rule(
        "person_email_check",
        Some("email"),
        "email must be an email address such as ada@esu.example",
    ),
    rule(
        "person_email_unique",
        Some("email"),
        "a person with this email (in any case) already exists",
    ),
    rule(
        "person_organization_id_fkey",
        Some("organization_id"),
        "organization_id names no organization",
    ),
    rule(
        "person_status_check",
        Some("status"),
        "status must be active, inactive or merged",
    ),
    rule(
        "person_check",
        Some("status"),
        "a person is merged exactly when merged_into names the person kept",
    ),
    rule(
        "person_check1",
        Some("merged_into"),
        "a person cannot be merged into themselves",
    ),
    rule(
        "person_merged_into_fkey",
        Some("merged_into"),
        "merged_into names no person",
    ),
    // registry.identity
    rule("identity_person_id_fkey", None, "there is no such person"),
    rule(
        "identity_source_check",
        Some("source"),
        "source must be lower-case letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    rule(
        "identity_external_id_check",
        Some("external_id"),
        "external_id must not be blank",
    ),
    rule(
        "identity_source_length",
        Some("source"),
        "source must be at most 256 characters",
    ),
    rule(
        "identity_external_id_length",
        Some("external_id"),
        "external_id must be at most 256 characters",
    ),
    rule(
        "identity_source_external_id_key",
        Some("external_id"),
        "this source's external_id already names a person",
    ),
    // registry.cluster
    rule(
        "cluster_name_check",
        Some("name"),
        "name must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    rule(
        "cluster_name_key",
        Some("name"),
        "a cluster with this name already exists",
    ),
    rule(
        "cluster_time_zone_check",
        Some("time_zone"),
        "time_zone must be a time zone PostgreSQL knows, such as UTC or America/Chicago",
    ),
    rule(
        "cluster_max_tres_count_check",
        Some("max_tres_count"),
        "max_tres_count must be more than 0",
    ),
    rule(
        "cluster_max_tres_count_bounded",
        Some("max_tres_count"),
        "max_tres_count must be less than 10^15",
    ),
    rule(
        "cluster_elapsed_margin_check",
        Some("elapsed_margin"),
        "elapsed_margin must be zero or more",
    ),
    rule(
        "cluster_future_end_margin_check",
        Some("future_end_margin"),
        "future_end_margin must be zero or more",
    ),
    // registry.cluster_account
    rule(
        "cluster_account_cluster_id_fkey",
        Some("cluster_id"),
        "cluster_id names no cluster",
    ),
    rule(
        "cluster_account_person_id_fkey",
        None,
        "there is no such person",
    ),
    rule(
        "cluster_account_username_check",
        Some("username"),
        "username must be a POSIX user name: 1 to 32 lower-case letters, digits, '_', '.' or '-', starting with a letter or '_'",
    ),
    rule(
        "cluster_account_uid_check",
        Some("uid"),
        "uid must be more than 0",
    ),
    rule(
        "cluster_account_cluster_id_username_key",
        Some("username"),
        "this username is taken on this cluster",
    ),
    rule(
        "cluster_account_cluster_id_uid_key",
        Some("uid"),
        "this uid is taken on this cluster",
    ),
    rule(
        "cluster_account_cluster_id_person_id_key",
        Some("cluster_id"),
        "this person already has an account on this cluster",
    ),
    // registry.project
    rule(
        "project_title_check",
        Some("title"),
        "title must not be blank",
    ),
    rule("project_pi_id_fkey", Some("pi_id"), "pi_id names no person"),
    rule(
        "project_organization_id_fkey",
        Some("organization_id"),
        "organization_id names no organization",
    ),
    rule(
        "project_origination_check",
        Some("origination"),
        "origination must be ACCESS, NAIRR, XRAS or LOCAL",
    ),
    rule(
        "project_originated_id_check",
        Some("originated_id"),
        "originated_id must not be blank",
    ),
    rule(
        "project_originated_id_length",
        Some("originated_id"),
        "originated_id must be at most 256 characters",
    ),
    rule(
        "project_status_check",
        Some("status"),
        "status must be active, suspended or closed",
    ),
    rule(
        "project_origination_originated_id_key",
        Some("originated_id"),
        "a project with this originated_id already exists for this origination",
    ),
    // registry.resource
    rule(
        "resource_cluster_id_fkey",
        Some("cluster_id"),
        "cluster_id names no cluster",
    ),
    rule(
        "resource_name_check",
        Some("name"),
        "name must not be blank",
    ),
    rule(
        "resource_resource_type_check",
        Some("resource_type"),
        "resource_type must be cpu, gpu, memory, storage or other",
    ),
    rule(
        "resource_unit_check",
        Some("unit"),
        "unit must not be blank",
    ),
    rule(
        "resource_slurm_partition_check",
        Some("slurm_partition"),
        "slurm_partition must not be empty",
    ),
    rule(
        "resource_slurm_tres_check",
        Some("slurm_tres"),
        "slurm_tres must be a Slurm TRES name such as cpu or gres/gpu",
    ),
    rule(
        "resource_name_length",
        Some("name"),
        "name must be at most 256 characters",
    ),
    rule(
        "resource_unit_length",
        Some("unit"),
        "unit must be at most 256 characters",
    ),
    rule(
        "resource_slurm_partition_length",
        Some("slurm_partition"),
        "slurm_partition must be at most 256 characters",
    ),
    rule(
        "resource_slurm_tres_length",
        Some("slurm_tres"),
        "slurm_tres must be at most 256 characters",
    ),
    rule(
        "resource_cluster_id_name_key",
        Some("name"),
        "a resource with this name already exists on this cluster",
    ),
    rule(
        "resource_id_cluster_id_key",
        None,
        "this resource already exists",
    ),
    rule(
        "resource_usage_mapping",
        Some("slurm_tres"),
        "another resource of this cluster already counts this slurm_tres in this slurm_partition",
    ),
    // registry.resource_rate
    rule(
        "resource_rate_resource_id_fkey",
        None,
        "there is no such resource",
    ),
    rule(
        "resource_rate_rate_check",
        Some("rate"),
        "rate must be more than 0",
    ),
    rule(
        "resource_rate_valid_during_check",
        Some("valid_from"),
        "valid_from must be before valid_until",
    ),
    rule(
        "resource_rate_valid_during_bounded",
        Some("valid_from"),
        "valid_from and valid_until must be from 1970-01-01 to 9999-12-31 UTC",
    ),
    rule(
        "resource_rate_resource_id_valid_during_excl",
        Some("valid_from"),
        "another rate of this resource is in force during part of valid_from to valid_until",
    ),
    // registry.allocation
    rule(
        "allocation_project_id_fkey",
        Some("project_id"),
        "project_id names no project",
    ),
    rule(
        "allocation_cluster_id_fkey",
        Some("cluster_id"),
        "cluster_id names no cluster",
    ),
    rule(
        "allocation_account_name_check",
        Some("account_name"),
        "account_name must be a Slurm account name: 1 to 64 lower-case letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    rule(
        "allocation_status_check",
        Some("status"),
        "status must be active, suspended or closed",
    ),
    rule(
        "allocation_initial_su_check",
        Some("initial_su"),
        "initial_su must be zero or more",
    ),
    rule(
        "allocation_check",
        Some("ends_at"),
        "ends_at must be after starts_at",
    ),
    rule(
        "allocation_id_cluster_id_key",
        None,
        "this allocation already exists",
    ),
    rule(
        "allocation_cluster_id_account_name_tstzrange_excl",
        Some("account_name"),
        "this account_name already has an allocation on this cluster whose window overlaps starts_at to ends_at",
    ),
    // registry.allocation_resource
    rule(
        "allocation_resource_allocation_id_cluster_id_fkey",
        Some("allocation_id"),
        "allocation_id names no allocation on this cluster",
    ),
    rule(
        "allocation_resource_resource_id_cluster_id_fkey",
        Some("resource_id"),
        "resource_id names no resource of the allocation's cluster",
    ),
    rule(
        "allocation_resource_amount_su_check",
        Some("amount_su"),
        "amount_su must be zero or more",
    ),
    // registry.change_request
    rule(
        "change_request_allocation_id_fkey",
        Some("allocation_id"),
        "allocation_id names no allocation",
    ),
    rule(
        "change_request_requester_id_fkey",
        Some("requester_id"),
        "requester_id names no person",
    ),
    rule(
        "change_request_kind_check",
        Some("kind"),
        "kind must be supplement, reduction, extension or status",
    ),
    rule(
        "change_request_requested_su_check",
        Some("requested_su"),
        "requested_su must be more than 0",
    ),
    rule(
        "change_request_requested_status_check",
        Some("requested_status"),
        "requested_status must be active, suspended or closed",
    ),
    rule(
        "change_request_justification_check",
        Some("justification"),
        "justification must not be blank",
    ),
    rule(
        "change_request_state_check",
        None,
        "a change request's state must be PENDING, APPROVED, REJECTED or CANCELLED",
    ),
    rule(
        "change_request_requested_su_kind",
        Some("requested_su"),
        "requested_su goes with kinds supplement and reduction, and only with them",
    ),
    rule(
        "change_request_check1",
        Some("requested_status"),
        "requested_status goes with kind status, and only with it",
    ),
    rule(
        "change_request_check2",
        Some("requested_ends_at"),
        "requested_ends_at goes with kind extension, and only with it",
    ),
    rule(
        "change_request_check3",
        None,
        "a change request is decided exactly when it is no longer PENDING",
    ),
    rule(
        "change_request_check4",
        None,
        "a decided change request names when and by whom",
    ),
    // registry.membership
    rule(
        "membership_allocation_id_fkey",
        Some("allocation_id"),
        "allocation_id names no allocation",
    ),
    rule(
        "membership_person_id_fkey",
        Some("person_id"),
        "person_id names no person",
    ),
    rule(
        "membership_cap_su_check",
        Some("cap_su"),
        "cap_su must be zero or more",
    ),
    rule(
        "membership_status_check",
        Some("status"),
        "status must be active, suspended or removed",
    ),
    rule(
        "membership_check",
        Some("ends_at"),
        "ends_at must be after starts_at",
    ),
    rule(
        "membership_allocation_id_person_id_key",
        Some("person_id"),
        "this person is already a member of this allocation",
    ),
    // auth.token
    rule(
        "token_name_check",
        Some("name"),
        "the token's name must not be blank",
    ),
    rule(
        "token_secret_sha256_check",
        None,
        "a token's secret hash must be 32 bytes",
    ),
    rule(
        "token_secret_sha256_key",
        None,
        "a token with this secret already exists; make another",
    ),
    rule(
        "token_role_check",
        Some("role"),
        "the token's role must be admin, daemon, pi, member or reader",
    ),
    rule(
        "token_person_id_fkey",
        Some("person"),
        "the token's person does not exist",
    ),
    rule(
        "token_site_check",
        Some("site"),
        "the token's site must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    rule(
        "token_check",
        Some("person"),
        "pi and member tokens, and only they, act for a person",
    ),
    rule(
        "token_check1",
        Some("site"),
        "daemon tokens, and only they, have a site",
    ),
    rule(
        "token_check2",
        Some("expires_in"),
        "a token must expire after it is made",
    ),
    rule(
        "token_name_length",
        Some("name"),
        "the token's name must be at most 256 characters",
    ),
    rule(
        "token_expires_at_bounded",
        Some("expires_in"),
        "a token must expire before the year 10000",
    ),
    // queue.task
    rule(
        "task_site_check",
        Some("site"),
        "site must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    rule(
        "task_kind_check",
        Some("kind"),
        "kind must be dotted lower-case words such as slurm.account.ensure, up to 100 characters",
    ),
    rule(
        "task_payload_check",
        Some("payload"),
        "payload must be a JSON object",
    ),
    rule(
        "task_attempts_check",
        None,
        "a task's attempts must be zero or more",
    ),
    rule(
        "task_max_attempts_check",
        Some("max_attempts"),
        "max_attempts must be at least 1",
    ),
    rule(
        "task_dedupe_key_check",
        Some("dedupe_key"),
        "dedupe_key must not be empty",
    ),
    rule("task_lane_check", Some("lane"), "lane must not be empty"),
    rule(
        "task_pending_dependencies_check",
        None,
        "a task's pending dependencies must be zero or more",
    ),
    rule(
        "task_check",
        None,
        "a task has a lease exactly while it is running",
    ),
    rule(
        "task_check1",
        None,
        "a task has finished_at exactly when it succeeded, died or was cancelled",
    ),
    rule(
        "task_check2",
        None,
        "a task is waiting exactly while dependencies are pending",
    ),
    rule(
        "task_dedupe_key",
        Some("dedupe_key"),
        "an unfinished task of this site already holds this dedupe_key",
    ),
    rule(
        "task_run_at_bounded",
        Some("run_at"),
        "run_at must be from 1970-01-01 to 9999-12-31 UTC",
    ),
    rule(
        "task_dedupe_key_length",
        Some("dedupe_key"),
        "dedupe_key must be at most 256 characters",
    ),
    rule(
        "task_lane_length",
        Some("lane"),
        "lane must be at most 256 characters",
    ),
    // queue.schedule
    rule(
        "schedule_name_check",
        Some("name"),
        "a schedule's name must be 1 to 200 letters, digits, '_', '.', ':' or '-', starting with a letter or digit",
    ),
    rule(
        "schedule_site_check",
        Some("site"),
        "site must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    rule(
        "schedule_kind_check",
        Some("kind"),
        "kind must be dotted lower-case words such as slurm.account.ensure, up to 100 characters",
    ),
    rule(
        "schedule_payload_check",
        Some("payload"),
        "payload must be a JSON object",
    ),
    rule(
        "schedule_every_check",
        Some("every"),
        "every must be a fixed length from 1 second to 10 years, in hours, minutes and seconds",
    ),
    rule(
        "schedule_next_run_at_bounded",
        Some("first_run_at"),
        "first_run_at must be from 1970-01-01 to 9999-12-31 UTC",
    ),
    // queue.site_role
    rule(
        "site_role_role_name_check",
        Some("role"),
        "the role name must be lower-case letters, digits and _, up to 63, not starting with a digit",
    ),
    rule(
        "site_role_site_check",
        Some("site"),
        "the site must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
];

/// How a constraint broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// A duplicate of a unique key.
    Unique,
    /// A reference to a row that does not exist.
    ForeignKey,
    /// An overlap an exclusion constraint forbids.
    Exclusion,
    /// A CHECK.
    Check,
    /// A required value missing.
    NotNull,
}

/// What the database refused, for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A constraint broke.
    Constraint {
        /// How.
        kind: ConstraintKind,
        /// The field it guards, when one does.
        field: Option<&'static str>,
        /// What was wrong; a generic sentence for a constraint not in [`CONSTRAINTS`].
        sentence: &'static str,
        /// Whether the constraint is in [`CONSTRAINTS`] (when not, the raw text belongs in
        /// the log, so the table can be completed).
        known: bool,
    },
    /// A value longer than PostgreSQL stores there: a string over its type's length (SQLSTATE
    /// 22001) or a key over its index's row size (class 54, program limit exceeded).
    TooLong {
        /// The field, when the error names a constraint or index that guards one.
        field: Option<&'static str>,
    },
    /// One of Purser's SQL functions refused, with a message written for users (its
    /// `function: ` prefix removed).
    Raised {
        /// The SQLSTATE it raised.
        code: SqlState,
        /// Its message.
        message: String,
    },
}

/// The constraint with this name, if the table has it.
pub fn constraint(name: &str) -> Option<&'static Constraint> {
    CONSTRAINTS
        .iter()
        .find(|constraint| constraint.name == name)
}

/// What a PostgreSQL error says for a user: a broken constraint's sentence, a value too long to
/// store, or the message of a Purser function's `RAISE`; `None` for anything else (a fault, an
/// outage), whose text is not for users.
pub fn refusal(error: &PgError) -> Option<Refusal> {
    let code = error.code();
    if *code == SqlState::STRING_DATA_RIGHT_TRUNCATION || code.code().starts_with("54") {
        return Some(Refusal::TooLong {
            field: error
                .constraint()
                .and_then(constraint)
                .and_then(|found| found.field),
        });
    }
    let kind = if *code == SqlState::UNIQUE_VIOLATION {
        Some(ConstraintKind::Unique)
    } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
        Some(ConstraintKind::ForeignKey)
    } else if *code == SqlState::EXCLUSION_VIOLATION {
        Some(ConstraintKind::Exclusion)
    } else if *code == SqlState::CHECK_VIOLATION {
        Some(ConstraintKind::Check)
    } else if *code == SqlState::NOT_NULL_VIOLATION {
        Some(ConstraintKind::NotNull)
    } else {
        None
    };
    if raised_by_purser(error) {
        return Some(Refusal::Raised {
            code: code.clone(),
            message: without_function_prefix(error.message()).to_string(),
        });
    }
    let kind = kind?;
    let known = error.constraint().and_then(constraint);
    Some(match known {
        Some(found) => Refusal::Constraint {
            kind,
            field: found.field,
            sentence: found.sentence,
            known: true,
        },
        None => Refusal::Constraint {
            kind,
            field: None,
            sentence: match kind {
                ConstraintKind::Unique => "a row with these values already exists",
                ConstraintKind::ForeignKey => "the request refers to something that does not exist",
                ConstraintKind::Exclusion => "the request overlaps a row that already exists",
                ConstraintKind::Check => "a value breaks a rule of the registry",
                ConstraintKind::NotNull => "a required value is missing",
            },
            known: false,
        },
    })
}

/// Whether the error is a `RAISE` in one of Purser's PL/pgSQL functions (its context says
/// `at RAISE`), rather than PostgreSQL's own.
fn raised_by_purser(error: &PgError) -> bool {
    error.where_().is_some_and(|context| {
        context
            .lines()
            .next()
            .is_some_and(|line| line.ends_with("at RAISE"))
    })
}

/// `queue.retry: task 5 is running` without `queue.retry: `.
fn without_function_prefix(message: &str) -> &str {
    match message.split_once(": ") {
        Some((prefix, rest))
            if prefix.contains('.')
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.') =>
        {
            rest
        }
        _ => message,
    }
}

/// A driver error as a user may read it: the sentence for what the database refused, else the
/// server's own words ([`crate::error::flatten_pg_error`]).
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error().and_then(refusal) {
        Some(Refusal::Constraint { sentence, .. }) => sentence.to_string(),
        Some(Refusal::TooLong { field }) => too_long(field),
        Some(Refusal::Raised { message, .. }) => message,
        None => crate::error::flatten_pg_error(error),
    }
}

/// The sentence for a value too long to store, naming its field when known.
pub fn too_long(field: Option<&str>) -> String {
    match field {
        Some(field) => format!("{field} is too long to store"),
        None => "a value is too long to store".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_prefix_is_removed_and_other_text_kept() {
        assert_eq!(
            without_function_prefix("queue.retry: task 5 is running"),
            "task 5 is running"
        );
        assert_eq!(
            without_function_prefix("change request 5: is already APPROVED"),
            "change request 5: is already APPROVED"
        );
    }

    #[test]
    fn no_constraint_is_listed_twice() {
        for (index, entry) in CONSTRAINTS.iter().enumerate() {
            assert!(
                CONSTRAINTS[..index]
                    .iter()
                    .all(|other| other.name != entry.name),
                "{} is listed twice",
                entry.name
            );
        }
    }
}
