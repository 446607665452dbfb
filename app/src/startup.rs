//! Building the router and serving it: shared by `main` and the tests' `spawn_app`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::get;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::ops;

/// The embedded, reversible migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: PgPool,
    pub started: Instant,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .with_state(state)
}

/// Connects lazily (the service starts, and reports not-ready, while the database is down).
pub fn pool(settings: &Settings) -> Result<PgPool> {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(settings.database_url.expose())
        .context("APP_DATABASE_URL is not a valid PostgreSQL URL")
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("server error")
}
