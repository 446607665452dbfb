//! `cargo xtask load <profile>` and the `slo` gate: the service's release build on an ephemeral
//! PostgreSQL, a real Prometheus scraping it with the generated SLO rules loaded, the goose load
//! test (`[load]`) driving a profile with thresholds derived from the SLO specs, then two
//! verdicts: the client side (goose's thresholds: its exit code) and the server side (each
//! objective's `slo:sli_error:ratio_rate5m` from Prometheus against its budget). No data is a
//! failure, never a pass. A service without a goose load test is driven by gatehouse's own
//! requests ([`requests`]).

pub mod requests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::config::{LoadDef, LoadDriver, ServiceDef, SloDef};
use crate::engine::gate::{RunCtx, Step, code};
use crate::running::{self, Build, Running};
use crate::slo::{Sli, Spec};

/// Goose's exit code when a threshold failed (`perf`'s contract).
pub const THRESHOLD_EXIT: i32 = 99;

/// A load shape: users, how fast they start, how long they stay.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Profile {
    pub name: &'static str,
    pub users: u32,
    pub hatch_rate: u32,
    pub run_time: &'static str,
    pub purpose: &'static str,
}

pub const PROFILES: [Profile; 4] = [
    Profile {
        name: "smoke",
        users: 4,
        hatch_rate: 4,
        run_time: "15s",
        purpose: "every request works and meets the SLOs under light load (the `slo` gate)",
    },
    Profile {
        name: "baseline",
        users: 16,
        hatch_rate: 8,
        run_time: "30s",
        purpose: "the reference numbers: requests per second and latency at steady load",
    },
    Profile {
        name: "soak",
        users: 16,
        hatch_rate: 4,
        run_time: "30m",
        purpose: "leaks and drift: the same load for half an hour",
    },
    Profile {
        name: "stress",
        users: 64,
        hatch_rate: 8,
        run_time: "2m",
        purpose: "beyond the expected load: where latency and errors give",
    },
];

pub fn profile(name: &str) -> Result<Profile> {
    PROFILES
        .iter()
        .copied()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            crate::exit::Failure::Usage(format!(
                "unknown load profile `{name}`; profiles: {}",
                PROFILES.map(|p| p.name).join(", ")
            ))
            .into()
        })
}

/// One objective judged on the server side.
#[derive(Debug, Serialize)]
pub struct ServerSide {
    pub slo: String,
    pub error_ratio: Option<f64>,
    pub budget: f64,
    pub passed: bool,
}

/// What a load run found.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub profile: Profile,
    pub thresholds: Vec<String>,
    /// goose's exit code: 0 thresholds met, 99 a threshold failed.
    pub client_exit: Option<i32>,
    pub server: Vec<ServerSide>,
    pub reports: String,
    pub problems: Vec<String>,
    /// The service binary the load ran against, and its SHA-256: the binary judged.
    pub binary: String,
    pub binary_sha256: Option<String>,
}

/// k6-style thresholds from the specs: the availability budget as `error-rate`, each latency
/// objective as `p<target>` on every request of the load test its routes and methods match.
pub fn thresholds(specs: &[&Spec], requests: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for spec in specs {
        for o in &spec.objectives {
            match o.sli {
                Sli::Availability => out.push(format!(
                    "error-rate<{}%",
                    crate::slo::rules::num(o.budget() * 100.0)
                )),
                Sli::Latency => {
                    let routes = regex::Regex::new(&format!("^(?:{})$", o.routes))
                        .with_context(|| format!("slo `{}`: routes is not a regex", o.name))?;
                    let methods = regex::Regex::new(&format!("^(?:{})$", o.methods))
                        .with_context(|| format!("slo `{}`: methods is not a regex", o.name))?;
                    for request in requests {
                        let Some((method, route)) = request.split_once(' ') else {
                            continue;
                        };
                        if methods.is_match(method) && routes.is_match(route) {
                            out.push(format!(
                                "p{}<{}ms for {request}",
                                crate::slo::rules::num(o.target),
                                o.threshold_ms.unwrap_or(0)
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The commands a load run of `profile` executes, for `plan`: the builds, the service's own
/// steps and the load; what only the run knows (the service's address, the thresholds derived
/// from the requests the load test lists) is a placeholder. `dir` is where reports go.
pub fn steps(
    service: &ServiceDef,
    load: &LoadDef,
    build: &Build,
    profile: Profile,
    dir: &str,
) -> Vec<Step> {
    let binary = build.binary(Path::new("."), &service.bin);
    let mut steps = vec![build.step(&service.package, &service.bin)];
    steps.extend(running::shown_service_steps(
        service,
        &binary.display().to_string(),
        build.migrations(),
        &load.env,
    ));
    steps.push(Step::in_process(
        "an ephemeral PostgreSQL for the service, and Prometheus (TLS, throwaway CA) scraping it with the generated rules; each objective's error ratio queried after the load",
    ));
    steps.extend(driver_steps(load, build));
    match load.driver() {
        LoadDriver::Goose { bin, .. } => {
            let perf = build.binary(Path::new("."), bin).display().to_string();
            steps.extend([goose_step(&perf, "<service>", profile, Path::new(dir))
                .args([
                    "<every --threshold derived from the SLO specs and the requests listed>"
                        .to_owned(),
                ])
                .quiet_stdout()]);
        }
        LoadDriver::Requests(paths) => steps.push(Step::in_process(&format!(
            "GET {} against the service, {} users for {}",
            paths.join(" "),
            profile.users,
            profile.run_time
        ))),
    }
    steps
}

/// What [`Driver::prepare`] runs: the goose load test's build and its `requests` listing
/// (nothing for gatehouse's own requests).
pub fn driver_steps(load: &LoadDef, build: &Build) -> Vec<Step> {
    match load.driver() {
        LoadDriver::Goose { package, bin } => {
            let perf = build.binary(Path::new("."), bin).display().to_string();
            vec![build.step(package, bin), Step::new(&perf, &["requests"])]
        }
        LoadDriver::Requests(_) => Vec::new(),
    }
}

/// A Prometheus to query, with one HTTP client for every query of a run (judgements poll it
/// every half second).
#[derive(Debug)]
pub struct Prometheus {
    api: reqwest::Url,
    client: reqwest::blocking::Client,
    trust: crate::http::Trust,
}

impl Prometheus {
    pub fn at(url: &str) -> Result<Prometheus> {
        let api = reqwest::Url::parse(&format!("{url}/api/v1/query"))
            .with_context(|| format!("`{url}` is not a Prometheus URL"))?;
        let trust = crate::http::Trust::configured();
        Ok(Prometheus {
            api,
            client: trust.blocking(Duration::from_secs(30))?,
            trust,
        })
    }

    /// The value of an instant query, `None` when Prometheus has no sample (or NaN).
    fn query(&self, promql: &str) -> Result<Option<f64>> {
        Ok(self
            .query_raw(promql)?
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite()))
    }

    /// The first sample's value as Prometheus prints it (`NaN` included).
    fn query_raw(&self, promql: &str) -> Result<Option<String>> {
        let mut url = self.api.clone();
        url.query_pairs_mut().append_pair("query", promql);
        let body: serde_json::Value = self
            .client
            .get(url.clone())
            .send()
            .map_err(|e| self.trust.explain(url.as_str(), &e))
            .context("querying Prometheus")?
            .json()?;
        Ok(body["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_owned))
    }
}

/// A Prometheus over TLS on loopback scraping `scrape`; its throwaway CA is trusted for the rest
/// of this process.
pub fn start_prometheus(
    bin: &Path,
    scrape: launcher::Scrape<'_>,
    rules: &[PathBuf],
) -> Result<launcher::Loopback> {
    let ca = launcher::Ca::throwaway()?;
    let prometheus =
        launcher::prometheus(bin, &ca, scrape, rules).context("cannot start Prometheus")?;
    crate::http::trust_stand_in("Prometheus' throwaway CA", ca.cert_pem());
    Ok(prometheus)
}

/// The specs of `service` (by name, else all).
pub fn specs_for<'a>(specs: &'a [Spec], service: &ServiceDef) -> Vec<&'a Spec> {
    let own: Vec<&Spec> = specs.iter().filter(|s| s.service == service.bin).collect();
    if own.is_empty() {
        specs.iter().collect()
    } else {
        own
    }
}

/// Runs `profile` against a fresh instance of the service; `dir` gets goose's reports, the
/// service's log and Prometheus' data.
pub fn run(
    ctx: &RunCtx,
    service: &ServiceDef,
    load: &LoadDef,
    slo: &SloDef,
    build: &Build,
    profile: Profile,
    dir: &Path,
) -> Result<Outcome> {
    let all = crate::slo::load_dir(&ctx.root.join(&slo.dir))?;
    let specs = specs_for(&all, service);
    let binary = build.run(ctx, &service.package, &service.bin)?;
    let driver = Driver::prepare(ctx, load, build, &specs)?;
    std::fs::create_dir_all(dir)?;
    let svc = Running::start(ctx, service, &binary, build.migrations(), &load.env, dir)?;
    let promtool = ctx.tool_binary("prometheus")?;
    let rules: Vec<PathBuf> = vec![ctx.root.join(&slo.rules)];
    running::metrics_served(service, &svc.metrics)?;
    let job = specs
        .first()
        .map_or(service.bin.as_str(), |s| s.job.as_str());
    let scrape = launcher::Scrape {
        job,
        target: &svc.metrics,
        path: &service.metrics,
    };
    let prometheus = start_prometheus(&promtool.with_file_name("prometheus"), scrape, &rules)?;
    ctx.log(&format!(
        "prometheus at {} scraping {}{} as job {job}",
        prometheus.url(),
        svc.metrics,
        service.metrics
    ));
    let (client_exit, client) = drive(ctx, &driver, &svc, profile, dir)?;
    let queries = Prometheus::at(&prometheus.url())?;
    let server = settle(&queries, &specs, &Scope::Own, Duration::from_secs(20))?;
    if server.iter().any(|s| s.error_ratio.is_none()) {
        for probe in [
            format!(r#"up{{job="{job}"}}"#),
            format!(r#"count({}{{job="{job}"}})"#, slo.metrics.requests),
            format!(r#"count({}_count{{job="{job}"}})"#, slo.metrics.duration),
            "slo:sli_error:ratio_rate5m".to_owned(),
        ] {
            ctx.log(&format!(
                "no-data diagnosis: {probe} = {:?}",
                queries.query_raw(&probe)?
            ));
        }
    }
    let mut problems: Vec<String> = client.into_iter().collect();
    problems.extend(server_problems(&server));
    drop(svc);
    Ok(Outcome {
        profile,
        thresholds: driver.thresholds(),
        client_exit,
        server,
        reports: dir.display().to_string(),
        problems,
        binary_sha256: crate::engine::cache::sha256_file(&binary),
        binary: binary.display().to_string(),
    })
}

/// What drives a load run, prepared once.
#[derive(Debug)]
pub enum Driver {
    /// The goose binary and its thresholds from the SLO specs.
    Goose {
        perf: PathBuf,
        thresholds: Vec<String>,
    },
    /// gatehouse's own requests; the client side may fail as much as the strictest
    /// availability objective's budget.
    Requests { paths: Vec<String>, budget: f64 },
}

impl Driver {
    /// Builds the goose load test (see [`build_load_test`]) or reads the budget for gatehouse's
    /// own requests.
    pub fn prepare(ctx: &RunCtx, load: &LoadDef, build: &Build, specs: &[&Spec]) -> Result<Driver> {
        Ok(match load.driver() {
            LoadDriver::Goose { package, bin } => {
                let (perf, thresholds) = build_load_test(ctx, package, bin, build, specs)?;
                Driver::Goose { perf, thresholds }
            }
            LoadDriver::Requests(paths) => Driver::Requests {
                paths: paths.to_vec(),
                budget: strictest_availability_budget(specs),
            },
        })
    }

    /// The thresholds shown in reports.
    pub fn thresholds(&self) -> Vec<String> {
        match self {
            Driver::Goose { thresholds, .. } => thresholds.clone(),
            Driver::Requests { budget, .. } => vec![format!(
                "failed (5xx or no answer) <= {}%",
                crate::slo::rules::num(budget * 100.0)
            )],
        }
    }
}

/// A load in progress.
#[derive(Debug)]
pub enum LoadRun {
    Goose(launcher::Service),
    Requests {
        users: requests::Requests,
        budget: f64,
        counts: Option<requests::Counts>,
    },
}

impl LoadRun {
    /// The client side's exit once the load has ended by itself: goose's code, or for
    /// gatehouse's requests 0 within the budget and [`THRESHOLD_EXIT`] over it.
    pub fn try_wait(&mut self) -> Option<Option<i32>> {
        match self {
            LoadRun::Goose(goose) => goose.try_wait().map(|status| status.code()),
            LoadRun::Requests {
                users,
                budget,
                counts,
            } => {
                if counts.is_none() && !users.finished() {
                    return None;
                }
                let seen = *counts.get_or_insert_with(|| users.stop());
                Some(Some(requests_exit(seen.problem(*budget).as_ref())))
            }
        }
    }

    pub fn stop(&mut self) {
        match self {
            LoadRun::Goose(goose) => goose.stop(),
            LoadRun::Requests { users, counts, .. } => {
                let seen = users.stop();
                counts.get_or_insert(seen);
            }
        }
    }

    /// What the client side found wrong (see [`client_problem`]).
    pub fn problem(&self, exit: Option<i32>, reports: &Path) -> Option<String> {
        match self {
            LoadRun::Goose(_) => client_problem(exit, reports),
            LoadRun::Requests { budget, counts, .. } => counts.map_or_else(
                || Some("gatehouse's requests did not run to the end".to_owned()),
                |c| c.problem(*budget),
            ),
        }
    }
}

/// gatehouse's own load's exit code, as goose's: [`THRESHOLD_EXIT`] when the client side failed.
fn requests_exit(problem: Option<&String>) -> i32 {
    if problem.is_some() { THRESHOLD_EXIT } else { 0 }
}

/// The smallest availability budget of `specs` (a ratio); none: no failure is allowed.
fn strictest_availability_budget(specs: &[&Spec]) -> f64 {
    specs
        .iter()
        .flat_map(|s| &s.objectives)
        .filter(|o| o.sli == Sli::Availability)
        .map(crate::slo::Objective::budget)
        .fold(None, |min: Option<f64>, b| {
            Some(min.map_or(b, |m| m.min(b)))
        })
        .unwrap_or(0.0)
}

/// Builds the goose load test and derives its thresholds from `specs` and the requests it makes
/// (`<perf> requests`, which must succeed and list at least one).
pub fn build_load_test(
    ctx: &RunCtx,
    package: &str,
    bin: &str,
    build: &Build,
    specs: &[&Spec],
) -> Result<(PathBuf, Vec<String>)> {
    let perf = build.run(ctx, package, bin)?;
    let step = Step::new(&perf.display().to_string(), &["requests"]);
    let listed = ctx.exec(&step)?;
    if !listed.success() {
        bail!(
            "`{step}` failed ({}): the load test must list the requests it makes; {}",
            code(&listed),
            listed.stderr.trim()
        );
    }
    let requests: Vec<String> = listed
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if requests.is_empty() {
        bail!("`{step}` listed no request: the thresholds per request cannot be derived");
    }
    let thresholds = thresholds(specs, &requests)?;
    Ok((perf, thresholds))
}

/// The server side once every objective has a value, or after `limit`: scrapes and rule
/// evaluations run every second, and a short run may end before an evaluation saw two samples.
pub fn settle(
    prometheus: &Prometheus,
    specs: &[&Spec],
    scope: &Scope,
    limit: Duration,
) -> Result<Vec<ServerSide>> {
    let mut server = server_side(prometheus, specs, scope)?;
    let deadline = std::time::Instant::now() + limit;
    while server.iter().any(|s| s.error_ratio.is_none()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        server = server_side(prometheus, specs, scope)?;
    }
    Ok(server)
}

/// Which series a judgement reads.
#[derive(Clone, Debug)]
pub enum Scope {
    /// A Prometheus that scrapes only the instance under judgement (started for it): the
    /// generated rules' 5-minute ratios.
    Own,
    /// A Prometheus shared with other versions (a cluster's): only the series whose `label` is
    /// `version`, over the time since `since` (at least `floor`), so neither the previous
    /// version's requests nor older traffic dilute the new version's errors.
    Version {
        label: String,
        version: String,
        since: std::time::Instant,
        floor: Duration,
        metrics: crate::slo::MetricNames,
    },
}

impl Scope {
    /// The PromQL of objective `o`'s error ratio in this scope.
    pub fn promql(&self, spec: &Spec, o: &crate::slo::Objective) -> String {
        match self {
            Scope::Own => format!(
                r#"slo:sli_error:ratio_rate5m{{service="{}",slo="{}"}}"#,
                spec.service, o.name
            ),
            Scope::Version {
                label,
                version,
                since,
                floor,
                metrics,
            } => {
                let window = since.elapsed().max(*floor);
                let window = (window.as_secs() + u64::from(window.subsec_nanos() > 0)).max(1);
                let matcher = format!(r#"{label}="{}""#, version.replace('"', "\\\""));
                crate::slo::rules::sli_expr_where(
                    spec,
                    o,
                    &format!("{window}s"),
                    metrics,
                    Some(&matcher),
                )
            }
        }
    }
}

/// What goose's exit code says about the client side; `None` when its thresholds were met.
pub fn client_problem(exit: Option<i32>, reports: &Path) -> Option<String> {
    match exit {
        Some(0) => None,
        Some(THRESHOLD_EXIT) => Some(format!(
            "client side: a goose threshold failed ({})",
            failed_thresholds(reports)
        )),
        other => Some(format!(
            "the load test did not run to the end (exit {other:?}); see the log"
        )),
    }
}

/// Objectives over their budget.
pub fn over_budget(server: &[ServerSide]) -> Vec<String> {
    server
        .iter()
        .filter_map(|s| {
            let r = s.error_ratio?;
            (!s.passed).then(|| {
                format!(
                    "server side: slo `{}` error ratio {:.2}% is over its budget {}%",
                    s.slo,
                    r * 100.0,
                    crate::slo::rules::num(s.budget * 100.0)
                )
            })
        })
        .collect()
}

/// Objectives over budget, then objectives with no data: no data fails, never passes.
pub fn server_problems(server: &[ServerSide]) -> Vec<String> {
    let mut out = over_budget(server);
    out.extend(server.iter().filter(|s| s.error_ratio.is_none()).map(|s| {
        format!(
            "server side: no data for slo `{}` in Prometheus (was the service scraped? did any request match?)",
            s.slo
        )
    }));
    out
}

/// Runs the load to its end: its exit code and what the client side found wrong.
fn drive(
    ctx: &RunCtx,
    driver: &Driver,
    svc: &Running,
    profile: Profile,
    dir: &Path,
) -> Result<(Option<i32>, Option<String>)> {
    match driver {
        Driver::Goose { perf, thresholds } => {
            let exit = goose(ctx, perf, svc, profile, thresholds, dir)?;
            Ok((exit, client_problem(exit, dir)))
        }
        Driver::Requests { paths, budget } => {
            let run_for = humantime::parse_duration(profile.run_time)
                .with_context(|| format!("profile {}: run_time", profile.name))?;
            ctx.log(&format!(
                "gatehouse's own load: {} users GET {} for {}",
                profile.users,
                paths.join(" "),
                profile.run_time
            ));
            let counts =
                requests::Requests::start(&svc.base, paths, profile.users, run_for)?.wait();
            ctx.log(&format!(
                "gatehouse's own load: {} requests, {} failed",
                counts.requests, counts.failed
            ));
            let problem = counts.problem(*budget);
            Ok((Some(requests_exit(problem.as_ref())), problem))
        }
    }
}

/// Runs goose; its HTML, JSON and Markdown reports land in `dir` (`report.{html,json,md}`).
fn goose(
    ctx: &RunCtx,
    perf: &Path,
    svc: &Running,
    profile: Profile,
    thresholds: &[String],
    dir: &Path,
) -> Result<Option<i32>> {
    let mut step = goose_step(&perf.display().to_string(), &svc.base, profile, dir);
    for t in thresholds {
        step = step.args(["--threshold".to_owned(), t.clone()]);
    }
    let out = ctx.exec(&step.quiet_stdout())?;
    Ok(out.code)
}

/// goose against `base` with `profile`, its reports in `dir` (thresholds follow).
fn goose_step(perf: &str, base: &str, profile: Profile, dir: &Path) -> Step {
    let mut step = Step::new(perf, &["--host"]).args([
        base.to_owned(),
        "--users".to_owned(),
        profile.users.to_string(),
        "--increase-rate".to_owned(),
        profile.hatch_rate.to_string(),
        "--run-time".to_owned(),
        profile.run_time.to_owned(),
        // Logins happen while users start: keep them in the metrics and the reports.
        "--no-reset-metrics".to_owned(),
        // A failing threshold stops the run, but only after Prometheus has seen 10 s of it.
        "--threshold-abort-delay".to_owned(),
        "10s".to_owned(),
    ]);
    for ext in ["html", "json", "md"] {
        step = step.args([
            "--report-file".to_owned(),
            dir.join(format!("report.{ext}")).display().to_string(),
        ]);
    }
    step
}

/// The failed rules as goose's JSON report lists them.
fn failed_thresholds(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut failed = Vec::new();
    collect_failed(&json, &mut failed);
    if failed.is_empty() {
        "see report.md".to_owned()
    } else {
        failed.join("; ")
    }
}

fn collect_failed(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let (Some(rule), Some(false)) = (
                map.get("rule").and_then(|r| r.as_str()),
                map.get("passed").and_then(serde_json::Value::as_bool),
            ) {
                out.push(format!(
                    "{rule}: observed {}",
                    map.get("observed").and_then(|o| o.as_str()).unwrap_or("?")
                ));
            }
            map.values().for_each(|x| collect_failed(x, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|x| collect_failed(x, out)),
        _ => {}
    }
}

pub fn server_side(
    prometheus: &Prometheus,
    specs: &[&Spec],
    scope: &Scope,
) -> Result<Vec<ServerSide>> {
    let mut out = Vec::new();
    for spec in specs {
        for o in &spec.objectives {
            let ratio = prometheus.query(&scope.promql(spec, o))?;
            out.push(ServerSide {
                slo: o.name.clone(),
                error_ratio: ratio,
                budget: o.budget(),
                passed: ratio.is_some_and(|r| r <= o.budget()),
            });
        }
    }
    Ok(out)
}

/// One line for the gate table and the console.
pub fn summary(outcome: &Outcome) -> String {
    let server: Vec<String> = outcome
        .server
        .iter()
        .map(|s| match s.error_ratio {
            Some(r) => format!(
                "{} {}% (budget {}%)",
                s.slo,
                crate::slo::rules::num(r * 100.0),
                crate::slo::rules::num(s.budget * 100.0)
            ),
            None => format!("{} no data", s.slo),
        })
        .collect();
    format!(
        "{} profile: {} thresholds {}; server side: {}; reports in {}",
        outcome.profile.name,
        outcome.thresholds.len(),
        if outcome.client_exit == Some(0) {
            "met"
        } else {
            "not met"
        },
        server.join(", "),
        outcome.reports
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_come_from_the_budgets_and_the_matching_requests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(&path, "service: svc\njob: svc\nobjectives:\n  - name: a\n    description: d\n    sli: availability\n    target: 99.9\n  - name: l\n    description: d\n    sli: latency\n    target: 99\n    routes: /items|/items/\\{id\\}/complete\n    methods: GET|POST\n    threshold_ms: 250\n").unwrap();
        let spec = Spec::load(&path).unwrap();
        let requests =
            ["POST /login", "GET /items", "POST /items/{id}/complete"].map(str::to_owned);
        assert_eq!(
            thresholds(&[&spec], &requests).unwrap(),
            [
                "error-rate<0.1%",
                "p99<250ms for GET /items",
                "p99<250ms for POST /items/{id}/complete"
            ]
        );
    }

    #[test]
    fn unknown_profiles_list_the_known_ones() {
        let err = profile("nope").unwrap_err().to_string();
        assert!(err.contains("smoke, baseline, soak, stress"), "{err}");
    }
}
