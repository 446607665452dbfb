//! The audit log: one row per mutation, written in the mutation's own transaction.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::telemetry::current_request_id;

/// Who is asking, from where: recorded with every audit event.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta {
            request_id: current_request_id(),
            ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            user_agent: parts
                .headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect()),
        })
    }
}

#[derive(Debug)]
pub struct Event<'a> {
    pub actor: Option<Uuid>,
    pub action: &'static str,
    pub target: String,
    pub meta: &'a RequestMeta,
    pub metadata: Value,
}

pub async fn record(conn: &mut PgConnection, event: Event<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (actor_id, action, target, request_id, ip, user_agent, metadata)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.actor)
    .bind(event.action)
    .bind(event.target)
    .bind(&event.meta.request_id)
    .bind(&event.meta.ip)
    .bind(&event.meta.user_agent)
    .bind(event.metadata)
    .execute(conn)
    .await?;
    Ok(())
}
