//! The endpoint reference a portal developer works from, `docs/api-reference.md`, rendered as
//! markdown from the OpenAPI document (`purser api --reference`), so an endpoint added to the
//! code is in the reference at the next regeneration, and a test fails while the kept copy is
//! stale. Each operation is listed under its tag with its parameters, its request body's fields
//! and an example body, and its response type; the response types follow at the end.
//!
//! Example bodies come from one place: [`REQUEST_EXAMPLES`], written by hand with the demo
//! centre's names; a body without one there uses its schema's own `example`, or else one made
//! from its schema (a value of each field's type, format and pattern).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Value, json};

/// The HTTP methods, in the order an operation's methods are listed.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The id used in made-up examples.
const EXAMPLE_ID: &str = "0193a6f2-7c1e-7a4b-9d2e-5f3c8b1a0e47";

/// Hand-written example bodies by request schema name, with the demo centre's people, projects
/// and clusters (`purser seed demo`). Ids are placeholders for the ones a list returns.
pub const REQUEST_EXAMPLES: &[(&str, &str)] = &[
    ("NewOrganization", r#"{"name": "Example State University"}"#),
    (
        "NewPerson",
        r#"{"name": "Frances Allen", "email": "frances@esu.example",
            "organization_id": "0193a6f2-0000-7000-8000-00000000e5a0"}"#,
    ),
    (
        "NewIdentity",
        r#"{"source": "access", "external_id": "frances-access-id"}"#,
    ),
    (
        "NewClusterAccount",
        r#"{"cluster_id": "0193a6f2-0000-7000-8000-0000000e7a45", "username": "barbara", "uid": 10006}"#,
    ),
    (
        "NewCluster",
        r#"{"name": "expanse", "description": "The campus flagship: CPU and H200 GPU nodes"}"#,
    ),
    (
        "NewResource",
        r#"{"cluster_id": "0193a6f2-0000-7000-8000-0000000e7a45", "name": "GPU H200",
            "resource_type": "gpu", "unit": "gpu-hours", "slurm_partition": "gpu",
            "slurm_tres": "gres/gpu"}"#,
    ),
    (
        "NewRate",
        r#"{"rate": "0.0125", "valid_from": "2026-07-01T00:00:00Z"}"#,
    ),
    (
        "NewProject",
        r#"{"title": "Protein folding at scale", "pi_id": "0193a6f2-0000-7000-8000-000000000ada",
            "origination": "ACCESS", "originated_id": "CHE260001"}"#,
    ),
    ("ProjectChange", r#"{"status": "suspended"}"#),
    (
        "NewAllocation",
        r#"{"project_id": "0193a6f2-0000-7000-8000-000000c4e001", "cluster_id": "0193a6f2-0000-7000-8000-0000000e7a45",
            "account_name": "che260001", "initial_su": "50000",
            "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
            "resources": [{"resource_id": "0193a6f2-0000-7000-8000-00000000c9a0"},
                          {"resource_id": "0193a6f2-0000-7000-8000-00000000c9a1", "limit_su": "5000"}]}"#,
    ),
    (
        "NewAdjustment",
        r#"{"su_delta": "-250", "reason": "Refund of jobs lost to the 3 November outage, charged twice."}"#,
    ),
    (
        "NewTransfer",
        r#"{"from_allocation_id": "0193a6f2-0000-7000-8000-000000c4e001",
            "to_allocation_id": "0193a6f2-0000-7000-8000-000000c4e002", "su": "2000",
            "reason": "The PI moves SUs to the physics allocation."}"#,
    ),
    (
        "Merge",
        r#"{"duplicate_id": "0193a6f2-0000-7000-8000-0000000ba4bb"}"#,
    ),
    (
        "NewMembership",
        r#"{"allocation_id": "0193a6f2-0000-7000-8000-000000c4e001", "person_id": "0193a6f2-0000-7000-8000-0000000ba4ba",
            "cap_su": "1000"}"#,
    ),
    (
        "MembershipChange",
        r#"{"cap_su": "2500.5", "ends_at": null}"#,
    ),
    (
        "NewChangeRequest",
        r#"{"allocation_id": "0193a6f2-0000-7000-8000-000000c4e001", "kind": "supplement",
            "requested_su": "10000", "justification": "The folding runs need a second campaign."}"#,
    ),
    (
        "Decision",
        r#"{"comment": "Approved by the allocations committee."}"#,
    ),
    (
        "UsageBatch",
        r#"{"records": [{"cluster_id": "0193a6f2-0000-7000-8000-0000000e7a45", "job_id": "51001",
            "submit_time": "2026-11-02T08:00:00Z", "end_time": "2026-11-02T20:05:00Z",
            "resource_id": "0193a6f2-0000-7000-8000-00000000c9a0", "allocation_id": "0193a6f2-0000-7000-8000-000000c4e001",
            "person_id": "0193a6f2-0000-7000-8000-000000000ada", "raw_amount": "1536"}]}"#,
    ),
    (
        "NewTaskRequest",
        r#"{"site": "expanse", "kind": "membership.sync",
            "payload": {"account": "che260001", "user": "barbara"},
            "lane": "account:expanse/che260001"}"#,
    ),
];

/// Renders the reference from the API's OpenAPI document.
pub fn markdown() -> Result<String, serde_json::Error> {
    let document = serde_json::to_value(crate::openapi::document())?;
    Ok(render(&document))
}

/// Renders the reference from an OpenAPI document (as JSON).
pub fn render(document: &Value) -> String {
    let mut out = String::new();
    out.push_str(
        "# API reference\n\n\
         Every endpoint of the REST API, generated from its OpenAPI document by \
         `purser api --reference > docs/api-reference.md` (a test fails when this file is stale). \
         Read [api.md](api.md) first: tokens and roles, errors, pages, idempotency, dates and \
         decimals.\n\n\
         Every endpoint but the health checks needs `Authorization: Bearer TOKEN`. A body is JSON \
         (`Content-Type: application/json`); a field not required may be left out. Any endpoint \
         can answer a [problem](#problem) (400, 401, 403, 404, 409, 413, 415, 422, 500, 503; \
         api.md says when). Ids in the examples are placeholders for the ones the lists return.\n",
    );
    let tags = tags(document);
    out.push_str("\n## Contents\n\n");
    for (name, description) in &tags {
        let _ = writeln!(
            out,
            "- [{name}](#{}): {description}",
            anchor(&tag_heading(name, description))
        );
    }
    out.push_str("- [Types](#types): what the endpoints answer\n");
    let mut request_bodies = BTreeSet::new();
    let mut response_roots = Vec::new();
    for (name, description) in &tags {
        let _ = writeln!(out, "\n## {}", tag_heading(name, description));
        for (path, method, operation) in operations(document) {
            if operation["tags"][0].as_str() != Some(name.as_str()) {
                continue;
            }
            render_operation(
                &mut out,
                document,
                path,
                method,
                operation,
                &mut request_bodies,
                &mut response_roots,
            );
        }
    }
    out.push_str("\n## Types\n");
    for name in types_to_list(document, &request_bodies, &response_roots) {
        let schema = &document["components"]["schemas"][&name];
        let _ = write!(
            out,
            "\n### {name}\n\n{}\n",
            one_line(&schema["description"])
        );
        fields_table(&mut out, document, schema);
    }
    out
}

/// The document's tags and their descriptions, in the document's order.
fn tags(document: &Value) -> Vec<(String, String)> {
    document["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|tag| {
                    Some((
                        tag["name"].as_str()?.to_string(),
                        one_line(&tag["description"]),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A tag's heading (its name alone would share its anchor with a type's, as `health` does).
fn tag_heading(name: &str, description: &str) -> String {
    format!("{name}: {description}")
}

/// Every operation: (path, method, operation), by path, then method.
fn operations(document: &Value) -> Vec<(&str, &'static str, &Value)> {
    let mut found = Vec::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    found.push((path.as_str(), method, operation));
                }
            }
        }
    }
    found
}

/// One operation: its line, summary, parameters, body with example, and responses.
fn render_operation(
    out: &mut String,
    document: &Value,
    path: &str,
    method: &str,
    operation: &Value,
    request_bodies: &mut BTreeSet<String>,
    response_roots: &mut Vec<String>,
) {
    let _ = write!(
        out,
        "\n### `{} {path}`\n\n{}\n",
        method.to_uppercase(),
        one_line(&operation["summary"])
    );
    if operation["description"].is_string() {
        let _ = writeln!(out, "\n{}", one_line(&operation["description"]));
    }
    if let Some(parameters) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("\n| parameter | in | type | required | description |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for parameter in parameters {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                cell(parameter["name"].as_str().unwrap_or_default()),
                parameter["in"].as_str().unwrap_or_default(),
                cell(&type_of(&parameter["schema"])),
                yes_no(parameter["required"] == json!(true)),
                cell(&describe(&parameter["description"], &parameter["schema"]))
            );
        }
    }
    let body = &operation["requestBody"]["content"]["application/json"]["schema"];
    if !body.is_null() {
        let name = schema_name(body);
        let schema = resolve(document, body);
        match &name {
            Some(name) => {
                let _ = write!(
                    out,
                    "\nBody (`{name}`): {}\n",
                    one_line(&schema["description"])
                );
                request_bodies.insert(name.clone());
            }
            None => out.push_str("\nBody:\n"),
        }
        fields_table(out, document, schema);
        let example = name
            .as_deref()
            .map(|name| example_body(document, name))
            .unwrap_or_else(|| made_up(document, body));
        let pretty = serde_json::to_string_pretty(&example).unwrap_or_default();
        let _ = write!(out, "\nExample:\n\n```json\n{pretty}\n```\n");
    }
    if let Some(responses) = operation["responses"].as_object() {
        for (status, response) in responses {
            if !status.starts_with('2') {
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"];
            let answer = match schema_name(schema) {
                Some(name) => match name.strip_prefix("Page_") {
                    Some(item) => {
                        response_roots.push(item.to_string());
                        format!(
                            "a page of {} (`items`, and `next_cursor` unless it is the last page)",
                            link(item)
                        )
                    }
                    None => {
                        let answer = link(&name);
                        response_roots.push(name);
                        answer
                    }
                },
                None if schema.is_null() => "no body".to_string(),
                None => type_of(schema),
            };
            let _ = writeln!(out, "\nAnswers `{status}`: {answer}.");
        }
    }
}

/// The table of an object schema's fields (nothing for a schema without properties).
fn fields_table(out: &mut String, document: &Value, schema: &Value) {
    let schema = resolve(document, schema);
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("\n| field | type | required | description |\n");
    out.push_str("| --- | --- | --- | --- |\n");
    for (field, property) in properties {
        // An optional rule (`Option<Name>`) carries its description on the rule's variant.
        let description = match &property["description"] {
            Value::Null => variants(property)
                .into_iter()
                .find(|variant| variant["type"] != "null")
                .map_or(&Value::Null, |variant| &variant["description"]),
            given => given,
        };
        let _ = writeln!(
            out,
            "| `{field}` | {} | {} | {} |",
            cell(&type_of(property)),
            yes_no(required.contains(field.as_str())),
            cell(&describe(description, property))
        );
    }
}

/// The types the responses name, and every type they refer to, but pages (listed by their item
/// type) and request bodies (listed at their operation) unless a response refers to them.
fn types_to_list(
    document: &Value,
    request_bodies: &BTreeSet<String>,
    roots: &[String],
) -> BTreeSet<String> {
    let mut listed = BTreeSet::new();
    let mut pending: Vec<String> = roots.to_vec();
    pending.push("Problem".to_string());
    // A request body's nested types (a usage batch's records) are listed too.
    for name in request_bodies {
        refer(
            &document["components"]["schemas"][name.as_str()],
            &mut |referred| {
                if !request_bodies.contains(referred) {
                    pending.push(referred.to_string());
                }
            },
        );
    }
    while let Some(name) = pending.pop() {
        let schema = &document["components"]["schemas"][name.as_str()];
        if schema.is_null() || !listed.insert(name) {
            continue;
        }
        refer(schema, &mut |referred| pending.push(referred.to_string()));
    }
    listed
}

/// Calls `found` with the name of every schema a schema refers to.
fn refer(schema: &Value, found: &mut dyn FnMut(&str)) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value.as_str()) {
                    ("$ref", Some(reference)) => {
                        if let Some(name) = reference.strip_prefix("#/components/schemas/") {
                            found(name);
                        }
                    }
                    _ => refer(value, found),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|value| refer(value, found)),
        _ => {}
    }
}

/// The example body for a request schema: the hand-written one, else the schema's own example,
/// else one made from the schema.
pub fn example_body(document: &Value, schema_name: &str) -> Value {
    REQUEST_EXAMPLES
        .iter()
        .find(|(name, _)| *name == schema_name)
        .and_then(|(_, text)| serde_json::from_str(text).ok())
        .unwrap_or_else(|| {
            made_up(
                document,
                &json!({"$ref": format!("#/components/schemas/{schema_name}")}),
            )
        })
}

/// A value a schema accepts: its own example if it has one, else a value of its type, format
/// and pattern, with every field of an object.
fn made_up(document: &Value, schema: &Value) -> Value {
    let schema = resolve(document, schema);
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(first) = schema["examples"].get(0).or(schema["enum"].get(0)) {
        return first.clone();
    }
    if let Some(variant) = variants(schema).into_iter().find(|v| v["type"] != "null") {
        return made_up(document, variant);
    }
    match base_type(schema) {
        "object" => Value::Object(
            schema["properties"]
                .as_object()
                .map(|properties| {
                    properties
                        .iter()
                        .map(|(field, property)| (field.clone(), made_up(document, property)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "array" => json!([made_up(document, &schema["items"])]),
        "integer" | "number" => json!(schema["minimum"].as_i64().unwrap_or(1).max(1)),
        "boolean" => json!(true),
        "string" => json!(made_up_text(schema)),
        _ => Value::Null,
    }
}

/// A string a string schema accepts, by its format or pattern.
fn made_up_text(schema: &Value) -> String {
    match (schema["format"].as_str(), schema["pattern"].as_str()) {
        (Some("uuid"), _) => EXAMPLE_ID.to_string(),
        (Some("date-time"), _) => "2026-07-01T00:00:00Z".to_string(),
        (Some("date"), _) => "2026-07-01".to_string(),
        (_, Some(pattern)) => match alternatives(pattern) {
            Some(values) => values.into_iter().next().unwrap_or_default(),
            None if pattern.starts_with("^[0-9]") => "1000".to_string(),
            None => "example".to_string(),
        },
        _ => "example".to_string(),
    }
}

/// The values of a pattern of the form `^(a|b|c)$`.
fn alternatives(pattern: &str) -> Option<Vec<String>> {
    let inner = pattern.strip_prefix("^(")?.strip_suffix(")$")?;
    let plain = |value: &str| {
        !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    };
    let values: Vec<String> = inner.split('|').map(str::to_string).collect();
    values.iter().all(|value| plain(value)).then_some(values)
}

/// A schema's description with its constraints, on one line.
fn describe(description: &Value, schema: &Value) -> String {
    let mut text = one_line(description);
    let mut add = |sentence: String| {
        if !text.is_empty() && !text.ends_with('.') {
            text.push('.');
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&sentence);
    };
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        add(format!("One of {}.", values.join(", ")));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        match alternatives(pattern) {
            Some(values) => {
                let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                add(format!("One of {}.", values.join(", ")));
            }
            None => add(format!("Matches `{pattern}`.")),
        }
    }
    for (key, words, unit) in [
        ("minimum", "At least", ""),
        ("maximum", "At most", ""),
        ("minLength", "At least", " characters"),
        ("maxLength", "At most", " characters"),
        ("minItems", "At least", " items"),
        ("maxItems", "At most", " items"),
    ] {
        if let Some(bound) = schema[key].as_i64() {
            add(format!("{words} {bound}{unit}."));
        }
    }
    text
}

/// How a schema reads in a table: a type with its format, a link to a named type, a list of
/// them, "or null" when null is allowed.
fn type_of(schema: &Value) -> String {
    if let Some(name) = schema_name(schema) {
        return link(&name);
    }
    let variants = variants(schema);
    if !variants.is_empty() {
        let nullable = variants.iter().any(|v| v["type"] == "null");
        let names: Vec<String> = variants
            .iter()
            .filter(|v| v["type"] != "null")
            .map(|v| type_of(v))
            .collect();
        let mut name = names.join(" or ");
        if nullable {
            name.push_str(" or null");
        }
        return name;
    }
    let mut name = match base_type(schema) {
        "array" => format!("list of {}", type_of(&schema["items"])),
        "string" => schema["format"].as_str().unwrap_or("string").to_string(),
        "integer" => "integer".to_string(),
        "" => "any JSON".to_string(),
        other => other.to_string(),
    };
    let nullable = schema["type"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "null"));
    if nullable {
        name.push_str(" or null");
    }
    name
}

/// The alternatives of a `oneOf` or `anyOf` schema (none for other schemas).
fn variants(schema: &Value) -> Vec<&Value> {
    schema["oneOf"]
        .as_array()
        .or(schema["anyOf"].as_array())
        .map(|variants| variants.iter().collect())
        .unwrap_or_default()
}

/// A schema's type other than null ("" when it has none).
fn base_type(schema: &Value) -> &str {
    match &schema["type"] {
        Value::String(name) => name,
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .find(|name| *name != "null")
            .unwrap_or_default(),
        _ => "",
    }
}

/// The component name a schema refers to, if it is a reference.
fn schema_name(schema: &Value) -> Option<String> {
    schema["$ref"]
        .as_str()?
        .strip_prefix("#/components/schemas/")
        .map(str::to_string)
}

/// The schema a reference points to, or the schema itself.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema_name(schema) {
        Some(name) => &document["components"]["schemas"][name.as_str()],
        None => schema,
    }
}

/// A markdown link to a type's section.
fn link(name: &str) -> String {
    format!("[{name}](#{})", anchor(name))
}

/// The anchor GitHub gives a heading.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Text on one line.
fn one_line(text: &Value) -> String {
    text.as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text safe in a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The required column's word.
fn yes_no(required: bool) -> &'static str {
    if required { "yes" } else { "no" }
}
