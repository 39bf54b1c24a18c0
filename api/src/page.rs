//! Cursor pagination: every list returns `{"items": [...], "next_cursor": "..."}`, and the
//! client passes `next_cursor` back as `cursor` for the next page. A cursor is the last row's
//! key, base64url-encoded so clients treat it as opaque; lists read by key (`WHERE key >
//! cursor ORDER BY key`), so a page costs the same however deep it is.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::problem::ApiError;

/// Items per page when the client does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most items a page holds.
pub const MAX_LIMIT: u32 = 500;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The page size asked for, or the default. Its range is the `Limit` rule's
/// ([`crate::rules::Limit`]), which the query was validated against.
pub fn limit(asked: Option<u32>) -> u32 {
    asked.unwrap_or(DEFAULT_LIMIT)
}

/// What a list statement is given: how many rows to fetch (one more than the page, to learn
/// whether there is a next page).
pub fn fetch_count(limit: u32) -> i64 {
    i64::from(limit) + 1
}

/// Decodes a cursor into the key it holds.
pub fn decode<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let bad = || ApiError::invalid_parameter("cursor", "is not a cursor this list returned");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
}

/// Makes the page from up to `limit + 1` fetched rows, with a cursor holding the key of the
/// last row shown when more remain.
pub fn page<T, K: Serialize>(
    mut rows: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> K,
) -> Result<Page<T>, ApiError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        match rows.last() {
            Some(last) => Some(
                serde_json::to_vec(&key(last))
                    .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
                    .map_err(|error| ApiError::Internal(error.to_string()))?,
            ),
            None => None,
        }
    } else {
        None
    };
    Ok(Page {
        items: rows,
        next_cursor,
    })
}
