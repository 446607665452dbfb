//! The baseline for the service benchmark: a bare axum hello-world, no middleware, no state.
//! `cargo run --release -p app --example bare_axum -- 127.0.0.1:8099`

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let app = Router::new().route("/healthz", get(|| async { "ok" }));
    axum::serve(listener, app).await?;
    Ok(())
}
