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

/// A validated page request: the page size and the decoded cursor position `P`.
#[derive(Debug)]
pub struct PageRequest<P> {
    limit: usize,
    pub after: Option<P>,
}

impl<P: Serialize + DeserializeOwned> PageRequest<P> {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest<P>, ApiError> {
        Ok(PageRequest {
            limit: self::limit(limit)?,
            after: cursor.map(decode).transpose()?,
        })
    }

    /// The SQL `LIMIT`: one row more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        i64::try_from(self.limit + 1).unwrap_or(i64::MAX)
    }

    /// The page, and the cursor after its last row when more rows follow.
    pub fn page<T>(
        &self,
        mut rows: Vec<T>,
        position: impl Fn(&T) -> P,
    ) -> (Vec<T>, Option<String>) {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let next = rows
            .last()
            .filter(|_| more)
            .map(|last| encode(&position(last)));
        (rows, next)
    }
}

/// `limit` between 1 and 100 (default 20).
pub fn limit(requested: Option<u32>) -> Result<usize, ApiError> {
    match requested.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
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
    fn a_page_holds_limit_rows_and_a_cursor_only_when_more_follow() {
        let request = PageRequest::<i64>::parse(Some(2), None).unwrap();
        assert_eq!(request.fetch(), 3);
        let (rows, next) = request.page(vec![9, 8, 7], |r| *r);
        assert_eq!(rows, [9, 8]);
        assert_eq!(decode::<i64>(&next.unwrap()).unwrap(), 8);
        assert_eq!(request.page(vec![9, 8], |r| *r).1, None);
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None).unwrap(), 20);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(101)).is_err());
        assert!(limit(Some(0)).is_err());
    }
}
