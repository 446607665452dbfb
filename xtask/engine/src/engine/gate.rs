//! What a gate is: a declaration (name, dependencies, inputs, resources, timeout) and a `run`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::process::{self, Cancel, Output, Sink};
use crate::tools::Toolbox;

/// Resource name for the cargo target directory: cargo gates must not fight over its lock.
pub const CARGO_TARGET: &str = "cargo-target";

/// A gate's declaration. Everything the scheduler and the cache need, nothing they do not.
#[derive(Clone, Debug, Serialize)]
pub struct GateSpec {
    pub name: String,
    pub description: String,
    /// Bumped when the gate's logic changes, so older cached passes no longer count.
    pub version: u32,
    pub deps: Vec<String>,
    pub inputs: Inputs,
    /// Held exclusively while the gate runs.
    pub resources: Vec<String>,
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// Everything that changes a gate's result.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inputs {
    /// Path globs relative to the root; a leading `!` excludes.
    pub globs: Vec<String>,
    /// Tools (by manifest name) whose pinned versions enter the cache key.
    pub tools: Vec<String>,
    /// Environment variables whose values enter the cache key.
    pub env: Vec<String>,
    /// Other facts that change the result, e.g. the day for the advisory database.
    pub facts: Vec<String>,
    /// Files outside the workspace walk (e.g. the tag refs) whose contents enter the cache key;
    /// relative to the root or absolute; a missing file counts as absent.
    pub files: Vec<String>,
    /// The gate runs cargo or rustc: the toolchain that resolves in the root, cargo's
    /// configuration files (up to `/` and in `CARGO_HOME`) and the environment cargo and rustc
    /// read enter the key too (see [`crate::engine::cache::Snapshot::rust_build`]).
    pub rust: bool,
    /// What git knows that enters the key, asked of git itself, so that another clone of the
    /// same commits has the same key.
    pub git: Vec<GitInput>,
}

/// A fact of the git repository that enters a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GitInput {
    /// `git ls-files --stage`: path, mode and blob of every tracked file. Staging a file changes
    /// it; where the checkout lives and `.git/index`'s stat data do not.
    Tracked,
    /// The tags and the commits they name (`git for-each-ref refs/tags`), and whether the clone
    /// is shallow. A new or moved tag changes it; whether git keeps its refs loose or packed
    /// does not.
    Tags,
}

/// One external command of a gate, as shown by `plan` and run by `run`.
#[derive(Clone, Debug)]
pub struct Step {
    /// Manifest tool that provides `program` (its directory is put first on PATH).
    pub tool: Option<String>,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables in `env` whose values are shown as `[redacted]` (tokens, passwords).
    pub secret: Vec<String>,
    /// Keep stdout out of the log: the gate renders it (e.g. clippy's JSON).
    pub quiet_stdout: bool,
    /// Where it runs, when not the workspace root (tools that leave caches in their directory).
    pub dir: Option<PathBuf>,
    /// Variables removed from the inherited environment (before `env` is applied).
    pub unset: Vec<String>,
    /// Work the gate does inside gatehouse's own process (`program` says what): `plan` shows it
    /// as such and nothing executes it.
    pub in_process: bool,
}

impl Step {
    pub fn new(program: &str, args: &[&str]) -> Step {
        Step {
            tool: None,
            program: program.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
            secret: Vec::new(),
            quiet_stdout: false,
            dir: None,
            unset: Vec::new(),
            in_process: false,
        }
    }

    /// Work done inside gatehouse's process, shown by `plan` as `(in-process) what`.
    pub fn in_process(what: &str) -> Step {
        Step {
            in_process: true,
            ..Step::new(what, &[])
        }
    }

    /// A command from a configured argument vector (`gatehouse.toml` validation rejects an
    /// empty one, so there is always a program).
    pub fn argv(argv: &[String]) -> Step {
        let (program, args) = argv
            .split_first()
            .expect("config validation rejects an empty `run`");
        Step::new(program, &[]).args(args.iter().cloned())
    }

    /// The steps of a configured command. A program written `{bin:NAME}` is binary NAME of this
    /// workspace, built first exactly as the test gate builds the workspace
    /// (`--workspace --all-features`): `cargo run --package` would resolve features for that one
    /// package and rebuild every dependency whose features differ.
    pub fn configured(argv: &[String]) -> Vec<Step> {
        let run = Step::argv(argv);
        let Some(bin) = workspace_bin(&run.program) else {
            return vec![run];
        };
        let build = Step::new(
            "cargo",
            &[
                "build",
                "--workspace",
                "--all-features",
                "--locked",
                "--bin",
                bin,
            ],
        );
        let program = crate::layout::cargo_target_dir(Path::new("."))
            .join("debug")
            .join(bin)
            .display()
            .to_string();
        vec![build, Step { program, ..run }]
    }

    /// [`Step::configured`] for a command whose stdout is its product (a generator): the last
    /// step keeps stdout out of the log.
    pub fn configured_output(argv: &[String]) -> Vec<Step> {
        let mut steps = Step::configured(argv);
        if let Some(run) = steps.pop() {
            steps.push(run.quiet_stdout());
        }
        steps
    }

    /// Whether a configured command builds Rust: `cargo …`, or a `{bin:…}` cargo builds first.
    pub fn builds_rust(argv: &[String]) -> bool {
        argv.first()
            .is_some_and(|p| p == "cargo" || workspace_bin(p).is_some())
    }

    pub fn tool(mut self, tool: &str) -> Step {
        self.tool = Some(tool.to_owned());
        self
    }

    /// Removes `key` from the environment the command inherits.
    pub fn unset(mut self, key: &str) -> Step {
        self.unset.push(key.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Step {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// An environment variable whose value never appears in logs or plans.
    pub fn secret_env(mut self, key: &str, value: &str) -> Step {
        self.secret.push(key.to_owned());
        self.env(key, value)
    }

    pub fn args<I: IntoIterator<Item = String>>(mut self, args: I) -> Step {
        self.args.extend(args);
        self
    }

    /// Runs the step in `dir` instead of the workspace root.
    pub fn in_dir(mut self, dir: &Path) -> Step {
        self.dir = Some(dir.to_path_buf());
        self
    }

    pub fn quiet_stdout(mut self) -> Step {
        self.quiet_stdout = true;
        self
    }
}

/// NAME of a `{bin:NAME}` program.
fn workspace_bin(program: &str) -> Option<&str> {
    program
        .strip_prefix("{bin:")
        .and_then(|b| b.strip_suffix('}'))
        .filter(|b| !b.is_empty())
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_process {
            return write!(f, "(in-process) {}", self.program);
        }
        let words = self.env.iter().map(|(k, v)| {
            if k.starts_with('<') {
                // A plan's placeholder for variables only the run knows.
                quote(k)
            } else if self.secret.contains(k) {
                format!("{k}=[redacted]")
            } else {
                format!("{k}={}", quote(v))
            }
        });
        let words = words.chain(std::iter::once(quote(&self.program)));
        let words: Vec<_> = words.chain(self.args.iter().map(|a| quote(a))).collect();
        // As `env -u` would run it: the removed variables first.
        let unset: Vec<String> = self.unset.iter().map(|k| format!("-u {k}")).collect();
        if unset.is_empty() {
            f.write_str(&words.join(" "))
        } else {
            write!(f, "env {} {}", unset.join(" "), words.join(" "))
        }
    }
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^*".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A gate's verdict on the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    Cached,
}

impl Status {
    pub fn ok(self) -> bool {
        matches!(self, Status::Passed | Status::Cached)
    }
}

/// A file position a failure points at (clippy diagnostics, fmt diffs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub level: String,
    pub message: String,
}

/// What `Gate::run` returns.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub status: Status,
    /// Why it failed or was skipped, in one line.
    pub reason: Option<String>,
    /// Counts or other one-line facts ("12 passed, 0 failed, 1 skipped").
    pub summary: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// SHA-256 of the service binary the gate ran and judged (the release's static build), so
    /// that a release can show which gates judged exactly the bytes it ships.
    pub binary_sha256: Option<String>,
}

impl Verdict {
    pub fn passed(summary: Option<String>) -> Verdict {
        Verdict {
            status: Status::Passed,
            reason: None,
            summary,
            diagnostics: Vec::new(),
            binary_sha256: None,
        }
    }

    pub fn failed(reason: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Failed,
            reason: Some(reason.into()),
            summary: None,
            diagnostics: Vec::new(),
            binary_sha256: None,
        }
    }

    pub fn skipped(reason: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Skipped,
            reason: Some(reason.into()),
            summary: None,
            diagnostics: Vec::new(),
            binary_sha256: None,
        }
    }

    /// A failed step judged by its findings: `describe` words the reason when there are any;
    /// without findings the reason names the step and its exit code.
    pub fn failed_with(
        step: &Step,
        out: &Output,
        diagnostics: Vec<Diagnostic>,
        describe: impl FnOnce(&[Diagnostic]) -> String,
    ) -> Verdict {
        let reason = if diagnostics.is_empty() {
            format!("`{step}` exited with {}; see the log", code(out))
        } else {
            describe(&diagnostics)
        };
        Verdict {
            diagnostics,
            ..Verdict::failed(reason)
        }
    }

    pub fn with_summary(mut self, summary: impl Into<String>) -> Verdict {
        self.summary = Some(summary.into());
        self
    }

    /// Records the SHA-256 of the service binary the gate ran.
    pub fn judged(mut self, binary_sha256: Option<String>) -> Verdict {
        self.binary_sha256 = binary_sha256;
        self
    }
}

/// A gate: its declaration, the commands it runs, and how it judges their output.
pub trait Gate: Send + Sync {
    fn spec(&self) -> &GateSpec;

    /// The exact commands, in order; `plan` prints them and the default `run` executes them.
    fn steps(&self) -> Vec<Step>;

    /// Runs the gate. The default runs every step and passes when all exit 0.
    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        for step in self.steps() {
            let out = ctx.exec(&step)?;
            if !out.success() {
                return Ok(Verdict::failed(format!(
                    "`{step}` exited with {}",
                    code(&out)
                )));
            }
        }
        Ok(Verdict::passed(None))
    }
}

/// A process exit code for messages.
pub fn code(out: &Output) -> String {
    out.code
        .map_or_else(|| "a signal".to_owned(), |c| format!("code {c}"))
}

/// What a running gate can reach: the root, its log, the tools, and the run's deadline.
#[derive(Debug)]
pub struct RunCtx {
    pub root: PathBuf,
    pub log_path: PathBuf,
    log: Arc<Mutex<std::fs::File>>,
    pub toolbox: Arc<Toolbox>,
    pub cancel: Cancel,
    pub deadline: Instant,
    /// The gate's declared tools: all of them are on PATH for every step.
    tools: Vec<String>,
    /// Every command run or started so far, for the check that `plan` showed it.
    ran: Arc<Mutex<Vec<Step>>>,
    /// Set for every `cargo` step (the compile cache's wrapper), under the step's own env.
    build_env: Vec<(String, String)>,
}

impl RunCtx {
    pub fn new(
        root: &Path,
        log_path: PathBuf,
        toolbox: Arc<Toolbox>,
        cancel: Cancel,
        timeout: Duration,
    ) -> Result<RunCtx> {
        let file = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create gate log {}", log_path.display()))?;
        Ok(RunCtx {
            root: root.to_path_buf(),
            log_path,
            log: Arc::new(Mutex::new(file)),
            toolbox,
            cancel,
            deadline: Instant::now() + timeout,
            tools: Vec::new(),
            ran: Arc::default(),
            build_env: Vec::new(),
        })
    }

    /// Sets `env` for every `cargo` step but miri's (which refuses a wrapper).
    pub fn with_build_env(mut self, env: &[(String, String)]) -> RunCtx {
        self.build_env = env.to_vec();
        self
    }

    /// Puts every one of `tools` on PATH for each step (a tool's binary need not share its name).
    pub fn with_tools(mut self, tools: &[String]) -> RunCtx {
        self.tools = tools.to_vec();
        self
    }

    /// The path of `tool`'s executable, provisioning it first (for servers a gate starts).
    pub fn tool_binary(&self, tool: &str) -> Result<PathBuf> {
        let dirs = self
            .toolbox
            .ensure(tool, &self.cancel, &|line| self.log(line))?;
        let bin = self.toolbox.bin_name(tool)?;
        dirs.iter()
            .map(|d| d.join(&bin))
            .find(|p| p.is_file())
            .or_else(|| crate::tools::which(&bin))
            .with_context(|| format!("tool `{tool}` is provisioned but `{bin}` is not found"))
    }

    /// Appends a line to the gate's log.
    pub fn log(&self, line: &str) {
        if let Ok(mut file) = self.log.lock() {
            let _ = writeln!(file, "{line}");
        }
    }

    /// Records `step`, started in the background by the gate's own code (a service under test):
    /// it is held to the plan as [`RunCtx::exec`]'s steps are.
    pub fn started(&self, step: &Step) {
        self.record(step);
    }

    /// The commands run or started so far, in order.
    pub fn ran(&self) -> Vec<Step> {
        self.ran.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn record(&self, step: &Step) {
        if let Ok(mut ran) = self.ran.lock() {
            ran.push(step.clone());
        }
    }

    /// Runs one step in the root, with its tool provisioned first.
    pub fn exec(&self, step: &Step) -> Result<Output> {
        anyhow::ensure!(
            !step.in_process,
            "`{step}` is work of gatehouse's own process, not a command to run"
        );
        let path = self.path_for(step)?;
        self.record(step);
        self.log(&format!("$ {step}"));
        let sh = xshell::Shell::new()?;
        let dir = step.dir.as_deref().unwrap_or(&self.root);
        sh.change_dir(dir);
        // A relative path to a program (`./target/debug/app`) is relative to where it runs.
        let program = if step.program.contains('/') {
            dir.join(&step.program)
        } else {
            PathBuf::from(&step.program)
        };
        let args = &step.args;
        // Logs are files: no colour codes in them.
        let mut cmd = xshell::cmd!(sh, "{program} {args...}")
            .env("PATH", path)
            .env("CARGO_TERM_COLOR", "never")
            .env("NO_COLOR", "1");
        for k in &step.unset {
            cmd = cmd.env_remove(k);
        }
        if step.program == "cargo" && !step.args.iter().any(|a| a == "miri") {
            for (k, v) in &self.build_env {
                cmd = cmd.env(k, v);
            }
        }
        for (k, v) in &step.env {
            cmd = cmd.env(k, v);
        }
        let sink = Sink {
            log: self.log.clone(),
            quiet_stdout: step.quiet_stdout,
        };
        let out = process::run(cmd.into(), &sink, self.deadline, &self.cancel)?;
        self.log(&format!("[exit {}]", code(&out)));
        Ok(out)
    }

    /// Runs `steps` in order up to the first that fails; the output of that one or the last.
    pub fn exec_all(&self, steps: &[Step]) -> Result<Output> {
        let (last, before) = steps.split_last().context("no step to run")?;
        for step in before {
            let out = self.exec(step)?;
            if !out.success() {
                return Ok(out);
            }
        }
        self.exec(last)
    }

    fn path_for(&self, step: &Step) -> Result<std::ffi::OsString> {
        let mut dirs = Vec::new();
        for tool in step.tool.iter().chain(&self.tools) {
            let found = self
                .toolbox
                .ensure(tool, &self.cancel, &|line| self.log(line))?;
            dirs.extend(
                found
                    .into_iter()
                    .filter(|d| !dirs.contains(d))
                    .collect::<Vec<_>>(),
            );
        }
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).context("PATH contains a directory that cannot be joined")
    }
}

/// A gate's commands as `plan` prints them: part of its cache key.
pub fn commands(gate: &dyn Gate) -> Vec<String> {
    gate.steps().iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn a_workspace_binary_is_built_as_the_tests_build_it_then_run() {
        let steps = Step::configured(&argv(&["{bin:api}", "openapi"]));
        let [build, run] = steps.as_slice() else {
            panic!("two steps: {steps:?}");
        };
        assert_eq!(
            build.to_string(),
            "cargo build --workspace --all-features --locked --bin api"
        );
        assert!(run.program.ends_with("/debug/api"), "{}", run.program);
        assert_eq!(run.args, ["openapi"]);
        let plain = Step::configured(&argv(&["cargo", "run", "-p", "api"]));
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].to_string(), "cargo run -p api");
        assert_eq!(Step::configured(&argv(&["{bin:}"]))[0].program, "{bin:}");
        let generator = Step::configured_output(&argv(&["{bin:api}", "openapi"]));
        assert!(!generator[0].quiet_stdout && generator[1].quiet_stdout);
        assert!(
            Step::builds_rust(&argv(&["{bin:api}"])) && Step::builds_rust(&argv(&["cargo", "x"]))
        );
        assert!(!Step::builds_rust(&argv(&["sh", "-c", "cargo"])));
    }
}
