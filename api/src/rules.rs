//! The rules of request fields, each in one place: its pattern, enumeration or range, the
//! sentence a client sees when a value breaks it, and an example. A rule is a schema type
//! (`Amount`, `SlurmAccount`, …) that request structs name with
//! `#[schema(value_type = rules::Amount)]` (or `#[param(value_type = …, inline)]` for query
//! parameters), so the OpenAPI document carries it; the server then validates every request
//! against that document ([`crate::validate`]), so the two cannot disagree.
//!
//! The Rust field behind a rule keeps its plain type (`String`, `Decimal`): validation runs
//! before deserialization, so a value that reaches the handler has passed the rule.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

/// A rule on a string: a pattern (ECMA-262, as JSON Schema says) and the sentence saying what
/// it requires.
#[derive(Debug, Clone, Copy)]
pub struct PatternRule {
    /// The pattern, anchored where the whole value must match.
    pub pattern: &'static str,
    /// What a value must be, completing "FIELD …" ("must not be blank").
    pub sentence: &'static str,
    /// A value that keeps the rule.
    pub example: &'static str,
    /// The most characters a value may have, when limited.
    pub max_length: Option<usize>,
}

impl PatternRule {
    /// The rule's schema: a string with the pattern, described by the sentence.
    fn schema(&self, description: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(self.pattern))
            .max_length(self.max_length)
            .description(Some(description))
            .examples([self.example])
            .into()
    }
}

/// Declares rule types: each a unit struct whose schema is the rule's.
macro_rules! pattern_rules {
    ($($(#[doc = $doc:literal])+ $name:ident = $rule:expr;)+) => {
        $(
            $(#[doc = $doc])+
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl $name {
                /// The rule.
                pub const RULE: PatternRule = $rule;
            }

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    Self::RULE.schema(concat!($($doc),+).trim())
                }
            }

            impl ToSchema for $name {}
        )+

        /// Every pattern rule, for finding a broken pattern's sentence.
        pub const PATTERN_RULES: &[PatternRule] = &[$($name::RULE),+];
    };
}

pattern_rules! {
    /// Text that is not blank: a title, a reason, a justification.
    NonBlank = PatternRule {
        pattern: r"\S",
        sentence: "must not be blank",
        example: "Acme University",
        max_length: None,
    };
    /// A name or an id (of a person, an organization, a resource, a job, a task's key): not
    /// blank, at most 256 characters, as `registry.fits_name` keeps them.
    Name = PatternRule {
        pattern: r"\S",
        sentence: "must not be blank",
        example: "Acme University",
        max_length: Some(256),
    };
    /// An email address, at most 320 characters.
    Email = PatternRule {
        pattern: r"^[^@\s]+@[^@\s]+$",
        sentence: "must be an email address such as ada@esu.example",
        example: "ada@esu.example",
        max_length: Some(320),
    };
    /// Where an external identity comes from, at most 256 characters.
    IdentitySource = PatternRule {
        pattern: r"^[a-z0-9][a-z0-9_.-]*$",
        sentence: "must be lower-case letters, digits, '_', '.' or '-', starting with a letter or digit",
        example: "access",
        max_length: Some(256),
    };
    /// A POSIX user name.
    PosixUsername = PatternRule {
        pattern: r"^[a-z_][a-z0-9_.-]{0,31}$",
        sentence: "must be a POSIX user name: 1 to 32 lower-case letters, digits, '_', '.' or '-', starting with a letter or '_'",
        example: "ada",
        max_length: Some(32),
    };
    /// A cluster's name, which is also its site's name.
    SiteName = PatternRule {
        pattern: r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        sentence: "must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
        example: "expanse",
        max_length: Some(63),
    };
    /// A Slurm account name.
    SlurmAccount = PatternRule {
        pattern: r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        sentence: "must be a Slurm account name: 1 to 64 lower-case letters, digits, '_', '.' or '-', starting with a letter or digit",
        example: "che260001",
        max_length: Some(64),
    };
    /// A Slurm TRES name, at most 256 characters.
    SlurmTres = PatternRule {
        pattern: r"^[a-z]+(/[A-Za-z0-9_:.-]+)?$",
        sentence: "must be a Slurm TRES name such as cpu or gres/gpu",
        example: "gres/gpu",
        max_length: Some(256),
    };
    /// A task kind: the executor action.
    TaskKind = PatternRule {
        pattern: r"^[a-z0-9_]+(\.[a-z0-9_]+)*$",
        sentence: "must be dotted lower-case words such as slurm.account.ensure, up to 100 characters",
        example: "allocation.sync",
        max_length: Some(100),
    };
    /// An amount (of SUs, of raw units), zero or more, as a decimal string: less than 10^15,
    /// at most 6 decimals, as `registry.su_amount` holds it.
    Amount = PatternRule {
        pattern: r"^0*[0-9]{1,15}(\.[0-9]{1,6})?$",
        sentence: "must be zero or more and less than 10^15, with at most 6 decimals, as a decimal string such as \"1000.5\"",
        example: "1000.5",
        max_length: Some(40),
    };
    /// A decimal number of either sign, as a string: less than 10^15 in magnitude, at most 6
    /// decimals.
    SignedAmount = PatternRule {
        pattern: r"^-?0*[0-9]{1,15}(\.[0-9]{1,6})?$",
        sentence: "must be less than 10^15 in magnitude, with at most 6 decimals, as a decimal string such as \"1000.5\" or \"-20\"",
        example: "-20",
        max_length: Some(41),
    };
    /// An amount more than zero, as a decimal string: less than 10^15, at most 6 decimals (an
    /// SU amount, or a rate as `registry.su_rate` holds it).
    PositiveAmount = PatternRule {
        pattern: r"^(0*[1-9][0-9]{0,14}(\.[0-9]{1,6})?|0+\.([1-9][0-9]{0,5}|0[1-9][0-9]{0,4}|00[1-9][0-9]{0,3}|000[1-9][0-9]{0,2}|0000[1-9][0-9]?|00000[1-9]))$",
        sentence: "must be more than 0 and less than 10^15, with at most 6 decimals, as a decimal string such as \"1000.5\"",
        example: "1000.5",
        max_length: Some(40),
    };
}

/// The sentence for a value that breaks `pattern`, if a rule has that pattern (rules that share
/// a pattern share its sentence).
pub fn pattern_sentence(pattern: &str) -> Option<&'static str> {
    PATTERN_RULES
        .iter()
        .find(|rule| rule.pattern == pattern)
        .map(|rule| rule.sentence)
}

/// Declares enumeration types: each a unit struct whose schema is a string with these values.
macro_rules! enum_rules {
    ($($(#[doc = $doc:literal])+ $name:ident = [$($value:literal),+];)+) => {
        $(
            $(#[doc = $doc])+
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl $name {
                /// The values allowed.
                pub const VALUES: &[&str] = &[$($value),+];
            }

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(Self::VALUES.iter().copied()))
                        .description(Some(concat!($($doc),+).trim()))
                        .into()
                }
            }

            impl ToSchema for $name {}
        )+
    };
}

enum_rules! {
    /// The status of a project or an allocation.
    ProjectStatus = ["active", "suspended", "closed"];
    /// The status of a membership.
    MembershipStatus = ["active", "suspended", "removed"];
    /// The status of a person.
    PersonStatus = ["active", "inactive", "merged"];
    /// What a resource measures.
    ResourceType = ["cpu", "gpu", "memory", "storage", "other"];
    /// Where a project was awarded.
    Origination = ["ACCESS", "NAIRR", "XRAS", "LOCAL"];
    /// What a change request asks for.
    ChangeRequestKind = ["supplement", "reduction", "extension", "status"];
    /// Where a change request stands.
    ChangeRequestState = ["PENDING", "APPROVED", "REJECTED", "CANCELLED"];
    /// What a diff of an allocation's ledger records.
    DiffKind = ["supplement", "adjustment", "transfer", "status", "end_date"];
    /// Where a task stands.
    TaskState = ["waiting", "queued", "running", "succeeded", "dead", "cancelled"];
    /// An access verdict: granted; blocked (no new jobs, running jobs finish); revoked (access
    /// removed).
    AccessVerdict = ["granted", "blocked", "revoked"];
}

/// Items per page: 1 to [`crate::page::MAX_LIMIT`], default [`crate::page::DEFAULT_LIMIT`].
#[derive(Debug, Clone, Copy)]
pub struct Limit;

impl PartialSchema for Limit {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int32,
            )))
            .minimum(Some(1))
            .maximum(Some(crate::page::MAX_LIMIT))
            .default(Some(crate::page::DEFAULT_LIMIT.into()))
            .description(Some("Items per page."))
            .into()
    }
}

impl ToSchema for Limit {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_that_share_a_pattern_share_its_sentence() {
        for (index, rule) in PATTERN_RULES.iter().enumerate() {
            assert!(
                PATTERN_RULES[..index]
                    .iter()
                    .all(|other| other.pattern != rule.pattern || other.sentence == rule.sentence),
                "{} is the pattern of two rules with different sentences, so its sentence is ambiguous",
                rule.pattern
            );
        }
    }
}
