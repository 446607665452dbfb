//! `deploy/environments/<env>.yaml`: where an environment runs, how a promotion into it is
//! judged, who must approve it, and which environment a digest must have passed first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::exit::Failure;

pub const DIR: &str = "deploy/environments";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    #[serde(skip)]
    pub name: String,
    #[serde(skip)]
    pub file: PathBuf,
    pub target: Target,
    #[serde(default)]
    pub analysis: Analysis,
    /// The environment a digest must have been promoted to successfully first.
    pub after: Option<String>,
    /// `required`: the promotion needs `--approve` (given by a GitHub environment's reviewers).
    #[serde(default)]
    pub approval: Approval,
    /// Whether the release evidence must link a passing `cargo xtask ci` report.
    #[serde(default = "yes")]
    pub require_ci: bool,
    /// The public key (cosign format) signatures are verified with.
    pub verify_key: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    #[default]
    None,
    Required,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// The release binary as processes on loopback behind nginx (a single-host deploy).
    Local {
        /// Settings (environment variables) for every process, beside the image's own `Env`.
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
    /// EKS through helm and kube.
    Kubernetes(Kube),
}

/// An EKS cluster and the helm release a promotion upgrades there.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kube {
    pub cluster: String,
    pub region: String,
    pub namespace: String,
    pub release: String,
    pub chart: String,
    pub values: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout: String,
}

impl Kube {
    /// `timeout` as a duration (checked when the environment loads).
    pub fn timeout(&self) -> Result<std::time::Duration> {
        humantime::parse_duration(&self.timeout).with_context(|| {
            format!(
                "target.timeout `{}` is not a duration like 5m",
                self.timeout
            )
        })
    }
}

fn default_timeout() -> String {
    "5m".to_owned()
}

/// How a new version is judged before traffic stays on it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// How long the judging load runs (goose `--run-time`).
    #[serde(default = "default_duration")]
    pub duration: String,
    /// Virtual users of the judging load.
    #[serde(default = "default_users")]
    pub users: u32,
    /// kubernetes: the service's URL as the promoting runner reaches it (the judging load and
    /// smoke requests go there).
    #[serde(default)]
    pub url: Option<String>,
    /// kubernetes: the Prometheus API that scrapes the service and holds the generated SLO
    /// rules (the server side of the judgement).
    #[serde(default)]
    pub prometheus: Option<String>,
    /// kubernetes: the label that Prometheus's series of the service carry the running version
    /// in (the chart's pod label `app.kubernetes.io/version`, e.g. `app_kubernetes_io_version`
    /// after the usual pod-label relabelling). The judgement reads only the new version's
    /// series: the previous version's requests in the same Prometheus never dilute its errors.
    #[serde(default)]
    pub version_label: Option<String>,
}

impl Default for Analysis {
    fn default() -> Analysis {
        Analysis {
            duration: default_duration(),
            users: default_users(),
            url: None,
            prometheus: None,
            version_label: None,
        }
    }
}

fn default_duration() -> String {
    "10s".to_owned()
}

fn default_users() -> u32 {
    4
}

impl Environment {
    /// The kubernetes target, or an error saying this environment is not one.
    pub fn kubernetes(&self) -> Result<&Kube> {
        match &self.target {
            Target::Kubernetes(k) => Ok(k),
            Target::Local { .. } => anyhow::bail!(
                "{} is not a kubernetes environment ({})",
                self.name,
                self.file.display()
            ),
        }
    }

    /// Loads `deploy/environments/<name>.yaml` under `root`.
    pub fn load(root: &Path, name: &str) -> Result<Environment> {
        let file = root.join(DIR).join(format!("{name}.yaml"));
        if !file.exists() {
            return Err(Failure::Usage(format!(
                "unknown environment `{name}`: no {}; environments: {}",
                file.display(),
                names(root).join(", ")
            ))
            .into());
        }
        let text = std::fs::read_to_string(&file)?;
        let mut env: Environment = serde_norway::from_str(&text).map_err(|e| {
            Failure::Config(format!(
                "{}: {e} (see docs/deploy.md for the format)",
                file.display()
            ))
        })?;
        env.name = name.to_owned();
        env.file = file;
        humantime::parse_duration(&env.analysis.duration).with_context(|| {
            format!(
                "{}: analysis.duration `{}` is not a duration like 10s",
                env.file.display(),
                env.analysis.duration
            )
        })?;
        if let Target::Kubernetes(k) = &env.target {
            k.timeout()
                .with_context(|| format!("{}", env.file.display()))?;
        }
        let remote = env.analysis.url.is_some()
            || env.analysis.prometheus.is_some()
            || env.analysis.version_label.is_some();
        match (&env.target, &env.analysis) {
            (
                Target::Kubernetes(_),
                Analysis { url: None, .. }
                | Analysis {
                    prometheus: None, ..
                },
            ) => {
                return Err(Failure::Config(format!(
                    "{}: analysis.url and analysis.prometheus are required for a kubernetes target: a promotion is judged through the service's URL and the cluster's Prometheus, never by the rollout alone",
                    env.file.display()
                ))
                .into());
            }
            (
                Target::Kubernetes(_),
                Analysis {
                    version_label: None,
                    ..
                },
            ) => {
                return Err(Failure::Config(format!(
                    "{}: analysis.version_label is required for a kubernetes target: the label the cluster's Prometheus puts the pod label app.kubernetes.io/version in (e.g. app_kubernetes_io_version), so that only the new version's series are judged",
                    env.file.display()
                ))
                .into());
            }
            (Target::Local { .. }, _) if remote => {
                return Err(Failure::Config(format!(
                    "{}: analysis.url, analysis.prometheus and analysis.version_label are for kubernetes targets; the local target judges through its own nginx and Prometheus",
                    env.file.display()
                ))
                .into());
            }
            _ => {}
        }
        if let Some(after) = &env.after
            && !root.join(DIR).join(format!("{after}.yaml")).exists()
        {
            return Err(Failure::Config(format!(
                "{}: after: no environment `{after}`",
                env.file.display()
            ))
            .into());
        }
        Ok(env)
    }
}

/// The environments defined under `root`, sorted.
pub fn names(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join(DIR))
        .map(|d| {
            d.filter_map(|e| {
                let name = e.ok()?.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".yaml").map(str::to_owned)
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(DIR)).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(DIR).join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn the_repository_environments_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert_eq!(names(&root), ["local", "production", "staging"]);
        for name in names(&root) {
            Environment::load(&root, &name).unwrap();
        }
        let prod = Environment::load(&root, "production").unwrap();
        assert_eq!(prod.approval, Approval::Required);
        assert_eq!(prod.after.as_deref(), Some("staging"));
    }

    #[test]
    fn mistakes_name_the_file_and_field() {
        let dir = root(&[
            ("a.yaml", "target: {kind: local}\nafter: nowhere\n"),
            (
                "b.yaml",
                "target: {kind: local}\nanalysis: {duration: soon}\n",
            ),
            ("c.yaml", "target: {kind: local}\napprove: yes\n"),
        ]);
        let err = |n| format!("{:#}", Environment::load(dir.path(), n).unwrap_err());
        assert!(
            err("a").contains("after: no environment `nowhere`"),
            "{}",
            err("a")
        );
        assert!(
            err("b").contains("analysis.duration `soon`"),
            "{}",
            err("b")
        );
        assert!(
            err("c").contains("c.yaml") && err("c").contains("approve"),
            "{}",
            err("c")
        );
        assert!(err("d").contains("environments: a, b, c"), "{}", err("d"));
    }

    #[test]
    fn a_kubernetes_target_is_never_judged_by_its_rollout_alone() {
        let k8s = "target: {kind: kubernetes, cluster: c, region: r, namespace: n, release: a, chart: ch, values: []}\n";
        let dir = root(&[
            ("k.yaml", k8s),
            (
                "u.yaml",
                &format!("{k8s}analysis: {{url: 'https://app'}}\n"),
            ),
            (
                "l.yaml",
                "target: {kind: local}\nanalysis: {prometheus: 'http://p'}\n",
            ),
            (
                "v.yaml",
                &format!("{k8s}analysis: {{url: 'https://app', prometheus: 'https://prom'}}\n"),
            ),
            (
                "ok.yaml",
                &format!(
                    "{k8s}analysis: {{url: 'https://app', prometheus: 'https://prom', version_label: version}}\n"
                ),
            ),
        ]);
        let err = |n| format!("{:#}", Environment::load(dir.path(), n).unwrap_err());
        assert!(
            err("k").contains("k.yaml: analysis.url and analysis.prometheus are required"),
            "{}",
            err("k")
        );
        assert!(
            err("u").contains("analysis.prometheus are required"),
            "{}",
            err("u")
        );
        assert!(
            err("v").contains("v.yaml: analysis.version_label is required"),
            "{}",
            err("v")
        );
        assert!(
            err("l").contains("are for kubernetes targets"),
            "{}",
            err("l")
        );
        Environment::load(dir.path(), "ok").unwrap();
    }

    #[test]
    fn a_kubernetes_timeout_that_is_not_a_duration_is_refused_on_load() {
        let dir = root(&[(
            "t.yaml",
            "target: {kind: kubernetes, cluster: c, region: r, namespace: n, release: a, chart: ch, values: [], timeout: soon}\nanalysis: {url: 'https://app', prometheus: 'https://prom', version_label: version}\n",
        )]);
        let err = format!("{:#}", Environment::load(dir.path(), "t").unwrap_err());
        assert!(
            err.contains("t.yaml") && err.contains("target.timeout `soon`"),
            "{err}"
        );
    }
}
