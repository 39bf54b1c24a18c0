//! OIDC bearer JWTs: checked against a JWKS file the site configures (its identity provider's
//! published keys), for issuer, audience, expiry and signature. Only asymmetric algorithms are
//! accepted, so a token signed with a shared secret (or none) is refused whatever its header
//! says. The caller's role comes from a claim (default `purser_role`); a PI or member is the
//! person with the identity (`registry.identity`) of the configured source and the token's
//! subject; a daemon's site comes from another claim (default `purser_site`).

use std::path::PathBuf;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use purser_sql::pool::query;
use purser_sql::statements::API_PERSON_BY_IDENTITY;
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::problem::ApiError;

/// How OIDC tokens are checked (`[api.oidc]` in the configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must carry.
    pub audience: String,
    /// A JSON Web Key Set file: the identity provider's public keys.
    pub jwks_file: PathBuf,
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
    /// The JWKS file cannot be read.
    #[error("cannot read the JWKS file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The JWKS file is not a key set, or holds no key we can use.
    #[error("the JWKS file {path} is not usable: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
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

/// Checks OIDC JWTs against the configured keys.
pub struct OidcVerifier {
    config: OidcConfig,
    keys: Vec<VerifyingKey>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OidcVerifier")
            .field("config", &self.config)
            .field("keys", &self.keys.len())
            .finish()
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
    /// Reads the key set. Keys for symmetric algorithms are refused.
    pub fn load(config: OidcConfig) -> Result<Self, OidcError> {
        let path = config.jwks_file.clone();
        let text = std::fs::read_to_string(&path).map_err(|source| OidcError::Read {
            path: path.clone(),
            source,
        })?;
        let invalid = |reason: String| OidcError::Invalid {
            path: path.clone(),
            reason,
        };
        let set: JwkSet =
            serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let Some(algorithm) = jwk
                .common
                .key_algorithm
                .and_then(|name| name.to_string().parse::<Algorithm>().ok())
            else {
                return Err(invalid(format!(
                    "key {} has no \"alg\"; each key must name its algorithm",
                    jwk.common.key_id.as_deref().unwrap_or("(no kid)")
                )));
            };
            if matches!(
                algorithm,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) {
                return Err(invalid(format!(
                    "key {} is symmetric ({algorithm:?}); only public keys are accepted",
                    jwk.common.key_id.as_deref().unwrap_or("(no kid)")
                )));
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|error| invalid(error.to_string()))?;
            keys.push(VerifyingKey {
                key_id: jwk.common.key_id.clone(),
                algorithm,
                key,
            });
        }
        if keys.is_empty() {
            return Err(invalid("it holds no keys".to_string()));
        }
        Ok(Self { config, keys })
    }

    /// Checks a JWT and returns its caller.
    pub async fn authenticate(&self, state: &AppState, token: &str) -> Result<Caller, ApiError> {
        let refused =
            |why: String| ApiError::Unauthenticated(format!("the OIDC token is refused: {why}"));
        let header =
            jsonwebtoken::decode_header(token).map_err(|error| refused(error.to_string()))?;
        let key = self
            .keys
            .iter()
            .find(|key| {
                key.algorithm == header.alg && (header.kid.is_none() || key.key_id == header.kid)
            })
            .ok_or_else(|| refused("no configured key matches its kid and alg".to_string()))?;
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
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
        let client = state.pool.connection().await?;
        let rows = query(
            &client,
            API_PERSON_BY_IDENTITY,
            &[&self.config.identity_source, &subject],
        )
        .await?;
        rows.first().map(|row| row.get("person_id")).ok_or_else(|| {
            ApiError::Forbidden(format!(
                "subject {subject} is no person's {} identity",
                self.config.identity_source
            ))
        })
    }
}
