//! Opaque cursors (base64url of a small JSON position) and the `limit` rule.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

pub fn encode<T: Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

pub fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "`cursor` is not one this service issued")
        })
}

/// `limit` between 1 and 100 (default 20).
pub fn limit(requested: Option<u32>) -> Result<i64, ApiError> {
    match requested.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(i64::from(n)),
        n => Err(ApiError::bad_request(
            "invalid_limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}, not {n}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode(&(1_700_000_000_000_000_i64, "id"));
        let back: (i64, String) = decode(&c).unwrap();
        assert_eq!(back, (1_700_000_000_000_000, "id".to_owned()));
        assert_eq!(
            decode::<(i64, String)>("%%%").unwrap_err().code,
            "invalid_cursor"
        );
        assert_eq!(
            decode::<(i64, String)>(&encode(&"other")).unwrap_err().code,
            "invalid_cursor"
        );
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None).unwrap(), 20);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(101)).is_err());
        assert!(limit(Some(0)).is_err());
    }
}
