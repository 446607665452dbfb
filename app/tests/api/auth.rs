//! Accounts, tokens (issue, verify, rotate, revoke), signing-key rotation, login limits.

use app::auth::keys::Keyset;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, body, error_code, spawn_app, spawn_app_with, start};

#[tokio::test]
async fn register_login_and_use_the_access_token() {
    let app = spawn_app().await;
    let response = app.register("Alice@Example.com").await;
    assert_eq!(response.status(), 201);
    let user = body(response).await;
    assert_eq!(user["email"], "alice@example.com", "emails are normalised");
    assert_eq!(user["roles"], json!(["member"]));

    let response = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens = body(response).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["refresh_expires_in"], 7 * 24 * 3600);
    let access = tokens["access_token"].as_str().unwrap();
    let listed = app
        .request(Method::GET, "/v1/tasks")
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
}

#[tokio::test]
async fn registration_validates_and_refuses_duplicates() {
    let app = spawn_app().await;
    assert_eq!(app.register("bob@example.com").await.status(), 201);
    let again = app.register("BOB@example.com").await;
    assert_eq!(again.status(), 409);
    assert_eq!(error_code(again).await, "email_taken");

    let weak = app
        .post_json(
            "/v1/auth/register",
            &json!({"email": "carol@example.com", "password": "short"}), // pragma: allowlist secret
        )
        .await;
    assert_eq!(weak.status(), 422);
    let details = body(weak).await["error"]["details"]["password"].clone();
    assert!(details.to_string().contains("at least 12"), "{details}");

    let zone = app
        .post_json(
            "/v1/auth/register",
            &json!({"email": "dan@example.com", "password": PASSWORD, "time_zone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(zone.status(), 422);
    let bad_email = app
        .post_json(
            "/v1/auth/register",
            &json!({"email": "not-an-email", "password": PASSWORD}),
        )
        .await;
    assert_eq!(error_code(bad_email).await, "validation_failed");
}

#[tokio::test]
async fn login_failure_does_not_reveal_whether_the_account_exists() {
    let app = spawn_app().await;
    app.member("erin@example.com").await;
    let wrong_password = app
        .login("erin@example.com", "not the password at all")
        .await;
    let no_account = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(no_account.status(), 401);
    let (a, b) = (body(wrong_password).await, body(no_account).await);
    assert_eq!(a["error"]["code"], "invalid_credentials");
    assert_eq!(a["error"]["code"], b["error"]["code"]);
    assert_eq!(a["error"]["message"], b["error"]["message"]);
    assert!(
        app.metrics()
            .await
            .contains(r#"auth_failures_total{reason="invalid_credentials"} 2"#)
    );
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/v1/auth/refresh", &json!({"refresh_token": token}))
        .await
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let user = app.member("frank@example.com").await;
    let first = refresh(&app, &user.refresh).await;
    assert_eq!(first.status(), 200);
    let rotated = body(first).await;
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, user.refresh);
    let access = rotated["access_token"].as_str().unwrap();
    assert_eq!(
        app.request(Method::GET, "/v1/tasks")
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The spent token comes back: someone stole it. The family dies.
    let reuse = refresh(&app, &user.refresh).await;
    assert_eq!(reuse.status(), 401);
    assert_eq!(error_code(reuse).await, "refresh_token_reused");
    let descendant = refresh(&app, &second_refresh).await;
    assert_eq!(descendant.status(), 401);
    assert_eq!(error_code(descendant).await, "refresh_token_revoked");

    // Another login (another family) is unaffected.
    let other = app.login("frank@example.com", PASSWORD).await;
    let other_refresh = body(other).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(refresh(&app, &other_refresh).await.status(), 200);
    assert_eq!(
        error_code(refresh(&app, "rt_unknown").await).await,
        "invalid_refresh_token"
    );
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let user = app.member("gina@example.com").await;
    let out = app
        .post_json("/v1/auth/logout", &json!({"refresh_token": user.refresh}))
        .await;
    assert_eq!(out.status(), 204);
    let after = refresh(&app, &user.refresh).await;
    assert_eq!(after.status(), 401);
    assert_eq!(error_code(after).await, "refresh_token_revoked");
}

#[tokio::test]
async fn missing_token_is_401_with_www_authenticate_and_missing_permission_is_403() {
    let app = spawn_app().await;
    let anonymous = app.get("/v1/tasks").await;
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(error_code(anonymous).await, "unauthorized");

    let member = app.member("hank@example.com").await;
    let forbidden = app
        .call(Method::GET, "/v1/admin/audit-events", &member)
        .await;
    assert_eq!(forbidden.status(), 403);
    assert_eq!(error_code(forbidden).await, "forbidden");
}

fn claims(overrides: &Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": uuid::Uuid::new_v4(), "iss": "gatehouse-app", "aud": "gatehouse-api",
        "iat": now, "nbf": now, "exp": now + 600, "jti": uuid::Uuid::new_v4(),
    });
    for (k, v) in overrides.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

fn sign(pem: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn status_with(app: &TestApp, token: &str) -> (u16, String) {
    let r = app
        .request(Method::GET, "/v1/tasks")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 401 {
        assert!(r.headers().contains_key("www-authenticate"));
    }
    (status, r.text().await.unwrap())
}

/// Every forged or stale token is refused; the control token (same key, honest claims) passes.
#[tokio::test]
async fn jwt_validation_pins_the_algorithm_and_checks_every_claim() {
    let pem = Keyset::generate_private_pem();
    let app = spawn_app_with(&[("APP_JWT_PRIVATE_KEY", &pem)]).await;
    let user = app.member("ivy@example.com").await;
    let keys = Keyset::from_pem(&pem, "", false).unwrap();
    let kid = keys.signing_kid().to_owned();
    let sub = json!({"sub": user.id});
    let now = chrono::Utc::now().timestamp();

    let control = sign(&pem, &kid, &claims(&sub));
    assert_eq!(
        status_with(&app, &control).await.0,
        200,
        "the control token must pass"
    );

    let payload = URL_SAFE_NO_PAD.encode(claims(&sub).to_string());
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    // Algorithm confusion: HMAC keyed with the public key everyone can fetch from the JWKS.
    let public_pem = Keyset::public_pem(&pem).unwrap();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.clone());
    let confused = jsonwebtoken::encode(
        &hs,
        &claims(&sub),
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    let x = keys.jwks().keys[0].x.clone();
    let confused_x =
        jsonwebtoken::encode(&hs, &claims(&sub), &EncodingKey::from_secret(x.as_bytes())).unwrap();
    let stranger = Keyset::generate_private_pem();
    let stranger_kid = Keyset::from_pem(&stranger, "", false)
        .unwrap()
        .signing_kid()
        .to_owned();

    let cases = [
        ("alg none", none),
        ("HS256 keyed with the public key", confused),
        ("HS256 keyed with the JWK x", confused_x),
        (
            "wrong audience",
            sign(
                &pem,
                &kid,
                &claims(&json!({"sub": user.id, "aud": "someone-else"})),
            ),
        ),
        (
            "wrong issuer",
            sign(&pem, &kid, &claims(&json!({"sub": user.id, "iss": "evil"}))),
        ),
        (
            "expired",
            sign(
                &pem,
                &kid,
                &claims(&json!({"sub": user.id, "exp": now - 120})),
            ),
        ),
        (
            "not yet valid",
            sign(
                &pem,
                &kid,
                &claims(&json!({"sub": user.id, "nbf": now + 3600})),
            ),
        ),
        ("unknown kid", sign(&stranger, &stranger_kid, &claims(&sub))),
        ("right kid, wrong key", sign(&stranger, &kid, &claims(&sub))),
        (
            "no exp",
            sign(&pem, &kid, &{
                let mut c = claims(&sub);
                c.as_object_mut().unwrap().remove("exp");
                c
            }),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (name, token) in cases {
        let (status, text) = status_with(&app, &token).await;
        assert_eq!(status, 401, "{name} was accepted: {text}");
    }
    let metrics = app.metrics().await;
    for reason in [
        "wrong_algorithm",
        "wrong_audience",
        "wrong_issuer",
        "expired_token",
        "token_not_yet_valid",
        "unknown_key",
        "bad_signature",
    ] {
        assert!(
            metrics.contains(&format!("auth_failures_total{{reason=\"{reason}\"}}")),
            "{reason} not counted: {metrics}"
        );
    }
}

#[tokio::test]
async fn signing_keys_rotate_by_kid_with_an_overlap() {
    let old = Keyset::generate_private_pem();
    let new = Keyset::generate_private_pem();
    let mut before = spawn_app_with(&[("APP_JWT_PRIVATE_KEY", &old)]).await;
    let user = before.member("jack@example.com").await;
    before.shutdown().await.unwrap();

    let old_public = Keyset::public_pem(&old).unwrap();
    let overlap = start(
        &before.database_url,
        &[
            ("APP_JWT_PRIVATE_KEY", &new),
            ("APP_JWT_PREVIOUS_PUBLIC_KEYS", &old_public),
        ],
    )
    .await;
    assert_eq!(
        status_with(&overlap, &user.access).await.0,
        200,
        "old tokens verify during the overlap"
    );
    let jwks = body(overlap.get("/.well-known/jwks.json").await).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    let old_kid = Keyset::from_pem(&old, "", false)
        .unwrap()
        .signing_kid()
        .to_owned();
    let new_kid = Keyset::from_pem(&new, "", false)
        .unwrap()
        .signing_kid()
        .to_owned();
    assert_eq!(kids, [new_kid.as_str(), old_kid.as_str()]);
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    let fresh = body(overlap.login("jack@example.com", PASSWORD).await).await;
    let header = jsonwebtoken::decode_header(fresh["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some(new_kid.as_str()),
        "the new key signs"
    );

    let after = start(&before.database_url, &[("APP_JWT_PRIVATE_KEY", &new)]).await;
    assert_eq!(
        status_with(&after, &user.access).await.0,
        401,
        "after the overlap the old key is gone"
    );
}

#[tokio::test]
async fn login_is_limited_per_account_with_retry_after() {
    let app = spawn_app_with(&[("APP_LOGIN_LIMIT_PER_ACCOUNT", "3")]).await;
    app.member("kate@example.com").await; // one attempt used
    for _ in 0..2 {
        assert_eq!(
            app.login("kate@example.com", "wrong wrong wrong")
                .await
                .status(),
            401
        );
    }
    let limited = app.login("kate@example.com", PASSWORD).await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(error_code(limited).await, "rate_limited");
    assert_eq!(
        app.login("other@example.com", PASSWORD).await.status(),
        401,
        "other accounts are not limited"
    );
    assert!(
        app.metrics()
            .await
            .contains(r#"rate_limited_total{scope="login_account"} 1"#)
    );
}

#[tokio::test]
async fn login_is_limited_per_ip() {
    let app = spawn_app_with(&[("APP_LOGIN_LIMIT_PER_IP", "4")]).await;
    for i in 0..4 {
        assert_eq!(
            app.login(&format!("u{i}@example.com"), PASSWORD)
                .await
                .status(),
            401
        );
    }
    let limited = app.login("u9@example.com", PASSWORD).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert!(
        app.metrics()
            .await
            .contains(r#"rate_limited_total{scope="login_ip"} 1"#)
    );
}

/// Found by the `api-fuzz` gate: an email holding NUL reached PostgreSQL and was a 500.
#[tokio::test]
async fn emails_with_control_characters_are_refused_not_a_server_error() {
    let app = spawn_app().await;
    let registered = app.register("a\u{0}b@example.com").await;
    assert_eq!(registered.status(), 422);
    let registered = app.register("a\u{7}b@example.com").await;
    assert_eq!(registered.status(), 422);
    let login = app.login("a\u{0}b@example.com", PASSWORD).await;
    assert_eq!(login.status(), 401, "an unknown account, like any other");
    assert_eq!(error_code(login).await, "invalid_credentials");
}
