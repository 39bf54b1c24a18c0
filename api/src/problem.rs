//! Errors as RFC 9457 `application/problem+json`: every failure the API returns, with the
//! status it maps to. Bad input is always a 4xx naming what was wrong; only a fault of ours or
//! of the database is a 5xx, and that one is logged here, where it is turned into a response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use purser_sql::DbError;
use purser_sql::constraints::{ConstraintKind, Refusal, refusal, too_long};
use purser_sql::error::flatten_pg_error;
use serde::Serialize;
use tokio_postgres::error::SqlState;
use utoipa::ToSchema;

/// A problem document (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The status's short name.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong, for a human.
    pub detail: String,
    /// The fields that were wrong, when the problem is in the request's fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One field that was wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a JSON pointer into the request body (`/cap_su`) or a query parameter name.
    pub pointer: String,
    /// What was wrong with it.
    pub detail: String,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: bad JSON, or a bad path.
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or credentials we do not accept.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but this caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing, or not one this caller may see.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (a decided request, a task already done).
    #[error("{0}")]
    Conflict(String),
    /// The path exists, but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body is larger than this endpoint accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Fields at fault, every one named: query parameters (400), a duplicate or an overlap
    /// (409), values the rules refuse (422). The detail is their sentences.
    #[error("{}", sentences(.errors))]
    Invalid {
        /// 400, 409 or 422.
        status: StatusCode,
        /// The fields at fault, each with a sentence naming it.
        errors: Vec<FieldError>,
    },
    /// Well-formed, but refused for a reason no one field carries.
    #[error("{0}")]
    Unprocessable(String),
    /// The database cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours; the detail is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

/// The detail of a problem with field errors: their sentences, in order.
fn sentences(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|error| error.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// An unprocessable request naming one field: `rest` completes the sentence that begins
    /// with the field's name (`invalid_field("/ends_at", "must be after starts_at")`).
    pub fn invalid_field(pointer: &str, rest: impl std::fmt::Display) -> Self {
        Self::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            errors: vec![FieldError::new(pointer, rest)],
        }
    }

    /// A bad query parameter (400): `rest` completes the sentence beginning with its name.
    pub fn invalid_parameter(name: &str, rest: impl std::fmt::Display) -> Self {
        Self::Invalid {
            status: StatusCode::BAD_REQUEST,
            errors: vec![FieldError::new(name, rest)],
        }
    }

    /// The database is unreachable: `raw` (the driver's words) goes to the log, the client is
    /// told to retry.
    pub fn unavailable(raw: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %raw, "database unavailable");
        Self::Unavailable("the database is unavailable; retry later".to_string())
    }

    /// The status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid { status, .. } => *status,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document sent for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Self::Internal(_) => "the server failed; the error is in its log".to_string(),
            other => other.to_string(),
        };
        let errors = match self {
            Self::Invalid { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        Problem {
            problem_type: "about:blank".to_string(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

impl FieldError {
    /// The error of the field at `pointer` (a JSON pointer, or a query parameter's name):
    /// `rest` completes the sentence that begins with the field's name.
    pub fn new(pointer: &str, rest: impl std::fmt::Display) -> Self {
        Self {
            pointer: pointer.to_string(),
            detail: format!("{} {rest}", crate::validate::field_name(pointer)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let status = self.status();
        let mut response = (status, axum::Json(self.problem())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"purser\""),
            );
        }
        response
    }
}

impl From<DbError> for ApiError {
    /// Maps what PostgreSQL refused to the client's fault it was, in a sentence from
    /// [`purser_sql::constraints`] (a duplicate or an overlap 409, a missing reference 422 or,
    /// for the row the path names, 404, a broken rule or a value too long to store 422), or the
    /// message of a Purser function's RAISE; anything else is a 5xx. PostgreSQL's own text goes
    /// to the log only.
    fn from(error: DbError) -> Self {
        let DbError::Statement {
            statement,
            error: pg,
        } = &error
        else {
            return match error {
                DbError::Connect { .. } => Self::unavailable(error),
                other => Self::Internal(other.to_string()),
            };
        };
        let raw = format!(
            "{} failed: {}{}",
            statement.name,
            flatten_pg_error(pg),
            pg.as_db_error()
                .and_then(|db| db.constraint())
                .map(|name| format!(" [constraint {name}]"))
                .unwrap_or_default()
        );
        let Some(db) = pg.as_db_error() else {
            return if pg.is_closed() {
                Self::unavailable(raw)
            } else {
                Self::Internal(raw)
            };
        };
        let code = db.code();
        match refusal(db) {
            Some(Refusal::Constraint {
                kind,
                field,
                sentence,
                known,
            }) => {
                if known {
                    tracing::debug!(error = %raw, "the database refused a request");
                } else {
                    tracing::warn!(error = %raw, "a constraint with no sentence in purser_sql::constraints refused a request");
                }
                let status = match (kind, field) {
                    (ConstraintKind::Unique | ConstraintKind::Exclusion, _) => StatusCode::CONFLICT,
                    (ConstraintKind::ForeignKey, None) => {
                        return Self::NotFound(sentence.to_string());
                    }
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                let pointer = field.map_or_else(String::new, |field| format!("/{field}"));
                Self::Invalid {
                    status,
                    errors: vec![FieldError {
                        pointer,
                        detail: sentence.to_string(),
                    }],
                }
            }
            Some(Refusal::TooLong { field }) => {
                tracing::debug!(error = %raw, "the database refused a value too long to store");
                Self::Invalid {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    errors: vec![FieldError {
                        pointer: field.map_or_else(String::new, |field| format!("/{field}")),
                        detail: too_long(field),
                    }],
                }
            }
            Some(Refusal::Raised { code, message }) => {
                tracing::debug!(error = %raw, "a Purser function refused a request");
                if code == SqlState::UNIQUE_VIOLATION
                    || code == SqlState::EXCLUSION_VIOLATION
                    || code == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
                {
                    Self::Conflict(message)
                } else if code == SqlState::NO_DATA_FOUND {
                    Self::NotFound(message)
                } else if code == SqlState::INSUFFICIENT_PRIVILEGE {
                    Self::Forbidden(message)
                } else if code.code().starts_with("22") || code.code().starts_with("23") {
                    Self::Unprocessable(message)
                } else {
                    Self::Internal(raw)
                }
            }
            None if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                tracing::info!(error = %raw, "a request lost a race with another");
                Self::Conflict(
                    "the request conflicted with another made at the same time; retry it"
                        .to_string(),
                )
            }
            None if code.code().starts_with("22") => {
                tracing::warn!(error = %raw, "the database refused a value the API let through");
                Self::Unprocessable(
                    "a value of the request is out of the range the registry stores".to_string(),
                )
            }
            None if *code == SqlState::QUERY_CANCELED || *code == SqlState::LOCK_NOT_AVAILABLE => {
                tracing::warn!(error = %raw, "a statement ran out of time");
                Self::Unavailable(
                    "the database did not answer in time (a statement or a lock wait ran past \
                     the request's deadline); retry later"
                        .to_string(),
                )
            }
            None if code.code().starts_with("08") || code.code().starts_with("57") => {
                Self::unavailable(raw)
            }
            None => Self::Internal(raw),
        }
    }
}
