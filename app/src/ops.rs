//! Operational endpoints: liveness with build metadata, readiness with dependency status,
//! metrics (on the ops listener) and the OpenAPI document.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::build_info;
use crate::startup::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    pub version: &'static str,
    /// Git commit the binary was built from (`unknown` for local builds).
    pub commit: &'static str,
    pub build_date: &'static str,
    pub uptime_seconds: u64,
}

#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: build_info::VERSION,
        commit: build_info::COMMIT,
        build_date: build_info::DATE,
        uptime_seconds: state.started.elapsed().as_secs(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dependency {
    #[schema(example = "postgres")]
    pub name: &'static str,
    /// `up` or `down`.
    pub status: &'static str,
    pub latency_ms: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `not_ready` or `draining`.
    pub status: &'static str,
    pub dependencies: Vec<Dependency>,
}

#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Ready: every dependency answers", body = Readiness),
        (status = 503, description = "A dependency is down, or the service is draining", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let start = Instant::now();
    let ping = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&state.db),
    )
    .await;
    let up = matches!(ping, Ok(Ok(_)));
    let postgres = Dependency {
        name: "postgres",
        status: if up { "up" } else { "down" },
        latency_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    let (code, status) = match (state.drain.is_draining(), up) {
        (true, _) => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
        (false, true) => (StatusCode::OK, "ready"),
        (false, false) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
    };
    (
        code,
        Json(Readiness {
            status,
            dependencies: vec![postgres],
        }),
    )
}

/// Prometheus exposition (ops listener only).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics.render(&state.db, state.started.elapsed()),
    )
}
