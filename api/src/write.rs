//! Writes: one transaction per request, holding the change (a registry row, or a task a caller
//! enqueues) and the audit actor (`SET LOCAL purser.actor`), so a failure leaves nothing behind.
//!
//! A POST may carry an `Idempotency-Key` header. The key is claimed in the same transaction
//! (a concurrent request with the same key waits for it), and the response is stored with the
//! write, so a retry of a request that landed gets the first response back instead of writing
//! again; the same key with a different request is refused (422).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use deadpool_postgres::Transaction;
use purser_sql::bind;
use purser_sql::pool::{begin, commit, execute, query, query_one};
use purser_sql::statements::{
    API_IDEMPOTENCY_CLAIM, API_IDEMPOTENCY_GET, API_IDEMPOTENCY_STORE, API_SET_ACTOR,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::auth::Caller;
use crate::problem::ApiError;

/// The request header that makes a POST replayable.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The response header set on a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The request's `Idempotency-Key`, if it sent one, and what the request was (method and path),
/// so a key reused for another request is caught.
#[derive(Debug, Clone)]
pub struct Idempotency {
    key: Option<String>,
    target: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let key = match parts.headers.get(IDEMPOTENCY_KEY) {
            None => None,
            Some(value) => {
                let key = value
                    .to_str()
                    .ok()
                    .filter(|key| (1..=255).contains(&key.len()))
                    .ok_or_else(|| {
                        ApiError::BadRequest(
                            "Idempotency-Key must be 1 to 255 visible ASCII characters".to_string(),
                        )
                    })?;
                Some(key.to_string())
            }
        };
        Ok(Self {
            key,
            target: format!("{} {}", parts.method, parts.uri.path()),
        })
    }
}

/// Runs `work` in one transaction as `caller`, and answers `status` with what it returns.
/// A write that creates a row answers through [`write_created`] instead.
pub async fn write<T: Serialize>(
    state: &AppState,
    caller: &Caller,
    idempotency: &Idempotency,
    request: &impl Serialize,
    status: StatusCode,
    work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, ApiError>,
) -> Result<Response, ApiError> {
    write_answering(state, caller, idempotency, request, status, None, work).await
}

/// Runs `work` as [`write`] does and answers 201 Created with what it returns and a
/// `Location` header: `location` of the created row (also on a replay of the request).
pub async fn write_created<T: Serialize + DeserializeOwned>(
    state: &AppState,
    caller: &Caller,
    idempotency: &Idempotency,
    request: &impl Serialize,
    location: impl Fn(&T) -> String + Sync,
    work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, ApiError>,
) -> Result<Response, ApiError> {
    let locate = |body: &serde_json::Value| {
        serde_json::from_value::<T>(body.clone())
            .ok()
            .map(|created| location(&created))
    };
    write_answering(
        state,
        caller,
        idempotency,
        request,
        StatusCode::CREATED,
        Some(&locate),
        work,
    )
    .await
}

/// Where a created row lives, from the response body.
type Locate<'a> = &'a (dyn Fn(&serde_json::Value) -> Option<String> + Sync);

async fn write_answering<T: Serialize>(
    state: &AppState,
    caller: &Caller,
    idempotency: &Idempotency,
    request: &impl Serialize,
    status: StatusCode,
    locate: Option<Locate<'_>>,
    work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, ApiError>,
) -> Result<Response, ApiError> {
    let mut client = state.connection().await?;
    let transaction = begin(&mut client).await?;
    query(&transaction, bind!(API_SET_ACTOR, actor = &caller.actor)).await?;
    if let Some(key) = &idempotency.key {
        let fingerprint = fingerprint(&idempotency.target, request)?;
        let claimed = query(
            &transaction,
            bind!(
                API_IDEMPOTENCY_CLAIM,
                caller_key = &caller.key,
                key = key,
                request_sha256 = &fingerprint,
            ),
        )
        .await?;
        if claimed.is_empty() {
            let (status, body) = replay(&transaction, caller, key, &fingerprint).await?;
            let mut response = respond(status, body, locate)?;
            response
                .headers_mut()
                .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            return Ok(response);
        }
    }
    let body = serde_json::to_value(work(&transaction).await?)
        .map_err(|error| ApiError::Internal(format!("cannot render the response: {error}")))?;
    if let Some(key) = &idempotency.key {
        let code = i16::try_from(status.as_u16()).unwrap_or(i16::MAX);
        execute(
            &transaction,
            bind!(
                API_IDEMPOTENCY_STORE,
                caller_key = &caller.key,
                key = key,
                status = &code,
                response = &body,
            ),
        )
        .await?;
    }
    commit(transaction).await?;
    respond(status, body, locate)
}

/// The response: the status, the body and, for a created row, its `Location`.
fn respond(
    status: StatusCode,
    body: serde_json::Value,
    locate: Option<Locate<'_>>,
) -> Result<Response, ApiError> {
    let location = match locate {
        Some(locate) if status == StatusCode::CREATED => {
            let location = locate(&body)
                .ok_or_else(|| ApiError::Internal("a created row has no location".to_string()))?;
            Some(
                HeaderValue::from_str(&location).map_err(|error| {
                    ApiError::Internal(format!("bad location {location}: {error}"))
                })?,
            )
        }
        _ => None,
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The stored answer to a request whose key was used before, if it was this request.
async fn replay(
    transaction: &Transaction<'_>,
    caller: &Caller,
    key: &str,
    fingerprint: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let row = query_one(
        transaction,
        bind!(API_IDEMPOTENCY_GET, caller_key = &caller.key, key = &key),
    )
    .await?;
    let stored: Vec<u8> = row.get("request_sha256");
    if stored != fingerprint {
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            "was used before with a different request; use a new key",
        ));
    }
    let status: i32 = row.get("status");
    let body: serde_json::Value = row.get("response");
    let status = u16::try_from(status)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| ApiError::Internal(format!("stored status {status} is not HTTP")))?;
    Ok((status, body))
}

/// SHA-256 of the method, path and request as parsed.
fn fingerprint(target: &str, request: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    let body = serde_json::to_vec(request)
        .map_err(|error| ApiError::Internal(format!("cannot hash the request: {error}")))?;
    let mut hash = Sha256::new();
    hash.update(target.as_bytes());
    hash.update([0]);
    hash.update(&body);
    Ok(hash.finalize().to_vec())
}
