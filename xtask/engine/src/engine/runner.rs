//! One run from start to finish: order, cache keys, schedule, reports, exit code.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};

use crate::engine::cache::{self, LocalStore, Snapshot};
use crate::engine::dag::Registry;
use crate::engine::gate::{self, Gate, Status};
use crate::engine::output::{self, Console};
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

/// Runs the request and returns the exit code; reports land in `target/xtask/runs/<id>/`.
pub fn run(
    settings: &Settings,
    registry: &Registry,
    toolbox: Arc<Toolbox>,
    request: &Request,
    cancel: &Cancel,
) -> Result<Exit> {
    let started = Instant::now();
    let started_at = SystemTime::now();
    let gates = registry.order(&request.gates)?;
    let keys = keys(&settings.root, &gates, &toolbox)?;
    let run_id = run_id(started_at);
    let run_dir = crate::layout::Layout::of(&settings.root)
        .runs()
        .join(&run_id);
    std::fs::create_dir_all(run_dir.join("gates"))
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let console = Console::new(settings.mode, run_dir.clone());
    let store = LocalStore::new(crate::layout::Layout::of(&settings.root).cache());
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
    let run = Run {
        root: settings.root.clone(),
        run_id: run_id.clone(),
        run_dir: run_dir.clone(),
        gates,
        keys,
        required,
        store: &store,
        toolbox,
        cancel: cancel.clone(),
        output: &console,
        options: Options {
            jobs: settings.jobs,
            keep_going: settings.keep_going,
            use_cache: settings.use_cache,
        },
    };
    let results = run.execute();
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
    report.write(&run_dir)?;
    link_latest(&settings.root, &report.run_id);
    publish(settings, &report)?;
    Ok(exit_code(&report))
}

fn keys(
    root: &Path,
    gates: &[Arc<dyn Gate>],
    toolbox: &Toolbox,
) -> Result<BTreeMap<String, String>> {
    let snapshot = Snapshot::scan(root)?;
    let used: BTreeSet<String> = gates
        .iter()
        .flat_map(|g| g.spec().inputs.tools.clone())
        .collect();
    let pins = toolbox.keyed(&used);
    gates
        .iter()
        .map(|g| {
            Ok((
                g.spec().name.clone(),
                cache::key(g.spec(), &gate::commands(g.as_ref()), &snapshot, &pins)?,
            ))
        })
        .collect()
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

/// `cargo xtask explain <gate>`: the gate's key now against the local store.
pub fn explain(root: &Path, gate: &dyn Gate, toolbox: &Toolbox) -> Result<Explanation> {
    let snapshot = Snapshot::scan(root)?;
    let now = cache::manifest(
        gate.spec(),
        &gate::commands(gate),
        &snapshot,
        &toolbox.keyed(&gate.spec().inputs.tools.iter().cloned().collect()),
    )?;
    let store = LocalStore::new(crate::layout::Layout::of(root).cache());
    let key = now.key();
    let stored = cache::Store::get(&store, &key);
    // A stored pass whose builds read a file that changed since (cargo's dep-info) is no hit.
    let stale = stored
        .as_ref()
        .and_then(|e| super::depinfo::changed(root, &e.read).map(str::to_owned));
    let (hit, last_pass) = match (stored, &stale) {
        (Some(entry), None) => (Some(entry), None),
        (Some(entry), Some(_)) => (None, Some(entry)),
        (None, _) => (None, cache::Store::latest(&store, &gate.spec().name)),
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
