//! Logs (JSON lines), traces (OpenTelemetry, OTLP when configured) and the request id.

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

tokio::task_local! {
    /// The id of the request being served (set by the request-context middleware).
    static REQUEST_ID: String;
}

pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `fut` with `id` as the current request id.
pub async fn with_request_id<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Owns the tracer provider; [`Telemetry::shutdown`] flushes pending spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "flushing traces failed");
        }
    }
}

/// Installs the global subscriber: JSON logs to stdout, spans to OTLP when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set (OTLP/HTTP JSON; `/v1/traces` is appended; `http://` or
/// `https://`, see [`OtlpClient`]).
pub fn init(filter: &str) -> anyhow::Result<Telemetry> {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("app").build());
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    if endpoint.is_some() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(OtlpClient::new()?)
            .with_protocol(Protocol::HttpJson)
            .build()
            .context("OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the OTLP exporter")?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("app");
    let filter = EnvFilter::try_new(filter)
        .with_context(|| format!("APP_LOG: `{filter}` is not a valid filter"))?;
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false);
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .context("a global subscriber is already installed")?;
    Ok(Telemetry { provider })
}

/// The exporter's HTTP client: reqwest's blocking client (the batch exporter runs on a thread of
/// its own, outside the runtime) with rustls on aws-lc-rs, trusting the platform's roots, or only
/// the PEM bundle in `SSL_CERT_FILE` when that is set.
#[derive(Debug)]
pub struct OtlpClient(reqwest::blocking::Client);

impl OtlpClient {
    /// Built on a thread of its own: a blocking client must not be created inside the runtime.
    pub fn new() -> anyhow::Result<OtlpClient> {
        let build = || {
            reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
        };
        let client = std::thread::spawn(build)
            .join()
            .map_err(|_| anyhow::anyhow!("the thread building the OTLP client panicked"))?
            .context(
                "OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the OTLP client \
                 (no CA certificates? set SSL_CERT_FILE to a PEM bundle)",
            )?;
        Ok(OtlpClient(client))
    }
}

#[async_trait::async_trait]
impl HttpClient for OtlpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let mut response = self.0.execute(request.try_into()?)?.error_for_status()?;
        let headers = std::mem::take(response.headers_mut());
        let mut answer = Response::builder()
            .status(response.status())
            .body(response.bytes()?)?;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}

/// Continues the caller's trace when the request carries a W3C `traceparent`.
pub fn adopt_parent(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The span's trace id as 32 hex digits (all zeros without a tracer).
pub fn trace_id(span: &tracing::Span) -> String {
    span.context().span().span_context().trace_id().to_string()
}

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}
