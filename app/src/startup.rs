//! Building the application (state, both listeners, middleware) and running it through a graceful
//! drain: shared by `main` and the tests' `spawn_app`.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::auth::ratelimit::LoginLimiter;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::shutdown::Drain;
use crate::{database, error, middleware, openapi, ops};

/// The embedded, reversible migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies `migrator`'s pending migrations under sqlx's advisory lock. A schema *ahead* of the
/// code (migrations applied by a newer release, then rolled back) is accepted: releases only
/// ship expand migrations before the code that needs them, and the deploy tool refuses a
/// rollback onto a schema whose extra migrations are not expand-only. Returns the versions the
/// database has and this code does not know.
pub async fn migrate(db: &PgPool, migrator: &sqlx::migrate::Migrator) -> Result<Vec<i64>> {
    let mut migrator = sqlx::migrate::Migrator {
        migrations: migrator.migrations.clone(),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    migrator.set_ignore_missing(true);
    migrator.run(db).await.context("cannot apply migrations")?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(db)
            .await
            .context("cannot read _sqlx_migrations")?;
    let ahead: Vec<i64> = applied
        .into_iter()
        .filter(|v| !migrator.iter().any(|m| m.version == *v))
        .collect();
    if !ahead.is_empty() {
        tracing::warn!(
            ?ahead,
            "the schema is ahead of this release: it has migrations this code does not know"
        );
    }
    Ok(ahead)
}

/// Everything a handler may need; one `Arc`, so the per-request clones made by routing and
/// middleware cost one atomic increment.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub db: PgPool,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub limiter: LoginLimiter,
    pub drain: Drain,
    pub started: Instant,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(settings: Settings, db: PgPool) -> AppState {
        AppState(Arc::new(Shared {
            metrics: Metrics::new(settings.database_max_connections),
            limiter: LoginLimiter::new(
                settings.login_limit_per_ip,
                settings.login_limit_per_account,
            ),
            settings,
            db,
            drain: Drain::default(),
            started: Instant::now(),
        }))
    }
}

/// A pool that connects lazily: tests and tools that handle an unreachable database themselves.
pub fn pool(settings: &Settings) -> Result<PgPool> {
    Ok(pool_with(settings, connect_options(settings)?))
}

/// The pool, once one connection has proved the server reachable and trusted
/// ([`database::verify`]): `serve`, `migrate` and `seed` start with it, so nothing is applied to a
/// server they cannot reach or trust. Fails with a [`database::ConnectError`].
pub async fn connect(settings: &Settings) -> Result<PgPool> {
    let options = connect_options(settings)?;
    database::verify(&options).await?;
    Ok(pool_with(settings, options))
}

fn connect_options(settings: &Settings) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(settings.database_url.expose())
        .context("APP_DATABASE_URL is not a valid PostgreSQL URL")
}

fn pool_with(settings: &Settings, options: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.database_max_connections)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(options)
}

/// The API router. Only the request-context layer sits on the routes (it needs the matched route
/// template); the rest wrap the router once, so a request does not clone them per route.
pub fn router(state: AppState) -> Router {
    let settings = &state.settings;
    let cors =
        (!settings.cors_allowed_origins.is_empty()).then(|| cors(&settings.cors_allowed_origins));
    let inner = api_routes(state.clone());
    let outer = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .option_layer(cors)
        .layer(CompressionLayer::new())
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .service(inner);
    Router::new().fallback_service(outer)
}

/// Every API route, from the `OpenApiRouter` alone (so each is in the document), with the
/// request-context middleware; `router` adds the transport layers around it.
pub fn api_routes(state: AppState) -> Router {
    let (routes, _) = openapi::split();
    routes
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(from_fn_with_state(
            state.clone(),
            middleware::request_context,
        ))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods(tower_http::cors::Any)
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
        ])
        .expose_headers([header::ETAG, header::LOCATION, middleware::REQUEST_ID])
}

/// The ops listener's router: metrics, kept off the public port.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(state)
}

/// Both listeners bound, not yet serving.
#[derive(Debug)]
pub struct Application {
    api: TcpListener,
    ops: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn bind(state: AppState) -> Result<Application> {
        let settings = &state.settings;
        let api = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("APP_LISTEN: cannot listen on {}", settings.listen))?;
        let ops = TcpListener::bind(settings.ops_listen)
            .await
            .with_context(|| format!("APP_OPS_LISTEN: cannot listen on {}", settings.ops_listen))?;
        Ok(Application { api, ops, state })
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api
            .local_addr()
            .unwrap_or_else(|_| self.state.settings.listen)
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops
            .local_addr()
            .unwrap_or_else(|_| self.state.settings.ops_listen)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `signal`, then drains: readiness 503 at once, keep serving for the drain
    /// period, stop accepting, give in-flight requests until the deadline, close the pool.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let Application { api, ops, state } = self;
        let (stop, stopped) = watch::channel(false);
        let wait = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let api_server = axum::serve(
            api,
            router(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(wait(stopped.clone()));
        let ops_server =
            axum::serve(ops, ops_router(state.clone())).with_graceful_shutdown(wait(stopped));
        let mut servers = tokio::spawn(async move {
            tokio::try_join!(api_server.into_future(), ops_server.into_future())
        });
        tokio::select! {
            result = &mut servers => return result.context("server task failed")?.map(|_| ()).context("server error"),
            () = signal => {}
        }
        let settings = &state.settings;
        tracing::info!(
            drain_seconds = settings.drain.as_secs(),
            "SIGTERM: readiness is now 503; draining"
        );
        state.drain.start();
        tokio::time::sleep(settings.drain).await;
        tracing::info!(
            deadline_seconds = settings.shutdown_deadline.as_secs(),
            "no longer accepting; finishing in-flight requests"
        );
        let _ = stop.send(true);
        match tokio::time::timeout(settings.shutdown_deadline, &mut servers).await {
            Ok(result) => {
                result
                    .context("server task failed")?
                    .context("server error")?;
            }
            Err(_) => {
                tracing::warn!("shutdown deadline passed; abandoning the requests still in flight");
                servers.abort();
            }
        }
        state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
