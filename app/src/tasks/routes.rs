//! `/v1/tasks`: list (cursor), create (idempotent), get (ETag), patch (If-Match), complete, delete.
#![expect(
    unused_qualifications,
    reason = "utoipa's `params(...)` expansion qualifies paths"
)]

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::lifecycle::Status;
use super::recurrence::{self, MAX_INTERVAL, Recurrence};
use super::{COLUMNS, Task, TaskRow, etag, if_match};
use crate::audit::{self, Event, RequestMeta};
use crate::auth::Caller;
use crate::auth::tokens::hex;
use crate::error::{ApiError, ApiResult, ErrorEnvelope, JsonBody, PathParam, QueryParams};
use crate::pagination::PageRequest;
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only tasks in this status.
    pub status: Option<Status>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<Task>,
    /// Absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1 to 200 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub title: String,
    /// Up to 4000 characters, no NUL.
    #[serde(default)]
    #[schema(max_length = 4000, pattern = r"^[^\u0000]*$")]
    pub description: String,
    pub due_at: Option<DateTime<Utc>>,
    /// Needs `due_at`: the series' first due date, repeated in the owner's time zone.
    pub recurrence: Option<Recurrence>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTask {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub title: Option<String>,
    #[schema(max_length = 4000, pattern = r"^[^\u0000]*$")]
    pub description: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    /// A lifecycle transition; illegal ones answer 409.
    pub status: Option<Status>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Completion {
    pub task: Task,
    /// The next occurrence, created when the task recurs.
    pub next: Option<Task>,
}

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

fn validate_text(
    problems: &mut serde_json::Map<String, Value>,
    title: Option<&str>,
    description: Option<&str>,
) {
    if let Some(title) = title {
        if !(1..=200).contains(&title.chars().count()) || title.trim().is_empty() {
            problems.insert(
                "title".into(),
                json!("must be 1 to 200 characters, not only spaces"),
            );
        } else if title.chars().any(char::is_control) {
            problems.insert("title".into(), json!("must not contain control characters"));
        }
    }
    if let Some(description) = description {
        if description.chars().count() > 4000 {
            problems.insert(
                "description".into(),
                json!("must be at most 4000 characters"),
            );
        } else if description.contains('\0') {
            // PostgreSQL text cannot hold NUL; line breaks and tabs are fine.
            problems.insert(
                "description".into(),
                json!("must not contain NUL (\\u0000)"),
            );
        }
    }
}

fn validate_create(body: &CreateTask) -> Result<(), ApiError> {
    let mut problems = serde_json::Map::new();
    validate_text(&mut problems, Some(&body.title), Some(&body.description));
    if let Some(rule) = body.recurrence {
        if !(1..=MAX_INTERVAL).contains(&rule.interval) {
            problems.insert(
                "recurrence.interval".into(),
                json!(format!("must be 1 to {MAX_INTERVAL}")),
            );
        }
        if body.due_at.is_none() {
            problems.insert(
                "due_at".into(),
                json!("a recurring task needs its first due date"),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(Value::Object(problems)))
    }
}

fn task_response(status: StatusCode, task: &Task) -> Response {
    let mut response = (status, Json(task)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag(task.version));
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("/v1/tasks/{}", task.id))
    {
        headers.insert(header::LOCATION, location);
    }
    response
}

#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Your tasks, newest first", body = TaskPage),
        (status = 400, description = "Bad `limit`, `cursor` or `status` (`invalid_limit`, `invalid_cursor`, `invalid_query`)", body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<TaskPage>> {
    caller.require("tasks.read")?;
    let page = PageRequest::<(i64, Uuid)>::parse(query.limit, query.cursor.as_deref())?;
    let (after_micros, after_id) = page
        .after
        .map_or((None, None), |(t, id)| (Some(t), Some(id)));
    let rows: Vec<TaskRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks
         WHERE owner_id = $1 AND deleted_at IS NULL
           AND ($2::text IS NULL OR status = $2)
           AND ($3::bigint IS NULL OR (created_at, id) < ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4))
         ORDER BY created_at DESC, id DESC
         LIMIT $5"
    ))
    .bind(caller.user_id)
    .bind(query.status.map(Status::as_str))
    .bind(after_micros)
    .bind(after_id)
    .bind(page.fetch())
    .fetch_all(&state.db)
    .await?;
    let (rows, next_cursor) = page.page(rows, |r| (r.created_at.timestamp_micros(), r.id));
    let items = rows.into_iter().map(TaskRow::into_task).collect();
    Ok(Json(TaskPage { items, next_cursor }))
}

#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", request_body = CreateTask, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", min_length = 1, max_length = 255,
        description = "1 to 255 visible ASCII characters. Retries with the same key and body get the first response; a different body answers 422")),
    responses(
        (status = 201, description = "Created (or replayed: `Idempotent-Replayed: true`)", body = Task,
            headers(("ETag" = String), ("Location" = String))),
        (status = 422, description = "Invalid task, or the idempotency key was used with another body (`idempotency_key_reused`)", body = ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    headers: HeaderMap,
    JsonBody(raw): JsonBody<Value>,
) -> ApiResult<Response> {
    caller.require("tasks.write")?;
    let body: CreateTask = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::validation(json!({"body": e.to_string()})))?;
    validate_create(&body)?;
    let key = idempotency_key(&headers)?;
    let mut tx = state.db.begin().await?;
    if let Some(key) = &key {
        let request_hash = hex(&Sha256::digest(raw.to_string().as_bytes()));
        if let Some(replay) = claim_key(&mut tx, caller.user_id, key, &request_hash).await? {
            return Ok(replay);
        }
    }
    let new = NewTask {
        title: body.title.trim(),
        description: &body.description,
        due_at: body.due_at,
        recurrence: body.recurrence,
        series_anchor: body.recurrence.and(body.due_at),
        occurrence: 0,
    };
    let task = insert_task(&mut tx, caller.user_id, &new).await?;
    audit::record(
        &mut tx,
        Event {
            actor: Some(caller.user_id),
            action: "task.created",
            target: format!("task:{}", task.id),
            meta: &meta,
            metadata: json!({"title": task.title, "recurring": task.recurrence.is_some()}),
        },
    )
    .await?;
    if let Some(key) = &key {
        sqlx::query("UPDATE idempotency_keys SET response_status = 201, response_body = $3 WHERE user_id = $1 AND key = $2")
            .bind(caller.user_id)
            .bind(key)
            .bind(serde_json::to_value(&task).map_err(anyhow::Error::from)?)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(task_response(StatusCode::CREATED, &task))
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        // Visible characters only: `to_str` also lets spaces and tabs through.
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "`Idempotency-Key` must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// Claims `key` for this request, or answers with the stored response of its first use.
/// A concurrent first use holds the row lock until it commits, so the second waits and replays.
async fn claim_key(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    request_hash: &str,
) -> ApiResult<Option<Response>> {
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body)
         VALUES ($1, $2, $3, 0, '{}') ON CONFLICT DO NOTHING",
    )
    .bind(user)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *conn)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(None);
    }
    let (stored_hash, body): (String, Value) = sqlx::query_as(
        "SELECT request_hash, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    if stored_hash != request_hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
        ));
    }
    let task: Task = serde_json::from_value(body).map_err(anyhow::Error::from)?;
    let mut response = task_response(StatusCode::CREATED, &task);
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(Some(response))
}

/// A task row to insert: a created task, or the next occurrence of a series.
struct NewTask<'a> {
    title: &'a str,
    description: &'a str,
    due_at: Option<DateTime<Utc>>,
    recurrence: Option<Recurrence>,
    series_anchor: Option<DateTime<Utc>>,
    occurrence: u32,
}

async fn insert_task(conn: &mut PgConnection, owner: Uuid, task: &NewTask<'_>) -> ApiResult<Task> {
    let row: TaskRow = sqlx::query_as(&format!(
        "INSERT INTO tasks (id, owner_id, title, description, due_at, recurrence_frequency, recurrence_interval, series_anchor, occurrence)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(owner)
    .bind(task.title)
    .bind(task.description)
    .bind(task.due_at)
    .bind(task.recurrence.map(|r| r.frequency.as_str()))
    .bind(task.recurrence.map(|r| i32::try_from(r.interval).unwrap_or(1)))
    .bind(task.series_anchor)
    .bind(i32::try_from(task.occurrence).unwrap_or(i32::MAX))
    .fetch_one(conn)
    .await?;
    Ok(row.into_task())
}

async fn fetch_for_update(conn: &mut PgConnection, owner: Uuid, id: Uuid) -> ApiResult<TaskRow> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL FOR UPDATE"
    ))
    .bind(id)
    .bind(owner)
    .fetch_optional(conn)
    .await?
    .ok_or_else(ApiError::not_found)
}

#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task", body = Task, headers(("ETag" = String))),
        (status = 404, description = "No such task of yours (`not_found`)", body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<Uuid>,
) -> ApiResult<Response> {
    caller.require("tasks.read")?;
    let row: TaskRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(caller.user_id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(ApiError::not_found)?;
    Ok(task_response(StatusCode::OK, &row.into_task()))
}

fn illegal_transition(from: Status, to: Status) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "illegal_transition",
        format!("a task cannot go from {} to {}", from.as_str(), to.as_str()),
    )
    .with_details(json!({"from": from, "to": to, "allowed": from.next()}))
}

#[utoipa::path(patch, path = "/v1/tasks/{id}", tag = "tasks", request_body = PatchTask, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id"), ("If-Match" = String, Header, description = "The ETag you read")),
    responses(
        (status = 200, description = "Updated", body = Task, headers(("ETag" = String))),
        (status = 404, description = "No such task of yours", body = ErrorEnvelope),
        (status = 409, description = "Illegal lifecycle transition (`illegal_transition`)", body = ErrorEnvelope),
        (status = 412, description = "`If-Match` does not match the current ETag (`precondition_failed`)", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields", body = ErrorEnvelope),
        (status = 428, description = "`If-Match` is required (`precondition_required`)", body = ErrorEnvelope),
    ))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    headers: HeaderMap,
    PathParam(id): PathParam<Uuid>,
    JsonBody(body): JsonBody<PatchTask>,
) -> ApiResult<Response> {
    caller.require("tasks.write")?;
    if !headers.contains_key(header::IF_MATCH) {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "send `If-Match` with the task's ETag (from GET /v1/tasks/{id})",
        ));
    }
    let mut problems = serde_json::Map::new();
    validate_text(
        &mut problems,
        body.title.as_deref(),
        body.description.as_deref(),
    );
    if !problems.is_empty() {
        return Err(ApiError::validation(Value::Object(problems)));
    }
    let mut tx = state.db.begin().await?;
    let current = fetch_for_update(&mut tx, caller.user_id, id).await?;
    if_match(&headers, current.version)?;
    let from = current.status();
    if let Some(to) = body.status
        && to != from
        && !from.can_become(to)
    {
        return Err(illegal_transition(from, to));
    }
    let row: TaskRow = sqlx::query_as(&format!(
        "UPDATE tasks SET title = coalesce($2, title), description = coalesce($3, description),
             due_at = coalesce($4, due_at), status = coalesce($5, status),
             completed_at = CASE WHEN $5 = 'completed' THEN now() WHEN $5 IS NULL THEN completed_at ELSE NULL END,
             version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(body.title.as_deref().map(str::trim))
    .bind(&body.description)
    .bind(body.due_at)
    .bind(body.status.filter(|s| *s != from).map(Status::as_str))
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event {
            actor: Some(caller.user_id),
            action: "task.updated",
            target: format!("task:{id}"),
            meta: &meta,
            metadata: json!({"fields": changed_fields(&body), "version": row.version}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(task_response(StatusCode::OK, &row.into_task()))
}

fn changed_fields(body: &PatchTask) -> Vec<&'static str> {
    [
        body.title.as_ref().map(|_| "title"),
        body.description.as_ref().map(|_| "description"),
        body.due_at.map(|_| "due_at"),
        body.status.map(|_| "status"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[utoipa::path(post, path = "/v1/tasks/{id}/complete", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id"), ("If-Match" = Option<String>, Header, description = "Optional: complete only this version")),
    responses(
        (status = 200, description = "Completed; a recurring task's next occurrence is created", body = Completion),
        (status = 404, description = "No such task of yours", body = ErrorEnvelope),
        (status = 409, description = "The task is not open (`illegal_transition`)", body = ErrorEnvelope),
        (status = 412, description = "`If-Match` does not match", body = ErrorEnvelope),
    ))]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    headers: HeaderMap,
    PathParam(id): PathParam<Uuid>,
) -> ApiResult<Json<Completion>> {
    caller.require("tasks.write")?;
    let mut tx = state.db.begin().await?;
    let current = fetch_for_update(&mut tx, caller.user_id, id).await?;
    if_match(&headers, current.version)?;
    if !current.status().can_become(Status::Completed) {
        return Err(illegal_transition(current.status(), Status::Completed));
    }
    let next = match (current.recurrence(), current.series_anchor) {
        (Some(rule), Some(anchor)) => {
            Some(next_occurrence(&mut tx, caller.user_id, &current, rule, anchor).await?)
        }
        _ => None,
    };
    let row: TaskRow = sqlx::query_as(&format!(
        "UPDATE tasks SET status = 'completed', completed_at = now(), version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event {
            actor: Some(caller.user_id),
            action: "task.completed",
            target: format!("task:{id}"),
            meta: &meta,
            metadata: json!({"next_task": next.as_ref().map(|t| t.id)}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Completion {
        task: row.into_task(),
        next,
    }))
}

async fn next_occurrence(
    conn: &mut PgConnection,
    owner: Uuid,
    current: &TaskRow,
    rule: Recurrence,
    anchor: DateTime<Utc>,
) -> ApiResult<Task> {
    let (zone,): (String,) = sqlx::query_as("SELECT time_zone FROM users WHERE id = $1")
        .bind(owner)
        .fetch_one(&mut *conn)
        .await?;
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    let n = u32::try_from(current.occurrence).unwrap_or(0);
    let (m, due) = recurrence::next_after(anchor, rule, n, tz).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "series_ended",
            "the series has no further occurrence",
        )
    })?;
    let next = NewTask {
        title: &current.title,
        description: &current.description,
        due_at: Some(due),
        recurrence: Some(rule),
        series_anchor: Some(anchor),
        occurrence: m,
    };
    insert_task(conn, owner, &next).await
}

#[utoipa::path(delete, path = "/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id"), ("If-Match" = Option<String>, Header, description = "Optional: delete only this version")),
    responses(
        (status = 204, description = "Deleted (soft: kept for the audit trail, gone from the API)"),
        (status = 404, description = "No such task of yours", body = ErrorEnvelope),
        (status = 412, description = "`If-Match` does not match", body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    headers: HeaderMap,
    PathParam(id): PathParam<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require("tasks.write")?;
    let mut tx = state.db.begin().await?;
    let current = fetch_for_update(&mut tx, caller.user_id, id).await?;
    if_match(&headers, current.version)?;
    sqlx::query("UPDATE tasks SET deleted_at = now(), version = version + 1, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event {
            actor: Some(caller.user_id),
            action: "task.deleted",
            target: format!("task:{id}"),
            meta: &meta,
            metadata: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
