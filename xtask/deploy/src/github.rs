//! Promotions as GitHub deployments (octocrab): each promotion creates a deployment of the
//! release's commit to the environment, with the digest in its payload, and a status saying how
//! it ended. The same deployments are the order ledger every machine can read: a fresh runner
//! promoting to production finds staging's successful deployment of the digest there.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::release::github::{Target, client};

/// One promotion to record.
#[derive(Debug)]
pub struct Deployment<'a> {
    pub environment: &'a str,
    pub commit: &'a str,
    pub version: &'a str,
    pub digest: &'a str,
    pub verdict: super::PromotionVerdict,
    pub description: &'a str,
}

/// Creates the deployment and its status; returns the deployment's id.
pub fn record(target: &Target, d: &Deployment<'_>) -> Result<u64> {
    crate::release::block_on(async {
        let github = client(target)?;
        let base = format!("/repos/{}/{}/deployments", target.owner, target.repo);
        let body = json!({
            "ref": d.commit,
            "environment": d.environment,
            "description": format!("gatehouse promote {} {}", d.environment, d.version),
            "auto_merge": false,
            "required_contexts": [],
            "production_environment": d.environment == "production",
            "payload": {"digest": d.digest, "version": d.version},
        });
        let created: Value = github
            .post(&base, Some(&body))
            .await
            .with_context(|| format!("cannot create the GitHub deployment to {}", d.environment))?;
        let id = created["id"]
            .as_u64()
            .context("GitHub answered the deployment without an id")?;
        let status = json!({
            "state": d.verdict.github_state(),
            "environment": d.environment,
            "description": truncate(d.description, 140),
        });
        let _: Value = github
            .post(format!("{base}/{id}/statuses"), Some(&status))
            .await
            .with_context(|| format!("cannot set the status of GitHub deployment {id}"))?;
        Ok(id)
    })
}

/// Whether `digest` has a successful deployment to `environment`.
pub fn promoted(target: &Target, environment: &str, digest: &str) -> Result<bool> {
    let found = newest_successful(target, environment, &|d| d["payload"]["digest"] == digest)?;
    Ok(found.is_some())
}

/// The newest deployment to `environment` whose current status is `success`.
pub fn live(target: &Target, environment: &str) -> Result<Option<super::evidence::Live>> {
    let found = newest_successful(target, environment, &|_| true)?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Ok(found.map(|d| super::evidence::Live {
        version: text(&d["payload"]["version"]),
        digest: text(&d["payload"]["digest"]),
        commit: text(&d["sha"]),
        source: format!(
            "GitHub deployment {} of {}/{}",
            d["id"], target.owner, target.repo
        ),
    }))
}

/// The newest deployment to `environment` that `keep` accepts and whose current (newest)
/// status is `success`; statuses are read only for the deployments `keep` accepts.
fn newest_successful(
    target: &Target,
    environment: &str,
    keep: &dyn Fn(&Value) -> bool,
) -> Result<Option<Value>> {
    crate::release::block_on(async {
        let github = client(target)?;
        let base = format!("/repos/{}/{}/deployments", target.owner, target.repo);
        // Newest first, as GitHub lists them.
        let deployments: Vec<Value> = github
            .get(
                &base,
                Some(&[("environment", environment), ("per_page", "100")]),
            )
            .await
            .with_context(|| format!("cannot list GitHub deployments to {environment}"))?;
        for d in deployments.into_iter().filter(|d| keep(d)) {
            let Some(id) = d["id"].as_u64() else { continue };
            let statuses: Vec<Value> = github
                .get(format!("{base}/{id}/statuses"), None::<&()>)
                .await
                .with_context(|| format!("cannot read the statuses of GitHub deployment {id}"))?;
            if statuses.first().is_some_and(|s| s["state"] == "success") {
                return Ok(Some(d));
            }
        }
        Ok(None)
    })
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
