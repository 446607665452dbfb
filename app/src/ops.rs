//! Operational endpoints: liveness with build metadata, readiness with dependency status.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::startup::AppState;

/// Build metadata, embedded at compile time (release builds set `APP_BUILD_COMMIT` and `APP_BUILD_DATE`).
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub commit: &'static str,
    pub build_date: &'static str,
    pub uptime_seconds: u64,
}

pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        commit: option_env!("APP_BUILD_COMMIT").unwrap_or("unknown"),
        build_date: option_env!("APP_BUILD_DATE").unwrap_or("unknown"),
        uptime_seconds: state.started.elapsed().as_secs(),
    })
}

#[derive(Debug, Serialize)]
pub struct Dependency {
    pub name: &'static str,
    pub status: &'static str,
    pub latency_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub dependencies: Vec<Dependency>,
}

/// 200 when every dependency answers; 503 otherwise.
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
    let (code, status) = if up {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (
        code,
        Json(Readiness {
            status,
            dependencies: vec![postgres],
        }),
    )
}
