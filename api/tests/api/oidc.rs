//! OIDC bearer JWTs, checked against a JWKS made here with locally generated P-256 keys, from a
//! file or served over HTTP: a valid token is let in with the role its claim names, and a token
//! with the wrong audience, an expiry in the past, another key's signature or a shared-secret
//! signature is refused. Served keys are fetched again when a token names a new one.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use purser_api::oidc::OidcConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, spawn_app_with};

const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "purser";

/// A fresh P-256 private key, PKCS#8 PEM, from openssl.
fn generate_key(directory: &std::path::Path, name: &str) -> EncodingKey {
    let path = directory.join(name);
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&path)
        .status()
        .expect("openssl runs");
    assert!(status.success());
    EncodingKey::from_ec_pem(&std::fs::read(&path).unwrap()).unwrap()
}

struct Idp {
    key: EncodingKey,
    stranger: EncodingKey,
    /// The provider's published key set, holding `key` as idp-1.
    jwks: JwkSet,
    jwks_file: PathBuf,
}

/// A public key as the provider publishes it.
fn jwk(key: &EncodingKey, id: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(id.to_string());
    jwk
}

fn idp() -> Idp {
    let directory = std::env::temp_dir().join(format!("purser-oidc-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&directory).unwrap();
    let key = generate_key(&directory, "idp.pem");
    let stranger = generate_key(&directory, "stranger.pem");
    let jwks = JwkSet {
        keys: vec![jwk(&key, "idp-1")],
    };
    let jwks_file = directory.join("jwks.json");
    std::fs::write(&jwks_file, serde_json::to_vec(&jwks).unwrap()).unwrap();
    Idp {
        key,
        stranger,
        jwks,
        jwks_file,
    }
}

fn token(key: &EncodingKey, claims: Value) -> String {
    token_with_kid(key, "idp-1", claims)
}

fn token_with_kid(key: &EncodingKey, kid: &str, claims: Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn claims(subject: &str, role: Option<&str>) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims =
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 300});
    if let Some(role) = role {
        claims["purser_role"] = json!(role);
    }
    claims
}

fn config(
    jwks_url: Option<String>,
    jwks_file: Option<PathBuf>,
    jwks_refresh: Duration,
) -> OidcConfig {
    OidcConfig {
        issuer: ISSUER.to_string(),
        audience: AUDIENCE.to_string(),
        jwks_url,
        jwks_file,
        jwks_refresh,
        role_claim: "purser_role".to_string(),
        site_claim: "purser_site".to_string(),
        identity_source: "oidc".to_string(),
    }
}

async fn spawn(idp: &Idp) -> TestApp {
    spawn_app_with(AppOptions {
        oidc: Some(config(
            None,
            Some(idp.jwks_file.clone()),
            Duration::from_secs(3600),
        )),
        ..AppOptions::default()
    })
    .await
}

/// A provider's JWKS endpoint on loopback: serves whatever `published` holds, or a 500 while
/// it holds null.
async fn serve_jwks(published: Arc<Mutex<Value>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let published = published.lock().unwrap().clone();
            async move {
                if published.is_null() {
                    Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
                } else {
                    Ok(axum::Json(published))
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test]
async fn served_keys_are_fetched_again_when_a_token_names_a_new_one() {
    let idp = idp();
    let published = Arc::new(Mutex::new(serde_json::to_value(&idp.jwks).unwrap()));
    let url = serve_jwks(published.clone()).await;
    let app = spawn_app_with(AppOptions {
        // Refresh at every request, so the test need not wait out a cooldown.
        oidc: Some(config(Some(url), None, Duration::from_millis(1))),
        ..AppOptions::default()
    })
    .await;
    let rotated = token_with_kid(&idp.stranger, "idp-2", claims("ops", Some("admin")));
    app.call(Some(&rotated), Method::GET, "/v1/clusters", None)
        .await
        .expect(401);
    // The provider rotates: it now publishes idp-2 beside idp-1.
    let mut keys = idp.jwks.clone();
    keys.keys.push(jwk(&idp.stranger, "idp-2"));
    *published.lock().unwrap() = serde_json::to_value(&keys).unwrap();
    app.call(Some(&rotated), Method::GET, "/v1/clusters", None)
        .await
        .expect(200);
    // The endpoint fails: the keys already fetched still work.
    *published.lock().unwrap() = Value::Null;
    app.call(Some(&rotated), Method::GET, "/v1/clusters", None)
        .await
        .expect(200);
    let first = token(&idp.key, claims("ops", Some("admin")));
    app.call(Some(&first), Method::GET, "/v1/clusters", None)
        .await
        .expect(200);
}

#[tokio::test]
async fn a_configuration_needs_exactly_one_key_source_and_usable_keys() {
    let idp = idp();
    let neither =
        purser_api::oidc::OidcVerifier::load(config(None, None, Duration::from_secs(60))).await;
    assert!(
        neither
            .unwrap_err()
            .to_string()
            .contains("exactly one of jwks_url and jwks_file")
    );
    let both = config(
        Some("http://127.0.0.1:9/jwks".to_string()),
        Some(idp.jwks_file.clone()),
        Duration::from_secs(60),
    );
    assert!(purser_api::oidc::OidcVerifier::load(both).await.is_err());
    let symmetric = idp.jwks_file.with_file_name("symmetric.json");
    std::fs::write(
        &symmetric,
        r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "s"}]}"#,
    )
    .unwrap();
    let refused = purser_api::oidc::OidcVerifier::load(config(
        None,
        Some(symmetric),
        Duration::from_secs(60),
    ))
    .await;
    assert!(refused.unwrap_err().to_string().contains("symmetric"));
    let unreachable = config(
        Some("http://127.0.0.1:9/jwks".to_string()),
        None,
        Duration::from_secs(60),
    );
    assert!(
        purser_api::oidc::OidcVerifier::load(unreachable)
            .await
            .unwrap_err()
            .to_string()
            .contains("cannot fetch")
    );
}

#[tokio::test]
async fn a_valid_jwt_acts_with_the_role_its_claim_names_and_is_audited_by_subject() {
    let idp = idp();
    let app = spawn(&idp).await;
    let admin = token(&idp.key, claims("ops-admin", Some("admin")));
    app.call(Some(&admin), Method::GET, "/v1/audit", None)
        .await
        .expect(200);
    app.call(
        Some(&admin),
        Method::POST,
        "/v1/organizations",
        Some(json!({"name": "Via OIDC"})),
    )
    .await
    .expect(201);
    let actor: String = app
        .scalar("SELECT actor FROM audit.event WHERE table_name = 'registry.organization' AND after->>'name' = $1", "Via OIDC")
        .await;
    assert_eq!(actor, "oidc:ops-admin");
}

/// Ada, given the OIDC identity `ada-sub`, and a PI JWT for that subject.
async fn ada_signed_in_by_oidc(app: &TestApp, idp: &Idp) -> (uuid::Uuid, String) {
    let ada = app.person(crate::support::ADA).await;
    app.post(
        "admin",
        &format!("/v1/people/{ada}/identities"),
        json!({"source": "oidc", "external_id": "ada-sub"}),
    )
    .await
    .expect(201);
    (ada, token(&idp.key, claims("ada-sub", Some("pi"))))
}

#[tokio::test]
async fn a_pi_jwt_is_the_person_whose_identity_is_its_subject() {
    let idp = idp();
    let app = spawn(&idp).await;
    let (_, pi) = ada_signed_in_by_oidc(&app, &idp).await;
    let allocations = app
        .call(Some(&pi), Method::GET, "/v1/allocations", None)
        .await
        .expect(200);
    let accounts: Vec<&str> = allocations
        .field("items")
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["account_name"].as_str().unwrap())
        .collect();
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    assert!(accounts.contains(&"che260001") && accounts.contains(&"bio7"));
    let stranger = token(&idp.key, claims("nobody-sub", Some("pi")));
    app.call(Some(&stranger), Method::GET, "/v1/allocations", None)
        .await
        .expect(403);
}

#[tokio::test]
async fn a_jwt_without_a_role_is_forbidden() {
    let idp = idp();
    let app = spawn(&idp).await;
    let roleless = token(&idp.key, claims("someone", None));
    app.call(Some(&roleless), Method::GET, "/v1/clusters", None)
        .await
        .expect(403);
}

#[tokio::test]
async fn jwts_with_the_wrong_audience_expiry_key_or_algorithm_are_refused() {
    let idp = idp();
    let app = spawn(&idp).await;
    let mut wrong_audience = claims("ops", Some("admin"));
    wrong_audience["aud"] = json!("another-service");
    let mut expired = claims("ops", Some("admin"));
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut wrong_issuer = claims("ops", Some("admin"));
    wrong_issuer["iss"] = json!("https://evil.example");
    let shared_secret = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("idp-1".to_string());
        jsonwebtoken::encode(
            &header,
            &claims("ops", Some("admin")),
            &EncodingKey::from_secret(b"guess"),
        )
        .unwrap()
    };
    for (what, credential) in [
        ("wrong audience", token(&idp.key, wrong_audience)),
        ("expired", token(&idp.key, expired)),
        ("wrong issuer", token(&idp.key, wrong_issuer)),
        (
            "another key",
            token(&idp.stranger, claims("ops", Some("admin"))),
        ),
        ("shared secret", shared_secret),
    ] {
        let reply = app
            .call(Some(&credential), Method::GET, "/v1/clusters", None)
            .await;
        assert_eq!(reply.status.as_u16(), 401, "{what}: {:#}", reply.body);
    }
}

#[tokio::test]
async fn a_jwt_is_refused_before_its_not_before_time() {
    let idp = idp();
    let app = spawn(&idp).await;
    let now = chrono::Utc::now().timestamp();
    let mut early = claims("ops", Some("admin"));
    early["nbf"] = json!(now + 3600);
    let refused = app
        .call(
            Some(&token(&idp.key, early)),
            Method::GET,
            "/v1/clusters",
            None,
        )
        .await
        .expect(401);
    assert!(
        refused
            .field("detail")
            .as_str()
            .unwrap()
            .contains("Immature"),
        "{:#}",
        refused.body
    );
    let mut started = claims("ops", Some("admin"));
    started["nbf"] = json!(now - 10);
    app.call(
        Some(&token(&idp.key, started)),
        Method::GET,
        "/v1/clusters",
        None,
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn a_jwt_whose_person_was_made_inactive_is_refused() {
    let idp = idp();
    let app = spawn(&idp).await;
    let (ada, pi) = ada_signed_in_by_oidc(&app, &idp).await;
    app.call(Some(&pi), Method::GET, "/v1/allocations", None)
        .await
        .expect(200);
    app.call(
        Some("admin"),
        Method::POST,
        &format!("/v1/people/{ada}/deactivate"),
        None,
    )
    .await
    .expect(200);
    app.call(Some(&pi), Method::GET, "/v1/allocations", None)
        .await
        .expect(403);
}
