//! The audit log (append-only, same transaction, filters) and role management; `app seed`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, body, error_code, spawn_app};

#[tokio::test]
async fn mutations_are_audited_with_who_where_and_which_request() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.member("audited@example.com").await;
    let created = app
        .authed(Method::POST, "/v1/tasks", &user)
        .header("X-Request-Id", "req-audit-1")
        .header("User-Agent", "audit-test/1.0")
        .json(&json!({"title": "audited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let task_id = body(created).await["id"].as_str().unwrap().to_owned();

    let page = app
        .authed(
            Method::GET,
            &format!(
                "/v1/admin/audit-events?action=task.created&actor={}",
                user.id
            ),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = body(page).await;
    let events = page["items"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    let event = &events[0];
    assert_eq!(event["target"], format!("task:{task_id}"));
    assert_eq!(event["request_id"], "req-audit-1");
    assert_eq!(event["user_agent"], "audit-test/1.0");
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["actor_id"], user.id);

    let since_future = app
        .call(
            Method::GET,
            "/v1/admin/audit-events?since=2999-01-01T00:00:00Z",
            &admin,
        )
        .await;
    assert_eq!(body(since_future).await["items"], json!([]));
}

#[tokio::test]
async fn a_refused_mutation_leaves_no_audit_event() {
    let app = spawn_app().await;
    let user = app.member("atomic@example.com").await;
    let task = app.create_task(&user, &json!({"title": "once"})).await;
    let id = task["id"].as_str().unwrap();
    let complete = format!("/v1/tasks/{id}/complete");
    assert_eq!(app.call(Method::POST, &complete, &user).await.status(), 200);
    assert_eq!(app.call(Method::POST, &complete, &user).await.status(), 409);
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'task.completed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_audit_events() {
    let app = spawn_app().await;
    app.member("immutable@example.com").await;
    for sql in [
        "UPDATE audit_events SET action = 'forged'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let err = sqlx::query(sql).execute(&app.db).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(count >= 2, "register and login are recorded");
}

#[tokio::test]
async fn audit_events_paginate() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for i in 0..3 {
        app.member(&format!("p{i}@example.com")).await;
    }
    let mut seen = 0;
    let mut path = "/v1/admin/audit-events?action=user.registered&limit=2".to_owned();
    loop {
        let page = body(app.call(Method::GET, &path, &admin).await).await;
        seen += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => {
                path = format!("/v1/admin/audit-events?action=user.registered&limit=2&cursor={c}")
            }
            None => break,
        }
    }
    assert_eq!(seen, 3);
}

#[tokio::test]
async fn roles_are_granted_by_admins_and_take_effect_at_once() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let user = app.member("promoted@example.com").await;
    let audit = || {
        app.authed(Method::GET, "/v1/admin/audit-events", &user)
            .send()
    };
    assert_eq!(audit().await.unwrap().status(), 403);

    let roles = format!("/v1/admin/users/{}/roles", user.id);
    let by_member = app
        .authed(Method::PUT, &roles, &user)
        .json(&json!({"roles": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_member.status(), 403, "members cannot promote themselves");
    let unknown = app
        .authed(Method::PUT, &roles, &admin)
        .json(&json!({"roles": ["god"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(unknown).await, "validation_failed");
    // Found by the `api-fuzz` gate: a NUL in a role name reached PostgreSQL and was a 500.
    let not_a_name = app
        .authed(Method::PUT, &roles, &admin)
        .json(&json!({"roles": ["member", "\u{0}"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_a_name.status(), 422);
    let granted = app
        .authed(Method::PUT, &roles, &admin)
        .json(&json!({"roles": ["member", "admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    assert_eq!(body(granted).await["roles"], json!(["admin", "member"]));
    assert_eq!(
        audit().await.unwrap().status(),
        200,
        "the same token now carries the permission"
    );

    let missing = format!("/v1/admin/users/{}/roles", uuid::Uuid::new_v4());
    let missing = app
        .authed(Method::PUT, &missing, &admin)
        .json(&json!({"roles": ["member"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn seeding_the_admin_is_idempotent() {
    let app = spawn_app().await;
    let first = app::seed::admin(&app.db, "Ops@Example.com", PASSWORD)
        .await
        .unwrap();
    let again = app::seed::admin(&app.db, "ops@example.com", "a different password!!")
        .await
        .unwrap();
    let app::seed::Outcome::Created(id) = first else {
        panic!("{first:?}")
    };
    assert_eq!(again, app::seed::Outcome::AlreadyAdmin(id));
    assert_eq!(
        app.login("ops@example.com", PASSWORD).await.status(),
        200,
        "the password is unchanged"
    );

    app.member("later@example.com").await;
    let promoted = app::seed::admin(&app.db, "later@example.com", PASSWORD)
        .await
        .unwrap();
    assert!(matches!(promoted, app::seed::Outcome::Promoted(_)));
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM user_roles WHERE role = 'admin'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(admins, 2);
}
