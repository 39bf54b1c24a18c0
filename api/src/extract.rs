//! Request extractors whose rejections are problem documents: JSON bodies, query strings and
//! path parameters that fail to parse or to keep the OpenAPI document's rules give a 4xx
//! naming every field at fault ([`crate::validate`]), never axum's plain text.
//!
//! A new request type needs: `Deserialize` and `ToSchema` (its field rules named from
//! [`crate::rules`] with `value_type`), `#[serde(deny_unknown_fields)]`, and an `impl Checked`
//! (empty, or with the rules that span fields); a new filter needs `Deserialize` and
//! `IntoParams` with `parameter_in = Query`. `Body` and `Params` do the rest.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::openapi::Required;
use utoipa::openapi::path::ParameterIn;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::problem::{ApiError, FieldError};
use crate::validate;

/// The rules of a request that span fields (an end after its start), checked once every field
/// has kept its own rule. Most requests have none: `impl Checked for NewThing {}`.
pub trait Checked {
    /// Every broken rule, each naming a field ([`FieldError::new`]).
    fn check(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// A JSON body (`Content-Type: application/json`) that keeps its schema in the OpenAPI
/// document and its [`Checked`] rules, deserialized into `T`. Malformed JSON is a 400; values
/// the schema refuses (a wrong type, a broken pattern, an unknown or missing field) a 422
/// naming every field at fault; a body over the route's limit a 413; another content type a
/// 415.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + ToSchema + Checked, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| {
                let media = media.trim();
                media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".to_string(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(format!(
                        "the body is too large: {}",
                        rejection.body_text()
                    ))
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|error| {
            ApiError::BadRequest(format!("the body is not valid JSON: {error}"))
        })?;
        if let Some(pointer) = purser_sql::storable::nul_at(&value) {
            return Err(unprocessable(vec![FieldError::new(
                &pointer,
                "holds the NUL character (\\u0000), which the registry cannot store",
            )]));
        }
        let errors = validate::body(&T::name(), &value);
        if !errors.is_empty() {
            return Err(unprocessable(errors));
        }
        let parsed: T = serde_path_to_error::deserialize(value).map_err(|error| {
            let pointer = match error.path().to_string().as_str() {
                "." => String::new(),
                path => format!("/{}", path.replace('.', "/")),
            };
            unprocessable(vec![FieldError::new(
                &pointer,
                format!("is not acceptable: {}", error.into_inner()),
            )])
        })?;
        let errors = parsed.check();
        if errors.is_empty() {
            Ok(Self(parsed))
        } else {
            Err(unprocessable(errors))
        }
    }
}

fn unprocessable(errors: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        errors,
    }
}

/// Query parameters that keep the operation's declared parameters, deserialized into `T`. An
/// unknown parameter (named, with the valid ones listed), a value its schema refuses (an enum
/// value, a malformed UUID or time, a limit out of range) or a missing required one is a 400
/// naming every parameter at fault.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + IntoParams, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let declared: Vec<validate::Parameter> = T::into_params(|| Some(ParameterIn::Query))
            .into_iter()
            .map(|parameter| validate::Parameter {
                required: matches!(parameter.required, Required::True),
                schema: serde_json::to_value(&parameter.schema).unwrap_or(Value::Null),
                name: parameter.name,
            })
            .collect();
        let given: Vec<(String, String)> =
            form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let object =
            validate::parameters(&declared, given).map_err(|errors| ApiError::Invalid {
                status: StatusCode::BAD_REQUEST,
                errors,
            })?;
        serde_json::from_value(Value::Object(object))
            .map(Self)
            .map_err(|error| ApiError::BadRequest(format!("the query is not acceptable: {error}")))
    }
}

/// What a path parameter is, for the sentence when it is malformed.
pub trait PathParameter: DeserializeOwned + Send {
    /// "a UUID", "a whole number".
    const WHAT: &'static str;
}

impl PathParameter for Uuid {
    const WHAT: &'static str = "a UUID";
}

impl PathParameter for i64 {
    const WHAT: &'static str = "a whole number";
}

impl<A: PathParameter, B: PathParameter> PathParameter for (A, B) {
    const WHAT: &'static str = "two ids";
}

/// Path parameters, deserialized into `T`; a malformed one is a 400 saying what it must be.
#[derive(Debug)]
pub struct Id<T>(pub T);

impl<T: PathParameter, S: Send + Sync> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|_| ApiError::BadRequest(format!("the path's id must be {}", T::WHAT)))
    }
}
