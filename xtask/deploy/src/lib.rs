//! Deploying one verified digest: environments (`deploy/environments/<env>.yaml`), the release
//! evidence a promotion resolves and verifies, the targets behind [`DeployTarget`] (`local`: the
//! release binary behind a real nginx; `kubernetes`: helm on EKS), the judgement, rollbacks and
//! drills. Every promotion is recorded beside the release's evidence.

pub mod chart;
pub mod drill;
pub mod env;
pub mod evidence;
pub mod github;
pub mod judge;
pub mod kubernetes;
pub mod local;
pub mod promote;
pub mod rollout;
pub mod schema;

pub use gatehouse_cloud::eks;

use gatehouse_engine::{config, engine, exit, git, http, layout, migrations, process, timeline};
use gatehouse_harness::{load, running, slo};
use gatehouse_release as release;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// How a promotion ended. Serialised as the words people read in reports and ledgers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PromotionVerdict {
    /// A dry run: verified and planned, nothing changed.
    #[serde(rename = "planned")]
    Planned,
    /// Deployed and judged healthy: the new version serves.
    #[serde(rename = "promoted")]
    Promoted,
    /// Judged failing and rolled back to the previous version.
    #[serde(rename = "rolled back")]
    RolledBack,
    /// Failed with nothing to roll back to (or the rollback failed).
    #[serde(rename = "failed")]
    Failed,
}

impl PromotionVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionVerdict::Planned => "planned",
            PromotionVerdict::Promoted => "promoted",
            PromotionVerdict::RolledBack => "rolled back",
            PromotionVerdict::Failed => "failed",
        }
    }

    /// `cargo xtask promote`'s exit code for this outcome.
    pub fn exit(self) -> exit::Exit {
        match self {
            PromotionVerdict::Planned | PromotionVerdict::Promoted => exit::Exit::Ok,
            PromotionVerdict::RolledBack | PromotionVerdict::Failed => exit::Exit::Rejected,
        }
    }

    /// The state of the GitHub deployment recording it.
    pub fn github_state(self) -> &'static str {
        match self {
            PromotionVerdict::Promoted => "success",
            PromotionVerdict::RolledBack | PromotionVerdict::Failed => "failure",
            PromotionVerdict::Planned => "error",
        }
    }
}

impl std::fmt::Display for PromotionVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A release as a target runs it: the verified digest and what its image carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Unpacked {
    pub version: String,
    pub digest: String,
    /// The service's binary, extracted from the image and checked against the evidence.
    pub binary: PathBuf,
    /// The image's migrations directory (`<bin> migrate DIR`).
    pub migrations: PathBuf,
    /// The image config's `Env` beyond PATH and certificates.
    pub env: BTreeMap<String, String>,
}

/// Where a target serves the service, for the judgement.
#[derive(Clone, Debug, Serialize)]
pub struct Endpoints {
    /// What clients call (nginx on the local target).
    pub base: String,
    /// `host:port` of the new version's metrics listener, for a Prometheus the judgement starts.
    pub metrics: String,
    /// A Prometheus already scraping the service (kubernetes): queried instead of starting one.
    pub prometheus: Option<Shared>,
}

/// A Prometheus that also holds other versions' series (a cluster's): the judgement reads only
/// the series whose `version_label` is `version`, since the judgement started.
#[derive(Clone, Debug, Serialize)]
pub struct Shared {
    pub url: String,
    pub version_label: String,
    /// The new version as the label carries it ([`chart::label_value`]).
    pub version: String,
}

/// A deploy target, for one promotion of one verified release: `local` (processes behind
/// nginx, [`local::LocalTarget`]) and `kubernetes` (helm on EKS, [`kubernetes::KubeTarget`]).
/// One flow drives both ([`promote::roll_out`]): migrate, deploy, judge, and on failure roll
/// back and smoke the previous version.
pub trait DeployTarget {
    /// Applies the release's pending migrations (already checked expand-only) before it starts;
    /// a target whose deploy migrates (helm's pre-upgrade hook) does nothing here.
    fn migrate(&mut self) -> Result<()>;
    /// Starts the release, waits until it is ready and moves traffic to it: where it serves,
    /// or why its rollout failed (then it is rolled back like a failed judgement).
    fn deploy(&mut self, say: &dyn Fn(&str)) -> Result<std::result::Result<Deployed, String>>;
    /// Whether a previous version exists to roll back to.
    fn can_roll_back(&mut self) -> Result<bool>;
    /// Back to the previous version: where it serves, or why it could not be restored. `Err`
    /// when rolling back is unsafe (the schema holds a migration the previous version does not
    /// know as an expand one).
    fn roll_back(&mut self, say: &dyn Fn(&str)) -> Result<std::result::Result<Deployed, String>>;
    /// The version a rollback returns to, and its digest, as the report names them.
    fn previous(&self) -> (String, String);
}

/// A version a target has started: where it serves, and what the timeline says about it.
#[derive(Clone, Debug)]
pub struct Deployed {
    pub at: Endpoints,
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::PromotionVerdict;
    use crate::exit::Exit;

    #[test]
    fn promotion_verdicts_decide_the_exit_code_and_the_github_state_and_read_back() {
        let all = [
            (PromotionVerdict::Planned, "\"planned\"", Exit::Ok, "error"),
            (
                PromotionVerdict::Promoted,
                "\"promoted\"",
                Exit::Ok,
                "success",
            ),
            (
                PromotionVerdict::RolledBack,
                "\"rolled back\"",
                Exit::Rejected,
                "failure",
            ),
            (
                PromotionVerdict::Failed,
                "\"failed\"",
                Exit::Rejected,
                "failure",
            ),
        ];
        for (verdict, json, exit, state) in all {
            assert_eq!(serde_json::to_string(&verdict).unwrap(), json);
            assert_eq!(
                serde_json::from_str::<PromotionVerdict>(json).unwrap(),
                verdict
            );
            assert_eq!((verdict.exit(), verdict.github_state()), (exit, state));
            assert_eq!(format!("\"{verdict}\""), json);
        }
        assert!(serde_json::from_str::<PromotionVerdict>("\"promotd\"").is_err());
    }
}
