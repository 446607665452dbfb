//! `app seed`: the first admin, from `APP_SEED_ADMIN_EMAIL` and `APP_SEED_ADMIN_PASSWORD`.
//! Idempotent: an existing account keeps its password and gains the `admin` role.

use anyhow::{Context, Result, bail};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Event, RequestMeta};
use crate::auth::password;
use crate::auth::routes::normalise_email;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Created(Uuid),
    Promoted(Uuid),
    AlreadyAdmin(Uuid),
}

pub async fn admin(db: &PgPool, email: &str, password: &str) -> Result<Outcome> {
    let email = normalise_email(email)
        .map_err(|_| anyhow::anyhow!("APP_SEED_ADMIN_EMAIL: `{email}` is not an email address"))?;
    let mut tx = db.begin().await?;
    let existing: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1 FOR UPDATE")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
    let (id, outcome) = match existing {
        Some(id) => {
            let granted = sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, 'admin') ON CONFLICT DO NOTHING")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            (
                id,
                if granted == 1 {
                    Outcome::Promoted(id)
                } else {
                    Outcome::AlreadyAdmin(id)
                },
            )
        }
        None => {
            let problems = password::policy_problems(password, &email);
            if !problems.is_empty() {
                bail!("APP_SEED_ADMIN_PASSWORD: {}", problems.join("; "));
            }
            let id = Uuid::now_v7();
            sqlx::query("INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(&email)
                .bind(password::hash(password)?)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO user_roles (user_id, role) VALUES ($1, 'admin'), ($1, 'member')",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            (id, Outcome::Created(id))
        }
    };
    if !matches!(outcome, Outcome::AlreadyAdmin(_)) {
        audit::record(
            &mut tx,
            Event {
                actor: None,
                action: "user.seeded_admin",
                target: format!("user:{id}"),
                meta: &RequestMeta::default(),
                metadata: json!({"created": matches!(outcome, Outcome::Created(_))}),
            },
        )
        .await?;
    }
    tx.commit().await.context("cannot commit the seed")?;
    Ok(outcome)
}
