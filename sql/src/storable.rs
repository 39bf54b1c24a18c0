//! What PostgreSQL cannot store of a JSON value: `text` and `jsonb` refuse the NUL character
//! (`\u0000`), so a value holding one is refused where it enters (an API body, a CLI flag),
//! naming where it is, instead of failing in the database with PostgreSQL's words.

use serde_json::Value;

/// The JSON pointer (RFC 6901) of the first string or key in `value` that holds the NUL
/// character, or `None` when PostgreSQL can store the whole value. A key that holds it is
/// pointed at as the member it names.
pub fn nul_at(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(String::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_at(item).map(|inner| format!("/{index}{inner}"))),
        Value::Object(members) => members.iter().find_map(|(key, member)| {
            let here = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
            if key.contains('\0') {
                Some(here)
            } else {
                nul_at(member).map(|inner| format!("{here}{inner}"))
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::nul_at;

    #[test]
    fn the_first_nul_is_pointed_at_wherever_it_is() {
        assert_eq!(
            nul_at(&json!({"a": [1, {"b/c": "x\u{0}"}]})).as_deref(),
            Some("/a/1/b~1c")
        );
        assert_eq!(nul_at(&json!({"k\u{0}": 1})).as_deref(), Some("/k\u{0}"));
        assert_eq!(nul_at(&json!("\u{0}")).as_deref(), Some(""));
        assert_eq!(nul_at(&json!({"a": ["fine", 1, null, true]})), None);
    }
}
