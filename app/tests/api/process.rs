//! The real binary as a child process: JSON logs without secrets, OTLP traces matching the logs,
//! the SIGTERM drain, configuration errors, `seed` and `keygen`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use launcher::Postgres;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, all_completed, body, in_flight, until_draining, until_in_flight};
use crate::tls::Collector;

pub struct Binary {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    /// Reads stdout until the pipe closes: joined before the logs are read after an exit.
    reader: Option<std::thread::JoinHandle<()>>,
    pub address: String,
    pub ops_address: String,
    pub postgres: Postgres,
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test drives the real binary: it needs the child's pid and stdout"
)]
pub fn command() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_app"))
}

impl Binary {
    /// The binary serving on free ports against a fresh PostgreSQL that requires TLS
    /// (`sslmode=verify-full` against its CA), `env` on top.
    pub async fn start(env: &[(&str, &str)]) -> Binary {
        let pg = Postgres::ephemeral().expect("start PostgreSQL");
        pg.create_database("app").expect("database");
        let port = launcher::free_port().expect("port");
        let ops = launcher::free_port().expect("port");
        let mut cmd = command();
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP_DATABASE_URL", pg.url("app"))
            .env("APP_LISTEN", format!("127.0.0.1:{port}"))
            .env("APP_OPS_LISTEN", format!("127.0.0.1:{ops}"))
            .env("APP_DRAIN_SECONDS", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the app binary");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        let pipe = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let binary = Binary {
            child,
            stdout,
            reader: Some(reader),
            address: format!("http://127.0.0.1:{port}"),
            ops_address: format!("http://127.0.0.1:{ops}"),
            postgres: pg,
        };
        binary
            .wait_for_line("listening", Duration::from_secs(30))
            .await;
        binary
    }

    async fn wait_for_line(&self, needle: &str, limit: Duration) {
        let start = Instant::now();
        while !self
            .stdout
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
        {
            assert!(
                start.elapsed() < limit,
                "no `{needle}` in the app's output: {:#?}",
                self.stdout.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn sigterm(&self) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, Signal::SIGTERM).expect("SIGTERM");
    }

    /// Waits for the exit (SIGKILL after `limit`) and returns its code.
    pub async fn wait(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // The pipe is closed: the reader ends once it has read every line.
                if let Some(reader) = self.reader.take() {
                    reader.join().expect("the stdout reader");
                }
                return status.code();
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("the app did not exit within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(client: &reqwest::Client, url: String, value: &Value) -> reqwest::Response {
    client.post(url).json(value).send().await.expect("request")
}

#[tokio::test]
async fn logs_are_json_lines_with_request_fields_and_never_contain_secrets() {
    let mut app = Binary::start(&[("APP_LOG", "debug")]).await;
    let client = reqwest::Client::new();
    let creds = json!({"email": "logs@example.com", "password": PASSWORD});
    assert_eq!(
        post(&client, format!("{}/v1/auth/register", app.address), &creds)
            .await
            .status(),
        201
    );
    let tokens = body(post(&client, format!("{}/v1/auth/login", app.address), &creds).await).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let rotated = body(
        post(
            &client,
            format!("{}/v1/auth/refresh", app.address),
            &json!({"refresh_token": refresh}),
        )
        .await,
    )
    .await;
    let listed = client
        .request(Method::GET, format!("{}/v1/tasks", app.address))
        .bearer_auth(&access)
        .header("X-Request-Id", "log-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    app.sigterm();
    assert_eq!(app.wait(Duration::from_secs(20)).await, Some(0));

    let logs = app.logs();
    let parsed: Vec<Value> = logs
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let line = parsed
        .iter()
        .find(|v| v["request_id"] == "log-test-1" && v["status"].is_number())
        .unwrap_or_else(|| panic!("no access log line for the request: {logs:#?}"));
    assert_eq!(line["status"], 200);
    assert_eq!(line["route"], "/v1/tasks");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["level"], "INFO");
    assert!(line["timestamp"].is_string());
    assert!(line["latency_ms"].is_number());
    let trace_id = line["trace_id"].as_str().unwrap();
    assert_eq!(
        line["span"]["trace_id"], trace_id,
        "every line inside the request carries the span's ids"
    );
    assert!(
        trace_id.len() == 32 && trace_id != "0".repeat(32),
        "{trace_id}"
    );

    let boot = parsed
        .iter()
        .find(|v| v["message"] == "starting")
        .expect("boot log");
    assert!(
        boot["config"].as_str().unwrap().contains("[redacted]"),
        "{boot}"
    );

    let all = logs.join("\n");
    let rotated_refresh = rotated["refresh_token"].as_str().unwrap();
    let rotated_access = rotated["access_token"].as_str().unwrap();
    for secret in [
        PASSWORD,
        &access,
        &refresh,
        rotated_refresh,
        rotated_access,
        "Bearer ",
        "authorization",
    ] {
        assert!(!all.contains(secret), "`{secret}` leaked into the logs");
    }
}

#[tokio::test]
async fn traces_are_exported_over_otlp_and_their_ids_match_the_logs() {
    let collector = Collector::start(None).await;
    let mut app = Binary::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint)]).await;
    let client = reqwest::Client::new();
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"; // pragma: allowlist secret
    let response = client
        .get(format!("{}/.well-known/jwks.json", app.address))
        .header(
            "traceparent",
            format!("00-{caller_trace}-00f067aa0ba902b7-01"),
        )
        .header("X-Request-Id", "traced")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let own = client
        .get(format!("{}/v1/tasks", app.address))
        .header("X-Request-Id", "untraced")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 401);
    app.sigterm();
    assert_eq!(app.wait(Duration::from_secs(20)).await, Some(0));

    let logs: Vec<Value> = app
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let logged = |rid: &str| {
        logs.iter()
            .find(|v| v["request_id"] == rid && v["status"].is_number())
            .and_then(|v| v["trace_id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no log for {rid}"))
    };
    assert_eq!(
        logged("traced"),
        caller_trace,
        "the caller's W3C traceparent is honoured"
    );
    let exported = collector.received.lock().unwrap().join("\n");
    assert!(
        exported.contains(caller_trace),
        "span not exported: {exported}"
    );
    assert!(
        exported.contains(&logged("untraced")),
        "a fresh trace's id matches its export"
    );
    assert!(
        exported.contains("GET /.well-known/jwks.json"),
        "spans are named by route template"
    );
}

#[tokio::test]
async fn sigterm_turns_readiness_503_drains_and_completes_every_request_in_flight() {
    let mut app = Binary::start(&[
        ("APP_FAULT_LATENCY_MS", "3000"),
        ("APP_DRAIN_SECONDS", "2"),
        ("APP_SHUTDOWN_DEADLINE_SECONDS", "10"),
    ])
    .await;
    let client = reqwest::Client::new();
    let requests = in_flight(&client, &app.address, 8);
    until_in_flight(&client, &app.ops_address, 8).await;
    app.sigterm();
    // Readiness turns 503 once the signal is handled, which is asynchronous: polled.
    let ready = until_draining(&client, &app.address)
        .await
        .expect("/readyz answered 503 within 2 s of SIGTERM");
    assert_eq!(body(ready).await["status"], "draining");
    all_completed(requests).await;
    assert_eq!(app.wait(Duration::from_secs(20)).await, Some(0));
    assert!(
        client
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .is_err(),
        "stopped listening"
    );
}

#[test]
fn invalid_configuration_lists_every_problem_and_exits_2() {
    let output = command()
        .env_clear()
        .env("APP_ENV", "production")
        .env("APP_LISTEN", "everywhere")
        .env("APP_FAULT_ERROR_RATE", "2")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for key in [
        "APP_LISTEN",
        "APP_DATABASE_URL",
        "APP_JWT_PRIVATE_KEY",
        "APP_FAULT_ERROR_RATE",
    ] {
        assert!(stderr.contains(key), "{key} missing: {stderr}");
    }
    let unknown = command().arg("frobnicate").output().expect("run");
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn seed_via_the_binary_is_idempotent_and_keygen_makes_usable_keys() {
    let pg = Postgres::ephemeral().expect("PostgreSQL");
    pg.create_database("app").expect("database");
    let seed = || {
        command()
            .arg("seed")
            .env_clear()
            .env("APP_DATABASE_URL", pg.url("app"))
            .env("APP_SEED_ADMIN_EMAIL", "first@example.com")
            .env("APP_SEED_ADMIN_PASSWORD", PASSWORD)
            .output()
            .expect("run")
    };
    let first = seed();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("created admin"));
    let second = seed();
    assert!(String::from_utf8_lossy(&second.stdout).contains("already an admin"));

    let key = command().arg("keygen").output().expect("run");
    let pem = String::from_utf8(key.stdout).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----")); // pragma: allowlist secret
    app::auth::keys::Keyset::from_pem(&pem, "", true)
        .expect("keygen output is a valid production key");
}
