//! The service binary: settings, logs, migrations, serve until SIGTERM or Ctrl-C.

use std::time::Instant;

use anyhow::{Context, Result};
use app::config::Settings;
use app::startup::{self, AppState, MIGRATOR};

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let settings = Settings::from_env()?;
    tracing::info!(config = ?settings, "starting");
    let db = startup::pool(&settings)?;
    MIGRATOR.run(&db).await.context("cannot apply migrations")?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    startup::serve(
        listener,
        AppState {
            db,
            started: Instant::now(),
        },
        shutdown_signal(),
    )
    .await
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async move {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}
