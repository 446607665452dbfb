//! `spawn_app`: the service on port 0 with a fresh database of its own, and a few shortcuts
//! (accounts, tokens, the release binary as a child process).

use std::collections::HashMap;

use app::config::Settings;
use app::startup::{self, AppState, Application, MIGRATOR};
use launcher::Postgres;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple"; // pragma: allowlist secret

pub struct TestApp {
    pub address: String,
    pub ops_address: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub database_url: String,
    pub state: AppState,
    pub stop: Option<oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Dropped last: stops PostgreSQL and deletes its data.
    pub postgres: Option<Postgres>,
}

/// A logged-in account.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub access: String,
    pub refresh: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// `overrides`: `APP_*` variables on top of the test defaults.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let pg = Postgres::ephemeral().expect("start PostgreSQL");
    pg.create_database("app").expect("create database");
    let url = pg.url("app");
    let mut app = start(&url, overrides).await;
    app.postgres = Some(pg);
    app
}

pub fn settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("APP_DATABASE_URL", database_url),
        ("APP_LISTEN", "127.0.0.1:0"),
        ("APP_OPS_LISTEN", "127.0.0.1:0"),
        ("APP_DRAIN_SECONDS", "0"),
        ("APP_LOGIN_LIMIT_PER_IP", "1000"),
        ("APP_LOGIN_LIMIT_PER_ACCOUNT", "1000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_lookup(|k| vars.get(k).cloned()).expect("test settings are valid")
}

/// Another instance on an existing database (e.g. after a key rotation).
pub async fn start(database_url: &str, overrides: &[(&str, &str)]) -> TestApp {
    let settings = settings(database_url, overrides);
    let db = startup::pool(&settings).expect("pool");
    MIGRATOR.run(&db).await.expect("migrations apply");
    let app = Application::bind(AppState::new(settings, db.clone()))
        .await
        .expect("bind");
    let address = format!("http://{}", app.api_addr());
    let ops_address = format!("http://{}", app.ops_addr());
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        ops_address,
        // The bytes on the wire, as a client sees them: no redirects followed, no gzip decoded
        // (another workspace member may turn reqwest's `gzip` on).
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_gzip()
            .build()
            .expect("client"),
        db,
        database_url: database_url.to_owned(),
        state,
        stop: Some(stop),
        server,
        postgres: None,
    }
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request")
    }

    pub fn authed(&self, method: Method, path: &str, user: &User) -> RequestBuilder {
        self.request(method, path).bearer_auth(&user.access)
    }

    /// `method path` as `user`, without a body.
    pub async fn call(&self, method: Method, path: &str, user: &User) -> Response {
        self.authed(method, path, user)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, email: &str) -> Response {
        self.post_json(
            "/v1/auth/register",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// A new member, logged in.
    pub async fn member(&self, email: &str) -> User {
        let registered = self.register(email).await;
        assert_eq!(registered.status(), 201, "register {email}");
        let id = body(registered).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        self.logged_in(id, email).await
    }

    /// The seeded admin, logged in.
    pub async fn admin(&self) -> User {
        let email = "root@example.com";
        let outcome = app::seed::admin(&self.db, email, PASSWORD)
            .await
            .expect("seed");
        let id = match outcome {
            app::seed::Outcome::Created(id)
            | app::seed::Outcome::Promoted(id)
            | app::seed::Outcome::AlreadyAdmin(id) => id.to_string(),
        };
        self.logged_in(id, email).await
    }

    async fn logged_in(&self, id: String, email: &str) -> User {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), 200, "login {email}");
        let tokens = body(response).await;
        User {
            id,
            access: tokens["access_token"].as_str().expect("access").to_owned(),
            refresh: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    pub async fn create_task(&self, user: &User, task: &Value) -> Value {
        let response = self
            .authed(Method::POST, "/v1/tasks", user)
            .json(task)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "create task");
        body(response).await
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.ops_address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Drains and stops the server; returns its result.
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        (&mut self.server).await.expect("server task")
    }

    /// Starts the drain sequence (what SIGTERM does) without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `n` requests to a route slowed by `APP_FAULT_LATENCY_MS`, started now: in flight when a
/// shutdown begins.
pub fn in_flight(
    client: &reqwest::Client,
    base: &str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<reqwest::Result<Response>>> {
    (0..n)
        .map(|_| tokio::spawn(client.get(format!("{base}/.well-known/jwks.json")).send()))
        .collect()
}

/// Polls the ops listener's `/metrics` until `http_requests_in_flight` is at least `n`: the
/// requests are being served, not merely sent. Panics after 10 s.
pub async fn until_in_flight(client: &reqwest::Client, ops: &str, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = None;
    while std::time::Instant::now() < deadline {
        let text = client
            .get(format!("{ops}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        seen = text
            .lines()
            .find_map(|l| l.strip_prefix("http_requests_in_flight "))
            .and_then(|v| v.trim().parse::<u64>().ok());
        if seen.is_some_and(|v| v >= n) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{n} requests were never in flight together (last seen: {seen:?})");
}

/// Polls `/readyz` every 50 ms until it answers 503 (the drain has begun); `None` after 2 s.
pub async fn until_draining(client: &reqwest::Client, base: &str) -> Option<Response> {
    for _ in 0..40 {
        let url = format!("{base}/readyz");
        let response = match client.get(&url).send().await {
            Ok(response) => response,
            // An idle pooled connection the server closed as the drain began (the keep-alive
            // race): an HTTP client retries an idempotent request once, on a new connection.
            Err(first) => client.get(&url).send().await.unwrap_or_else(|again| {
                panic!("still serving while draining: {first}; retried: {again}")
            }),
        };
        if response.status() == 503 {
            return Some(response);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

/// Every request started by `in_flight` completed with 200.
pub async fn all_completed(requests: Vec<tokio::task::JoinHandle<reqwest::Result<Response>>>) {
    for request in requests {
        let response = request
            .await
            .unwrap()
            .expect("an in-flight request was dropped");
        assert_eq!(response.status(), 200);
    }
}

pub async fn body(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
}

/// The envelope's stable code.
pub async fn error_code(response: Response) -> String {
    let value = body(response).await;
    assert!(
        value["error"]["message"].is_string(),
        "not an error envelope: {value}"
    );
    value["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
