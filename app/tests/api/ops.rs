//! `/healthz` and `/readyz`.

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_reports_build_metadata_and_uptime() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    for key in ["commit", "build_date", "uptime_seconds"] {
        assert!(!body[key].is_null(), "healthz lacks {key}: {body}");
    }
}

#[tokio::test]
async fn readyz_lists_postgres_and_turns_503_when_the_database_goes_away() {
    let mut app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["dependencies"][0]["name"], "postgres");
    assert_eq!(body["dependencies"][0]["status"], "up");
    assert!(body["dependencies"][0]["latency_ms"].is_u64());

    drop(app.postgres.take());
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["dependencies"][0]["status"], "down");
}
