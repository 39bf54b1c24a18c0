//! Errors as RFC 9457 `application/problem+json`: every failure the API returns, with the
//! status it maps to. Bad input is always a 4xx naming what was wrong; only a fault of ours or
//! of the database is a 5xx, and that one is logged here, where it is turned into a response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use purser_sql::DbError;
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
    /// The request is malformed: bad JSON, a bad query parameter or path.
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
    /// The request conflicts with the current state (a duplicate, a decided request).
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
    /// Well-formed, but the values are not acceptable.
    #[error("{detail}")]
    Unprocessable {
        /// What was wrong.
        detail: String,
        /// The fields at fault.
        errors: Vec<FieldError>,
    },
    /// The database cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours; the detail is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// An unprocessable request naming one field.
    pub fn invalid_field(pointer: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::Unprocessable {
            detail: format!("{pointer}: {detail}"),
            errors: vec![FieldError {
                pointer: pointer.to_string(),
                detail,
            }],
        }
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
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
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
            Self::Unprocessable { errors, .. } => errors.clone(),
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(detail) => tracing::error!(error = %detail, "request failed"),
            Self::Unavailable(detail) => tracing::warn!(error = %detail, "database unavailable"),
            _ => {}
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
    /// Maps what PostgreSQL refused to the client's fault it was (a duplicate, a missing
    /// reference, a broken rule), and anything else to a 5xx.
    fn from(error: DbError) -> Self {
        let text = error.to_string();
        match &error {
            DbError::Connect { .. } => Self::Unavailable(text),
            DbError::Statement { error: pg, .. } => {
                let Some(db) = pg.as_db_error() else {
                    return if pg.is_closed() {
                        Self::Unavailable(text)
                    } else {
                        Self::Internal(text)
                    };
                };
                let mut detail = db.message().to_string();
                if let Some(extra) = db.detail() {
                    detail.push_str(": ");
                    detail.push_str(extra);
                }
                let code = db.code();
                if *code == SqlState::UNIQUE_VIOLATION
                    || *code == SqlState::EXCLUSION_VIOLATION
                    || *code == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
                {
                    Self::Conflict(detail)
                } else if *code == SqlState::NO_DATA_FOUND {
                    Self::NotFound(detail)
                } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                    Self::Forbidden(detail)
                } else if *code == SqlState::FOREIGN_KEY_VIOLATION
                    || *code == SqlState::CHECK_VIOLATION
                    || *code == SqlState::NOT_NULL_VIOLATION
                    || code.code().starts_with("22")
                {
                    // 22xxx: data exceptions (bad value, out of range, invalid parameter).
                    Self::Unprocessable {
                        detail,
                        errors: Vec::new(),
                    }
                } else if code.code().starts_with("08") || code.code().starts_with("57") {
                    Self::Unavailable(detail)
                } else {
                    Self::Internal(text)
                }
            }
            _ => Self::Internal(text),
        }
    }
}
