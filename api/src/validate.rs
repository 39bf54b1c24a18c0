//! Requests checked against the OpenAPI document itself: a JSON body against its schema in
//! `components.schemas`, query parameters against the operation's parameters. Every field at
//! fault is reported, each with a JSON pointer (or the parameter's name) and a sentence naming
//! it (`requested_su must be more than 0, …`), not only the first. Because the server checks
//! what the document says, a client that validates against docs/openapi.json and the server
//! accept exactly the same requests.
//!
//! The document's schemas use a small part of JSON Schema (`type`, `$ref`, `oneOf`, `allOf`,
//! `anyOf`, `properties`, `required`, `additionalProperties`, `items`, `enum`, `pattern`,
//! `format`, lengths, bounds and item counts); [`unsupported_keywords`] lists any other keyword
//! a schema uses, and a test keeps that list empty, so no rule is silently skipped.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate};
use regex::Regex;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::problem::FieldError;

/// The keywords the checker understands; annotations it may ignore are included.
const KNOWN_KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "oneOf",
    "allOf",
    "anyOf",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "pattern",
    "format",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    // Annotations: they describe, they do not constrain.
    "description",
    "title",
    "examples",
    "example",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentMediaType",
];

/// The document as JSON, and its patterns compiled.
struct Contract {
    document: Value,
    patterns: HashMap<String, Regex>,
}

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| {
    let document = serde_json::to_value(crate::openapi::document()).unwrap_or(Value::Null);
    let mut found = Vec::new();
    collect_patterns(&document, &mut found);
    let patterns = found
        .into_iter()
        .filter_map(|pattern| {
            Regex::new(&pattern)
                .map_err(|error| tracing::error!(%pattern, %error, "a pattern does not compile"))
                .ok()
                .map(|regex| (pattern, regex))
        })
        .collect();
    Contract { document, patterns }
});

/// Every `pattern` in a document.
fn collect_patterns(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                match (key.as_str(), child) {
                    ("pattern", Value::String(pattern)) => found.push(pattern.clone()),
                    _ => collect_patterns(child, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_patterns(item, found)),
        _ => {}
    }
}

/// Checks a JSON body against the component schema named `schema`; the errors, every one.
pub fn body(schema: &str, value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match CONTRACT
        .document
        .pointer(&format!("/components/schemas/{schema}"))
    {
        Some(schema) => CONTRACT.check(schema, value, "", &mut errors),
        None => errors.push(FieldError {
            pointer: String::new(),
            detail: format!("the API document has no schema {schema}; this is a server fault"),
        }),
    }
    errors
}

/// A query parameter as the document declares it.
pub struct Parameter {
    /// Its name.
    pub name: String,
    /// Whether the request must give it.
    pub required: bool,
    /// Its schema.
    pub schema: Value,
}

/// Checks query parameters (name, raw value) against the declared ones and turns them into a
/// JSON object of typed values (numbers and booleans as such), or the errors, every one.
pub fn parameters(
    declared: &[Parameter],
    given: Vec<(String, String)>,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut object = Map::new();
    for (name, raw) in given {
        let Some(parameter) = declared.iter().find(|parameter| parameter.name == name) else {
            let valid: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
            errors.push(FieldError {
                detail: format!(
                    "{name} is not a parameter of this request; its parameters are {}",
                    valid.join(", ")
                ),
                pointer: name,
            });
            continue;
        };
        if object.contains_key(&name) {
            errors.push(FieldError {
                detail: format!("{name} is given more than once"),
                pointer: name,
            });
            continue;
        }
        let before = errors.len();
        let value = CONTRACT.coerce(&parameter.schema, &name, raw, &mut errors);
        if errors.len() == before {
            CONTRACT.check(&parameter.schema, &value, &name, &mut errors);
        }
        object.insert(name, value);
    }
    for parameter in declared {
        if parameter.required && !object.contains_key(&parameter.name) {
            errors.push(FieldError {
                pointer: parameter.name.clone(),
                detail: format!("{} is required", parameter.name),
            });
        }
    }
    if errors.is_empty() {
        Ok(object)
    } else {
        Err(errors)
    }
}

/// How a pointer reads in a sentence: `/records/3/raw_amount` is `records[3].raw_amount`; a
/// query parameter's name is itself.
pub fn field_name(pointer: &str) -> String {
    let Some(path) = pointer.strip_prefix('/') else {
        return if pointer.is_empty() {
            "the body".to_string()
        } else {
            pointer.to_string()
        };
    };
    let mut name = String::new();
    for segment in path.split('/') {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|byte| byte.is_ascii_digit()) {
            name.push_str(&format!("[{segment}]"));
        } else {
            if !name.is_empty() {
                name.push('.');
            }
            name.push_str(&segment);
        }
    }
    name
}

/// A field error: the pointer, and a sentence beginning with the field's name.
fn fault(pointer: &str, rest: impl std::fmt::Display) -> FieldError {
    FieldError {
        pointer: pointer.to_string(),
        detail: format!("{} {rest}", field_name(pointer)),
    }
}

/// The JSON type names a value has (an integer is also a number).
fn value_types(value: &Value) -> &'static [&'static str] {
    match value {
        Value::Null => &["null"],
        Value::Bool(_) => &["boolean"],
        Value::Number(number) if number.is_i64() || number.is_u64() => &["integer", "number"],
        Value::Number(_) => &["number"],
        Value::String(_) => &["string"],
        Value::Array(_) => &["array"],
        Value::Object(_) => &["object"],
    }
}

/// The types a schema's `type` allows, if it says.
fn schema_types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(one) => Some(vec![one.as_str()]),
        Value::Array(many) => Some(many.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

/// What a value of these types is, for "must be …".
fn describe_types(types: &[&str], schema: &Value) -> String {
    let names: Vec<&str> = types
        .iter()
        .filter(|kind| **kind != "null")
        .map(|kind| match *kind {
            "string" => match schema.get("format").and_then(Value::as_str) {
                Some("uuid") => "a UUID",
                Some("date-time") => "a time such as 2026-05-01T00:00:00Z",
                Some("date") => "a date such as 2026-05-01",
                _ => "a string",
            },
            "integer" => "a whole number",
            "number" => "a number",
            "boolean" => "true or false",
            "array" => "a list",
            "object" => "an object",
            _ => "a value of another type",
        })
        .collect();
    match names.as_slice() {
        [] => "null".to_string(),
        [one] => one.to_string(),
        many => many.join(" or "),
    }
}

impl Contract {
    /// The schema a `$ref` points to.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix('#')
                .and_then(|pointer| self.document.pointer(pointer))
                .map_or(schema, |target| self.resolve(target)),
            None => schema,
        }
    }

    /// Whether a value keeps a schema.
    fn accepts(&self, schema: &Value, value: &Value) -> bool {
        let mut errors = Vec::new();
        self.check(schema, value, "", &mut errors);
        errors.is_empty()
    }

    /// Checks `value` at `pointer` against `schema`, adding every fault to `errors`.
    fn check(&self, schema: &Value, value: &Value, pointer: &str, errors: &mut Vec<FieldError>) {
        let schema = self.resolve(schema);
        if let Some(branches) = schema.get("allOf").and_then(Value::as_array) {
            for branch in branches {
                self.check(branch, value, pointer, errors);
            }
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(branches) = schema.get(keyword).and_then(Value::as_array) {
                self.check_alternatives(keyword, branches, value, pointer, errors);
            }
        }
        if let Some(types) = schema_types(schema) {
            let actual = value_types(value);
            if !types.iter().any(|kind| actual.contains(kind)) {
                let rule = schema
                    .get("pattern")
                    .and_then(Value::as_str)
                    .and_then(crate::rules::pattern_sentence);
                errors.push(fault(
                    pointer,
                    match (rule, value) {
                        (_, Value::Null) => "must not be null".to_string(),
                        (Some(sentence), _) => sentence.to_string(),
                        (None, _) => format!("must be {}", describe_types(&types, schema)),
                    },
                ));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let listed: Vec<String> = allowed
                .iter()
                .map(|item| match item {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect();
            errors.push(fault(
                pointer,
                format!("must be one of {}", listed.join(", ")),
            ));
            return;
        }
        match value {
            Value::String(text) => self.check_string(schema, text, pointer, errors),
            Value::Number(number) => check_number(schema, number, pointer, errors),
            Value::Object(object) => self.check_object(schema, object, pointer, errors),
            Value::Array(items) => self.check_array(schema, items, pointer, errors),
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// `oneOf` (exactly one branch) or `anyOf` (at least one): when none fits, the faults of
    /// the branch meant for this kind of value.
    fn check_alternatives(
        &self,
        keyword: &str,
        branches: &[Value],
        value: &Value,
        pointer: &str,
        errors: &mut Vec<FieldError>,
    ) {
        let fitting = branches
            .iter()
            .filter(|branch| self.accepts(branch, value))
            .count();
        if fitting == 1 || (keyword == "anyOf" && fitting > 1) {
            return;
        }
        if fitting > 1 {
            errors.push(fault(pointer, "matches more than one of its forms"));
            return;
        }
        let actual = value_types(value);
        let meant = branches
            .iter()
            .find(|branch| {
                schema_types(self.resolve(branch))
                    .is_some_and(|types| types.iter().any(|kind| actual.contains(kind)))
            })
            .or_else(|| {
                branches.iter().find(|branch| {
                    schema_types(self.resolve(branch)).is_none_or(|types| types != ["null"])
                })
            });
        match meant {
            Some(branch) => self.check(branch, value, pointer, errors),
            None => errors.push(fault(pointer, "is not of any form this field takes")),
        }
    }

    fn check_string(
        &self,
        schema: &Value,
        text: &str,
        pointer: &str,
        errors: &mut Vec<FieldError>,
    ) {
        let length = text.chars().count();
        let min = schema.get("minLength").and_then(Value::as_u64);
        let max = schema.get("maxLength").and_then(Value::as_u64);
        let length = u64::try_from(length).unwrap_or(u64::MAX);
        if min.is_some_and(|min| length < min) {
            errors.push(fault(
                pointer,
                match min {
                    Some(1) => "must not be empty".to_string(),
                    Some(min) => format!("must be at least {min} characters"),
                    None => String::new(),
                },
            ));
            return;
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            let matches = self
                .patterns
                .get(pattern)
                .is_some_and(|regex| regex.is_match(text));
            if !matches {
                let sentence = crate::rules::pattern_sentence(pattern)
                    .map_or_else(|| format!("must match {pattern}"), str::to_string);
                errors.push(fault(pointer, sentence));
                return;
            }
        }
        if let Some(max) = max
            && length > max
        {
            errors.push(fault(pointer, format!("must be at most {max} characters")));
            return;
        }
        let well_formed = match schema.get("format").and_then(Value::as_str) {
            Some("uuid") => text.len() == 36 && Uuid::try_parse(text).is_ok(),
            Some("date-time") => match DateTime::parse_from_rfc3339(text) {
                Ok(time) if !is_instant(time.timestamp()) => {
                    errors.push(fault(pointer, "must be from 1970-01-01 to 9999-12-31 UTC"));
                    return;
                }
                parsed => parsed.is_ok(),
            },
            Some("date") => NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
            _ => true,
        };
        if !well_formed {
            errors.push(fault(
                pointer,
                format!("must be {}", describe_types(&["string"], schema)),
            ));
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        object: &Map<String, Value>,
        pointer: &str,
        errors: &mut Vec<FieldError>,
    ) {
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    errors.push(fault(&format!("{pointer}/{name}"), "is required"));
                }
            }
        }
        for (name, child) in object {
            let child_pointer = format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"));
            match (properties.get(name), schema.get("additionalProperties")) {
                (Some(property), _) => self.check(property, child, &child_pointer, errors),
                (None, Some(Value::Bool(false))) => {
                    let fields: Vec<&str> = properties.keys().map(String::as_str).collect();
                    errors.push(fault(
                        &child_pointer,
                        format!(
                            "is not a field of {}; its fields are {}",
                            if pointer.is_empty() {
                                "this request".to_string()
                            } else {
                                field_name(pointer)
                            },
                            fields.join(", ")
                        ),
                    ));
                }
                (None, Some(extra @ Value::Object(_))) => {
                    self.check(extra, child, &child_pointer, errors);
                }
                (None, _) => {}
            }
        }
    }

    fn check_array(
        &self,
        schema: &Value,
        items: &[Value],
        pointer: &str,
        errors: &mut Vec<FieldError>,
    ) {
        let count = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let min = schema.get("minItems").and_then(Value::as_u64);
        let max = schema.get("maxItems").and_then(Value::as_u64);
        if min.is_some_and(|min| count < min) || max.is_some_and(|max| count > max) {
            let bounds = match (min, max) {
                (Some(min), Some(max)) => format!("from {min} to {max} items"),
                (Some(min), None) => format!("at least {min} items"),
                (None, Some(max)) => format!("at most {max} items"),
                (None, None) => String::new(),
            };
            errors.push(fault(pointer, format!("must hold {bounds}, not {count}")));
            return;
        }
        if let Some(item_schema) = schema.get("items") {
            for (index, item) in items.iter().enumerate() {
                self.check(item_schema, item, &format!("{pointer}/{index}"), errors);
            }
        }
    }

    /// A query parameter's raw text as the JSON value its schema's type calls for.
    fn coerce(
        &self,
        schema: &Value,
        name: &str,
        raw: String,
        errors: &mut Vec<FieldError>,
    ) -> Value {
        let types = self.types_of(schema);
        let has = |kind: &str| types.iter().any(|candidate| candidate == kind);
        if has("integer") {
            return match raw.parse::<i64>() {
                Ok(number) => Value::from(number),
                Err(_) => {
                    errors.push(fault(name, "must be a whole number"));
                    Value::String(raw)
                }
            };
        }
        if has("boolean") {
            return match raw.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    errors.push(fault(name, "must be true or false"));
                    Value::String(raw)
                }
            };
        }
        Value::String(raw)
    }

    /// The types a schema allows, looking through `$ref` and alternatives.
    fn types_of(&self, schema: &Value) -> Vec<String> {
        let schema = self.resolve(schema);
        let mut types: Vec<String> = schema_types(schema)
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect();
        for keyword in ["oneOf", "anyOf", "allOf"] {
            for branch in schema
                .get(keyword)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                types.extend(self.types_of(branch));
            }
        }
        types
    }
}

fn check_number(
    schema: &Value,
    number: &serde_json::Number,
    pointer: &str,
    errors: &mut Vec<FieldError>,
) {
    let (low, high) = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => (Some(f64::from(i32::MIN)), Some(f64::from(i32::MAX))),
        _ => (None, None),
    };
    let minimum = schema.get("minimum").and_then(Value::as_f64).or(low);
    let maximum = schema.get("maximum").and_then(Value::as_f64).or(high);
    let Some(value) = number.as_f64() else {
        return;
    };
    let sentence = match (minimum, maximum) {
        (Some(min), Some(max)) if value < min || value > max => {
            Some(format!("must be from {min} to {max}"))
        }
        (Some(min), None) if value < min => Some(format!("must be at least {min}")),
        (None, Some(max)) if value > max => Some(format!("must be at most {max}")),
        _ => None,
    };
    if let Some(sentence) = sentence {
        errors.push(fault(pointer, sentence));
    }
}

/// The keywords of every schema in the document that the checker does not understand, with
/// where they are: a test keeps this empty.
pub fn unsupported_keywords() -> Vec<String> {
    let mut found = Vec::new();
    let document = &CONTRACT.document;
    if let Some(schemas) = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            walk_keywords(schema, &format!("#/components/schemas/{name}"), &mut found);
        }
    }
    if let Some(paths) = document.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let parameters = operation.get("parameters").and_then(Value::as_array);
                for parameter in parameters.into_iter().flatten() {
                    if let Some(schema) = parameter.get("schema") {
                        let name = parameter.get("name").and_then(Value::as_str).unwrap_or("?");
                        walk_keywords(schema, &format!("{method} {path} ?{name}"), &mut found);
                    }
                }
            }
        }
    }
    found
}

fn walk_keywords(schema: &Value, at: &str, found: &mut Vec<String>) {
    let Some(object) = schema.as_object() else {
        return;
    };
    for (keyword, child) in object {
        if !KNOWN_KEYWORDS.contains(&keyword.as_str()) {
            found.push(format!("{at}: {keyword}"));
        }
        match keyword.as_str() {
            "properties" => {
                for (name, property) in child.as_object().into_iter().flatten() {
                    walk_keywords(property, &format!("{at}/{name}"), found);
                }
            }
            "items" | "additionalProperties" => walk_keywords(child, &format!("{at}[]"), found),
            "oneOf" | "anyOf" | "allOf" => {
                for branch in child.as_array().into_iter().flatten() {
                    walk_keywords(branch, at, found);
                }
            }
            _ => {}
        }
    }
}

/// Whether a time (seconds since the epoch) is one the registry keeps: from 1970-01-01 to
/// 9999-12-31 UTC, as `registry.is_instant` says (checked here so the answer names the field).
fn is_instant(seconds: i64) -> bool {
    const YEAR_10000: i64 = 253_402_300_800; // 10000-01-01T00:00:00Z
    (0..YEAR_10000).contains(&seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_reads_as_a_field_name() {
        assert_eq!(field_name("/records/3/raw_amount"), "records[3].raw_amount");
        assert_eq!(field_name("/cap_su"), "cap_su");
        assert_eq!(field_name("limit"), "limit");
        assert_eq!(field_name(""), "the body");
    }
}
