//! The OpenAPI document is generated from the code; docs/openapi.json is a copy that must not
//! drift. Regenerate it with `purser api --openapi > docs/openapi.json`.

use reqwest::Method;

use crate::support::spawn_app;

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&purser_api::openapi::document()).unwrap();
    text.push('\n');
    text
}

#[test]
fn docs_openapi_json_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let kept = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        kept == generated(),
        "docs/openapi.json differs from the API; regenerate it: cargo run -q --bin purser -- api --openapi > docs/openapi.json"
    );
}

/// Every `pattern` in a document, with where it is.
fn patterns(value: &serde_json::Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, child) in object {
                match (key.as_str(), child) {
                    ("pattern", serde_json::Value::String(pattern)) => {
                        found.push((at.to_string(), pattern.clone()));
                    }
                    _ => patterns(child, &format!("{at}/{key}"), found),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                patterns(item, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn every_pattern_in_the_document_compiles_and_accepts_exactly_what_it_should() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut found = Vec::new();
    patterns(&document, "", &mut found);
    assert!(!found.is_empty());
    // (pattern's rule, values it must accept, values it must refuse)
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "NonBlank",
            &["Acme University", "x", " a "],
            &["", "   ", "\t"],
        ),
        (
            "Name",
            &["Acme University", "x", &"x".repeat(256)],
            &["", "   ", &"x".repeat(257)],
        ),
        (
            "Email",
            &["ada@esu.example"],
            &["ada", "a b@c.d", "@c", "a@"],
        ),
        (
            "IdentitySource",
            &["access", "campus.sso"],
            &["Access", "", "-x"],
        ),
        (
            "PosixUsername",
            &["ada", "_svc", "a.b-c"],
            &["Ada", "1ada", "", &"a".repeat(33)],
        ),
        (
            "SiteName",
            &["expanse", "Delta-2"],
            &["", "a b", "-x", &"a".repeat(64)],
        ),
        (
            "SlurmAccount",
            &["che260001", "a.b_c-d"],
            &["CHE260001", "", "a b", &"a".repeat(65)],
        ),
        (
            "SlurmTres",
            &["cpu", "gres/gpu", "gres/gpu:a100"],
            &["CPU", "gres/", "/gpu"],
        ),
        (
            "TaskKind",
            &["noop", "slurm.account.ensure"],
            &["Noop", "a..b", ".a", ""],
        ),
        (
            "Amount",
            &[
                "0",
                "1000",
                "1000.5",
                "0.000001",
                "999999999999999.999999",
                "0001",
            ],
            &[
                "-1",
                "1e3",
                "1,000",
                "",
                ".5",
                "1.",
                "0.0000001",
                "1000000000000000",
                "NaN",
                "Infinity",
            ],
        ),
        (
            "SignedAmount",
            &["-20", "0", "1000.5", "-999999999999999.999999"],
            &[
                "+1",
                "1e3",
                "--1",
                "",
                "-1000000000000000",
                "1.0000001",
                "-Infinity",
            ],
        ),
        (
            "PositiveAmount",
            &[
                "1",
                "0.5",
                "1000.5",
                "0010",
                "0.000001",
                "0.100000",
                "999999999999999.999999",
            ],
            &[
                "0",
                "0.0",
                "-5000",
                "1e3",
                "",
                "0.0000001",
                "0.000000",
                "1000000000000000",
                "1.0000001",
                "NaN",
            ],
        ),
    ];
    let schemas = &document["components"]["schemas"];
    for (rule, valid, invalid) in cases {
        let pattern = schemas[rule]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("no pattern for {rule}"));
        let regex = regex::Regex::new(pattern).unwrap();
        for value in *valid {
            assert!(
                regex.is_match(value),
                "{rule} ({pattern}) refuses {value:?}"
            );
        }
        for value in *invalid {
            let max = schemas[rule]["maxLength"].as_u64().unwrap_or(u64::MAX);
            let too_long = value.chars().count() as u64 > max;
            assert!(
                too_long || !regex.is_match(value),
                "{rule} ({pattern}) accepts {value:?}"
            );
        }
    }
    for (at, pattern) in &found {
        assert!(
            regex::Regex::new(pattern).is_ok(),
            "the pattern at {at} does not compile: {pattern}"
        );
        assert!(
            cases
                .iter()
                .any(|(rule, _, _)| schemas[rule]["pattern"] == pattern.as_str()),
            "the pattern at {at} ({pattern}) is not a rule of purser_api::rules with cases here"
        );
    }
}

#[test]
fn every_schema_keyword_in_the_document_is_one_the_server_checks() {
    assert_eq!(
        purser_api::validate::unsupported_keywords(),
        Vec::<String>::new()
    );
}

#[test]
fn the_usage_batch_limit_is_the_documents() {
    let document = serde_json::to_value(purser_api::openapi::document()).unwrap();
    assert_eq!(
        document["components"]["schemas"]["UsageBatch"]["properties"]["records"]["maxItems"],
        purser_api::routes::usage::MAX_BATCH
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let app = spawn_app().await;
    let served = app
        .call(None, Method::GET, "/v1/openapi.json", None)
        .await
        .expect(200);
    assert_eq!(
        served.body,
        serde_json::to_value(purser_api::openapi::document()).unwrap()
    );
}
