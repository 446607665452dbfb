//! What a person (or GitHub Actions) sees while gates run. Human progress goes to stderr only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::engine::gate::Status;
use crate::engine::report::{GateResult, Report, outcome_word, status_word};

/// Where progress goes, decided once from the environment (never inside gates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A terminal: a spinner per running gate and a final table.
    Spinners,
    /// Not a terminal, or `CI=true`: one plain line per event.
    Plain,
    /// `GITHUB_ACTIONS=true`: plain lines, `::group::` per gate, `::error` annotations.
    GitHub,
}

impl Mode {
    pub fn detect(stderr_is_terminal: bool, ci: bool, github: bool) -> Mode {
        if github {
            Mode::GitHub
        } else if stderr_is_terminal && !ci {
            Mode::Spinners
        } else {
            Mode::Plain
        }
    }
}

/// Receives scheduler events.
pub trait Output: Send + Sync {
    fn started(&self, gate: &str);
    fn finished(&self, result: &GateResult);
    fn note(&self, line: &str);
}

/// The one implementation; its behaviour follows `Mode`.
pub struct Console {
    mode: Mode,
    run_dir: PathBuf,
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").field("mode", &self.mode).finish()
    }
}

impl Console {
    pub fn new(mode: Mode, run_dir: PathBuf) -> Console {
        Console {
            mode,
            run_dir,
            multi: MultiProgress::new(),
            bars: Mutex::new(BTreeMap::new()),
        }
    }

    fn line(&self, text: &str) {
        if self.mode == Mode::Spinners {
            let _ = self.multi.println(text);
        } else {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        }
    }

    fn github_group(&self, result: &GateResult) {
        let log = std::fs::read_to_string(self.run_dir.join(&result.log)).unwrap_or_default();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "::group::{} ({})",
            result.name,
            status_word(result.status)
        );
        let _ = write!(err, "{log}");
        let _ = writeln!(err, "::endgroup::");
        for d in &result.diagnostics {
            let level = if d.level == "warning" {
                "warning"
            } else {
                "error"
            };
            let msg = d
                .message
                .replace('%', "%25")
                .replace('\r', "%0D")
                .replace('\n', "%0A");
            let _ = writeln!(
                err,
                "::{level} file={},line={},title={}::{msg}",
                d.file, d.line, result.name
            );
        }
        if result.status == Status::Failed && result.diagnostics.is_empty() {
            let reason = result.reason.as_deref().unwrap_or("failed");
            let _ = writeln!(
                err,
                "::error title={}::{}",
                result.name,
                reason.replace('\n', "%0A")
            );
        }
    }
}

impl Output for Console {
    fn started(&self, gate: &str) {
        match self.mode {
            Mode::Spinners => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:.bold} {elapsed:>4} {wide_msg:.dim}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(gate.to_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Ok(mut bars) = self.bars.lock() {
                    bars.insert(gate.to_owned(), bar);
                }
            }
            Mode::Plain | Mode::GitHub => self.line(&format!("[gatehouse] {gate}: started")),
        }
    }

    fn finished(&self, result: &GateResult) {
        if let Some(bar) = self
            .bars
            .lock()
            .ok()
            .and_then(|mut b| b.remove(&result.name))
        {
            bar.finish_and_clear();
        }
        let note = result
            .reason
            .as_deref()
            .or(result.summary.as_deref())
            .unwrap_or("");
        let secs = Duration::from_millis(result.duration_ms).as_secs_f64();
        let mark = match result.status {
            Status::Passed => "ok",
            Status::Cached => "cached",
            Status::Skipped => "skip",
            Status::Failed => "FAIL",
        };
        self.line(&format!(
            "[gatehouse] {}: {} ({mark}, {secs:.1}s) {note}",
            result.name,
            status_word(result.status)
        ));
        if self.mode == Mode::GitHub {
            self.github_group(result);
        }
    }

    fn note(&self, line: &str) {
        self.line(line);
    }
}

/// The final table, for stderr.
pub fn table(report: &Report) -> String {
    let width = report
        .gates
        .iter()
        .map(|g| g.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("\n{:width$}  {:8}  {:>7}  note\n", "gate", "status", "time");
    for g in &report.gates {
        let note = g.reason.as_deref().or(g.summary.as_deref()).unwrap_or("");
        let secs = Duration::from_millis(g.duration_ms).as_secs_f64();
        out.push_str(&format!(
            "{:width$}  {:8}  {:>6.1}s  {note}\n",
            g.name,
            status_word(g.status),
            secs
        ));
    }
    out.push_str(&format!(
        "\n{} in {:.1}s (gates' own time {:.1}s) · report: target/xtask/runs/{}/report.json\n",
        outcome_word(report.outcome),
        Duration::from_millis(report.duration_ms).as_secs_f64(),
        Duration::from_millis(report.gates_duration_ms).as_secs_f64(),
        report.run_id
    ));
    for name in &report.required_skips {
        out.push_str(&format!(
            "required gate `{name}` was skipped while CI=true: the run fails\n"
        ));
    }
    out.push_str(&closing_line(report));
    out
}

/// `gates: N passed, N failed, N skipped` alone on the last line (cached passes count as passed).
pub fn closing_line(report: &Report) -> String {
    let count = |f: &dyn Fn(Status) -> bool| report.gates.iter().filter(|g| f(g.status)).count();
    format!(
        "gates: {} passed, {} failed, {} skipped\n",
        count(&Status::ok),
        count(&|s| s == Status::Failed),
        count(&|s| s == Status::Skipped)
    )
}
