//! Tasks: the service's resource. Owner-scoped, versioned (ETag / If-Match), soft-deleted,
//! optionally recurring.

pub mod lifecycle;
pub mod recurrence;
pub mod routes;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use self::lifecycle::Status;
use self::recurrence::{Frequency, Recurrence};
use crate::error::ApiError;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub due_at: Option<DateTime<Utc>>,
    pub recurrence: Option<Recurrence>,
    /// Which occurrence of its series this task is (0 for the first).
    pub occurrence: i32,
    /// Increments on every change; the `ETag` is `"<version>"`.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// The columns every task query selects, in [`TaskRow`] order.
pub const COLUMNS: &str = "id, title, description, status, due_at, recurrence_frequency, recurrence_interval, \
     occurrence, version, created_at, updated_at, completed_at, series_anchor";

#[derive(Debug, sqlx::FromRow)]
pub struct TaskRow {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub status: String,
    pub due_at: Option<DateTime<Utc>>,
    pub recurrence_frequency: Option<String>,
    pub recurrence_interval: Option<i32>,
    pub occurrence: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub series_anchor: Option<DateTime<Utc>>,
}

impl TaskRow {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Open)
    }

    pub fn recurrence(&self) -> Option<Recurrence> {
        Some(Recurrence {
            frequency: Frequency::parse(self.recurrence_frequency.as_deref()?)?,
            interval: u32::try_from(self.recurrence_interval?).ok()?,
        })
    }

    pub fn into_task(self) -> Task {
        Task {
            status: self.status(),
            recurrence: self.recurrence(),
            id: self.id,
            title: self.title,
            description: self.description,
            due_at: self.due_at,
            occurrence: self.occurrence,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            completed_at: self.completed_at,
        }
    }
}

pub fn etag(version: i32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `If-Match` against the current version (absent: no precondition).
pub fn if_match(headers: &HeaderMap, version: i32) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let value = value.to_str().unwrap_or_default();
    let current = format!("\"{version}\"");
    let matches = value
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == current);
    if matches {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "the task changed since you read it; fetch it again and retry with its new ETag",
        )
        .with_details(serde_json::json!({"current_etag": current})))
    }
}
