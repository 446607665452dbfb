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
    /// Environment for every `cargo` a gate runs (the compile cache's wrapper).
    pub build_env: Vec<(String, String)>,
}

/// Everything one run shares.
pub struct Run<'a> {
    pub root: PathBuf,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub gates: Vec<Arc<dyn Gate>>,
    /// Cache key per gate name.
    pub keys: BTreeMap<String, String>,
    /// What each tool the gates use entered those keys as ([`Toolbox::keyed`]: its pin, and the
    /// version it reported if it was found).
    pub tools: BTreeMap<String, String>,
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

/// A gate that ran a command its plan does not show has not earned its verdict: `plan` (and the
/// cache key, made from the plan) would describe another gate. `planned` is the plan as it stood
/// when the gate started (a file edited while it runs may change what the plan would say now).
fn held_to_plan(
    verdict: Verdict,
    planned: &[super::gate::Step],
    gate: &str,
    ctx: &RunCtx,
) -> Verdict {
    let unplanned = super::planned::unplanned(planned, &ctx.ran(), &ctx.root);
    if unplanned.is_empty() || verdict.status == Status::Failed {
        return verdict;
    }
    for command in &unplanned {
        ctx.log(&format!("not in the plan: {command}"));
    }
    let more = match unplanned.len() {
        1 => String::new(),
        n => format!(" and {} more command(s) (see the log)", n - 1),
    };
    Verdict::failed(format!(
        "ran `{}`{more}, which `cargo xtask plan` does not show for `{}`: the gate's plan is wrong (a gatehouse bug; please report it)",
        unplanned[0], gate
    ))
}

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
        let entry = self.store.get(name, self.keys.get(name)?);
        self.store_notes();
        let entry = entry?;
        if let Some(file) = super::depinfo::changed(&self.root, &entry.read) {
            self.output.note(&format!(
                "`{name}`: {file}, which its build read (cargo's dep-info), changed since its pass; running it"
            ));
            return None;
        }
        let log = self.log_path(name);
        let note = format!(
            "cached: passed at {} in run {} ({} ms); key {}\n",
            entry.passed_at, entry.run_id, entry.duration_ms, entry.key
        );
        let _ = std::fs::write(&log, note);
        let mut verdict = Verdict::passed(entry.summary).judged(entry.binary_sha256);
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
        .map(|ctx| {
            ctx.with_tools(&spec.inputs.tools)
                .with_build_env(&self.options.build_env)
        });
        let cancel = self.cancel.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let verdict = ctx.and_then(|ctx| {
                let planned = gate.steps();
                let verdict = gate
                    .run(&ctx)
                    .map(|v| held_to_plan(v, &planned, &spec.name, &ctx));
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
    /// found unchanged: a file edited during the run never earns a pass it was not run on. A
    /// tool the gate installed for itself (missing before, at its pin now) is no such change:
    /// the pass is stored under the key with the version the tool reports, the key the next run
    /// computes (else a fresh machine's first pass would never be kept).
    fn remember(&self, name: &str, verdict: &Verdict, elapsed: Duration) {
        let Some(key) = self.keys.get(name) else {
            return;
        };
        let gate = self.gate(name).clone();
        let spec = gate.spec();
        let commands = super::gate::commands(gate.as_ref());
        let now = Snapshot::scan(&self.root).and_then(|snapshot| {
            let tools = self
                .toolbox
                .keyed(&spec.inputs.tools.iter().cloned().collect());
            let manifest = cache::manifest(spec, &commands, &snapshot, &tools)?;
            let unchanged = manifest.key() == *key
                || (self.toolbox.only_installed(&self.tools, &tools)
                    && cache::key(spec, &commands, &snapshot, &self.tools)? == *key);
            let read = if spec.inputs.rust && unchanged {
                self.read_by_builds(spec, &snapshot)?
            } else {
                Vec::new()
            };
            Ok((manifest, read, unchanged))
        });
        let (manifest, read) = match now {
            Ok((m, read, true)) => (m, read),
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
            key: manifest.key(),
            passed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            summary: verdict.summary.clone(),
            run_id: self.run_id.clone(),
            binary_sha256: verdict.binary_sha256.clone(),
            read,
            manifest,
        };
        if let Err(e) = self.store.put(&entry) {
            self.output.note(&format!(
                "warning: cannot store cache entry for `{name}`: {e:#}"
            ));
        }
        self.store_notes();
    }

    /// What the store said (a pass from the shared cache, an entry it ignored and why).
    fn store_notes(&self) {
        for line in self.store.notes() {
            self.output.note(&line);
        }
    }

    /// What cargo's dep-info says the builds read beyond `spec`'s globs, hashed now.
    fn read_by_builds(
        &self,
        spec: &crate::engine::gate::GateSpec,
        snapshot: &Snapshot,
    ) -> Result<Vec<(String, String)>> {
        let covered: BTreeSet<&str> = snapshot.matching(&spec.inputs.globs)?.into_iter().collect();
        let target = crate::layout::cargo_target_dir(&self.root);
        Ok(super::depinfo::files(&self.root, &target)
            .into_iter()
            .filter(|f| !covered.contains(f.as_str()))
            .filter_map(|f| super::depinfo::hash(&self.root, &f).map(|h| (f, h)))
            .collect())
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
            binary_sha256: verdict.binary_sha256,
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

/// The scheduler's own threads and channel, without a process or a tool: these run under
/// ThreadSanitizer in the `race` gate (filter `engine::`).
#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};

    use super::*;
    use crate::engine::cache::LocalStore;
    use crate::engine::gate::{GateSpec, Inputs, Step};

    /// How many probe gates run at this moment, and the most that ever did.
    #[derive(Default)]
    struct Overlap {
        running: Mutex<(usize, usize)>,
        changed: Condvar,
    }

    impl Overlap {
        fn enter(&self) {
            let mut r = self.running.lock().unwrap();
            r.0 += 1;
            r.1 = r.1.max(r.0);
            self.changed.notify_all();
        }

        fn leave(&self) {
            self.running.lock().unwrap().0 -= 1;
            self.changed.notify_all();
        }

        /// Waits until `n` gates run at once; false after `limit`.
        fn together(&self, n: usize, limit: Duration) -> bool {
            let r = self.running.lock().unwrap();
            let (r, _) = self
                .changed
                .wait_timeout_while(r, limit, |r| r.1 < n)
                .unwrap();
            r.1 >= n
        }

        fn most(&self) -> usize {
            self.running.lock().unwrap().1
        }
    }

    enum Does {
        Pass,
        Fail,
        /// Passes once `n` probe gates ran at once, fails after the limit.
        Meet(usize, Duration),
        /// Runs `true planted` and passes; its plan shows that command when `planned`.
        Exec {
            planned: bool,
        },
        /// Runs `true planted`, which its plan shows until it starts (as a plan read from files
        /// edited while the gate runs would change).
        ExecThenReplan,
        /// Writes the executable of [`install_fake_tool`] (a gate that installs its tool), edits
        /// `input.txt` too when `edits`, and passes.
        Install {
            edits: bool,
        },
    }

    fn planted() -> Step {
        Step::new("true", &["planted"])
    }

    struct Probe {
        spec: GateSpec,
        does: Does,
        overlap: Arc<Overlap>,
        runs: AtomicUsize,
    }

    impl Gate for Probe {
        fn spec(&self) -> &GateSpec {
            &self.spec
        }

        fn steps(&self) -> Vec<Step> {
            match self.does {
                Does::Exec { planned: true } => vec![planted()],
                Does::ExecThenReplan if self.runs.load(Ordering::SeqCst) == 0 => vec![planted()],
                _ => Vec::new(),
            }
        }

        fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            self.overlap.enter();
            let verdict = match self.does {
                Does::Pass => Verdict::passed(None),
                Does::Fail => Verdict::failed("planted"),
                Does::Meet(n, limit) if self.overlap.together(n, limit) => Verdict::passed(None),
                Does::Meet(n, _) => Verdict::failed(format!("never {n} at once")),
                Does::Exec { .. } | Does::ExecThenReplan if ctx.exec(&planted())?.success() => {
                    Verdict::passed(None)
                }
                Does::Exec { .. } | Does::ExecThenReplan => Verdict::failed("`true` failed"),
                Does::Install { edits } => {
                    install_fake_tool(&ctx.root);
                    if edits {
                        std::fs::write(ctx.root.join("input.txt"), "edited").unwrap();
                    }
                    Verdict::passed(None)
                }
            };
            self.overlap.leave();
            Ok(verdict)
        }
    }

    fn probe(
        name: &str,
        deps: &[&str],
        resources: &[&str],
        does: Does,
        o: &Arc<Overlap>,
    ) -> Arc<Probe> {
        Arc::new(Probe {
            spec: GateSpec {
                name: name.to_owned(),
                description: String::new(),
                version: 1,
                deps: deps.iter().map(|d| (*d).to_owned()).collect(),
                inputs: Inputs {
                    globs: vec!["input.txt".to_owned()],
                    ..Inputs::default()
                },
                resources: resources.iter().map(|r| (*r).to_owned()).collect(),
                timeout: Duration::from_secs(60),
            },
            does,
            overlap: o.clone(),
            runs: AtomicUsize::new(0),
        })
    }

    struct Quiet;

    impl Output for Quiet {
        fn started(&self, _: &str) {}
        fn finished(&self, _: &GateResult) {}
        fn note(&self, _: &str) {}
    }

    /// The executable of the tool `fake` (pinned at 1.0 in [`fake_toolbox`]), under `root`.
    fn install_fake_tool(root: &std::path::Path) {
        use std::os::unix::fs::PermissionsExt;
        let dir = root.join("tools/1.0/bin");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gatehouse-fake-tool");
        let staged = dir.join(".staged");
        std::fs::write(&staged, "#!/bin/sh\necho 'fake 1.0'\n").unwrap();
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(staged, path).unwrap();
    }

    /// A toolbox (as a new process makes it) whose one tool `fake` lives under `root/tools`.
    fn fake_toolbox(root: &std::path::Path) -> Arc<Toolbox> {
        let def = crate::config::ToolDef {
            source: crate::config::Source::Debian,
            version: "1.0".into(),
            package: Some("fake".into()),
            bin: Some("gatehouse-fake-tool".into()),
            version_args: None,
            with: Vec::new(),
            remedy: None,
            dir: Some(format!("{}/tools/{{version}}/bin", root.display())),
            extract: None,
        };
        Arc::new(Toolbox::new(
            BTreeMap::from([("fake".to_owned(), def)]),
            false,
        ))
    }

    /// Runs a gate that uses the tool `fake` in `dir` as a new `cargo xtask` process would (its
    /// key from what the tool reports now), against the store in `dir/cache`; its status.
    fn run_with_fake_tool(dir: &std::path::Path, does: Does) -> Status {
        let o = Arc::new(Overlap::default());
        let gate = probe("uses-tool", &[], &[], does, &o);
        let mut spec = gate.spec.clone();
        spec.inputs.tools = vec!["fake".to_owned()];
        let gate = Arc::new(Probe {
            spec,
            ..Arc::into_inner(gate).unwrap()
        });
        let results = execute_with(dir, &[gate], options(1, false), fake_toolbox(dir));
        results["uses-tool"].0
    }

    /// Runs `gates` in a fresh workspace with one input file; their statuses by name.
    fn execute(
        dir: &std::path::Path,
        gates: &[Arc<Probe>],
        options: Options,
    ) -> BTreeMap<String, (Status, Option<String>)> {
        let toolbox = Arc::new(Toolbox::new(BTreeMap::new(), false));
        execute_with(dir, gates, options, toolbox)
    }

    /// [`execute`] with `toolbox`, keyed as the runner keys (what the gates' tools report now).
    fn execute_with(
        dir: &std::path::Path,
        gates: &[Arc<Probe>],
        options: Options,
        toolbox: Arc<Toolbox>,
    ) -> BTreeMap<String, (Status, Option<String>)> {
        std::fs::write(dir.join("input.txt"), "v1").unwrap();
        let run_dir = dir.join("run");
        std::fs::create_dir_all(run_dir.join("gates")).unwrap();
        let used = gates
            .iter()
            .flat_map(|g| g.spec().inputs.tools.clone())
            .collect();
        let tools = toolbox.keyed(&used);
        let snapshot = Snapshot::scan(dir).unwrap();
        let keys = gates
            .iter()
            .map(|g| {
                let key = cache::key(g.spec(), &[], &snapshot, &tools).unwrap();
                (g.spec().name.clone(), key)
            })
            .collect();
        let store = LocalStore::new(dir.join("cache"));
        let run = Run {
            root: dir.to_path_buf(),
            run_id: "test".to_owned(),
            run_dir,
            gates: gates.iter().map(|g| g.clone() as Arc<dyn Gate>).collect(),
            keys,
            tools,
            required: BTreeSet::new(),
            store: &store,
            toolbox,
            cancel: Cancel::default(),
            output: &Quiet,
            options,
        };
        run.execute()
            .into_iter()
            .map(|r| (r.name, (r.status, r.reason)))
            .collect()
    }

    fn options(jobs: usize, keep_going: bool) -> Options {
        Options {
            jobs,
            keep_going,
            use_cache: true,
            build_env: Vec::new(),
        }
    }

    #[test]
    fn independent_gates_run_at_once_up_to_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let o = Arc::new(Overlap::default());
        let meet = || Does::Meet(2, Duration::from_secs(30));
        let gates = [
            probe("a", &[], &[], meet(), &o),
            probe("b", &[], &[], meet(), &o),
        ];
        let results = execute(dir.path(), &gates, options(2, false));
        assert!(
            results.values().all(|r| r.0 == Status::Passed),
            "{results:?}"
        );

        let o = Arc::new(Overlap::default());
        let gates = [
            probe("c", &[], &[], Does::Meet(2, Duration::from_millis(100)), &o),
            probe("d", &[], &[], Does::Pass, &o),
        ];
        let results = execute(dir.path(), &gates, options(1, true));
        assert_eq!(o.most(), 1, "one job: {results:?}");
    }

    #[test]
    fn gates_holding_the_same_resource_never_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let o = Arc::new(Overlap::default());
        let wait = || Does::Meet(2, Duration::from_millis(100));
        let gates = [
            probe("a", &[], &["cargo-target"], wait(), &o),
            probe("b", &[], &["cargo-target"], wait(), &o),
        ];
        let results = execute(dir.path(), &gates, options(2, true));
        assert_eq!(o.most(), 1, "{results:?}");
        assert!(
            results.values().all(|r| r.0 == Status::Failed),
            "neither met the other"
        );
    }

    #[test]
    fn a_failure_stops_its_dependents_and_unstarted_gates_unless_keep_going() {
        let dir = tempfile::tempdir().unwrap();
        let o = Arc::new(Overlap::default());
        let gates = || {
            [
                probe("fails", &[], &[], Does::Fail, &o),
                probe("after", &["fails"], &[], Does::Pass, &o),
                probe("other", &[], &[], Does::Pass, &o),
            ]
        };
        let results = execute(dir.path(), &gates(), options(1, false));
        assert_eq!(results["fails"].0, Status::Failed);
        assert_eq!(results["after"].0, Status::Skipped);
        assert!(
            results["after"]
                .1
                .as_deref()
                .unwrap()
                .contains("dependency `fails` failed")
        );
        assert_eq!(results["other"].0, Status::Skipped, "{results:?}");

        let results = execute(dir.path(), &gates(), options(1, true));
        assert_eq!(results["after"].0, Status::Skipped);
        assert_eq!(results["other"].0, Status::Passed, "{results:?}");
    }

    #[test]
    fn passes_are_cached_across_runs_and_failures_never() {
        let dir = tempfile::tempdir().unwrap();
        let o = Arc::new(Overlap::default());
        let gates = [
            probe("passes", &[], &[], Does::Pass, &o),
            probe("fails", &[], &[], Does::Fail, &o),
        ];
        execute(dir.path(), &gates, options(2, true));
        let results = execute(dir.path(), &gates, options(2, true));
        assert_eq!(results["passes"].0, Status::Cached);
        assert_eq!(results["fails"].0, Status::Failed);
        assert_eq!(gates[0].runs.load(Ordering::SeqCst), 1);
        assert_eq!(gates[1].runs.load(Ordering::SeqCst), 2);
    }

    /// `plan` is what runs: a gate that ran a command its plan does not show fails, whatever it
    /// said, and its pass is not cached.
    #[test]
    fn a_gate_that_runs_a_command_its_plan_does_not_show_fails() {
        let dir = tempfile::tempdir().unwrap();
        let o = Arc::new(Overlap::default());
        let gates = [
            probe("shown", &[], &[], Does::Exec { planned: true }, &o),
            probe("hidden", &[], &[], Does::Exec { planned: false }, &o),
        ];
        let results = execute(dir.path(), &gates, options(2, true));
        assert_eq!(results["shown"].0, Status::Passed, "{results:?}");
        let (status, reason) = &results["hidden"];
        assert_eq!(*status, Status::Failed);
        assert!(
            reason
                .as_deref()
                .is_some_and(|r| r.contains("ran `true planted`") && r.contains("does not show")),
            "{reason:?}"
        );
        let again = execute(dir.path(), &gates, options(2, true));
        assert_eq!(again["hidden"].0, Status::Failed, "never cached");
    }

    /// The plan a gate is held to is the one it started with: what the plan would say after an
    /// edit made while it ran is not what it was asked to run.
    #[test]
    fn a_gate_is_held_to_the_plan_it_started_with() {
        let dir = tempfile::tempdir().unwrap();
        let o = Arc::new(Overlap::default());
        let gates = [probe("replans", &[], &[], Does::ExecThenReplan, &o)];
        let results = execute(dir.path(), &gates, options(1, true));
        assert_eq!(results["replans"].0, Status::Passed, "{results:?}");
    }

    #[test]
    fn a_pass_that_installed_its_own_tool_is_kept_for_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let first = run_with_fake_tool(dir.path(), Does::Install { edits: false });
        assert_eq!(first, Status::Passed);
        let next = run_with_fake_tool(dir.path(), Does::Pass);
        assert_eq!(
            next,
            Status::Cached,
            "the tool the first run installed at its pin is not a change of its inputs"
        );
    }

    #[test]
    fn a_pass_that_installed_its_tool_while_a_file_changed_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = run_with_fake_tool(dir.path(), Does::Install { edits: true });
        assert_eq!(first, Status::Passed);
        let next = run_with_fake_tool(dir.path(), Does::Pass);
        assert_eq!(
            next,
            Status::Passed,
            "an input edited during the run still keeps the pass out, tool or no tool"
        );
    }
}
