//! Every statement the code runs is valid SQL against the migrated schema and takes the
//! parameters its `statements!` entry declares; values bound by name reach those parameters.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use purser_sql::bind;
use purser_sql::bind::Deferred;
use purser_sql::pool::query_one;
use purser_sql::statements::{ALL, API_ALLOCATION_CREATE, Param, Statement};
use purser_sql::test_harness::TestDatabase;
use tokio_postgres::types::Type;

/// What is wrong with a statement's declared parameters, given the types PostgreSQL infers
/// for `$1`, `$2`, …; `None` when they agree.
fn declaration_mismatch(statement: &Statement, inferred: &[Type]) -> Option<String> {
    let declared: Vec<&Type> = statement
        .params
        .iter()
        .map(|param| &param.sql_type)
        .collect();
    let inferred: Vec<&Type> = inferred.iter().collect();
    (declared != inferred).then(|| {
        let render = |types: &[&Type]| {
            types
                .iter()
                .map(|sql_type| sql_type.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{} declares ({}) but PostgreSQL infers ({})",
            statement.name,
            render(&declared),
            render(&inferred)
        )
    })
}

#[tokio::test]
async fn every_statement_prepares_and_takes_the_parameter_types_it_declares() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let mut failures = Vec::new();
    for statement in ALL {
        match client.prepare(statement.text).await {
            Err(error) => failures.push(format!(
                "{}: {}",
                statement.name,
                purser_sql::error::flatten_pg_error(&error)
            )),
            Ok(prepared) => failures.extend(declaration_mismatch(statement, prepared.params())),
        }
    }
    assert!(
        failures.is_empty(),
        "statements that do not prepare or declare other parameters:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_declaration_in_another_order_than_the_statement_fails_the_check() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let prepared = client.prepare(API_ALLOCATION_CREATE.text).await.unwrap();
    assert_eq!(
        declaration_mismatch(&API_ALLOCATION_CREATE, prepared.params()),
        None
    );
    // Swap the declarations of $2 (cluster_id, uuid) and $3 (account_name, text).
    let mut params = API_ALLOCATION_CREATE.params.to_vec();
    params.swap(1, 2);
    let misdeclared = Statement {
        params: params.leak(),
        ..API_ALLOCATION_CREATE
    };
    assert_eq!(
        declaration_mismatch(&misdeclared, prepared.params()).as_deref(),
        Some(
            "api_allocation_create declares (uuid, text, uuid, numeric, timestamptz, \
             timestamptz, _uuid, _numeric) but PostgreSQL infers (uuid, uuid, text, numeric, \
             timestamptz, timestamptz, _uuid, _numeric)"
        )
    );
}

#[test]
fn every_statement_declares_each_parameter_name_once() {
    let repeated: Vec<String> = ALL
        .iter()
        .flat_map(|statement| {
            statement
                .params
                .iter()
                .enumerate()
                .filter(|(index, param)| {
                    statement.params[..*index]
                        .iter()
                        .any(|earlier| earlier.name == param.name)
                })
                .map(|(_, param)| format!("{}: {}", statement.name, param.name))
        })
        .collect();
    assert!(
        repeated.is_empty(),
        "parameters declared twice: {repeated:?}"
    );
}

/// A statement that returns its two parameters, to see where bound values land.
const ECHO: Statement = Statement {
    name: "echo",
    text: "SELECT $1::text AS first, $2::text AS second",
    params: &[
        Param {
            name: "first",
            sql_type: Type::TEXT,
        },
        Param {
            name: "second",
            sql_type: Type::TEXT,
        },
    ],
};

/// `first`, bound by the function a partial binding of [`ECHO`] is given to.
enum First {}

impl Deferred for First {
    const NAMES: &'static [&'static str] = &["first"];
}

#[tokio::test]
async fn values_bound_by_name_reach_the_declared_parameters_in_any_order() {
    let database = TestDatabase::new().await;
    let client = database.pool().connection().await.unwrap();
    let row = query_one(&client, bind!(ECHO, second = &"two", first = &"one"))
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>("first"), "one");
    assert_eq!(row.get::<_, &str>("second"), "two");

    let partial = bind!(ECHO, second = &"two", ..First);
    let row = query_one(&client, partial.complete([&"one"]))
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>("first"), "one");
    assert_eq!(row.get::<_, &str>("second"), "two");
}

#[test]
fn every_query_file_is_in_the_statement_list() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let mut on_disk: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "sql"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = ALL
        .iter()
        .map(|statement| statement.name.to_string())
        .collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "sql/queries/*.sql and statements! must list the same files"
    );
}
