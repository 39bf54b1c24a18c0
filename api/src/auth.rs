//! Who is calling, and what they may do. Every route takes a [`Caller`], so a request without
//! valid credentials never reaches a handler; each handler then names the roles it allows
//! ([`Caller::allow`]), so an endpoint that names none allows nobody.
//!
//! Credentials are `Authorization: Bearer …`: a Purser API token (`purser_…`, looked up by its
//! SHA-256 in `auth.token`) or, when OIDC is configured, a JWT checked against the configured
//! JWKS ([`crate::oidc`]).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use purser_sql::bind;
use purser_sql::pool::query;
use purser_sql::statements::API_TOKEN_AUTHENTICATE;
use uuid::Uuid;

use crate::AppState;
use crate::problem::ApiError;

/// What a caller may do; see docs/api.md for the full matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// A site daemon: its site's tasks and usage.
    Daemon,
    /// A principal investigator: their projects, their allocations' members and change requests.
    Pi,
    /// A member: their own memberships, usage and balances.
    Member,
    /// Reads everything, writes nothing.
    Reader,
}

impl Role {
    /// Parses a role name as stored in `auth.token.role` or sent in an OIDC claim.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(Self::Admin),
            "daemon" => Some(Self::Daemon),
            "pi" => Some(Self::Pi),
            "member" => Some(Self::Member),
            "reader" => Some(Self::Reader),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Daemon => "daemon",
            Self::Pi => "pi",
            Self::Member => "member",
            Self::Reader => "reader",
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Their role.
    pub role: Role,
    /// For PI and member callers: the person they act as.
    pub person_id: Option<Uuid>,
    /// For daemon callers: their site.
    pub site: Option<String>,
    /// A stable key for the credential (`token:<id>` or `oidc:<issuer>#<subject>`), which
    /// scopes idempotency keys.
    pub key: String,
    /// How the audit log names them.
    pub actor: String,
}

/// What a PI or member caller may see, as the statements' scope parameters: scoped or not,
/// the person whose projects they lead, and the person they are.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Whether rows are limited to the caller's at all (admins, readers and daemons see all).
    pub scoped: bool,
    /// Rows of allocations whose project this person leads.
    pub pi: Option<Uuid>,
    /// Rows about this person.
    pub person: Option<Uuid>,
}

impl Caller {
    /// Refuses the request unless the caller has one of `roles`.
    pub fn allow(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "a {} token may not do this",
                self.role.name()
            )))
        }
    }

    /// The rows this caller may see.
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Pi => Scope {
                scoped: true,
                pi: self.person_id,
                person: self.person_id,
            },
            Role::Member => Scope {
                scoped: true,
                pi: None,
                person: self.person_id,
            },
            Role::Admin | Role::Reader | Role::Daemon => Scope {
                scoped: false,
                pi: None,
                person: None,
            },
        }
    }

    /// For a daemon, its site; `None` for others, who are not limited to a site.
    pub fn site_limit(&self) -> Option<&str> {
        match self.role {
            Role::Daemon => self.site.as_deref(),
            _ => None,
        }
    }
}

/// Looks up a Purser API token by its secret.
async fn authenticate_token(state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    let client = state.connection().await?;
    let hash = purser_sql::auth::secret_hash(secret);
    let rows = query(&*client, bind!(API_TOKEN_AUTHENTICATE, secret_hash = &hash)).await?;
    let row = rows.first().ok_or_else(|| {
        ApiError::Unauthenticated("the token is unknown, expired or revoked".to_string())
    })?;
    let id: Uuid = row.get("id");
    let name: String = row.get("name");
    let role_name: String = row.get("role");
    let role = Role::parse(&role_name)
        .ok_or_else(|| ApiError::Internal(format!("token {id} has unknown role {role_name}")))?;
    refuse_unless_active(row.get("person_status"))?;
    Ok(Caller {
        role,
        person_id: row.get("person_id"),
        site: row.get("site"),
        key: format!("token:{id}"),
        actor: format!("{name} (token {id})"),
    })
}

/// Refuses the credentials of a person who is no longer active: `status` is the person's
/// (`None` for credentials that speak for no person, such as admin and daemon tokens). A person
/// made inactive, or merged into another, loses access at once, whatever tokens or identity
/// provider sessions they still hold.
pub fn refuse_unless_active(status: Option<&str>) -> Result<(), ApiError> {
    match status {
        None | Some("active") => Ok(()),
        Some(status) => Err(ApiError::Forbidden(format!(
            "the credentials belong to a person who is {status}; only active people may call"
        ))),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthenticated("send credentials: Authorization: Bearer <token>".to_string())
        })?;
        let value = header.to_str().ok().and_then(|value| {
            let (scheme, credential) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credential.trim())
        });
        let Some(credential) = value.filter(|credential| !credential.is_empty()) else {
            return Err(ApiError::Unauthenticated(
                "the Authorization header must be: Bearer <token>".to_string(),
            ));
        };
        if credential.starts_with(purser_sql::auth::SECRET_PREFIX) {
            return authenticate_token(state, credential).await;
        }
        match &state.oidc {
            Some(verifier) => verifier.authenticate(state, credential).await,
            None => Err(ApiError::Unauthenticated(
                "not a Purser API token, and OIDC is not configured".to_string(),
            )),
        }
    }
}
