//! `cargo xtask promote <env>`: resolve one digest from its release evidence, verify it, check
//! order, approval and pending migrations, then deploy through the environment's target, judge
//! it with the SLO specs and roll back by itself when the judgement fails.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::Serialize;

use super::env::{Approval, Environment, Target};
use super::evidence::{self, Check, Promotion, Release};
use super::judge::{Judge, Verdict};
use super::kubernetes::KubeTarget;
use super::local::{self, Local, LocalTarget};
use super::schema::{Kind, Migration};
use super::{DeployTarget, Endpoints, PromotionVerdict, Unpacked};
use crate::config::{LoadDef, ServiceDef, SloDef};
use crate::engine::gate::RunCtx;
use crate::exit::Failure;
use crate::timeline::{Event, Phase, Timeline};

/// What `promote` was asked.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub env: String,
    pub version: Option<String>,
    pub digest: Option<String>,
    pub evidence: Option<PathBuf>,
    pub registry_url: Option<String>,
    pub key: Option<PathBuf>,
    pub approve: bool,
    pub dry_run: bool,
    /// The local target's state directory (drills use a throw-away one).
    pub state: Option<PathBuf>,
    /// CAs trusted beside the platform's (the user's, a drill's registry).
    pub trust: crate::http::Trust,
}

/// The service's configuration a promotion needs.
#[derive(Debug)]
pub struct Service<'a> {
    pub service: &'a ServiceDef,
    pub load: &'a LoadDef,
    pub slo: &'a SloDef,
    /// The migrations directory in the repository (`[migrations] dir`): what a release at a
    /// commit has applied, for targets whose database xtask cannot read (kubernetes).
    pub migrations: Option<&'a str>,
    /// Where the image carries the migrations (`[release] migrations_path`, filled in).
    pub image_migrations: String,
    /// `[release]`: the load test is built as the release builds (one build for everything).
    pub release: Option<&'a crate::config::ReleaseDef>,
}

impl Service<'_> {
    /// How the load test is built (see [`crate::running::Build`]).
    pub fn build(&self, root: &std::path::Path) -> crate::running::Build {
        crate::running::Build::new(root, self.release)
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub environment: String,
    pub version: String,
    pub digest: String,
    pub dry_run: bool,
    pub verification: Vec<Check>,
    pub migrations: Vec<Migration>,
    pub pending: Vec<i64>,
    /// The commands the target runs (the helm command on kubernetes).
    pub plan: Vec<String>,
    pub judgement: Option<Verdict>,
    pub rollback: Option<Rollback>,
    pub verdict: PromotionVerdict,
    pub timeline: Vec<Event>,
    pub report: String,
    /// The GitHub deployment recording it, or why there is none.
    pub github: String,
}

impl Report {
    /// The judgement's problems, `; `-separated (empty without a failed judgement).
    fn problems(&self) -> String {
        self.judgement
            .as_ref()
            .map(|j| j.problems.join("; "))
            .unwrap_or_default()
    }
}

#[derive(Debug, Serialize)]
pub struct Rollback {
    pub to_version: String,
    pub to_digest: String,
    pub recovered: bool,
    pub detail: String,
}

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn refuse(why: String) -> anyhow::Error {
    Failure::Refused(why).into()
}

/// Pending migrations: shipped and not applied. A contract migration among them refuses.
pub fn pending(shipped: &[Migration], applied: Option<&[i64]>) -> Result<Vec<i64>> {
    let pending: Vec<&Migration> = shipped
        .iter()
        .filter(|m| applied.is_none_or(|a| !a.contains(&m.version)))
        .collect();
    for m in &pending {
        if let Kind::Contract {
            line,
            reason,
            statement,
        } = &m.kind
        {
            return Err(refuse(format!(
                "pending migration {}:{line} is not expand-only: `{statement}` {reason}; ship it in a later release, once no running version needs what it removes",
                m.file
            )));
        }
    }
    Ok(pending.iter().map(|m| m.version).collect())
}

/// Whether `target`'s code can run on a database with `applied`: every migration it does not
/// know must be a known expand migration (from `known`, the release that applied it).
pub fn rollback_check(applied: &[i64], target: &[Migration], known: &[Migration]) -> Result<()> {
    for version in applied
        .iter()
        .filter(|v| !target.iter().any(|m| m.version == **v))
    {
        match known.iter().find(|m| m.version == *version) {
            None => {
                return Err(refuse(format!(
                    "rollback refused: the database has migration {version}, which neither the target release nor the failed one ships; nothing says the target's code runs on it (see runbooks/rollback.md)"
                )));
            }
            Some(Migration {
                file,
                kind:
                    Kind::Contract {
                        line,
                        reason,
                        statement,
                    },
                ..
            }) => {
                return Err(refuse(format!(
                    "rollback refused: the live schema has {file}:{line}, `{statement}`, which {reason}: the target release's code cannot run on it; roll forward instead (see runbooks/rollback.md)"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Runs the promotion; `say` reports progress. Refusals are errors (exit 4); a failed
/// judgement is a report with verdict `rolled back` or `failed`.
/// Runs a promotion in phases: the refusals that need nothing (approval, order), verification
/// of the digest, unpacking what the target runs, then the target's own plan and deploy (with
/// the judgement and, on a failed one, the rollback), and the record. Every phase marks the
/// timeline.
pub fn run(ctx: &RunCtx, svc: &Service<'_>, opts: &Options, say: &dyn Fn(&str)) -> Result<Report> {
    let env = Environment::load(&ctx.root, &opts.env)?;
    let mut clock = Timeline::start();
    refuse_without_approval(&env, opts)?;
    let release = evidence::resolve(
        &ctx.root,
        opts.evidence.as_deref(),
        opts.version.as_deref(),
        opts.digest.as_deref(),
    )?;
    let github = crate::release::github::Target::from_env(None);
    refuse_out_of_order(&env, &release, github.as_ref())?;
    let (registry, verification) = verify(ctx, &env, &release, opts)?;
    clock.mark(
        Phase::Trusted,
        format!(
            "verified {} {}: signature, SBOM attestation, ci report",
            release.version, release.digest
        ),
        say,
    );
    let dir = opts
        .state
        .clone()
        .unwrap_or_else(|| local::state_dir(&ctx.root, &env.name));
    let unpacked = unpack(svc, &release, &registry, &dir)?;
    let shipped = super::schema::classify_dir(ctx, &unpacked.migrations)?;
    let mut report = Report::new(&env, &release, opts.dry_run, verification, &shipped);
    match &env.target {
        Target::Kubernetes(_) => {
            plan_on_kubernetes(
                ctx,
                svc,
                &env,
                &release,
                github.as_ref().ok(),
                &shipped,
                &mut report,
            )?;
            if !opts.dry_run {
                promote_on_kubernetes(
                    ctx,
                    svc,
                    &env,
                    &dir,
                    &release,
                    &mut report,
                    &mut clock,
                    say,
                )?;
            }
        }
        Target::Local { env: vars } => {
            let mut local = Local::open(ctx, &dir, vars, svc.service)?;
            report.pending = pending(&shipped, Some(&local.applied_migrations()?))?;
            report.plan = local_plan(svc.service, &unpacked);
            if !opts.dry_run {
                let judge =
                    Judge::prepare(ctx, svc.service, svc.load, svc.slo, &svc.build(&ctx.root))?;
                let judgements = dir.join("judgements");
                let previous = local.live();
                let mut target = LocalTarget {
                    local: &mut local,
                    release: &unpacked,
                    shipped: &shipped,
                    previous,
                };
                roll_out(
                    &mut target,
                    &|at| judge.judge(at, &env.analysis, &judgements.join(now().to_string())),
                    &|at| Judge::smoke(&at.base, &judge.smoke).map_err(|e| format!("{e:#}")),
                    &mut report,
                    &mut clock,
                    say,
                )?;
            }
        }
    }
    let started = clock.started;
    report.timeline = clock.into_events();
    if !opts.dry_run {
        report.github = record_on_github(github, &release, &report);
        write_report(&dir, &release, &mut report, started)?;
    }
    Ok(report)
}

impl Report {
    fn new(
        env: &Environment,
        release: &Release,
        dry_run: bool,
        verification: Vec<Check>,
        shipped: &[Migration],
    ) -> Report {
        Report {
            environment: env.name.clone(),
            version: release.version.clone(),
            digest: release.digest.clone(),
            dry_run,
            verification,
            migrations: shipped.to_vec(),
            pending: Vec::new(),
            plan: Vec::new(),
            judgement: None,
            rollback: None,
            verdict: PromotionVerdict::Planned,
            timeline: Vec::new(),
            report: String::new(),
            github: String::new(),
        }
    }
}

/// An environment that requires approval is refused without `--approve` (a dry run excepted).
fn refuse_without_approval(env: &Environment, opts: &Options) -> Result<()> {
    if env.approval == Approval::Required && !opts.approve && !opts.dry_run {
        return Err(refuse(format!(
            "{} requires an approval ({}: approval: required): pass --approve from a job bound to the protected GitHub environment",
            env.name,
            env.file.display()
        )));
    }
    Ok(())
}

/// A digest not promoted to the environment `after` (in the evidence or on GitHub) is refused.
fn refuse_out_of_order(
    env: &Environment,
    release: &Release,
    github: std::result::Result<&crate::release::github::Target, &String>,
) -> Result<()> {
    let Some(after) = &env.after else {
        return Ok(());
    };
    if release.promoted_to(after) || promoted_on_github(github.ok(), after, &release.digest)? {
        return Ok(());
    }
    Err(refuse(format!(
        "{} {} has not been promoted to {after} yet ({}: after: {after}; neither the evidence's promotions.json nor {}): promote it there first",
        release.version,
        release.digest,
        env.file.display(),
        github.map_or_else(
            |why| format!("GitHub deployments ({why})"),
            |t| format!("GitHub deployments of {}/{}", t.owner, t.repo)
        )
    )))
}

/// The digest's signature, SBOM attestation and ci report, checked with the environment's key.
fn verify(
    ctx: &RunCtx,
    env: &Environment,
    release: &Release,
    opts: &Options,
) -> Result<(crate::release::registry::Registry, Vec<Check>)> {
    let key = opts
        .key
        .clone()
        .or_else(|| env.verify_key.as_ref().map(|k| ctx.root.join(k)))
        .ok_or_else(|| {
            refuse(format!(
                "no key to verify signatures with: set verify_key in {} or pass --key cosign.pub",
                env.file.display()
            ))
        })?;
    let registry = evidence::registry_for(release, opts.registry_url.as_deref(), &opts.trust)?;
    let verification = evidence::verify(release, &registry, &key, env.require_ci)?;
    Ok((registry, verification))
}

/// The service's binary and migrations, extracted from the verified image.
fn unpack(
    svc: &Service<'_>,
    release: &Release,
    registry: &crate::release::registry::Registry,
    dir: &std::path::Path,
) -> Result<Unpacked> {
    let short: String = release
        .digest
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect();
    evidence::unpack(
        release,
        registry,
        &svc.service.bin,
        &svc.image_migrations,
        &dir.join("releases").join(&short),
    )
}

/// What is live on a kubernetes environment (from the ledgers), what is pending, and the
/// commands the promotion runs.
fn plan_on_kubernetes(
    ctx: &RunCtx,
    svc: &Service<'_>,
    env: &Environment,
    release: &Release,
    github: Option<&crate::release::github::Target>,
    shipped: &[Migration],
    report: &mut Report,
) -> Result<()> {
    let live = live_release(&ctx.root, github, &env.name)?;
    let applied = match (&live, svc.migrations) {
        (Some(live), Some(dir)) => Some(migrations_at(&ctx.root, &live.commit, dir)?),
        _ => None,
    };
    report.plan.push(match &live {
        Some(l) => format!(
            "live in {}: {} ({}) at commit {}, per {}: applied migrations {:?}",
            env.name,
            l.version,
            l.digest,
            l.commit,
            l.source,
            applied.as_deref().unwrap_or_default()
        ),
        None => format!(
            "live in {}: unknown (no successful promotion in the ledgers): every shipped migration counts as pending",
            env.name
        ),
    });
    report.pending = pending(shipped, applied.as_deref())?;
    report
        .plan
        .extend(super::kubernetes::plan(env, release, svc)?);
    Ok(())
}

/// The local target's commands, from the service contract.
fn local_plan(service: &ServiceDef, unpacked: &Unpacked) -> Vec<String> {
    let binary = unpacked.binary.display();
    let migrate = service.migrate.as_deref().map_or_else(
        || "(no [service] migrate: pending migrations are refused)".to_owned(),
        |args| {
            format!(
                "{binary} {} {}",
                args.join(" "),
                unpacked.migrations.display()
            )
        },
    );
    vec![
        migrate,
        format!(
            "{binary} {}  (then nginx reload onto it, old version drained)",
            service.args.join(" ")
        ),
    ]
}

/// One promotion on any target: migrate, deploy, judge; when the rollout or the judgement
/// fails, roll back (if there is a previous version) and smoke what serves again.
pub fn roll_out(
    target: &mut dyn DeployTarget,
    judge: &dyn Fn(&Endpoints) -> Result<Verdict>,
    smoke: &dyn Fn(&Endpoints) -> std::result::Result<(), String>,
    report: &mut Report,
    clock: &mut Timeline,
    say: &dyn Fn(&str),
) -> Result<()> {
    if !report.pending.is_empty() {
        target.migrate()?;
        clock.mark(
            Phase::Migrated,
            format!("applied expand migrations {:?}", report.pending),
            say,
        );
    }
    if deploy_and_judge(target, judge, report, clock, say)?.is_none() {
        report.verdict = PromotionVerdict::Promoted;
        return Ok(());
    }
    if !target.can_roll_back()? {
        clock.mark(Phase::NothingToRollBackTo, "nothing to roll back to", say);
        report.verdict = PromotionVerdict::Failed;
        return Ok(());
    }
    let (to_version, to_digest) = target.previous();
    let back = target.roll_back(say)?;
    if let Ok(deployed) = &back {
        clock.mark(Phase::RolledBack, deployed.note.clone(), say);
    }
    let recovered = back.and_then(|deployed| smoke(&deployed.at));
    let (phase, note) = match &recovered {
        Ok(()) => (
            Phase::Recovered,
            format!("recovered: {to_version} passes readiness and smoke"),
        ),
        Err(e) => (Phase::NotRecovered, format!("not recovered: {e}")),
    };
    clock.mark(phase, note, say);
    report.rollback = Some(Rollback {
        to_version,
        to_digest,
        recovered: recovered.is_ok(),
        detail: recovered
            .err()
            .unwrap_or_else(|| "readiness and smoke pass".to_owned()),
    });
    report.verdict = PromotionVerdict::RolledBack;
    Ok(())
}

/// `None` when the release rolled out and was judged healthy, else why not.
fn deploy_and_judge(
    target: &mut dyn DeployTarget,
    judge: &dyn Fn(&Endpoints) -> Result<Verdict>,
    report: &mut Report,
    clock: &mut Timeline,
    say: &dyn Fn(&str),
) -> Result<Option<String>> {
    let deployed = match target.deploy(say)? {
        Ok(deployed) => deployed,
        Err(why) => {
            clock.mark(Phase::RolloutFailed, format!("rollout failed: {why}"), say);
            return Ok(Some(why));
        }
    };
    clock.mark(Phase::Deployed, deployed.note.clone(), say);
    let verdict = judge(&deployed.at)?;
    let failed = (!verdict.passed).then(|| verdict.problems.join("; "));
    let (phase, note) = match &failed {
        None => (
            Phase::JudgedHealthy,
            format!("judged healthy after {} ms", verdict.elapsed_ms),
        ),
        Some(why) => (Phase::JudgedFailing, format!("judged failing: {why}")),
    };
    clock.mark(phase, note, say);
    report.judgement = Some(verdict);
    Ok(failed)
}

/// The release live in an environment: the newest successful promotion to it, from GitHub
/// deployments when there is a GitHub target, else from the local evidence ledgers.
pub fn live_release(
    root: &std::path::Path,
    github: Option<&crate::release::github::Target>,
    environment: &str,
) -> Result<Option<evidence::Live>> {
    match github {
        Some(t) => super::github::live(t, environment),
        None => Ok(evidence::live(root, environment)),
    }
}

/// The migration versions in the repository's `dir` at `commit` (what that release applied).
fn migrations_at(root: &std::path::Path, commit: &str, dir: &str) -> Result<Vec<i64>> {
    let listed = crate::git::output(root, &["ls-tree", "-r", "--name-only", commit, &format!("{dir}/")])
        .with_context(|| {
            format!("cannot list {dir} at the live release's commit {commit}: fetch the full history (actions/checkout fetch-depth: 0)")
        })?;
    let mut versions: Vec<i64> = listed
        .lines()
        .filter_map(|path| path.strip_prefix(dir)?.strip_prefix('/'))
        .filter_map(super::schema::up_version)
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

/// The order ledger on GitHub, when there is a GitHub target.
fn promoted_on_github(
    github: Option<&crate::release::github::Target>,
    environment: &str,
    digest: &str,
) -> Result<bool> {
    github.map_or(Ok(false), |t| {
        super::github::promoted(t, environment, digest)
    })
}

/// Records the promotion as a GitHub deployment and status; says what happened either way (a
/// GitHub outage does not undo a promotion that already happened).
fn record_on_github(
    github: std::result::Result<crate::release::github::Target, String>,
    release: &Release,
    report: &Report,
) -> String {
    let target = match github {
        Ok(t) => t,
        Err(why) => return format!("not recorded on GitHub: {why}"),
    };
    let problems = report.problems();
    let detail = if problems.is_empty() {
        report.verdict.to_string()
    } else {
        problems
    };
    let deployment = super::github::Deployment {
        environment: &report.environment,
        commit: release.evidence["commit"].as_str().unwrap_or_default(),
        version: &report.version,
        digest: &report.digest,
        verdict: report.verdict,
        description: &detail,
    };
    match super::github::record(&target, &deployment) {
        Ok(id) => format!(
            "GitHub deployment {id} of {}/{}: {}",
            target.owner,
            target.repo,
            report.verdict.github_state()
        ),
        Err(e) => format!("not recorded on GitHub: {e:#}"),
    }
}

/// Connects to the environment's cluster and rolls the release out there.
#[expect(
    clippy::too_many_arguments,
    reason = "one promotion's parts, passed once"
)]
fn promote_on_kubernetes(
    ctx: &RunCtx,
    svc: &Service<'_>,
    env: &Environment,
    dir: &std::path::Path,
    release: &Release,
    report: &mut Report,
    clock: &mut Timeline,
    say: &dyn Fn(&str),
) -> Result<()> {
    let judge = Judge::prepare(ctx, svc.service, svc.load, svc.slo, &svc.build(&ctx.root))?;
    let cluster = super::kubernetes::Cluster::connect(ctx, env, dir)?;
    clock.mark(
        Phase::Connected,
        "connected: DescribeCluster and an EKS token",
        say,
    );
    let at = Endpoints {
        base: env.analysis.url.clone().unwrap_or_default(),
        metrics: String::new(),
        prometheus: env
            .analysis
            .prometheus
            .clone()
            .zip(env.analysis.version_label.clone())
            .map(|(url, version_label)| super::Shared {
                url,
                version_label,
                version: super::chart::label_value(&release.version),
            }),
    };
    let judgements = dir.join("judgements");
    let mut target = KubeTarget {
        helm: &cluster,
        release,
        cause: change_cause(&report.environment, release),
        at,
    };
    roll_out(
        &mut target,
        &|at| judge.judge(at, &env.analysis, &judgements.join(now().to_string())),
        &|at| Judge::smoke(&at.base, &judge.smoke).map_err(|e| format!("{e:#}")),
        report,
        clock,
        say,
    )
}

/// What the Deployment records as the reason it changed.
fn change_cause(environment: &str, release: &Release) -> String {
    format!(
        "gatehouse promote {environment} {} {}",
        release.version, release.digest
    )
}

fn write_report(
    dir: &std::path::Path,
    release: &Release,
    report: &mut Report,
    started: u64,
) -> Result<()> {
    let reports = dir.join("promotions");
    std::fs::create_dir_all(&reports)?;
    let file = reports.join(format!("{}-{}.json", now(), release.version));
    report.report = file.display().to_string();
    std::fs::write(&file, serde_json::to_vec_pretty(report)?)?;
    let finished = now();
    release.record(&Promotion {
        environment: report.environment.clone(),
        version: report.version.clone(),
        digest: report.digest.clone(),
        started,
        finished,
        verdict: report.verdict,
        detail: report.problems(),
        report: report.report.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::HelmRelease;
    use crate::rollout::Outcome;

    fn m(version: i64, kind: Kind) -> Migration {
        Migration {
            version,
            file: format!("{version:04}_m.up.sql"),
            kind,
        }
    }

    fn contract() -> Kind {
        Kind::Contract {
            line: 2,
            reason: "drops a column".to_owned(),
            statement: "ALTER TABLE t DROP COLUMN c".to_owned(),
        }
    }

    #[test]
    fn pending_contract_migrations_refuse_and_applied_ones_do_not_count() {
        let shipped = [m(1, Kind::Expand), m(2, contract()), m(3, Kind::Expand)];
        let err = pending(&shipped, Some(&[1])).unwrap_err().to_string();
        assert!(
            err.contains("0002_m.up.sql:2") && err.contains("not expand-only"),
            "{err}"
        );
        assert_eq!(pending(&shipped, Some(&[1, 2])).unwrap(), [3]);
    }

    #[test]
    fn a_rollback_onto_an_expanded_schema_is_allowed_and_onto_a_contracted_one_refused() {
        let target = [m(1, Kind::Expand)];
        assert!(
            rollback_check(&[1, 2], &target, &[m(1, Kind::Expand), m(2, Kind::Expand)]).is_ok()
        );
        let err = rollback_check(&[1, 2], &target, &[m(2, contract())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("0002_m.up.sql:2") && err.contains("roll forward"),
            "{err}"
        );
        let err = rollback_check(&[1, 7], &target, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("migration 7"), "{err}");
    }

    /// A helm release whose watches answer in turn; it records what was called.
    struct FakeHelm {
        upgrade: std::result::Result<(), String>,
        watches: std::cell::RefCell<Vec<Outcome>>,
        revisions: usize,
        calls: std::cell::RefCell<Vec<&'static str>>,
    }

    impl HelmRelease for FakeHelm {
        fn upgrade(&self, _: &Release) -> Result<std::result::Result<(), String>> {
            self.calls.borrow_mut().push("upgrade");
            Ok(self.upgrade.clone())
        }
        fn revisions(&self) -> Result<usize> {
            self.calls.borrow_mut().push("revisions");
            Ok(self.revisions)
        }
        fn rollback(&self) -> Result<std::result::Result<(), String>> {
            self.calls.borrow_mut().push("rollback");
            Ok(Ok(()))
        }
        fn watch(&self, _: &dyn Fn(&str)) -> Result<Outcome> {
            self.calls.borrow_mut().push("watch");
            Ok(self.watches.borrow_mut().remove(0))
        }
        fn annotate(&self, cause: &str) -> Result<()> {
            assert_eq!(cause, "gatehouse promote staging 2.0.0 sha256:ab");
            self.calls.borrow_mut().push("annotate");
            Ok(())
        }
    }

    fn fake(watches: Vec<Outcome>, revisions: usize) -> FakeHelm {
        FakeHelm {
            upgrade: Ok(()),
            watches: std::cell::RefCell::new(watches),
            revisions,
            calls: std::cell::RefCell::default(),
        }
    }

    fn verdict(passed: bool) -> Verdict {
        Verdict {
            passed,
            problems: if passed {
                Vec::new()
            } else {
                vec!["tasks-availability over budget".to_owned()]
            },
            elapsed_ms: 1,
            server: Vec::new(),
            client_exit: None,
            reports: String::new(),
        }
    }

    /// Rolls `release` out through `helm` with a judgement of `healthy`; the report and calls.
    fn roll_out(helm: &FakeHelm, healthy: bool) -> (Report, Vec<&'static str>) {
        let release = Release {
            dir: PathBuf::new(),
            evidence: serde_json::Value::Null,
            version: "2.0.0".to_owned(),
            digest: "sha256:ab".to_owned(),
            name: "r/app".to_owned(),
        };
        let mut report = Report {
            environment: "staging".to_owned(),
            version: release.version.clone(),
            digest: release.digest.clone(),
            dry_run: false,
            verification: Vec::new(),
            migrations: Vec::new(),
            pending: Vec::new(),
            plan: Vec::new(),
            judgement: None,
            rollback: None,
            verdict: PromotionVerdict::Planned,
            timeline: Vec::new(),
            report: String::new(),
            github: String::new(),
        };
        let mut target = KubeTarget {
            helm,
            release: &release,
            cause: change_cause("staging", &release),
            at: Endpoints {
                base: "https://staging.example".to_owned(),
                metrics: String::new(),
                prometheus: None,
            },
        };
        super::roll_out(
            &mut target,
            &|_| Ok(verdict(healthy)),
            &|_| Ok(()),
            &mut report,
            &mut Timeline::start(),
            &|_| {},
        )
        .unwrap();
        let calls = helm.calls.borrow().clone();
        (report, calls)
    }

    #[test]
    fn a_healthy_rollout_is_judged_and_kept() {
        let helm = fake(vec![Outcome::Ready { replicas: 2 }], 2);
        let (report, calls) = roll_out(&helm, true);
        assert_eq!(report.verdict, PromotionVerdict::Promoted);
        assert_eq!(calls, ["upgrade", "annotate", "watch"]);
        assert!(report.judgement.is_some_and(|j| j.passed));
    }

    /// The calls of a rollout that failed and was rolled back.
    const ROLLED_BACK: [&str; 6] = [
        "upgrade",
        "annotate",
        "watch",
        "revisions",
        "rollback",
        "watch",
    ];

    #[test]
    fn a_crash_looping_rollout_is_rolled_back_and_watched_again() {
        let crash =
            Outcome::Failed("CrashLoopBackOff: pod app-1, container app (restarts 4)".to_owned());
        let helm = fake(vec![crash, Outcome::Ready { replicas: 2 }], 3);
        let (report, calls) = roll_out(&helm, true);
        assert_eq!(report.verdict, PromotionVerdict::RolledBack);
        assert_eq!(calls, ROLLED_BACK);
        assert!(
            report.judgement.is_none(),
            "a failed rollout is never judged"
        );
        assert!(report.rollback.is_some_and(|r| r.recovered));
    }

    #[test]
    fn a_failed_judgement_rolls_back_and_a_failed_rollback_is_not_recovered() {
        let helm = fake(
            vec![
                Outcome::Ready { replicas: 2 },
                Outcome::Failed("ProgressDeadlineExceeded: stuck".to_owned()),
            ],
            2,
        );
        let (report, calls) = roll_out(&helm, false);
        assert_eq!(report.verdict, PromotionVerdict::RolledBack);
        assert_eq!(calls, ROLLED_BACK);
        let rollback = report.rollback.unwrap();
        assert!(!rollback.recovered);
        assert_eq!(rollback.detail, "ProgressDeadlineExceeded: stuck");
    }

    #[test]
    fn a_first_install_that_fails_has_nothing_to_roll_back_to() {
        let mut helm = fake(vec![Outcome::Ready { replicas: 0 }], 1);
        helm.upgrade = Err("helm upgrade failed (exit 1): timed out".to_owned());
        let (report, calls) = roll_out(&helm, true);
        assert_eq!(report.verdict, PromotionVerdict::Failed);
        assert_eq!(calls, ["upgrade", "watch", "revisions"]);
        assert!(report.rollback.is_none());
    }
}
