//! Authentication (argon2id passwords, EdDSA access tokens, rotating refresh tokens) and
//! authorization (permissions granted through roles stored in PostgreSQL).

pub mod keys;
pub mod password;
pub mod ratelimit;
pub mod routes;
pub mod tokens;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::error::ApiError;
use crate::startup::AppState;

/// The authenticated caller and what it may do. Extracting it answers 401 (with
/// `WWW-Authenticate`) for a missing or bad token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: Uuid,
    pub permissions: Vec<String>,
}

impl Caller {
    /// 403 unless the caller holds `permission`.
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.permissions.iter().any(|p| p == permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(permission))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let refuse = |reason: &str, message: &str| {
            state.metrics.auth_failure(reason);
            ApiError::unauthorized(message)
        };
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
            return Err(refuse(
                "missing_token",
                "send `Authorization: Bearer <access token>`",
            ));
        };
        let claims = tokens::verify_access(&state.settings.jwt, token.trim())
            .map_err(|r| refuse(r.reason(), "the access token is not valid"))?;
        let row: Option<(Vec<String>,)> = sqlx::query_as(
            "SELECT coalesce(array_agg(DISTINCT rp.permission) FILTER (WHERE rp.permission IS NOT NULL), '{}')
             FROM users u
             LEFT JOIN user_roles ur ON ur.user_id = u.id
             LEFT JOIN role_permissions rp ON rp.role = ur.role
             WHERE u.id = $1
             GROUP BY u.id",
        )
        .bind(claims.sub)
        .fetch_optional(&state.db)
        .await?;
        let Some((permissions,)) = row else {
            return Err(refuse("unknown_user", "the access token is not valid"));
        };
        Ok(Caller {
            user_id: claims.sub,
            permissions,
        })
    }
}
