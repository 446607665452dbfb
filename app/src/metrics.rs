//! RED metrics by route *template*, auth failures, rate limiting, pool gauges, uptime, build info.
//!
//! One registry per application instance (no globals), rendered by `/metrics` on the ops listener.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
}

/// Latency buckets in seconds: fine below 100 ms where the SLOs live.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type Gaugef = Gauge<f64, AtomicU64>;

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    auth_failures: Family<ReasonLabels, Counter>,
    rate_limited: Family<ScopeLabels, Counter>,
    pool_connections: Family<StateLabels, Gauge>,
    uptime: Gaugef,
    in_flight: Gauge,
}

/// One request being served: counted in `http_requests_in_flight` until dropped.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    pub fn new(pool_max: u32) -> Arc<Metrics> {
        let mut registry = Registry::default();
        let requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        let duration = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            duration.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "auth_failures",
            "Refused authentication attempts by reason",
            auth_failures.clone(),
        );
        let rate_limited = Family::<ScopeLabels, Counter>::default();
        for scope in ["login_ip", "login_account"] {
            // Present at zero from the start, so rate() and alerts see the series.
            let _ = rate_limited.get_or_create(&ScopeLabels {
                scope: scope.to_owned(),
            });
        }
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit",
            rate_limited.clone(),
        );
        let pool_connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by state",
            pool_connections.clone(),
        );
        let pool_max_gauge = Gauge::<i64>::default();
        pool_max_gauge.set(i64::from(pool_max));
        registry.register(
            "db_pool_max_connections",
            "Configured pool size",
            pool_max_gauge,
        );
        let uptime = Gaugef::default();
        registry.register(
            "app_uptime_seconds",
            "Seconds since the process started serving",
            uptime.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served (probes excluded)",
            in_flight.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: crate::build_info::VERSION.to_owned(),
                commit: crate::build_info::COMMIT.to_owned(),
            })
            .set(1);
        registry.register("build_info", "Build metadata; always 1", build);
        Arc::new(Metrics {
            registry,
            requests,
            duration,
            auth_failures,
            rate_limited,
            pool_connections,
            uptime,
            in_flight,
        })
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a request as in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn rate_limited(&self, scope: &str) {
        self.rate_limited
            .get_or_create(&ScopeLabels {
                scope: scope.to_owned(),
            })
            .inc();
    }

    /// The exposition text, with the pool and uptime gauges read now.
    pub fn render(&self, pool: &PgPool, uptime: Duration) -> String {
        let size = i64::from(pool.size());
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
        for (state, value) in [("idle", idle), ("in_use", size - idle)] {
            self.pool_connections
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(value);
        }
        self.uptime.set(uptime.as_secs_f64());
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}
