//! One run from start to finish: order, cache keys, schedule, reports, exit code.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};

use crate::engine::cache::{self, Snapshot, Store};
use crate::engine::dag::Registry;
use crate::engine::gate::{self, Gate, Status};
use crate::engine::output::{self, Console, Output as _};
use crate::engine::report::{GateResult, Outcome, Report, SCHEMA};
use crate::engine::scheduler::{Options, Run};
use crate::exit::Exit;
use crate::process::Cancel;
use crate::settings::{Format, Settings};
use crate::tools::Toolbox;

/// What to run.
#[derive(Debug)]
pub struct Request {
    /// Pipeline name, or `gate` for an ad-hoc selection.
    pub label: String,
    pub gates: Vec<String>,
    /// Gates whose skip is tolerated under `CI=true`.
    pub optional: Vec<String>,
}

/// The caches a run uses: where passes are kept, and the bucket of the compile cache if any.
pub struct Caches<'a> {
    pub store: &'a dyn Store,
    pub compile: Option<crate::compile_cache::Target>,
}

impl std::fmt::Debug for Caches<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("compile", &self.compile)
            .finish_non_exhaustive()
    }
}

/// Runs the request and returns the exit code; reports land in `target/xtask/runs/<id>/`.
pub fn run(
    settings: &Settings,
    registry: &Registry,
    toolbox: Arc<Toolbox>,
    caches: &Caches<'_>,
    request: &Request,
    cancel: &Cancel,
) -> Result<Exit> {
    let started = Instant::now();
    let started_at = SystemTime::now();
    let gates = registry.order(&request.gates)?;
    let (keys, tools) = keys(&settings.root, &gates, &toolbox)?;
    let run_id = run_id(started_at);
    let run_dir = crate::layout::Layout::of(&settings.root)
        .runs()
        .join(&run_id);
    std::fs::create_dir_all(run_dir.join("gates"))
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let console = Console::new(settings.mode, run_dir.clone());
    let required: BTreeSet<String> = gates
        .iter()
        .map(|g| g.spec().name.clone())
        .filter(|n| !request.optional.contains(n))
        .collect();
    let used: BTreeSet<String> = gates
        .iter()
        .flat_map(|g| g.spec().inputs.tools.clone())
        .collect();
    let reporter = toolbox.clone();
    let builds_rust = gates.iter().any(|g| g.spec().inputs.rust);
    let compile = caches
        .compile
        .as_ref()
        .filter(|_| builds_rust)
        .and_then(|target| {
            start_compile_cache(settings, &toolbox, cancel, target, &run_dir, &console)
        });
    let run = Run {
        root: settings.root.clone(),
        run_id: run_id.clone(),
        run_dir: run_dir.clone(),
        gates,
        keys,
        tools,
        required,
        store: caches.store,
        toolbox,
        cancel: cancel.clone(),
        output: &console,
        options: Options {
            jobs: settings.jobs,
            keep_going: settings.keep_going,
            use_cache: settings.use_cache,
            build_env: compile
                .as_ref()
                .map(crate::compile_cache::CompileCache::env)
                .unwrap_or_default(),
        },
    };
    let results = run.execute();
    let compiled = compile.and_then(|c| match c.finish() {
        Ok(stats) => {
            console.note(&format!(
                "compile cache {}: {} hits, {} misses, {} not cacheable, {} errors",
                stats.location, stats.hits, stats.misses, stats.not_cacheable, stats.errors
            ));
            Some(stats)
        }
        Err(e) => {
            console.note(&format!("warning: compile cache: no statistics ({e:#})"));
            None
        }
    });
    let mut report = report(
        settings,
        request,
        run_id,
        started_at,
        started,
        results,
        cancel.is_cancelled(),
    );
    report.tools = reporter.reported_versions(&used);
    report.compile_cache = compiled;
    report.write(&run_dir)?;
    link_latest(&settings.root, &report.run_id);
    publish(settings, &report)?;
    Ok(exit_code(&report))
}

/// sccache against `target` for this run's cargo; a warning and plain compiles when it cannot
/// start (the tool or the bucket unavailable).
fn start_compile_cache(
    settings: &Settings,
    toolbox: &Arc<Toolbox>,
    cancel: &Cancel,
    target: &crate::compile_cache::Target,
    run_dir: &Path,
    console: &Console,
) -> Option<crate::compile_cache::CompileCache> {
    let started = gate::RunCtx::new(
        &settings.root,
        run_dir.join("sccache-start.log"),
        toolbox.clone(),
        cancel.clone(),
        std::time::Duration::from_secs(600),
    )
    .and_then(|ctx| crate::compile_cache::CompileCache::start(&ctx, target, run_dir));
    match started {
        Ok(cache) => {
            console.note(&format!(
                "compiling through sccache on {}",
                cache.location()
            ));
            Some(cache)
        }
        Err(e) => {
            console.note(&format!(
                "warning: compile cache not used ({e:#}); compiling locally"
            ));
            None
        }
    }
}

/// Each gate's cache key, and what the tools they use entered the keys as.
type Keys = (BTreeMap<String, String>, BTreeMap<String, String>);

fn keys(root: &Path, gates: &[Arc<dyn Gate>], toolbox: &Toolbox) -> Result<Keys> {
    let snapshot = Snapshot::scan(root)?;
    let used: BTreeSet<String> = gates
        .iter()
        .flat_map(|g| g.spec().inputs.tools.clone())
        .collect();
    let pins = toolbox.keyed(&used);
    let keys = gates
        .iter()
        .map(|g| {
            Ok((
                g.spec().name.clone(),
                cache::key(g.spec(), &gate::commands(g.as_ref()), &snapshot, &pins)?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok((keys, pins))
}

/// A run's id: its start time, then the process id.
pub fn run_id(at: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_millis(at).to_string();
    let compact: String = stamp
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{compact}-{}", std::process::id())
}

fn report(
    settings: &Settings,
    request: &Request,
    run_id: String,
    started_at: SystemTime,
    started: Instant,
    gates: Vec<GateResult>,
    interrupted: bool,
) -> Report {
    let required_skips: Vec<String> = if settings.ci {
        gates
            .iter()
            .filter(|g| g.required && g.status == Status::Skipped)
            .map(|g| g.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let outcome = outcome(&gates, &required_skips, interrupted);
    let (commit, dirty) = crate::git::state(&settings.root);
    let mut report = Report {
        commit,
        dirty,
        schema: SCHEMA.to_owned(),
        run_id,
        pipeline: request.label.clone(),
        started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        gates_duration_ms: gates.iter().map(|g| g.duration_ms).sum(),
        outcome,
        exit_code: 0,
        gates,
        required_skips,
        tools: BTreeMap::new(),
        compile_cache: None,
    };
    report.exit_code = exit_code(&report) as u8;
    report
}

/// A run's outcome: interrupted, else failed when a gate failed or a required gate was skipped
/// under `CI=true`, else passed.
pub fn outcome(gates: &[GateResult], required_skips: &[String], interrupted: bool) -> Outcome {
    let failed = gates.iter().any(|g| g.status == Status::Failed) || !required_skips.is_empty();
    match (interrupted, failed) {
        (true, _) => Outcome::Interrupted,
        (false, true) => Outcome::Failed,
        (false, false) => Outcome::Passed,
    }
}

/// 130 when interrupted, 3 when a gate lacked its tool, 1 on any other failure, else 0.
pub fn exit_code(report: &Report) -> Exit {
    match report.outcome {
        Outcome::Interrupted => Exit::Interrupted,
        Outcome::Passed => Exit::Ok,
        Outcome::Failed if report.gates.iter().any(|g| g.missing_tool) => Exit::MissingTool,
        Outcome::Failed => Exit::GateFailed,
    }
}

/// `target/xtask/runs/latest` points at the newest run.
pub fn link_latest(root: &Path, run_id: &str) {
    let link = crate::layout::Layout::of(root).runs().join("latest");
    let _ = std::fs::remove_file(&link);
    let _ = std::os::unix::fs::symlink(run_id, &link);
}

/// Final table on stderr, JSON on stdout when asked, summary into `$GITHUB_STEP_SUMMARY`.
pub fn publish(settings: &Settings, report: &Report) -> Result<()> {
    eprint!("{}", output::table(report));
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    if let Some(path) = &settings.step_summary {
        append(path, &report.markdown()).with_context(|| {
            format!("cannot append to $GITHUB_STEP_SUMMARY ({})", path.display())
        })?;
    }
    Ok(())
}

/// Appends `text` to a file (the step summary), creating it.
pub fn append(path: &PathBuf, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// Why a gate would, or would not, be taken from the cache now.
#[derive(Debug, serde::Serialize)]
pub struct Explanation {
    pub gate: String,
    pub key: String,
    /// The stored pass this key would reuse, if any.
    pub hit: Option<cache::Entry>,
    /// The newest pass stored for the gate under another key, if any.
    pub last_pass: Option<cache::Entry>,
    /// The inputs that differ from that pass (`added:`, `removed:`, `changed:`).
    pub changes: Vec<String>,
}

/// `cargo xtask explain <gate>`: the gate's key now against `store` (the local one first).
pub fn explain(
    root: &Path,
    gate: &dyn Gate,
    toolbox: &Toolbox,
    store: &dyn Store,
) -> Result<Explanation> {
    let snapshot = Snapshot::scan(root)?;
    let now = cache::manifest(
        gate.spec(),
        &gate::commands(gate),
        &snapshot,
        &toolbox.keyed(&gate.spec().inputs.tools.iter().cloned().collect()),
    )?;
    let key = now.key();
    let stored = store.get(&gate.spec().name, &key);
    // A stored pass whose builds read a file that changed since (cargo's dep-info) is no hit.
    let stale = stored
        .as_ref()
        .and_then(|e| super::depinfo::changed(root, &e.read).map(str::to_owned));
    let (hit, last_pass) = match (stored, &stale) {
        (Some(entry), None) => (Some(entry), None),
        (Some(entry), Some(_)) => (None, Some(entry)),
        (None, _) => (None, store.latest(&gate.spec().name)),
    };
    let mut changes = last_pass
        .as_ref()
        .map(|e| now.changes_since(&e.manifest))
        .unwrap_or_default();
    if let Some(file) = stale {
        changes.push(format!("changed: read by the build (dep-info) {file}"));
    }
    Ok(Explanation {
        gate: gate.spec().name.clone(),
        key,
        hit,
        last_pass,
        changes,
    })
}
