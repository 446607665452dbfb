//! Request-scoped middleware: request id + trace span + access log + RED metrics, timeouts,
//! fault injection, security headers.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use tracing::Instrument;

use crate::error::ApiError;
use crate::startup::AppState;
use crate::telemetry;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's `X-Request-Id` is kept when it is 1–128 characters of `[A-Za-z0-9._-]`.
pub fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Paths that fault injection and the access log's route grouping leave alone.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Outermost layer: everything below runs inside the request's span and id.
pub async fn request_context(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        request_id = %id,
        trace_id = tracing::field::Empty,
        method = %method,
        route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    telemetry::adopt_parent(&span, request.headers());
    span.record("trace_id", telemetry::trace_id(&span));
    let mut response = telemetry::with_request_id(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    state
        .metrics
        .observe_request(&method, &route, status, elapsed);
    span.record("http.response.status_code", status);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, latency_ms, "request failed");
        } else {
            tracing::info!(status, latency_ms, "request completed");
        }
    });
    response
}

/// A request taking longer than `APP_REQUEST_TIMEOUT_MS` gets a JSON 503.
pub async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.settings.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took longer than the service allows; retry later",
        )
        .into_response(),
    }
}

/// Configured latency and errors (`APP_FAULT_*`), never on the probes.
pub async fn faults(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let faults = state.settings.faults;
    if !faults.enabled() || is_probe(request.uri().path()) {
        return next.run(request).await;
    }
    let (delay, fail) = {
        let mut rng = rand::thread_rng();
        (
            rng.gen_bool(faults.latency_rate),
            rng.gen_bool(faults.error_rate),
        )
    };
    if delay {
        tokio::time::sleep(faults.latency).await;
    }
    if fail {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected_fault",
            "fault injected by APP_FAULT_ERROR_RATE",
        )
        .into_response();
    }
    next.run(request).await
}

/// JSON-API security headers on every response; HSTS only when configured (behind TLS).
pub async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-resource-policy", "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if state.settings.hsts {
        headers.insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(well_formed("abc-123_x.y"));
        assert!(!well_formed(""));
        assert!(!well_formed("has space"));
        assert!(!well_formed("line\nbreak"));
        assert!(!well_formed(&"a".repeat(129)));
    }
}
