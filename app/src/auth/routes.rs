//! `/v1/auth/*` and `/.well-known/jwks.json`.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::keys::Jwks;
use super::{password, tokens};
use crate::audit::{self, Event, RequestMeta};
use crate::error::{ApiError, ApiResult, ErrorEnvelope, JsonBody};
use crate::startup::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "alice@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// 12 to 128 characters, at least 5 distinct, not containing the email address.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
    /// IANA time zone for recurring tasks' due dates (default `UTC`).
    #[schema(example = "Europe/Berlin")]
    pub time_zone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub time_zone: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single use: exchange it at `/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

/// The one spelling of an address the database stores and looks up.
fn canonical_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The canonical spelling (trimmed, lower case), refused (422) unless it looks like an address.
pub fn normalise_email(email: &str) -> Result<String, ApiError> {
    let email = canonical_email(email);
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(ApiError::validation(
            json!({"email": "not an email address"}),
        ))
    }
}

#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created with the `member` role", body = UserResponse),
        (status = 409, description = "The email is taken (`email_taken`)", body = ErrorEnvelope),
        (status = 422, description = "Invalid email, password or time zone (`validation_failed`)", body = ErrorEnvelope),
    ))]
pub async fn register(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserResponse>)> {
    let email = normalise_email(&body.email)?;
    let problems = password::policy_problems(&body.password, &email);
    if !problems.is_empty() {
        return Err(ApiError::validation(json!({"password": problems})));
    }
    let time_zone = body.time_zone.unwrap_or_else(|| "UTC".to_owned());
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::validation(
            json!({"time_zone": "not an IANA time zone (e.g. Europe/Berlin)"}),
        ));
    }
    let hash = hash_blocking(body.password).await?;
    let id = Uuid::now_v7();
    let mut tx = state.db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, password_hash, time_zone) VALUES ($1, $2, $3, $4)
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(id)
    .bind(&email)
    .bind(hash)
    .bind(&time_zone)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "email_taken",
            "an account with this email exists",
        ));
    }
    sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, 'member')")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event {
            actor: Some(id),
            action: "user.registered",
            target: format!("user:{id}"),
            meta: &meta,
            metadata: json!({"time_zone": time_zone}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(UserResponse {
            id,
            email,
            time_zone,
            roles: vec!["member".to_owned()],
        }),
    ))
}

async fn hash_blocking(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| ApiError::internal(&e.into()))?
        .map_err(|e| ApiError::internal(&e))
}

fn invalid_credentials(state: &AppState) -> ApiError {
    state.metrics.auth_failure("invalid_credentials");
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the email or password is incorrect",
    )
}

#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Access token (15 min) and refresh token (7 days)", body = TokenResponse),
        (status = 401, description = "Wrong email or password, indistinguishably (`invalid_credentials`)", body = ErrorEnvelope),
        (status = 429, description = "Too many attempts from this IP or for this account (`rate_limited`, with `Retry-After`)", body = ErrorEnvelope),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let email = canonical_email(&body.email);
    state.limiter.check(peer.ip(), &email, &state.metrics)?;
    // Registration refuses control characters, so no account has one; PostgreSQL could not even
    // compare a NUL. Such a login is an unknown account (same dummy hash, same answer).
    let user: Option<(Uuid, String)> = if email.chars().any(char::is_control) {
        None
    } else {
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&state.db)
            .await?
    };
    let stored = user.as_ref().map(|(_, hash)| hash.clone());
    let password = body.password;
    let ok = tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
        .await
        .map_err(|e| ApiError::internal(&e.into()))?;
    let Some((user_id, _)) = user.filter(|_| ok) else {
        return Err(invalid_credentials(&state));
    };
    let mut tx = state.db.begin().await?;
    let pair = issue_pair(&state, &mut tx, user_id, Uuid::new_v4()).await?;
    audit::record(
        &mut tx,
        Event {
            actor: Some(user_id),
            action: "auth.login",
            target: format!("user:{user_id}"),
            meta: &meta,
            metadata: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(no_store(Json(pair)))
}

/// Token responses must never be cached.
fn no_store<T: IntoResponse>(body: T) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        body,
    )
}

async fn issue_pair(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    family: Uuid,
) -> ApiResult<TokenResponse> {
    let jwt = &state.settings.jwt;
    let access_token = tokens::issue_access(jwt, user_id)?;
    let refresh_token = tokens::new_refresh_token();
    let expires_at = Utc::now() + jwt.refresh_ttl;
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(family)
    .bind(user_id)
    .bind(tokens::hash_refresh_token(&refresh_token))
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: tokens::secs(jwt.access_ttl),
        refresh_token,
        refresh_expires_in: tokens::secs(jwt.refresh_ttl),
    })
}

type StoredRefresh = (
    Uuid,
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = TokenResponse),
        (status = 401, description = "Unknown, expired or revoked refresh token; reusing a spent one revokes its whole family (`refresh_token_reused`)", body = ErrorEnvelope),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> ApiResult<impl IntoResponse> {
    let hash = tokens::hash_refresh_token(body.refresh_token.trim());
    let mut tx = state.db.begin().await?;
    let row: Option<StoredRefresh> = sqlx::query_as(
        "SELECT family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens
         WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let refuse = |reason: &'static str, message: &str| {
        state.metrics.auth_failure(reason);
        ApiError::new(StatusCode::UNAUTHORIZED, reason, message)
    };
    let Some((family, user_id, expires_at, used_at, revoked_at)) = row else {
        return Err(refuse(
            "invalid_refresh_token",
            "the refresh token is not valid",
        ));
    };
    if revoked_at.is_some() {
        return Err(refuse(
            "refresh_token_revoked",
            "the refresh token has been revoked; log in again",
        ));
    }
    if used_at.is_some() {
        revoke_family(&mut tx, family).await?;
        audit::record(
            &mut tx,
            Event {
                actor: Some(user_id),
                action: "auth.refresh_reused",
                target: format!("token_family:{family}"),
                meta: &meta,
                metadata: json!({"revoked_family": family}),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(refuse(
            "refresh_token_reused",
            "this refresh token was already used; every session from this login is revoked",
        ));
    }
    if expires_at <= Utc::now() {
        return Err(refuse(
            "refresh_token_expired",
            "the refresh token has expired; log in again",
        ));
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    let pair = issue_pair(&state, &mut tx, user_id, family).await?;
    tx.commit().await?;
    Ok(no_store(Json(pair)))
}

async fn revoke_family(conn: &mut sqlx::PgConnection, family: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(conn)
    .await
    .map(|_| ())
}

#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "The refresh token's family is revoked (also when it was unknown)")))]
pub async fn logout(
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> ApiResult<StatusCode> {
    let hash = tokens::hash_refresh_token(body.refresh_token.trim());
    let mut tx = state.db.begin().await?;
    let row: Option<(Uuid, Uuid)> =
        sqlx::query_as("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((family, user_id)) = row {
        revoke_family(&mut tx, family).await?;
        audit::record(
            &mut tx,
            Event {
                actor: Some(user_id),
                action: "auth.logout",
                target: format!("token_family:{family}"),
                meta: &meta,
                metadata: json!({}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "Public keys verifying access tokens, by `kid` (current and rotated-out)", body = Jwks)))]
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    (headers, Json(state.settings.jwt.keys.jwks()))
}
