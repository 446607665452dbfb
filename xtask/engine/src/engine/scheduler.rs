//! Runs gates concurrently up to `--jobs`, honouring dependencies, resources and the cache.
//!
//! Synchronisation is one channel: each running gate has a thread that sends exactly one
//! message back; the scheduler thread alone owns all state. A failed gate stops its dependents
//! (and, without `--keep-going`, everything not yet started); Ctrl-C kills every running tool.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::engine::cache::{self, Entry, Snapshot, Store};
use crate::engine::gate::{Gate, RunCtx, Status, Verdict};
use crate::engine::output::Output;
use crate::engine::report::GateResult;
use crate::exit::Failure;
use crate::process::Cancel;
use crate::tools::Toolbox;

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub jobs: usize,
    pub keep_going: bool,
    pub use_cache: bool,
}

/// Everything one run shares.
pub struct Run<'a> {
    pub root: PathBuf,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub gates: Vec<Arc<dyn Gate>>,
    /// Cache key per gate name.
    pub keys: BTreeMap<String, String>,
    pub required: BTreeSet<String>,
    pub store: &'a dyn Store,
    pub toolbox: Arc<Toolbox>,
    pub cancel: Cancel,
    pub output: &'a dyn Output,
    pub options: Options,
}

impl std::fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("run_id", &self.run_id)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

enum State {
    /// Dependencies not settled yet.
    Pending,
    /// Dependencies passed and the cache missed: waiting for a job slot or a resource.
    Ready,
    Running,
    Done(Status),
}

type Message = (String, Result<Verdict>, Duration, bool);

impl Run<'_> {
    /// Runs every gate and returns one result per gate, in plan order.
    pub fn execute(&self) -> Vec<GateResult> {
        let mut state: BTreeMap<String, State> = self
            .gates
            .iter()
            .map(|g| (g.spec().name.clone(), State::Pending))
            .collect();
        let mut results: BTreeMap<String, GateResult> = BTreeMap::new();
        let mut held: BTreeSet<String> = BTreeSet::new();
        let mut stop: Option<String> = None;
        let (tx, rx) = mpsc::channel::<Message>();
        loop {
            if self.cancel.is_cancelled() && stop.is_none() {
                stop = Some("interrupted".to_owned());
            }
            self.schedule(&mut state, &mut results, &mut held, stop.as_deref(), &tx);
            if !state.values().any(|s| matches!(s, State::Running)) {
                break;
            }
            let Ok((name, verdict, elapsed, interrupted)) =
                rx.recv_timeout(Duration::from_millis(50))
            else {
                continue;
            };
            let result = self.finish(&name, verdict, elapsed, interrupted);
            for r in &self.gate(&name).spec().resources {
                held.remove(r);
            }
            if result.status == Status::Failed && stop.is_none() && !self.options.keep_going {
                stop = Some(format!("`{name}` failed"));
            }
            state.insert(name.clone(), State::Done(result.status));
            results.insert(name, result);
        }
        self.gates
            .iter()
            .filter_map(|g| results.remove(&g.spec().name))
            .collect()
    }

    fn gate(&self, name: &str) -> &Arc<dyn Gate> {
        self.gates
            .iter()
            .find(|g| g.spec().name == name)
            .expect("scheduled gates come from the plan")
    }

    /// Starts or settles every pending gate that can be decided now.
    fn schedule(
        &self,
        state: &mut BTreeMap<String, State>,
        results: &mut BTreeMap<String, GateResult>,
        held: &mut BTreeSet<String>,
        stop: Option<&str>,
        tx: &mpsc::Sender<Message>,
    ) {
        let mut running = state
            .values()
            .filter(|s| matches!(s, State::Running))
            .count();
        for gate in &self.gates {
            let spec = gate.spec();
            let result = match (state.get(&spec.name), stop) {
                (Some(State::Pending), _) => {
                    match self.readiness(spec.deps.as_slice(), state, stop) {
                        Readiness::Waiting => continue,
                        Readiness::Blocked(reason) => Some(self.not_run(&spec.name, reason)),
                        // The cache is consulted once; a miss waits as `Ready`.
                        Readiness::Ready => self.cached(&spec.name),
                    }
                }
                (Some(State::Ready), Some(why)) => Some(self.not_run(&spec.name, stopped(why))),
                (Some(State::Ready), None) => None,
                _ => continue,
            };
            if let Some(result) = result {
                state.insert(spec.name.clone(), State::Done(result.status));
                results.insert(spec.name.clone(), result);
                continue;
            }
            if running >= self.options.jobs.max(1)
                || spec.resources.iter().any(|r| held.contains(r))
            {
                state.insert(spec.name.clone(), State::Ready);
                continue;
            }
            held.extend(spec.resources.iter().cloned());
            state.insert(spec.name.clone(), State::Running);
            running += 1;
            self.spawn(gate.clone(), tx.clone());
        }
    }

    fn readiness(
        &self,
        deps: &[String],
        state: &BTreeMap<String, State>,
        stop: Option<&str>,
    ) -> Readiness {
        let mut waiting = false;
        for dep in deps {
            match state.get(dep) {
                Some(State::Done(s)) if s.ok() => {}
                Some(State::Done(Status::Skipped)) => {
                    return Readiness::Blocked(format!("not run: dependency `{dep}` was skipped"));
                }
                Some(State::Done(_)) => {
                    return Readiness::Blocked(format!("not run: dependency `{dep}` failed"));
                }
                _ => waiting = true,
            }
        }
        match (stop, waiting) {
            (Some(why), _) => Readiness::Blocked(stopped(why)),
            (None, true) => Readiness::Waiting,
            (None, false) => Readiness::Ready,
        }
    }

    fn not_run(&self, name: &str, reason: String) -> GateResult {
        let _ = std::fs::write(self.log_path(name), format!("{reason}\n"));
        let result = self.result(name, Verdict::skipped(reason), Duration::ZERO);
        self.output.finished(&result);
        result
    }

    fn cached(&self, name: &str) -> Option<GateResult> {
        if !self.options.use_cache {
            return None;
        }
        let entry = self.store.get(self.keys.get(name)?)?;
        let log = self.log_path(name);
        let note = format!(
            "cached: passed at {} in run {} ({} ms); key {}\n",
            entry.passed_at, entry.run_id, entry.duration_ms, entry.key
        );
        let _ = std::fs::write(&log, note);
        let mut verdict = Verdict::passed(entry.summary);
        verdict.status = Status::Cached;
        let result = self.result(name, verdict, Duration::ZERO);
        self.output.finished(&result);
        Some(result)
    }

    fn spawn(&self, gate: Arc<dyn Gate>, tx: mpsc::Sender<Message>) {
        let spec = gate.spec().clone();
        self.output.started(&spec.name);
        let ctx = RunCtx::new(
            &self.root,
            self.log_path(&spec.name),
            self.toolbox.clone(),
            self.cancel.clone(),
            spec.timeout,
        )
        .map(|ctx| ctx.with_tools(&spec.inputs.tools));
        let cancel = self.cancel.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let verdict = ctx.and_then(|ctx| {
                let verdict = gate.run(&ctx);
                if let Err(e) = &verdict {
                    ctx.log(&format!("error: {e:#}"));
                }
                verdict
            });
            let _ = tx.send((spec.name, verdict, start.elapsed(), cancel.is_cancelled()));
        });
    }

    fn finish(
        &self,
        name: &str,
        verdict: Result<Verdict>,
        elapsed: Duration,
        interrupted: bool,
    ) -> GateResult {
        let (verdict, missing) = match verdict {
            Ok(v) => (v, false),
            Err(e) => self.error_verdict(name, &e, interrupted),
        };
        if verdict.status == Status::Passed && self.options.use_cache {
            self.remember(name, &verdict, elapsed);
        }
        let mut result = self.result(name, verdict, elapsed);
        result.missing_tool = missing;
        self.output.finished(&result);
        result
    }

    fn error_verdict(&self, name: &str, e: &anyhow::Error, interrupted: bool) -> (Verdict, bool) {
        let failure = crate::exit::failure_of(e);
        let timeout = self.gate(name).spec().timeout;
        let reason = match failure {
            Some(Failure::Interrupted) => {
                "interrupted: every process of the gate was killed".to_owned()
            }
            Some(Failure::TimedOut) => format!(
                "timed out after {}s; raise its timeout or find the hang in the log",
                timeout.as_secs()
            ),
            _ if interrupted => "interrupted".to_owned(),
            _ => format!("{e:#}"),
        };
        (
            Verdict::failed(reason),
            matches!(failure, Some(Failure::MissingTool(_))),
        )
    }

    /// Stores a pass under the key computed before it ran, once its inputs are read again and
    /// found unchanged: a file edited during the run never earns a pass it was not run on.
    fn remember(&self, name: &str, verdict: &Verdict, elapsed: Duration) {
        let Some(key) = self.keys.get(name) else {
            return;
        };
        let Some(gate) = self.gates.iter().find(|g| g.spec().name == name) else {
            return;
        };
        let now = Snapshot::scan(&self.root).and_then(|snapshot| {
            cache::manifest(
                gate.spec(),
                &super::gate::commands(gate.as_ref()),
                &snapshot,
                &self.toolbox.pins(),
            )
        });
        let manifest = match now {
            Ok(m) if m.key() == *key => m,
            Ok(_) => {
                self.output.note(&format!(
                    "`{name}`: its inputs changed while it ran; the pass is not cached"
                ));
                return;
            }
            Err(e) => {
                self.output.note(&format!(
                    "warning: `{name}`: cannot read its inputs again ({e:#}); the pass is not cached"
                ));
                return;
            }
        };
        let entry = Entry {
            gate: name.to_owned(),
            key: key.clone(),
            passed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            summary: verdict.summary.clone(),
            run_id: self.run_id.clone(),
            manifest,
        };
        if let Err(e) = self.store.put(&entry) {
            self.output.note(&format!(
                "warning: cannot store cache entry for `{name}`: {e:#}"
            ));
        }
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.run_dir.join("gates").join(format!("{name}.log"))
    }

    fn result(&self, name: &str, verdict: Verdict, elapsed: Duration) -> GateResult {
        let gate = self.gate(name);
        GateResult {
            name: name.to_owned(),
            description: gate.spec().description.clone(),
            status: verdict.status,
            required: self.required.contains(name),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            log: PathBuf::from("gates").join(format!("{name}.log")),
            reason: verdict.reason,
            summary: verdict.summary,
            diagnostics: verdict.diagnostics,
            cache_key: self.keys.get(name).cloned(),
            missing_tool: false,
        }
    }
}

enum Readiness {
    Ready,
    Waiting,
    Blocked(String),
}

/// Why a gate did not start once the run is stopping.
fn stopped(why: &str) -> String {
    format!("not run: {why} (use --keep-going to run independent gates)")
}
