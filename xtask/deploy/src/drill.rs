//! `cargo xtask drill rollback`: on a throw-away copy of a local environment, release and promote
//! N (healthy), promote N2 (healthy) under steady load counting failed requests, then promote a
//! bad N+1 (fault injection baked into its image, plus an expand migration) and let the
//! promotion detect it and roll back to N2, which must then run on N+1's schema. Measures time
//! to detect and time to recover; the report is kept as evidence.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::PromotionVerdict;
use super::env::{Environment, Target};
use super::local::{self, Local};
use super::promote::{self, Report};
use crate::config::{LoadDriver, ReleaseDef, ServiceDef};
use crate::engine::gate::{RunCtx, Step};
use crate::exit::Failure;
use crate::load::LoadRun;
use crate::release::{Plan, publish};
use crate::timeline::Phase;

/// The fault the bad release carries.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    Errors,
    Latency,
}

impl Fault {
    pub fn key(self) -> &'static str {
        match self {
            Fault::Errors => "errors",
            Fault::Latency => "latency",
        }
    }

    /// The bad release's `NAME=value` settings: `[service.faults]`' hook for this fault, or a
    /// configuration error saying what the drill cannot rehearse and what to add.
    pub fn env(self, service: &ServiceDef) -> Result<Vec<String>> {
        let faults = service.faults.as_ref();
        let hook = match self {
            Fault::Errors => faults.and_then(|f| f.errors.as_ref()),
            Fault::Latency => faults.and_then(|f| f.latency.as_ref()),
        };
        let Some(hook) = hook else {
            return Err(Failure::Config(format!(
                "{}: service.faults.{key} is not set, so the drill cannot rehearse a release that {what}; add the setting that makes a build of the service do so, e.g. [service.faults] {key} = {{ MY_FAULT = \"…\" }}",
                crate::config::FILE,
                key = self.key(),
                what = match self {
                    Fault::Errors => "fails a share of its requests",
                    Fault::Latency => "answers slowly",
                },
            ))
            .into());
        };
        Ok(hook.iter().map(|(k, v)| format!("{k}={v}")).collect())
    }
}

/// Set in each drill release's image so that the healthy N and N2 are two digests.
const VARIANT_ENV: &str = "GATEHOUSE_DRILL_RELEASE";

#[derive(Debug, Serialize)]
pub struct DrillReport {
    pub environment: String,
    pub fault: Fault,
    pub releases: Vec<String>,
    pub first: PromotionVerdict,
    pub healthy: Healthy,
    pub bad: Report,
    /// From the bad version taking traffic to the failed verdict.
    pub time_to_detect_ms: Option<u64>,
    /// From the verdict to the previous version serving and passing readiness and smoke.
    pub time_to_recover_ms: Option<u64>,
    pub schema_ahead: SchemaAhead,
    pub verdict: DrillVerdict,
    pub problems: Vec<String>,
    pub report: String,
}

/// Whether the drill proved what it rehearses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DrillVerdict {
    Passed,
    Failed,
}

impl DrillVerdict {
    /// `cargo xtask drill rollback`'s exit code.
    pub fn exit(self) -> crate::exit::Exit {
        match self {
            DrillVerdict::Passed => crate::exit::Exit::Ok,
            DrillVerdict::Failed => crate::exit::Exit::Rejected,
        }
    }
}

impl std::fmt::Display for DrillVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DrillVerdict::Passed => "passed",
            DrillVerdict::Failed => "failed",
        })
    }
}

/// The healthy promotion under steady load.
#[derive(Debug, Serialize)]
pub struct Healthy {
    pub verdict: PromotionVerdict,
    /// Answers with status 5xx (or 499) in nginx's access log while the switch happened.
    pub failed_requests: usize,
    pub requests: usize,
    /// Why the steady load does not vouch for the switch, if it does not.
    pub load_problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SchemaAhead {
    pub migrations_beyond_live: Vec<i64>,
    pub live_version: String,
    pub readiness_and_smoke: bool,
}

#[derive(Debug)]
pub struct Options {
    pub env: String,
    pub fault: Fault,
}

/// Runs the drill; `say` reports progress. Its phases: the stage (a local environment of its
/// own, a registry and a signing key), three releases (N, a healthy N+1, a bad one carrying the
/// fault), their promotions (the healthy one under steady load), the schema the bad release
/// left, and the verdict.
pub fn run(
    ctx: &RunCtx,
    svc: &promote::Service<'_>,
    release: &ReleaseDef,
    opts: &Options,
    say: &dyn Fn(&str),
) -> Result<DrillReport> {
    let stage = Stage::set_up(ctx, svc.service, &opts.env)?;
    let ahead_dir = svc
        .service
        .faults
        .as_ref()
        .and_then(|f| f.schema_ahead.as_deref());
    let versions = stage.release(ctx, svc.service, release, opts.fault, ahead_dir, say)?;
    let first = promote::run(ctx, svc, &stage.promotion(&versions[0]), say)?;
    let healthy = healthy_under_load(
        ctx,
        svc,
        &stage.state,
        &stage.vars,
        &stage.promotion(&versions[1]),
        say,
    )?;
    let started = Instant::now();
    let bad = promote::run(ctx, svc, &stage.promotion(&versions[2]), say)?;
    say(&format!(
        "bad release handled in {} ms",
        started.elapsed().as_millis()
    ));
    let mut target = Local::open(ctx, &stage.state, &stage.vars, svc.service)?;
    let schema_ahead = schema_ahead(&mut target, &versions[1], &svc.service.smoke_paths())?;
    let problems = problems(
        first.verdict,
        &healthy,
        &bad,
        &schema_ahead,
        ahead_dir.is_some(),
    );
    let (detect, recover) = times(&bad);
    let mut report = DrillReport {
        environment: stage.name.clone(),
        fault: opts.fault,
        releases: versions,
        first: first.verdict,
        healthy,
        bad,
        time_to_detect_ms: detect,
        time_to_recover_ms: recover,
        schema_ahead,
        verdict: if problems.is_empty() {
            DrillVerdict::Passed
        } else {
            DrillVerdict::Failed
        },
        problems,
        report: String::new(),
    };
    target.down()?;
    write(&stage.dir, &mut report)?;
    Ok(report)
}

/// Where a drill runs: a local environment of its own (state under `target/xtask/drill`), a
/// throw-away registry on loopback behind a throw-away CA, and a signing key made for it.
struct Stage {
    name: String,
    vars: std::collections::BTreeMap<String, String>,
    dir: PathBuf,
    state: PathBuf,
    /// Kept alive for the drill's duration.
    registry: launcher::Loopback,
    trust: crate::http::Trust,
    key: PathBuf,
    public: PathBuf,
}

impl Stage {
    /// The stage for environment `env` (a local one), after taking down what a previous drill
    /// left.
    fn set_up(ctx: &RunCtx, service: &ServiceDef, env: &str) -> Result<Stage> {
        let env = Environment::load(&ctx.root, env)?;
        let Target::Local { env: vars } = &env.target else {
            bail!(
                "drills run on a local environment; {} is {}: use --env local",
                env.name,
                env.file.display()
            );
        };
        let dir = crate::layout::Layout::of(&ctx.root).drill();
        let state = dir.join("env");
        if local::recorded(&state).is_some() {
            Local::open(ctx, &state, vars, service)?.down()?;
        }
        std::fs::create_dir_all(&dir)?;
        let ca = launcher::Ca::throwaway()?;
        let registry = launcher::registry(&ctx.tool_binary("registry")?, &ca)?;
        let trust =
            crate::http::Trust::configured().with_pem("the drill's throwaway CA", ca.cert_pem());
        let keys = dir.join("key");
        if keys.exists() {
            std::fs::remove_dir_all(&keys)?;
        }
        let (key, public) = crate::release::sign::keygen(&keys, b"drill")?;
        Ok(Stage {
            name: env.name.clone(),
            vars: vars.clone(),
            dir,
            state,
            registry,
            trust,
            key,
            public,
        })
    }

    /// Releases N, N+1 and the bad one (carrying `fault` and the migrations of `ahead_dir`) to
    /// the stage's registry, signed with its key; their versions, in that order.
    fn release(
        &self,
        ctx: &RunCtx,
        service: &ServiceDef,
        release: &ReleaseDef,
        fault: Fault,
        ahead_dir: Option<&str>,
        say: &dyn Fn(&str),
    ) -> Result<Vec<String>> {
        let base = crate::release::plan_or_snapshot(&ctx.root)?;
        let publish_opts = publish::Options {
            dry_run: true,
            key: Some(self.key.clone()),
            registry_url: Some(self.registry.url()),
            key_password: Some("drill".to_owned()),
            trust: self.trust.clone(),
            ..Default::default()
        };
        let fault_env = fault.env(service)?;
        let ahead = merged_migrations(&ctx.root, release, ahead_dir, &self.dir.join("migrations"))?;
        let mut versions = Vec::new();
        for (plan, def) in variants(&base, release, fault_env, &ahead) {
            say(&format!(
                "releasing {} to the drill's registry",
                plan.version
            ));
            publish::run(ctx, service, &def, &plan, &publish_opts, &|l| ctx.log(l))?;
            versions.push(plan.version);
        }
        Ok(versions)
    }

    /// How the drill promotes `version`: from the stage's registry, verified with its key, on
    /// its own state.
    fn promotion(&self, version: &str) -> promote::Options {
        promote::Options {
            env: self.name.clone(),
            version: Some(version.to_owned()),
            registry_url: Some(self.registry.url()),
            key: Some(self.public.clone()),
            state: Some(self.state.clone()),
            trust: self.trust.clone(),
            ..Default::default()
        }
    }
}

/// What the drill's promotions failed to show: N promoted; the healthy one promoted with no
/// failed request under load; the bad one rolled back and recovered; the previous version
/// running on the schema the bad one left (with its expand migration applied, if it has one).
fn problems(
    first: PromotionVerdict,
    healthy: &Healthy,
    bad: &Report,
    schema_ahead: &SchemaAhead,
    expects_migration: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    if first != PromotionVerdict::Promoted {
        problems.push(format!("release N was not promoted: {first}"));
    }
    problems.extend(healthy.load_problem.clone());
    if healthy.verdict != PromotionVerdict::Promoted
        || healthy.failed_requests > 0
        || healthy.requests == 0
    {
        problems.push(format!(
            "healthy promotion: {} with {} failed of {} requests",
            healthy.verdict, healthy.failed_requests, healthy.requests
        ));
    }
    if bad.verdict != PromotionVerdict::RolledBack
        || !bad.rollback.as_ref().is_some_and(|r| r.recovered)
    {
        problems.push(format!(
            "the bad release was not rolled back and recovered: {}",
            bad.verdict
        ));
    }
    if expects_migration && schema_ahead.migrations_beyond_live.is_empty() {
        problems.push("the bad release's expand migration was not applied".to_owned());
    }
    if !schema_ahead.readiness_and_smoke {
        problems.push("the previous release does not run on the bad release's schema".to_owned());
    }
    problems
}

/// The drill's three releases of `base`: N, N+1 (healthy) and a bad one carrying `fault_env`
/// and the migrations in `ahead`.
fn variants(
    base: &Plan,
    release: &ReleaseDef,
    fault_env: Vec<String>,
    ahead: &Path,
) -> Vec<(Plan, ReleaseDef)> {
    [
        ("n", Vec::new(), None),
        ("n2", Vec::new(), None),
        ("bad", fault_env, Some(ahead)),
    ]
    .into_iter()
    .map(|(suffix, extra_env, migrations)| {
        let plan = Plan {
            version: format!("{}-drill.{suffix}", base.version),
            tag: format!("{}-drill.{suffix}", base.tag),
            snapshot: true,
            ..base.clone()
        };
        let mut def = release.clone();
        def.env.push(format!("{VARIANT_ENV}={suffix}"));
        def.env.extend(extra_env);
        if let Some(m) = migrations {
            def.migrations = Some(m.display().to_string());
        }
        (plan, def)
    })
    .collect()
}

/// What a drill runs, for `plan`: each release's build and image, the load test's build, then
/// the promotions on the local target; the fault only changes the bad release's image.
pub fn steps(root: &Path, svc: &promote::Service<'_>, release: &ReleaseDef) -> Vec<Step> {
    let Ok(base) = crate::release::plan_or_snapshot(root) else {
        return vec![Step::in_process(
            "the drill's releases (no release plan can be made here: see `cargo xtask release plan`)",
        )];
    };
    let mut steps = vec![Step::in_process(
        "a registry over TLS with a throwaway CA, and a signing key for the drill's releases",
    )];
    let ahead = crate::layout::Layout::of(root).drill().join("migrations");
    for (plan, def) in variants(&base, release, Vec::new(), &ahead) {
        steps.extend(crate::release::image_steps(root, svc.service, &def, &plan));
        steps.extend(publish::dry_run_steps(svc.service, &def));
    }
    steps.extend(crate::load::driver_steps(svc.load, &svc.build(root)));
    steps.extend(local::steps(svc.service));
    steps.push(super::schema::parse_step([
        "<every up migration of the release>".to_owned(),
    ]));
    steps.push(Step::in_process(
        "each promotion judged (smoke paths, goose in the background, Prometheus' error ratios): N promoted, N+1 under steady load with no failed request, the bad release detected and rolled back",
    ));
    steps
}

/// The service's migrations plus the drill's expand migrations (`[service.faults]
/// schema_ahead`, when set), in one directory.
fn merged_migrations(
    root: &Path,
    release: &ReleaseDef,
    ahead: Option<&str>,
    out: &Path,
) -> Result<PathBuf> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::create_dir_all(out)?;
    let own = release
        .migrations
        .as_ref()
        .context("release.migrations: drills need the service's migrations in the image")?;
    for dir in std::iter::once(root.join(own)).chain(ahead.map(|a| root.join(a))) {
        crate::migrations::copy(&dir, out)?;
    }
    Ok(out.to_path_buf())
}

/// Promotes `opts` while a steady load runs through nginx; counts what nginx answered 5xx.
fn healthy_under_load(
    ctx: &RunCtx,
    svc: &promote::Service<'_>,
    state: &Path,
    vars: &std::collections::BTreeMap<String, String>,
    opts: &promote::Options,
    say: &dyn Fn(&str),
) -> Result<Healthy> {
    let base = Local::open(ctx, state, vars, svc.service)?.base();
    let access = state.join("nginx/logs/access.log");
    let before = std::fs::read_to_string(&access)
        .unwrap_or_default()
        .lines()
        .count();
    let mut steady = steady_load(ctx, svc, &base, state)?;
    std::thread::sleep(std::time::Duration::from_secs(2));
    say("steady load running through nginx; promoting a healthy release under it");
    let report = promote::run(ctx, svc, opts, say);
    std::thread::sleep(std::time::Duration::from_secs(2));
    // Counted before the load stops: stopping it abandons requests (nginx logs 499).
    let lines: Vec<String> = std::fs::read_to_string(&access)
        .unwrap_or_default()
        .lines()
        .skip(before)
        .map(str::to_owned)
        .collect();
    // A load that ended before the switch proves nothing about it.
    let ended_early = steady
        .try_wait()
        .map(|exit| format!("the steady load ended during the promotion (exit {exit:?})"));
    steady.stop();
    let report = report?;
    let failed: Vec<&String> = lines.iter().filter(|l| failed_status(l)).collect();
    for line in &failed {
        ctx.log(&format!("failed during the healthy promotion: {line}"));
    }
    Ok(Healthy {
        verdict: report.verdict,
        failed_requests: failed.len(),
        requests: lines.len(),
        load_problem: ended_early,
    })
}

/// Two users through nginx for as long as the promotion takes: the goose load test, or
/// gatehouse's own requests.
fn steady_load(
    ctx: &RunCtx,
    svc: &promote::Service<'_>,
    base: &str,
    state: &Path,
) -> Result<LoadRun> {
    let long = std::time::Duration::from_secs(600);
    let bin = match svc.load.driver() {
        LoadDriver::Goose { bin, .. } => bin,
        LoadDriver::Requests(paths) => {
            return Ok(LoadRun::Requests {
                users: crate::load::requests::Requests::start(base, paths, 2, long)?,
                budget: 0.0,
                counts: None,
            });
        }
    };
    let perf = svc.build(&ctx.root).binary(&ctx.root, bin);
    let sh = xshell::Shell::new()?;
    let mut cmd: std::process::Command = xshell::cmd!(sh, "{perf}").into();
    cmd.args(["--host", base, "--users", "2", "--increase-rate", "2"])
        .args(["--run-time", "10m"]);
    launcher::Service::start("steady load", cmd, &state.join("steady-load.log")).map(LoadRun::Goose)
}

/// Whether an access-log line (combined format) has a 5xx or 499 status.
fn failed_status(line: &str) -> bool {
    let status = line
        .split('"')
        .nth(2)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse::<u16>().ok());
    status.is_some_and(|s| s >= 500 || s == 499)
}

fn schema_ahead(
    target: &mut Local<'_>,
    expected_live: &str,
    smoke: &[String],
) -> Result<SchemaAhead> {
    let live = target
        .live()
        .context("nothing is live after the rollback")?;
    let shipped = super::evidence::migration_versions(&live.migrations)?;
    let applied = target.applied_migrations()?;
    let beyond: Vec<i64> = applied
        .into_iter()
        .filter(|v| !shipped.contains(v))
        .collect();
    let healthy = super::judge::Judge::smoke(&target.base(), smoke).is_ok();
    Ok(SchemaAhead {
        migrations_beyond_live: beyond,
        live_version: live.version.clone(),
        readiness_and_smoke: healthy && live.version == expected_live,
    })
}

/// Time to detect (the judgement's duration) and to recover (verdict → recovered).
fn times(bad: &Report) -> (Option<u64>, Option<u64>) {
    let detect = bad
        .judgement
        .as_ref()
        .filter(|j| !j.passed)
        .map(|j| j.elapsed_ms);
    let at = |phase| crate::timeline::at(&bad.timeline, phase);
    let recover = match (at(Phase::JudgedFailing), at(Phase::Recovered)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    (detect, recover)
}

fn write(dir: &Path, report: &mut DrillReport) -> Result<()> {
    let file = dir.join("report.json");
    report.report = file.display().to_string();
    std::fs::write(&file, serde_json::to_vec_pretty(report)?)?;
    std::fs::write(dir.join("report.md"), markdown(report))?;
    Ok(())
}

/// The drill's report for people (and `$GITHUB_STEP_SUMMARY`).
pub fn markdown(r: &DrillReport) -> String {
    let ms = |v: Option<u64>| {
        v.map_or_else(|| "—".to_owned(), |v| format!("{:.1} s", v as f64 / 1000.0))
    };
    let mut out = format!(
        "# Rollback drill: {}\n\n| | |\n|---|---|\n| environment | {} |\n| fault | {:?} |\n| time to detect | {} |\n| time to recover | {} |\n| healthy promotion under load | {} ({} failed of {} requests) |\n| schema ahead | {} runs with migrations {:?} it does not ship: {} |\n\n## Bad release timeline\n\n| at | event |\n|---|---|\n",
        r.verdict,
        r.environment,
        r.fault,
        ms(r.time_to_detect_ms),
        ms(r.time_to_recover_ms),
        r.healthy.verdict,
        r.healthy.failed_requests,
        r.healthy.requests,
        r.schema_ahead.live_version,
        r.schema_ahead.migrations_beyond_live,
        if r.schema_ahead.readiness_and_smoke {
            "readiness and smoke pass"
        } else {
            "FAILS"
        },
    );
    for e in &r.bad.timeline {
        out.push_str(&format!(
            "| {:.1} s | {} |\n",
            e.at_ms as f64 / 1000.0,
            e.what.replace('|', "\\|")
        ));
    }
    for p in &r.problems {
        out.push_str(&format!("\n- problem: {p}"));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(faults: &str) -> ServiceDef {
        let text = format!(
            "[project]\nname = \"p\"\n[service]\npackage = \"s\"\nbin = \"s\"\nready = \"/r\"\n[service.env]\nP = \"{{port}}\"\n{faults}"
        );
        crate::config::Config::parse(&text, Path::new("gatehouse.toml"))
            .unwrap()
            .service
            .unwrap()
    }

    #[test]
    fn a_bad_release_carries_the_contracts_fault_hook_and_none_is_a_clear_refusal() {
        let hooked = service("[service.faults]\nerrors = { BREAK_RATE = \"0.5\" }\n");
        assert_eq!(Fault::Errors.env(&hooked).unwrap(), ["BREAK_RATE=0.5"]);
        let err = Fault::Latency.env(&hooked).unwrap_err();
        assert!(
            matches!(crate::exit::failure_of(&err), Some(Failure::Config(_))),
            "{err:#}"
        );
        let text = err.to_string();
        assert!(
            text.contains("service.faults.latency is not set") && text.contains("answers slowly"),
            "{text}"
        );
        assert!(Fault::Errors.env(&service("")).is_err());
    }

    #[test]
    fn access_log_statuses() {
        let line = |s: &str| {
            format!(
                "127.0.0.1 - - [21/Nov/2026:10:00:00 +0000] \"GET /items HTTP/1.1\" {s} 12 \"-\" \"goose\""
            )
        };
        assert!(failed_status(&line("502")));
        assert!(failed_status(&line("499")));
        assert!(!failed_status(&line("200")));
        assert!(!failed_status(&line("404")));
    }
}
