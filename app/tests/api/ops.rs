//! `/healthz`, `/readyz`, `/metrics` (ops listener) and `/openapi.json`.

use std::collections::BTreeSet;

use reqwest::Method;

use crate::helpers::{
    all_completed, body, in_flight, spawn_app, spawn_app_with, until_draining, until_in_flight,
};

#[tokio::test]
async fn healthz_reports_build_metadata_and_uptime() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body = body(response).await;
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
    let ready = body(response).await;
    assert_eq!(ready["dependencies"][0]["name"], "postgres");
    assert_eq!(ready["dependencies"][0]["status"], "up");
    assert!(ready["dependencies"][0]["latency_ms"].is_u64());

    drop(app.postgres.take());
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let ready = body(response).await;
    assert_eq!(ready["status"], "not_ready");
    assert_eq!(ready["dependencies"][0]["status"], "down");
}

#[tokio::test]
async fn readyz_turns_503_while_draining() {
    let app = spawn_app().await;
    app.state.drain.start();
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert_eq!(body(response).await["status"], "draining");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "liveness is unaffected"
    );
}

/// The drain sequence in process, on worker threads (the race gate runs it under
/// ThreadSanitizer; `process::sigterm…` proves the same with a real signal).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn draining_on_worker_threads_completes_every_request_in_flight() {
    let mut app = spawn_app_with(&[
        ("APP_FAULT_LATENCY_MS", "1500"),
        ("APP_DRAIN_SECONDS", "1"),
        ("APP_SHUTDOWN_DEADLINE_SECONDS", "10"),
    ])
    .await;
    let requests = in_flight(&app.client, &app.address, 8);
    until_in_flight(&app.client, &app.ops_address, 8).await;
    app.begin_shutdown();
    let ready = until_draining(&app.client, &app.address).await;
    assert!(ready.is_some(), "/readyz turned 503 during the drain");
    all_completed(requests).await;
    app.shutdown().await.expect("a clean stop");
}

#[tokio::test]
async fn metrics_are_on_the_ops_listener_by_route_template() {
    let app = spawn_app().await;
    let user = app.member("metrics@example.com").await;
    for _ in 0..3 {
        let id = uuid::Uuid::new_v4();
        let r = app
            .authed(Method::GET, &format!("/v1/tasks/{id}"), &user)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = app
        .request(Method::GET, "/v1/tasks")
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    assert_eq!(
        app.get("/metrics").await.status(),
        404,
        "not on the public listener"
    );
    let text = app.metrics().await;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/v1/tasks/{id}",status="404"} 3"#),
        "{text}"
    );
    let raw: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("route=\"/v1/tasks/") && !l.contains("route=\"/v1/tasks/{id}\""))
        .collect();
    assert!(raw.is_empty(), "raw paths became labels: {raw:?}");
    assert!(text.contains(r#"http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/tasks/{id}"}"#), "{text}");
    assert!(
        text.contains(r#"auth_failures_total{reason="malformed_token"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#"build_info{{version="{}",commit="#,
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    for metric in [
        "db_pool_connections{state=\"idle\"}",
        "db_pool_max_connections",
        "app_uptime_seconds",
        "rate_limited",
    ] {
        assert!(text.contains(metric), "{metric} missing: {text}");
    }
}

/// Every route the router serves is in the document, and the document describes nothing else.
#[tokio::test]
async fn openapi_json_describes_every_route() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc = body(response).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let expected: BTreeSet<String> = [
        "GET /healthz",
        "GET /readyz",
        "GET /openapi.json",
        "GET /.well-known/jwks.json",
        "POST /v1/auth/register",
        "POST /v1/auth/login",
        "POST /v1/auth/refresh",
        "POST /v1/auth/logout",
        "GET /v1/tasks",
        "POST /v1/tasks",
        "GET /v1/tasks/{id}",
        "PATCH /v1/tasks/{id}",
        "DELETE /v1/tasks/{id}",
        "POST /v1/tasks/{id}/complete",
        "GET /v1/admin/audit-events",
        "PUT /v1/admin/users/{id}/roles",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(documented, expected);
    let patch = &doc["paths"]["/v1/tasks/{id}"]["patch"]["responses"];
    for status in [
        "200", "401", "403", "404", "409", "412", "413", "428", "500", "503",
    ] {
        assert!(
            patch[status].is_object(),
            "PATCH /v1/tasks/{{id}} does not document {status}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
