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

/// A random (v4) UUID from the thread's CSPRNG, seeded once: no system call per request.
fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// Probes: never delayed, failed or timed out by injection, never logged or traced.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// The one request-scoped layer (one layer, not five: each layer costs a clone and a boxed future
/// per request). In order: request id, trace span, fault injection and timeout (not on probes),
/// security headers, RED metrics, the access log line (not for probes).
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
        .map_or_else(new_request_id, str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    if is_probe(&route) {
        // Probes arrive every few seconds from every kubelet: metered, never logged or traced.
        let mut response = telemetry::with_request_id(id.clone(), next.run(request)).await;
        finish(&state, &mut response, &id);
        let status = response.status().as_u16();
        state
            .metrics
            .observe_request(&method, &route, status, start.elapsed());
        return response;
    }
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
    let trace_id = telemetry::trace_id(&span);
    span.record("trace_id", &trace_id);
    let in_flight = state.metrics.in_flight();
    let mut response = telemetry::with_request_id(id.clone(), guarded(&state, request, next))
        .instrument(span.clone())
        .await;
    drop(in_flight);
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    finish(&state, &mut response, &id);
    state
        .metrics
        .observe_request(&method, &route, status, elapsed);
    span.record("http.response.status_code", status);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    // The access line carries its fields at top level, for log queries that do not unnest spans.
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(request_id = %id, trace_id, method, route, status, latency_ms, "request failed");
        } else {
            tracing::info!(request_id = %id, trace_id, method, route, status, latency_ms, "request completed");
        }
    });
    response
}

/// Faults (when configured) inside the timeout: a request taking longer than
/// `APP_REQUEST_TIMEOUT_MS` gets a JSON 503.
async fn guarded(state: &AppState, request: Request, next: Next) -> Response {
    let work = async {
        match inject_faults(state).await {
            Some(injected) => injected,
            None => next.run(request).await,
        }
    };
    match tokio::time::timeout(state.settings.request_timeout, work).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took longer than the service allows; retry later",
        )
        .into_response(),
    }
}

/// Configured latency and errors (`APP_FAULT_*`); `Some` is the injected error response.
async fn inject_faults(state: &AppState) -> Option<Response> {
    let faults = state.settings.faults;
    if !faults.enabled() {
        return None;
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
    fail.then(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected_fault",
            "fault injected by APP_FAULT_ERROR_RATE",
        )
        .into_response()
    })
}

/// The request id echoed, and the JSON-API security headers (HSTS only when configured).
fn finish(state: &AppState, response: &mut Response, id: &str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID, value);
    }
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
