//! docs/api-reference.md is rendered from the OpenAPI document and must not drift; its example
//! bodies must fit the schemas they illustrate. Regenerate it with
//! `purser api --reference > docs/api-reference.md`.

use purser_api::reference::{REQUEST_EXAMPLES, example_body, markdown};
use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(purser_api::openapi::document()).unwrap()
}

/// The schema names of every operation's JSON request body.
fn request_bodies(document: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let body = &operation["requestBody"]["content"]["application/json"]["schema"];
            if let Some(reference) = body["$ref"].as_str() {
                names.push(
                    reference
                        .trim_start_matches("#/components/schemas/")
                        .to_string(),
                );
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// What is wrong with `value` as an instance of `schema` (required and unknown fields, types,
/// uuid and date-time formats), each naming where.
fn misfits(document: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return misfits(
            document,
            &document["components"]["schemas"][name],
            value,
            at,
        );
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => return Vec::new(),
    };
    let fits = |name: &str| match name {
        "null" => value.is_null(),
        "string" => value.is_string(),
        "integer" => value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !types.iter().any(|name| fits(name)) {
        return vec![format!("{at}: {value} is not {types:?}")];
    }
    let mut found = Vec::new();
    match value {
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                if !fields.contains_key(required.as_str().unwrap()) {
                    found.push(format!("{at}: lacks the required {required}"));
                }
            }
            for (field, field_value) in fields {
                match schema["properties"].get(field) {
                    Some(property) => found.extend(misfits(
                        document,
                        property,
                        field_value,
                        &format!("{at}/{field}"),
                    )),
                    None if schema["additionalProperties"] == Value::Bool(false) => {
                        found.push(format!("{at}: has the unknown field {field}"))
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                found.extend(misfits(
                    document,
                    &schema["items"],
                    item,
                    &format!("{at}/{index}"),
                ));
            }
        }
        Value::String(text) => match schema["format"].as_str() {
            Some("uuid") if text.parse::<uuid::Uuid>().is_err() => {
                found.push(format!("{at}: {text} is not a uuid"))
            }
            Some("date-time") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
                found.push(format!("{at}: {text} is not an RFC 3339 time"))
            }
            _ => {}
        },
        _ => {}
    }
    found
}

#[test]
fn docs_api_reference_md_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api-reference.md");
    let kept = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        kept == markdown().unwrap(),
        "docs/api-reference.md differs from the API; regenerate it: cargo run -q --bin purser -- api --reference > docs/api-reference.md"
    );
}

#[test]
fn the_reference_lists_every_operation_of_the_document() {
    let document = document();
    let reference = markdown().unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let heading = format!("### `{} {path}`", method.to_uppercase());
            assert!(
                reference.contains(&heading),
                "the reference lacks {heading}"
            );
        }
    }
}

#[test]
fn every_request_body_example_fits_its_schema() {
    let document = document();
    let bodies = request_bodies(&document);
    assert!(!bodies.is_empty());
    for name in bodies {
        let example = example_body(&document, &name);
        let schema = serde_json::json!({"$ref": format!("#/components/schemas/{name}")});
        let found = misfits(&document, &schema, &example, &name);
        assert!(found.is_empty(), "{name}'s example {example}: {found:?}");
    }
}

#[test]
fn every_hand_written_example_is_json_for_a_request_body_of_the_api() {
    let bodies = request_bodies(&document());
    for (name, text) in REQUEST_EXAMPLES {
        assert!(
            bodies.contains(&name.to_string()),
            "REQUEST_EXAMPLES has {name}, which no endpoint takes"
        );
        let parsed: Result<Value, _> = serde_json::from_str(text);
        assert!(parsed.is_ok(), "{name}'s example is not JSON: {parsed:?}");
    }
}
