//! SLO specs (`slo/*.yaml`, format in `docs/slo.md`) and everything generated from them:
//! Prometheus recording rules and multi-window multi-burn-rate alerts (`rules`), promtool unit
//! tests proving each alert fires at its burn rate and not below (`rules::tests_yaml`), and a
//! Grafana dashboard (`dashboard`). Load-test thresholds and the `slo` gate read the same specs.

pub mod dashboard;
pub mod rules;

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

pub use crate::config::MetricNames;

use crate::exit::Failure;

/// One service's objectives.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The service's name; a label on every generated series and alert.
    pub service: String,
    /// The Prometheus `job` label of the service's scrape.
    pub job: String,
    /// The compliance window in days (30 unless given).
    #[serde(default = "thirty")]
    pub window_days: u32,
    pub objectives: Vec<Objective>,
}

fn thirty() -> u32 {
    30
}

/// What counts as a bad event.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Sli {
    /// A response with a 5xx status.
    Availability,
    /// A response slower than `threshold_ms`.
    Latency,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// `[a-z0-9-]+`: the `slo` label.
    pub name: String,
    pub description: String,
    pub sli: Sli,
    /// Percent of good events over the window, e.g. `99.9`.
    pub target: f64,
    /// Route templates as a Prometheus regex (anchored), e.g. `/items|/items/\{id\}`; every
    /// route when absent.
    #[serde(default = "any")]
    pub routes: String,
    /// HTTP methods as a regex, e.g. `GET`; all when absent.
    #[serde(default = "any")]
    pub methods: String,
    /// Latency only: slower is bad. Must be a bucket bound of the service's histogram.
    pub threshold_ms: Option<u64>,
}

fn any() -> String {
    ".+".to_owned()
}

impl Objective {
    /// The share of events allowed to be bad: `1 - target/100`.
    pub fn budget(&self) -> f64 {
        1.0 - self.target / 100.0
    }

    /// The label matchers selecting this objective's requests (label names from `m`).
    pub fn selector(&self, job: &str, m: &MetricNames) -> String {
        format!(
            r#"job="{job}",{}=~"{}",{}=~"{}""#,
            m.route,
            self.routes.replace('\\', "\\\\"),
            m.method,
            self.methods
        )
    }

    /// Latency threshold in seconds as the histogram's `le` label prints it.
    pub fn le(&self) -> Option<String> {
        self.threshold_ms.map(format_seconds)
    }
}

/// `250` ms as `0.25`, `1000` as `1` (Prometheus' float formatting of bucket bounds).
fn format_seconds(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

impl Spec {
    /// Reads and validates `path`; every problem names the file and the field.
    pub fn load(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read SLO spec {}", path.display()))?;
        let spec: Spec = serde_norway::from_str(&text)
            .map_err(|e| Failure::Config(format!("{}: {e}", path.display())))?;
        let problems = spec.problems();
        if !problems.is_empty() {
            return Err(Failure::Config(format!(
                "{}:\n  {}",
                path.display(),
                problems.join("\n  ")
            ))
            .into());
        }
        Ok(spec)
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.objectives.is_empty() {
            out.push("objectives: at least one objective is needed".to_owned());
        }
        if self.window_days == 0 {
            out.push("window_days: must be at least 1".to_owned());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, o) in self.objectives.iter().enumerate() {
            let at = format!("objectives[{i}] ({})", o.name);
            let name_ok = !o.name.is_empty()
                && o.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !name_ok {
                out.push(format!("{at}.name: use [a-z0-9-]+"));
            }
            if !seen.insert(o.name.clone()) {
                out.push(format!("{at}.name: used twice"));
            }
            if !(o.target > 0.0 && o.target < 100.0) {
                out.push(format!(
                    "{at}.target: {} is not a percentage strictly between 0 and 100 (e.g. 99.9)",
                    o.target
                ));
            }
            match (o.sli, o.threshold_ms) {
                (Sli::Latency, None | Some(0)) => out.push(format!(
                    "{at}.threshold_ms: a latency objective needs a positive threshold (a histogram bucket bound)"
                )),
                (Sli::Availability, Some(_)) => out.push(format!(
                    "{at}.threshold_ms: only latency objectives have a threshold"
                )),
                _ => {}
            }
            if o.routes.contains('"') || o.methods.contains('"') {
                out.push(format!("{at}: routes and methods must not contain `\"`"));
            }
        }
        out
    }
}

/// Every spec under `dir` (`*.yaml`), sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Spec>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the SLO directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "no SLO spec (*.yaml) in {}",
        dir.display()
    );
    files.iter().map(|f| Spec::load(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> std::result::Result<Spec, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(&path, yaml).unwrap();
        Spec::load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn every_problem_names_its_field() {
        let err = spec(
            "service: app\njob: app\nobjectives:\n  - name: Bad_Name\n    description: d\n    sli: latency\n    target: 100\n",
        )
        .unwrap_err();
        assert!(err.contains("objectives[0] (Bad_Name).name"), "{err}");
        assert!(
            err.contains("objectives[0] (Bad_Name).target: 100"),
            "{err}"
        );
        assert!(
            err.contains("threshold_ms: a latency objective needs"),
            "{err}"
        );
        let unknown = spec("service: app\njob: app\nobjectivs: []\n").unwrap_err();
        assert!(unknown.contains("unknown field `objectivs`"), "{unknown}");
    }

    #[test]
    fn budgets_selectors_and_buckets() {
        let s = spec(
            "service: app\njob: app\nobjectives:\n  - name: lat\n    description: d\n    sli: latency\n    target: 99\n    routes: '/items/\\{id\\}'\n    methods: GET\n    threshold_ms: 250\n",
        )
        .unwrap();
        let o = &s.objectives[0];
        assert!((o.budget() - 0.01).abs() < 1e-12);
        assert_eq!(o.le().as_deref(), Some("0.25"));
        assert_eq!(
            o.selector("svc", &MetricNames::default()),
            r#"job="svc",route=~"/items/\\{id\\}",method=~"GET""#
        );
        let renamed = MetricNames {
            route: "path".to_owned(),
            method: "verb".to_owned(),
            ..MetricNames::default()
        };
        assert_eq!(
            o.selector("svc", &renamed),
            r#"job="svc",path=~"/items/\\{id\\}",verb=~"GET""#
        );
        assert_eq!(format_seconds(1000), "1");
    }
}
