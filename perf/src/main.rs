//! Load tests of the reference service with goose. One scenario, the way a member uses the
//! API: log in once (register first), then list tasks, create a task and complete it, weighted
//! 4:2:1. Every goose option works (`--host`, `--users`, `--run-time`, `--threshold`, …);
//! `cargo xtask load <profile>` picks them from a profile and the SLO specs.
//!
//! Exit codes: 0 every threshold passed; 99 a threshold failed (the run stops early unless
//! `--no-threshold-abort`); 1 the load test could not run. `perf requests` prints the request
//! names (`METHOD /route`) that thresholds can name.

use std::sync::atomic::{AtomicU64, Ordering};

use goose::prelude::*;
use serde_json::{Value, json};

/// Exit code when a threshold failed: distinct from "could not run".
const THRESHOLD_FAILED: i32 = 99;

/// Each request, as goose names it in reports and `--threshold … for <request>`.
const REQUESTS: [(&str, &str); 5] = [
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/login"),
    ("GET", "/v1/tasks"),
    ("POST", "/v1/tasks"),
    ("POST", "/v1/tasks/{id}/complete"),
];

/// A goose user's identity and open tasks.
#[derive(Clone, Debug)]
struct Member {
    token: String,
    open: Vec<String>,
}

static NEXT_USER: AtomicU64 = AtomicU64::new(0);

fn failed(
    user: &mut GooseUser,
    request: &mut goose::metrics::GooseRequestMetric,
    why: &str,
) -> TransactionResult {
    user.set_failure(why, request, None, None)
}

/// `POST path` with a JSON body (and the user's token when given), expecting `status`.
async fn post_json(
    user: &mut GooseUser,
    path: &str,
    body: &Value,
    status: u16,
) -> Result<goose::goose::GooseResponse, Box<TransactionError>> {
    let builder = user
        .get_request_builder(&GooseMethod::Post, path)?
        .json(body);
    let builder = match user.get_session_data::<Member>() {
        Some(member) => builder.bearer_auth(&member.token),
        None => builder,
    };
    user.request(
        GooseRequest::builder()
            .method(GooseMethod::Post)
            .path(path)
            .set_request_builder(builder)
            .expect_status_code(status)
            .build(),
    )
    .await
}

/// Registers a fresh account and logs in with it.
async fn login(user: &mut GooseUser) -> TransactionResult {
    let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
    let run = std::process::id();
    let email = format!("load-{run}-{n}@perf.test");
    let password = format!("Perf-{run}-{n}-long-secret");
    let body = json!({"email": email, "password": password});
    let _ = post_json(user, "/v1/auth/register", &body, 201).await?;
    let mut goose = post_json(user, "/v1/auth/login", &body, 200).await?;
    let token = match goose.response {
        Ok(response) => response
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v["access_token"].as_str().map(str::to_owned)),
        Err(_) => None,
    };
    match token {
        Some(token) => {
            user.set_session_data(Member {
                token,
                open: Vec::new(),
            });
            Ok(())
        }
        None => failed(user, &mut goose.request, "login returned no access_token"),
    }
}

/// The user's token; a user whose login failed (an injected 500, say) logs in again first, so
/// no transaction ever spins without sending a request.
async fn token(user: &mut GooseUser) -> Result<Option<String>, Box<TransactionError>> {
    if user.get_session_data::<Member>().is_none() {
        login(user).await?;
    }
    Ok(user.get_session_data::<Member>().map(|m| m.token.clone()))
}

async fn list(user: &mut GooseUser) -> TransactionResult {
    let Some(token) = token(user).await? else {
        return Ok(());
    };
    let rb = user
        .get_request_builder(&GooseMethod::Get, "/v1/tasks?limit=20")?
        .bearer_auth(token);
    let _ = user
        .request(
            GooseRequest::builder()
                .path("/v1/tasks")
                .name("/v1/tasks")
                .set_request_builder(rb)
                .expect_status_code(200)
                .build(),
        )
        .await?;
    Ok(())
}

async fn create(user: &mut GooseUser) -> TransactionResult {
    if token(user).await?.is_none() {
        return Ok(());
    }
    let body = json!({"title": "load test task", "description": "made by perf"});
    let mut goose = post_json(user, "/v1/tasks", &body, 201).await?;
    let id = match goose.response {
        Ok(response) => response
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned)),
        Err(_) => return Ok(()),
    };
    match id {
        Some(id) => {
            if let Some(member) = user.get_session_data_mut::<Member>() {
                member.open.push(id);
            }
            Ok(())
        }
        None => failed(user, &mut goose.request, "created task has no id"),
    }
}

async fn complete(user: &mut GooseUser) -> TransactionResult {
    let Some(token) = token(user).await? else {
        return Ok(());
    };
    let Some(id) = user
        .get_session_data_mut::<Member>()
        .and_then(|m| m.open.pop())
    else {
        return Ok(());
    };
    let path = format!("/v1/tasks/{id}/complete");
    let rb = user
        .get_request_builder(&GooseMethod::Post, &path)?
        .bearer_auth(token);
    let _ = user
        .request(
            GooseRequest::builder()
                .method(GooseMethod::Post)
                .path(path.as_str())
                .name("/v1/tasks/{id}/complete")
                .set_request_builder(rb)
                .expect_status_code(200)
                .build(),
        )
        .await?;
    Ok(())
}

async fn attack() -> Result<(), GooseError> {
    GooseAttack::initialize()?
        .register_scenario(
            scenario!("member")
                .register_transaction(transaction!(login).set_on_start().set_name("login"))
                .register_transaction(transaction!(list).set_name("list").set_weight(4)?)
                .register_transaction(transaction!(create).set_name("create").set_weight(2)?)
                .register_transaction(transaction!(complete).set_name("complete").set_weight(1)?),
        )
        .execute()
        .await
        .map(|_| ())
}

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("requests") {
        for (method, route) in REQUESTS {
            println!("{method} {route}");
        }
        return;
    }
    match attack().await {
        Ok(()) => {}
        Err(GooseError::ThresholdsFailed { .. }) => {
            eprintln!("perf: one or more thresholds failed (see the report)");
            std::process::exit(THRESHOLD_FAILED);
        }
        Err(e) => {
            eprintln!("perf: the load test could not run: {e}");
            std::process::exit(1);
        }
    }
}
