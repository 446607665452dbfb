//! `/v1/tasks`: ownership, pagination, idempotency, ETag/If-Match, lifecycle, recurrence, soft delete.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, body, error_code, spawn_app};

#[tokio::test]
async fn create_get_list_and_members_see_only_their_own() {
    let app = spawn_app().await;
    let alice = app.member("alice@example.com").await;
    let bob = app.member("bob@example.com").await;
    let response = app
        .authed(Method::POST, "/v1/tasks", &alice)
        .json(&json!({"title": "write the runbook", "description": "rollback section"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let task = body(response).await;
    assert_eq!(task["status"], "open");
    assert_eq!(
        location,
        format!("/v1/tasks/{}", task["id"].as_str().unwrap())
    );

    let fetched = app.call(Method::GET, &location, &alice).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["etag"], "\"1\"");

    let theirs = app.call(Method::GET, &location, &bob).await;
    assert_eq!(
        theirs.status(),
        404,
        "another member's task does not exist for you"
    );
    let listed = body(app.call(Method::GET, "/v1/tasks", &bob).await).await;
    assert_eq!(listed["items"], json!([]));
}

#[tokio::test]
async fn cursor_pagination_and_status_filter() {
    let app = spawn_app().await;
    let user = app.member("pager@example.com").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.create_task(&user, &json!({"title": format!("task {i}")}))
                .await["id"]
                .clone(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..3 {
        let path = match &cursor {
            Some(c) => format!("/v1/tasks?limit=2&cursor={c}"),
            None => "/v1/tasks?limit=2".to_owned(),
        };
        let page = body(app.call(Method::GET, &path, &user).await).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].clone()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert!(cursor.is_none(), "three pages of two cover five tasks");
    ids.reverse();
    assert_eq!(seen, ids, "newest first, nothing repeated or skipped");

    let too_many = app.call(Method::GET, "/v1/tasks?limit=101", &user).await;
    assert_eq!(too_many.status(), 400);
    assert_eq!(error_code(too_many).await, "invalid_limit");
    let forged = app
        .call(Method::GET, "/v1/tasks?cursor=bm9wZQ", &user)
        .await;
    assert_eq!(error_code(forged).await, "invalid_cursor");
    let bad_status = app.call(Method::GET, "/v1/tasks?status=done", &user).await;
    assert_eq!(bad_status.status(), 400);

    let id = ids[0].as_str().unwrap();
    app.authed(Method::POST, &format!("/v1/tasks/{id}/complete"), &user)
        .send()
        .await
        .unwrap();
    let completed = body(
        app.call(Method::GET, "/v1/tasks?status=completed", &user)
            .await,
    )
    .await;
    assert_eq!(completed["items"].as_array().unwrap().len(), 1);
    let open = body(app.call(Method::GET, "/v1/tasks?status=open", &user).await).await;
    assert_eq!(open["items"].as_array().unwrap().len(), 4);
}

/// The document says 1 to 255 visible characters; spaces and tabs, which HTTP allows in a header
/// value, are refused as the document says.
#[tokio::test]
async fn an_idempotency_key_with_a_space_or_too_long_is_refused() {
    let app = spawn_app().await;
    let user = app.member("keys@example.com").await;
    let long = "k".repeat(256);
    for key in ["two words", "tab\there", long.as_str()] {
        let response = app
            .authed(Method::POST, "/v1/tasks", &user)
            .header("Idempotency-Key", key)
            .json(&json!({"title": "t"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{key:?}");
        assert_eq!(error_code(response).await, "invalid_idempotency_key");
    }
}

// Several worker threads: the concurrent first uses below really run in parallel (and the race
// gate runs this test under ThreadSanitizer).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_replays_the_same_response_and_refuses_a_different_body() {
    let app = spawn_app().await;
    let user = app.member("idem@example.com").await;
    let send = |body: serde_json::Value| {
        app.authed(Method::POST, "/v1/tasks", &user)
            .header("Idempotency-Key", "order-42")
            .json(&body)
            .send()
    };
    let first = send(json!({"title": "pay the invoice"})).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first = body(first).await;
    let again = send(json!({"title": "pay the invoice"})).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).await, first, "the same response");
    let different = send(json!({"title": "pay it twice"})).await.unwrap();
    assert_eq!(different.status(), 422);
    assert_eq!(error_code(different).await, "idempotency_key_reused");
    let listed = body(app.call(Method::GET, "/v1/tasks", &user).await).await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "one task, however many retries"
    );

    // Concurrent first uses: exactly one task.
    let racers = (0..6).map(|_| {
        app.authed(Method::POST, "/v1/tasks", &user)
            .header("Idempotency-Key", "race")
            .json(&json!({"title": "raced"}))
            .send()
    });
    let results = futures_join(racers).await;
    let ids: std::collections::BTreeSet<String> = results
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
}

async fn futures_join(
    requests: impl Iterator<
        Item = impl Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
    >,
) -> Vec<serde_json::Value> {
    let handles: Vec<_> = requests.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        let response = h.await.unwrap().unwrap();
        assert_eq!(response.status(), 201);
        out.push(body(response).await);
    }
    out
}

#[tokio::test]
async fn patch_requires_if_match_and_refuses_a_stale_etag() {
    let app = spawn_app().await;
    let user = app.member("etag@example.com").await;
    let task = app.create_task(&user, &json!({"title": "draft"})).await;
    let path = format!("/v1/tasks/{}", task["id"].as_str().unwrap());
    let patch = |etag: Option<&str>, body: serde_json::Value| {
        let mut req = app.authed(Method::PATCH, &path, &user).json(&body);
        if let Some(etag) = etag {
            req = req.header("If-Match", etag);
        }
        req.send()
    };
    let missing = patch(None, json!({"title": "final"})).await.unwrap();
    assert_eq!(missing.status(), 428);
    assert_eq!(error_code(missing).await, "precondition_required");

    let ok = patch(Some("\"1\""), json!({"title": "final"}))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["etag"], "\"2\"");
    assert_eq!(body(ok).await["title"], "final");

    let stale = patch(Some("\"1\""), json!({"title": "lost update"}))
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let stale = body(stale).await;
    assert_eq!(stale["error"]["code"], "precondition_failed");
    assert_eq!(stale["error"]["details"]["current_etag"], "\"2\"");
    let current = body(app.call(Method::GET, &path, &user).await).await;
    assert_eq!(current["title"], "final", "the stale write changed nothing");

    let invalid = patch(Some("\"2\""), json!({"title": ""})).await.unwrap();
    assert_eq!(invalid.status(), 422);
}

#[tokio::test]
async fn lifecycle_transitions_follow_the_table() {
    let app = spawn_app().await;
    let user = app.member("life@example.com").await;
    let task = app.create_task(&user, &json!({"title": "ship"})).await;
    let id = task["id"].as_str().unwrap();
    let complete = || {
        app.authed(Method::POST, &format!("/v1/tasks/{id}/complete"), &user)
            .send()
    };
    let done = complete().await.unwrap();
    assert_eq!(done.status(), 200);
    let done = body(done).await;
    assert_eq!(done["task"]["status"], "completed");
    assert!(done["task"]["completed_at"].is_string());
    assert!(done["next"].is_null());

    let twice = complete().await.unwrap();
    assert_eq!(twice.status(), 409);
    let twice = body(twice).await;
    assert_eq!(twice["error"]["code"], "illegal_transition");
    assert_eq!(
        twice["error"]["details"]["allowed"],
        json!(["open", "archived"])
    );

    let path = format!("/v1/tasks/{id}");
    let archive = app
        .authed(Method::PATCH, &path, &user)
        .header("If-Match", "\"2\"")
        .json(&json!({"status": "archived"}))
        .send()
        .await
        .unwrap();
    assert_eq!(archive.status(), 200);
    let reopen = app
        .authed(Method::PATCH, &path, &user)
        .header("If-Match", "\"3\"")
        .json(&json!({"status": "open"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reopen.status(), 409, "archived is terminal");
}

#[tokio::test]
async fn completing_a_recurring_task_schedules_the_next_in_the_owners_time_zone() {
    let app = spawn_app().await;
    let registered = app
        .post_json("/v1/auth/register", &json!({"email": "berlin@example.com", "password": PASSWORD, "time_zone": "Europe/Berlin"}))
        .await;
    assert_eq!(registered.status(), 201);
    let tokens = body(app.login("berlin@example.com", PASSWORD).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    // 09:00 in Berlin on the day before the switch to summer time.
    let created = app
        .request(Method::POST, "/v1/tasks")
        .bearer_auth(access)
        .json(&json!({"title": "stand-up", "due_at": "2026-03-28T08:00:00Z", "recurrence": {"frequency": "daily", "interval": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = body(created).await["id"].as_str().unwrap().to_owned();
    let done = app
        .request(Method::POST, &format!("/v1/tasks/{id}/complete"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let done = body(done).await;
    assert_eq!(
        done["next"]["due_at"], "2026-03-29T07:00:00Z",
        "still 09:00 local, now CEST"
    );
    assert_eq!(done["next"]["occurrence"], 1);
    assert_eq!(
        done["next"]["recurrence"],
        json!({"frequency": "daily", "interval": 1})
    );

    let no_due = app
        .request(Method::POST, "/v1/tasks")
        .bearer_auth(access)
        .json(&json!({"title": "x", "recurrence": {"frequency": "weekly", "interval": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_due.status(), 422);
}

#[tokio::test]
async fn delete_is_soft_and_honours_if_match() {
    let app = spawn_app().await;
    let user = app.member("del@example.com").await;
    let task = app.create_task(&user, &json!({"title": "temporary"})).await;
    let id = task["id"].as_str().unwrap();
    let path = format!("/v1/tasks/{id}");
    let stale = app
        .authed(Method::DELETE, &path, &user)
        .header("If-Match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(app.call(Method::DELETE, &path, &user).await.status(), 204);
    assert_eq!(app.call(Method::GET, &path, &user).await.status(), 404);
    assert_eq!(app.call(Method::DELETE, &path, &user).await.status(), 404);
    let kept: (Option<chrono::DateTime<chrono::Utc>>,) =
        sqlx::query_as("SELECT deleted_at FROM tasks WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(kept.0.is_some(), "the row is kept, marked deleted");
}

/// Found by the `api-fuzz` gate: text PostgreSQL cannot store, or that passed the trimmed length
/// check but not the column's, was a 500.
#[tokio::test]
async fn text_the_database_cannot_store_is_a_validation_error() {
    let app = spawn_app().await;
    let alice = app.member("alice@example.com").await;
    let padded = format!("  {}", "x".repeat(199));
    for (task, field) in [
        (json!({"title": "a\u{0}b"}), "title"),
        (json!({"title": "tab\there"}), "title"),
        (
            json!({"title": "ok", "description": "nul \u{0} inside"}),
            "description",
        ),
        (json!({"title": padded}), "title"),
    ] {
        let response = app
            .authed(Method::POST, "/v1/tasks", &alice)
            .json(&task)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{task}");
        let problem = body(response).await;
        assert!(
            problem["error"]["details"][field].is_string(),
            "{field} is named: {problem}"
        );
    }
    let accepted = json!({"title": "multi-line", "description": "line one\n\tline two"});
    app.create_task(&alice, &accepted).await;
}
