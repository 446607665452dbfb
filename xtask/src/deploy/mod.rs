//! Deploying one verified digest: environments (`deploy/environments/<env>.yaml`), the release
//! evidence a promotion resolves and verifies, the targets behind [`Deployer`] (`local`: the
//! release binary behind a real nginx; `kubernetes`: helm on EKS), the judgement, rollbacks and
//! drills. Every promotion is recorded beside the release's evidence.

pub mod chart;
pub mod drill;
pub mod eks;
pub mod env;
pub mod evidence;
pub mod github;
pub mod judge;
pub mod kubernetes;
pub mod local;
pub mod promote;
pub mod rollout;
pub mod schema;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

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
    pub prometheus: Option<String>,
}

/// A deploy target: `local` (processes behind nginx) or `kubernetes` (helm on EKS).
pub trait Deployer {
    /// Applies `release`'s pending migrations (already checked expand-only by the caller).
    fn migrate(&mut self, release: &Unpacked) -> Result<()>;
    /// Starts `release`, waits until it is ready, moves traffic to it, retires the old version.
    fn deploy(&mut self, release: &Unpacked) -> Result<Endpoints>;
    /// The migration versions the live database has applied.
    fn applied_migrations(&mut self) -> Result<Vec<i64>>;
    /// The release serving now, if any.
    fn live(&self) -> Option<Unpacked>;
}
