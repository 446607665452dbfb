//! `/v1/admin/*`: the audit log and role management.
#![expect(
    unused_qualifications,
    reason = "utoipa's `params(...)` expansion qualifies paths"
)]

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit::{self, Event, RequestMeta};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorEnvelope, JsonBody, PathParam, QueryParams};
use crate::pagination::PageRequest;
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events by this user.
    pub actor: Option<Uuid>,
    /// Only this action, e.g. `task.created`.
    pub action: Option<String>,
    /// Only events at or after this instant (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub metadata: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/admin/audit-events", tag = "admin", params(AuditQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Audit events, newest first", body = AuditPage),
        (status = 400, description = "Bad filter, `limit` or `cursor`", body = ErrorEnvelope),
        (status = 403, description = "Needs `audit.read` (`forbidden`)", body = ErrorEnvelope),
    ))]
pub async fn audit_events(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    caller.require("audit.read")?;
    let page = PageRequest::<i64>::parse(query.limit, query.cursor.as_deref())?;
    let rows: Vec<AuditEvent> = sqlx::query_as(
        "SELECT id, occurred_at, actor_id, action, target, request_id, ip, user_agent, metadata
         FROM audit_events
         WHERE ($1::uuid IS NULL OR actor_id = $1)
           AND ($2::text IS NULL OR action = $2)
           AND ($3::timestamptz IS NULL OR occurred_at >= $3)
           AND ($4::bigint IS NULL OR id < $4)
         ORDER BY id DESC LIMIT $5",
    )
    .bind(query.actor)
    .bind(&query.action)
    .bind(query.since)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(&state.db)
    .await?;
    let (items, next_cursor) = page.page(rows, |e| e.id);
    Ok(Json(AuditPage { items, next_cursor }))
}

/// A role's name: lower-case letters, digits, `_` and `-`.
#[derive(ToSchema)]
#[schema(pattern = "^[a-z0-9_-]{1,63}$")]
#[expect(dead_code, reason = "documents the items of `Roles::roles`")]
struct RoleName(String);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Roles {
    /// The complete set of roles the user will have, e.g. `["admin", "member"]`.
    #[schema(inline, value_type = Vec<RoleName>)]
    pub roles: Vec<String>,
}

fn is_role_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[utoipa::path(put, path = "/v1/admin/users/{id}/roles", tag = "admin", request_body = Roles, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user's roles now", body = Roles),
        (status = 403, description = "Needs `users.manage`", body = ErrorEnvelope),
        (status = 404, description = "No such user", body = ErrorEnvelope),
        (status = 422, description = "Unknown role, or not a role name (`validation_failed`)", body = ErrorEnvelope),
    ))]
pub async fn put_roles(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    PathParam(user): PathParam<Uuid>,
    JsonBody(body): JsonBody<Roles>,
) -> ApiResult<Json<Roles>> {
    caller.require("users.manage")?;
    let mut roles = body.roles;
    roles.sort();
    roles.dedup();
    // Role names are identifiers; anything else (a NUL PostgreSQL cannot compare) is no role.
    if let Some(bad) = roles.iter().find(|r| !is_role_name(r)) {
        return Err(ApiError::validation(
            json!({"roles": format!("{bad:?} is not a role name (a-z, 0-9, `_`, `-`)")}),
        ));
    }
    let mut tx = state.db.begin().await?;
    let known: Vec<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = ANY($1)")
        .bind(&roles)
        .fetch_all(&mut *tx)
        .await?;
    let unknown: Vec<&String> = roles.iter().filter(|r| !known.contains(r)).collect();
    if !unknown.is_empty() {
        return Err(ApiError::validation(
            json!({"roles": format!("unknown roles: {unknown:?}")}),
        ));
    }
    let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1 FOR UPDATE")
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such user",
        ));
    }
    let before: Vec<String> =
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[])")
        .bind(user)
        .bind(&roles)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event {
            actor: Some(caller.user_id),
            action: "user.roles_updated",
            target: format!("user:{user}"),
            meta: &meta,
            metadata: json!({"before": before, "after": roles}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Roles { roles }))
}
