//! TLS on every path out of the real binary: PostgreSQL that requires TLS (`sslmode=verify-full`
//! against its CA), each way that connection can be wrong (exit 3, the setting named, nothing
//! applied), and OTLP traces to an `https://` collector.

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing;
use launcher::{Ca, LOOPBACK_NAMES, Leaf, Postgres};
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::process::{Binary, command};

/// Put in every faulty URL: it must never be printed.
const DB_PASSWORD: &str = "never-printed-7f3a"; // pragma: allowlist secret

#[tokio::test]
async fn the_binary_migrates_and_serves_over_verified_tls() {
    let mut app = Binary::start(&[]).await;
    let url = app.postgres.url("app");
    assert!(url.contains("sslmode=verify-full&sslrootcert="), "{url}");
    let ready = reqwest::get(format!("{}/readyz", app.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "migrated and connected");

    let db = PgPool::connect(&url).await.expect("connect as the test");
    let (plain, total): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE NOT s.ssl), count(*)
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.datname = 'app' AND a.backend_type = 'client backend'
           AND a.pid <> pg_backend_pid()",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(total >= 1, "the app holds a connection");
    assert_eq!(plain, 0, "every connection of the app is encrypted");
    app.sigterm();
    assert_eq!(app.wait(Duration::from_secs(20)).await, Some(0));
}

#[tokio::test]
async fn a_database_without_tls_stops_the_start_with_exit_3_and_the_remedy() {
    let plain = Postgres::ephemeral_plain().expect("PostgreSQL without TLS");
    plain.create_database("app").expect("database");
    let url = format!("{}?sslmode=verify-full", with_password(&plain.url("app")));
    let out = run_to_exit(&url);
    assert_refused(&out, &["does not support TLS", "sslmode"]);
    assert_untouched(&plain.url("app")).await;
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_stops_the_start_with_exit_3_and_the_remedy() {
    let pg = Postgres::ephemeral().expect("PostgreSQL");
    pg.create_database("app").expect("database");
    let other = Ca::throwaway().expect("another CA");
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        with_password(&base_url(&pg)),
        other.cert_path().display()
    );
    let out = run_to_exit(&url);
    assert_refused(&out, &["certificate is not trusted", "sslrootcert"]);
    assert_untouched(&pg.url("app")).await;
}

#[tokio::test]
async fn sslmode_disable_against_a_server_that_requires_tls_stops_the_start_with_exit_3() {
    let pg = Postgres::ephemeral().expect("PostgreSQL");
    pg.create_database("app").expect("database");
    let url = format!("{}?sslmode=disable", with_password(&base_url(&pg)));
    let out = run_to_exit(&url);
    assert_refused(&out, &["the server requires TLS", "sslmode=verify-full"]);
    assert_untouched(&pg.url("app")).await;
}

#[tokio::test]
async fn traces_reach_an_https_collector_only_when_its_ca_is_trusted() {
    let ca = Ca::throwaway().expect("CA");
    let leaf = ca.issue("collector", LOOPBACK_NAMES).expect("leaf");
    let trusted = Collector::start(Some(&leaf)).await;
    let ca_file = ca.cert_path().display().to_string();
    export_one_request(&trusted, &ca_file).await;
    let exported = trusted.received.lock().unwrap().join("\n");
    assert!(
        exported.contains("GET /.well-known/jwks.json"),
        "no span over https: {exported:?}"
    );

    let untrusted = Collector::start(Some(&leaf)).await;
    let other = Ca::throwaway().expect("another CA");
    export_one_request(&untrusted, &other.cert_path().display().to_string()).await;
    assert!(untrusted.received.lock().unwrap().is_empty());
    assert!(
        untrusted.refused.load(Ordering::SeqCst) > 0,
        "the app tried, and refused the collector's certificate"
    );
}

/// One traced request through the binary, exported to `collector` with `SSL_CERT_FILE=ca_file`;
/// returns after the app has exited (spans are flushed on SIGTERM).
async fn export_one_request(collector: &Collector, ca_file: &str) {
    let mut app = Binary::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint),
        ("SSL_CERT_FILE", ca_file),
    ])
    .await;
    let jwks = reqwest::get(format!("{}/.well-known/jwks.json", app.address))
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    app.sigterm();
    assert_eq!(app.wait(Duration::from_secs(20)).await, Some(0));
}

/// An OTLP/HTTP collector stand-in on loopback (TLS with `leaf`, or plain): keeps every payload
/// posted to `/v1/traces` and counts the TLS handshakes that failed.
pub struct Collector {
    pub endpoint: String,
    pub received: Arc<Mutex<Vec<String>>>,
    pub refused: Arc<AtomicUsize>,
}

impl Collector {
    pub async fn start(leaf: Option<&Leaf>) -> Collector {
        let received = Arc::new(Mutex::new(Vec::<String>::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let sink = received.clone();
        let receiver = Router::new().route(
            "/v1/traces",
            routing::post(move |payload: String| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(payload);
                    "{}"
                }
            }),
        );
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let endpoint = match leaf {
            Some(leaf) => {
                let listener = TlsListener {
                    tcp,
                    acceptor: TlsAcceptor::from(leaf.server_config().unwrap()),
                    refused: refused.clone(),
                };
                tokio::spawn(async move { axum::serve(listener, receiver).await });
                format!("https://{addr}")
            }
            None => {
                tokio::spawn(async move { axum::serve(tcp, receiver).await });
                format!("http://{addr}")
            }
        };
        Collector {
            endpoint,
            received,
            refused,
        }
    }
}

/// Accepts TCP, then TLS; a failed handshake is counted and the next connection awaited.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    refused: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            match self.acceptor.accept(tcp).await {
                Ok(tls) => return (tls, addr),
                Err(_) => {
                    self.refused.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// `postgres://postgres@127.0.0.1:PORT/app`, without the launcher's TLS parameters.
fn base_url(pg: &Postgres) -> String {
    format!("postgres://postgres@127.0.0.1:{}/app", pg.state.port)
}

/// `url` with [`DB_PASSWORD`] for the user (trust authentication ignores it).
fn with_password(url: &str) -> String {
    url.replacen("postgres@", &format!("postgres:{DB_PASSWORD}@"), 1)
}

/// `app serve` against `url` until it exits; killed, and the test failed, if it is still running
/// after 30 s (a start that should have been refused is serving).
fn run_to_exit(url: &str) -> Output {
    let mut child = command()
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_DATABASE_URL", url)
        .env("APP_LISTEN", "127.0.0.1:0")
        .env("APP_OPS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the app binary");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the app kept running: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// Exit 3 with `APP_DATABASE_URL`, each of `needles` and no password on stderr, never listening.
fn assert_refused(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stderr}\n{stdout}");
    for needle in ["APP_DATABASE_URL"].iter().chain(needles) {
        assert!(stderr.contains(needle), "`{needle}` missing: {stderr}");
    }
    assert!(!stderr.contains(DB_PASSWORD), "password printed: {stderr}");
    assert!(!stdout.contains(DB_PASSWORD), "password logged: {stdout}");
    assert!(!stdout.contains("listening"), "served anyway: {stdout}");
}

/// Nothing was applied: no migration ran on the database behind `url`.
async fn assert_untouched(url: &str) {
    let db = PgPool::connect(url).await.expect("connect as the test");
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(table, None, "migrations ran on a connection that failed");
}
