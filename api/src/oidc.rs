//! OIDC bearer JWTs: checked against the identity provider's published keys (a JWKS, from its
//! `jwks_uri` or a file), for issuer, audience, expiry and signature. Only asymmetric
//! algorithms are accepted, so a token signed with a shared secret (or none) is refused whatever
//! its header says. The keys are fetched again every `jwks_refresh`, and when a token names a
//! key we do not know (the provider rotated its keys), at most every 30 seconds; a failed fetch
//! keeps the keys we have. The caller's role comes from a claim (default `purser_role`); a PI or
//! member is the person with the identity (`registry.identity`) of the configured source and
//! the token's subject; a daemon's site comes from another claim (default `purser_site`).

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use purser_sql::bind;
use purser_sql::pool::query;
use purser_sql::statements::API_PERSON_BY_IDENTITY;
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role, refuse_unless_active};
use crate::problem::ApiError;

/// How OIDC tokens are checked (`[api.oidc]` in the configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must carry.
    pub audience: String,
    /// Where the identity provider publishes its keys (its `jwks_uri`).
    pub jwks_url: Option<String>,
    /// Or a JSON Web Key Set file holding them.
    pub jwks_file: Option<PathBuf>,
    /// How often to fetch the keys again (default 1 h).
    #[serde(default = "default_jwks_refresh", with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// The claim holding the caller's role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// The claim holding a daemon's site.
    #[serde(default = "default_site_claim")]
    pub site_claim: String,
    /// The `registry.identity.source` under which subjects are recorded.
    #[serde(default = "default_identity_source")]
    pub identity_source: String,
}

fn default_jwks_refresh() -> Duration {
    Duration::from_secs(3600)
}

/// The shortest time between two fetches caused by tokens naming unknown keys.
const UNKNOWN_KEY_COOLDOWN: Duration = Duration::from_secs(30);

fn default_role_claim() -> String {
    "purser_role".to_string()
}

fn default_site_claim() -> String {
    "purser_site".to_string()
}

fn default_identity_source() -> String {
    "oidc".to_string()
}

/// Why an OIDC configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Neither or both of `jwks_url` and `jwks_file` are set.
    #[error("[api.oidc] needs exactly one of jwks_url and jwks_file")]
    NoKeySource,
    /// The key set cannot be fetched.
    #[error("cannot fetch the JWKS from {url}: {reason}")]
    Fetch {
        /// Where from.
        url: String,
        /// Why.
        reason: String,
    },
    /// The JWKS file cannot be read.
    #[error("cannot read the JWKS file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key set is not a key set, or holds no key we can use.
    #[error("the JWKS from {source_name} is not usable: {reason}")]
    Invalid {
        /// The URL or file.
        source_name: String,
        /// Why.
        reason: String,
    },
}

/// One usable key: its id, algorithm and decoding key.
struct VerifyingKey {
    key_id: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The keys in use, and when they were fetched.
struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
    fetched: Instant,
}

/// Checks OIDC JWTs against the configured keys.
pub struct OidcVerifier {
    config: OidcConfig,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
    /// Held while fetching, so concurrent requests do not fetch the same keys at once.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OidcVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The claims Purser reads; the role and site claims are looked up by their configured names.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl OidcVerifier {
    /// Fetches the key set. Keys for symmetric algorithms are refused.
    pub async fn load(config: OidcConfig) -> Result<Self, OidcError> {
        if config.jwks_url.is_some() == config.jwks_file.is_some() {
            return Err(OidcError::NoKeySource);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| OidcError::Fetch {
                url: config.jwks_url.clone().unwrap_or_default(),
                reason: error.to_string(),
            })?;
        let keys = fetch_keys(&config, &http).await?;
        Ok(Self {
            config,
            http,
            keys: RwLock::new(KeySet {
                keys,
                fetched: Instant::now(),
            }),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key for a token's header, fetching the key set again when it is due, or when the
    /// token names a key we do not have and the last fetch is older than the cooldown.
    async fn key_for(&self, header: &jsonwebtoken::Header) -> Option<Arc<VerifyingKey>> {
        let (found, age) = {
            let set = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            (find_key(&set.keys, header), set.fetched.elapsed())
        };
        let due = age >= self.config.jwks_refresh
            || (found.is_none() && age >= UNKNOWN_KEY_COOLDOWN.min(self.config.jwks_refresh));
        if !due {
            return found;
        }
        if let Ok(_fetching) = self.fetching.try_lock() {
            match fetch_keys(&self.config, &self.http).await {
                Ok(keys) => {
                    let mut set = self.keys.write().unwrap_or_else(PoisonError::into_inner);
                    *set = KeySet {
                        keys,
                        fetched: Instant::now(),
                    };
                }
                Err(error) => {
                    tracing::warn!(error = %error, "cannot refresh the OIDC keys; keeping the ones we have");
                }
            }
        }
        let set = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        find_key(&set.keys, header)
    }

    /// Checks a JWT and returns its caller.
    pub async fn authenticate(&self, state: &AppState, token: &str) -> Result<Caller, ApiError> {
        let refused =
            |why: String| ApiError::Unauthenticated(format!("the OIDC token is refused: {why}"));
        let header =
            jsonwebtoken::decode_header(token).map_err(|error| refused(error.to_string()))?;
        let key = self.key_for(&header).await.ok_or_else(|| {
            refused("no key of the identity provider matches its kid and alg".to_string())
        })?;
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // A token is good from `nbf` on, with the same leeway as `exp` has for clock skew.
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|error| refused(error.to_string()))?
            .claims;
        let claim = |name: &str| claims.other.get(name).and_then(serde_json::Value::as_str);
        let role = claim(&self.config.role_claim)
            .and_then(Role::parse)
            .ok_or_else(|| {
                ApiError::Forbidden(format!(
                    "the OIDC token has no Purser role in its {} claim",
                    self.config.role_claim
                ))
            })?;
        let person_id = match role {
            Role::Pi | Role::Member => Some(self.person_of(state, &claims.sub).await?),
            _ => None,
        };
        let site = match role {
            Role::Daemon => Some(
                claim(&self.config.site_claim)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        ApiError::Forbidden(format!(
                            "a daemon's OIDC token must name its site in its {} claim",
                            self.config.site_claim
                        ))
                    })?,
            ),
            _ => None,
        };
        Ok(Caller {
            role,
            person_id,
            site,
            key: format!("oidc:{}#{}", self.config.issuer, claims.sub),
            actor: format!("oidc:{}", claims.sub),
        })
    }

    /// The person whose identity is this subject.
    async fn person_of(&self, state: &AppState, subject: &str) -> Result<Uuid, ApiError> {
        let client = state.connection().await?;
        let rows = query(
            &*client,
            bind!(
                API_PERSON_BY_IDENTITY,
                source = &self.config.identity_source,
                external_id = &subject,
            ),
        )
        .await?;
        let row = rows.first().ok_or_else(|| {
            ApiError::Forbidden(format!(
                "subject {subject} is no person's {} identity",
                self.config.identity_source,
            ))
        })?;
        refuse_unless_active(row.get("person_status"))?;
        Ok(row.get("person_id"))
    }
}

/// The key a token's header names: the same algorithm, and the same key id when it gives one.
fn find_key(
    keys: &[Arc<VerifyingKey>],
    header: &jsonwebtoken::Header,
) -> Option<Arc<VerifyingKey>> {
    keys.iter()
        .find(|key| {
            key.algorithm == header.alg && (header.kid.is_none() || key.key_id == header.kid)
        })
        .cloned()
}

/// Reads the key set from the configured URL or file, keeping the usable keys.
async fn fetch_keys(
    config: &OidcConfig,
    http: &reqwest::Client,
) -> Result<Vec<Arc<VerifyingKey>>, OidcError> {
    let (source_name, text) = match (&config.jwks_url, &config.jwks_file) {
        (Some(url), _) => {
            let fetch_error = |reason: String| OidcError::Fetch {
                url: url.clone(),
                reason,
            };
            let response = http
                .get(url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|error| fetch_error(error.to_string()))?;
            let text = response
                .text()
                .await
                .map_err(|error| fetch_error(error.to_string()))?;
            (url.clone(), text)
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| OidcError::Read {
                path: path.clone(),
                source,
            })?;
            (path.display().to_string(), text)
        }
        (None, None) => return Err(OidcError::NoKeySource),
    };
    parse_keys(&source_name, &text)
}

/// The usable keys of a JWKS document. Symmetric keys, and keys without an algorithm, make the
/// whole set unusable: a mistake in the provider's configuration should be loud.
fn parse_keys(source_name: &str, text: &str) -> Result<Vec<Arc<VerifyingKey>>, OidcError> {
    let invalid = |reason: String| OidcError::Invalid {
        source_name: source_name.to_string(),
        reason,
    };
    let set: JwkSet = serde_json::from_str(text).map_err(|error| invalid(error.to_string()))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let name = jwk.common.key_id.as_deref().unwrap_or("(no kid)");
        let Some(algorithm) = jwk
            .common
            .key_algorithm
            .and_then(|algorithm| algorithm.to_string().parse::<Algorithm>().ok())
        else {
            return Err(invalid(format!(
                "key {name} has no \"alg\"; each key must name its algorithm",
            )));
        };
        if matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(invalid(format!(
                "key {name} is symmetric ({algorithm:?}); only public keys are accepted"
            )));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|error| invalid(error.to_string()))?;
        keys.push(Arc::new(VerifyingKey {
            key_id: jwk.common.key_id.clone(),
            algorithm,
            key,
        }));
    }
    if keys.is_empty() {
        return Err(invalid("it holds no keys".to_string()));
    }
    Ok(keys)
}
