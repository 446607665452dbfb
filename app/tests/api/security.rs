//! Limits, timeouts, headers, CORS, request ids, the error envelope, fault injection.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{body, error_code, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_oversized_body_is_413_in_the_envelope() {
    let app = spawn_app_with(&[("APP_BODY_LIMIT_BYTES", "1024")]).await;
    let big = json!({"email": "a@example.com", "password": "x".repeat(4096)});
    let response = app.post_json("/v1/auth/register", &big).await;
    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "payload_too_large");
}

#[tokio::test]
async fn a_slow_request_times_out_with_a_json_503() {
    let app = spawn_app_with(&[
        ("APP_REQUEST_TIMEOUT_MS", "200"),
        ("APP_FAULT_LATENCY_MS", "1000"),
    ])
    .await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 503);
    let value = body(response).await;
    assert_eq!(value["error"]["code"], "timeout");
    assert!(value["error"]["request_id"].is_string());
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "probes are never delayed"
    );
}

#[tokio::test]
async fn injected_errors_hit_the_api_but_not_the_probes() {
    let app = spawn_app_with(&[("APP_FAULT_ERROR_RATE", "1")]).await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 500);
    assert_eq!(error_code(response).await, "injected_fault");
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn security_headers_on_every_response_and_hsts_only_when_configured() {
    let app = spawn_app().await;
    for path in ["/healthz", "/no-such-route"] {
        let response = app.get(path).await;
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert!(!h.contains_key("strict-transport-security"));
    }
    let hsts = spawn_app_with(&[("APP_HSTS", "true")]).await;
    assert!(
        hsts.get("/healthz").await.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[tokio::test]
async fn cors_is_off_unless_configured() {
    let preflight = |app: &crate::helpers::TestApp| {
        app.request(Method::OPTIONS, "/v1/tasks")
            .header("Origin", "https://app.example.com")
            .header("Access-Control-Request-Method", "GET")
            .send()
    };
    let off = spawn_app().await;
    assert!(
        !preflight(&off)
            .await
            .unwrap()
            .headers()
            .contains_key("access-control-allow-origin")
    );
    let on = spawn_app_with(&[("APP_CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let response = preflight(&on).await.unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

#[tokio::test]
async fn request_ids_are_kept_when_well_formed_and_replaced_otherwise() {
    let app = spawn_app().await;
    let kept = app
        .request(Method::GET, "/healthz")
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "abc-123");
    let replaced = app
        .request(Method::GET, "/healthz")
        .header("X-Request-Id", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, "<script>alert(1)</script>");
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    let generated = app.get("/healthz").await;
    assert!(generated.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn every_error_uses_the_envelope_with_the_request_id() {
    let app = spawn_app().await;
    let missing = app
        .request(Method::GET, "/nope")
        .header("X-Request-Id", "rid-404")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let value = body(missing).await;
    assert_eq!(value["error"]["code"], "not_found");
    assert_eq!(value["error"]["request_id"], "rid-404");

    let wrong_method = app.request(Method::PUT, "/healthz").send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(error_code(wrong_method).await, "method_not_allowed");

    let not_json = app
        .request(Method::POST, "/v1/auth/login")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(error_code(not_json).await, "malformed_json");
    let wrong_type = app
        .request(Method::POST, "/v1/auth/login")
        .body("email=x")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    let bad_id = app
        .request(Method::GET, "/v1/tasks/not-a-uuid")
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), 401, "authentication comes first");
}

#[tokio::test]
async fn compression_when_asked() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/openapi.json")
        .header("Accept-Encoding", "gzip")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn internal_errors_are_shown_only_as_internal() {
    let mut app = spawn_app().await;
    let user = app.member("internal@example.com").await;
    drop(app.postgres.take()); // the database disappears under the service
    let response = app.call(Method::GET, "/v1/tasks", &user).await;
    assert_eq!(response.status(), 500);
    let value = body(response).await;
    assert_eq!(value["error"]["code"], "internal");
    assert_eq!(value["error"]["message"], "internal error");
    let text = value.to_string().to_lowercase();
    for leak in ["database", "connection", "sqlx", "pool", "postgres"] {
        assert!(!text.contains(leak), "`{leak}` leaked: {value}");
    }
}
