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
