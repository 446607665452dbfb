//! Judging a new version before traffic stays on it: smoke requests through the front door, then
//! a short goose load with the SLO specs' thresholds while a real Prometheus scrapes the new
//! version with the generated rules. The first objective over its budget fails the judgement at
//! once (that moment is the time to detect); no data by the end is a failure, never a pass.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::Endpoints;
use super::env::Analysis;
use crate::config::{LoadDef, ServiceDef, SloDef};
use crate::engine::gate::RunCtx;
use crate::load::{Driver, LoadRun, Scope, ServerSide, THRESHOLD_EXIT};
use crate::slo::Spec;

/// What a judgement found.
#[derive(Debug, Serialize)]
pub struct Verdict {
    pub passed: bool,
    pub problems: Vec<String>,
    /// From the start of the judgement to its verdict.
    pub elapsed_ms: u64,
    pub server: Vec<ServerSide>,
    pub client_exit: Option<i32>,
    pub reports: String,
}

/// Everything a judgement needs, prepared once per command.
#[derive(Debug)]
pub struct Judge {
    driver: Driver,
    prometheus: PathBuf,
    rules: PathBuf,
    specs: Vec<Spec>,
    job: String,
    /// `[service] metrics`: the path Prometheus scrapes.
    metrics_path: String,
    /// `[service]`'s smoke paths.
    pub smoke: Vec<String>,
    /// `[slo.metrics]`: what the ratios on a shared Prometheus are computed from.
    metrics: crate::slo::MetricNames,
}

impl Judge {
    /// Builds the load test, reads the SLO specs and derives the thresholds.
    pub fn prepare(
        ctx: &RunCtx,
        service: &ServiceDef,
        load: &LoadDef,
        slo: &SloDef,
        build: &crate::running::Build,
    ) -> Result<Judge> {
        let all = crate::slo::load_dir(&ctx.root.join(&slo.dir))?;
        let specs: Vec<Spec> = crate::load::specs_for(&all, service)
            .into_iter()
            .cloned()
            .collect();
        let refs: Vec<&Spec> = specs.iter().collect();
        let driver = Driver::prepare(ctx, load, build, &refs)?;
        let promtool = ctx.tool_binary("prometheus")?;
        Ok(Judge {
            driver,
            prometheus: promtool.with_file_name("prometheus"),
            rules: ctx.root.join(&slo.rules),
            job: specs
                .first()
                .map_or_else(|| service.bin.clone(), |s| s.job.clone()),
            metrics_path: service.metrics.clone(),
            smoke: service.smoke_paths(),
            metrics: slo.metrics.clone(),
            specs,
        })
    }

    /// `GET` each of `paths` (`[service]`'s smoke paths) on `base` (HTTPS, or HTTP where the
    /// environment says so): all must answer 200.
    pub fn smoke(base: &str, paths: &[String]) -> Result<()> {
        let trust = crate::http::Trust::configured();
        let client = trust.blocking(Duration::from_secs(10))?;
        for path in paths {
            let url = format!("{}{path}", base.trim_end_matches('/'));
            let status = client.get(&url).send().map(|r| r.status().as_u16());
            match status {
                Ok(200) => {}
                Ok(other) => bail!("smoke: GET {url} answered {other}, not 200"),
                Err(e) => {
                    return Err(trust
                        .explain(&url, &e)
                        .context(format!("smoke: GET {path}")));
                }
            }
        }
        Ok(())
    }

    /// Smoke, then load for `analysis.duration` while Prometheus scrapes `at.metrics` (or, with
    /// `at.prometheus`, the Prometheus already scraping the service is queried).
    pub fn judge(&self, at: &Endpoints, analysis: &Analysis, dir: &Path) -> Result<Verdict> {
        let started = Instant::now();
        std::fs::create_dir_all(dir)?;
        let verdict = |problems: Vec<String>, server, client_exit| Verdict {
            passed: problems.is_empty(),
            problems,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            server,
            client_exit,
            reports: dir.display().to_string(),
        };
        if let Err(e) = Self::smoke(&at.base, &self.smoke) {
            return Ok(verdict(vec![format!("{e:#}")], Vec::new(), None));
        }
        let rules = [self.rules.clone()];
        let started_here = match &at.prometheus {
            Some(_) => None,
            None => Some(crate::load::start_prometheus(
                &self.prometheus,
                launcher::Scrape {
                    job: &self.job,
                    target: &at.metrics,
                    path: &self.metrics_path,
                },
                &rules,
            )?),
        };
        let prometheus_url = at
            .prometheus
            .as_ref()
            .map(|p| p.url.clone())
            .or_else(|| started_here.as_ref().map(launcher::Loopback::url))
            .context("no Prometheus to judge with")?;
        let prometheus = crate::load::Prometheus::at(&prometheus_url)?;
        let scope = self.scope(at.prometheus.as_ref(), Instant::now());
        let mut load = self.start_load(&at.base, analysis, dir)?;
        let specs: Vec<&Spec> = self.specs.iter().collect();
        let client_exit = loop {
            std::thread::sleep(Duration::from_millis(500));
            let server = crate::load::server_side(&prometheus, &specs, &scope)?;
            let over = crate::load::over_budget(&server);
            if !over.is_empty() {
                load.stop();
                return Ok(verdict(over, server, None));
            }
            if let Some(exit) = load.try_wait() {
                break exit;
            }
        };
        let client = load.problem(client_exit, dir);
        if client_exit == Some(THRESHOLD_EXIT) {
            // The client side has failed already: that is the verdict, no need to wait for data.
            let server = crate::load::server_side(&prometheus, &specs, &scope)?;
            let mut problems = crate::load::over_budget(&server);
            problems.extend(client);
            return Ok(verdict(problems, server, client_exit));
        }
        let server = crate::load::settle(&prometheus, &specs, &scope, Duration::from_secs(10))?;
        let mut problems = crate::load::server_problems(&server);
        problems.extend(client);
        Ok(verdict(problems, server, client_exit))
    }

    /// What the judgement reads: its own Prometheus scrapes only the new version; a shared one
    /// holds every version's series, so only the new version's, since `since`, count.
    pub fn scope(&self, shared: Option<&super::Shared>, since: Instant) -> Scope {
        match shared {
            None => Scope::Own,
            Some(shared) => Scope::Version {
                label: shared.version_label.clone(),
                version: shared.version.clone(),
                since,
                // Two scrapes of a cluster's usual 15 s interval: a rate needs two samples.
                floor: Duration::from_secs(30),
                metrics: self.metrics.clone(),
            },
        }
    }

    fn start_load(&self, base: &str, analysis: &Analysis, dir: &Path) -> Result<LoadRun> {
        let (perf, thresholds) = match &self.driver {
            Driver::Goose { perf, thresholds } => (perf, thresholds),
            Driver::Requests { paths, budget } => {
                let run_for = humantime::parse_duration(&analysis.duration)
                    .with_context(|| format!("analysis.duration `{}`", analysis.duration))?;
                return Ok(LoadRun::Requests {
                    users: crate::load::requests::Requests::start(
                        base,
                        paths,
                        analysis.users,
                        run_for,
                    )?,
                    budget: *budget,
                    counts: None,
                });
            }
        };
        let users = analysis.users.to_string();
        let sh = xshell::Shell::new()?;
        let mut cmd: std::process::Command = xshell::cmd!(sh, "{perf}").into();
        cmd.args(["--host", base, "--users", &users, "--increase-rate", &users])
            .args(["--run-time", &analysis.duration, "--no-reset-metrics"])
            .args(["--threshold-abort-delay", "3s"]);
        for ext in ["html", "json", "md"] {
            cmd.arg("--report-file")
                .arg(dir.join(format!("report.{ext}")));
        }
        for t in thresholds {
            cmd.args(["--threshold", t]);
        }
        // goose (reqwest, the platform's verifier) reads its roots from SSL_CERT_FILE.
        let bundle = crate::http::Trust::configured().bundle(&dir.join("ca-bundle.pem"))?;
        cmd.env("SSL_CERT_FILE", bundle);
        launcher::Service::start("goose", cmd, &dir.join("goose.log")).map(LoadRun::Goose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge() -> Judge {
        Judge {
            driver: Driver::Requests {
                paths: vec!["/".to_owned()],
                budget: 0.0,
            },
            prometheus: PathBuf::new(),
            rules: PathBuf::new(),
            specs: Vec::new(),
            job: "svc".to_owned(),
            metrics_path: "/metrics".to_owned(),
            smoke: Vec::new(),
            metrics: crate::slo::MetricNames::default(),
        }
    }

    /// A shared Prometheus is read through the new version's label; the judgement's own
    /// Prometheus (it scrapes nothing else) through the recorded ratios.
    #[test]
    fn a_shared_prometheus_is_read_through_the_new_versions_label() {
        let shared = crate::Shared {
            url: "https://prometheus".to_owned(),
            version_label: "app_kubernetes_io_version".to_owned(),
            version: "1.2.0".to_owned(),
        };
        let scope = judge().scope(Some(&shared), Instant::now());
        assert!(
            matches!(&scope, Scope::Version { label, version, .. } if label == "app_kubernetes_io_version" && version == "1.2.0"),
            "{scope:?}"
        );
        assert!(matches!(judge().scope(None, Instant::now()), Scope::Own));
    }
}
