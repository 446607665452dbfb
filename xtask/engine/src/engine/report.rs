//! Run reports: `report.json` (schema `gatehouse.report/v1`), `junit.xml` and `summary.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::engine::gate::{Diagnostic, Status};

/// The schema identifier written into every `report.json`; bump on incompatible change.
pub const SCHEMA: &str = "gatehouse.report/v1";

/// One gate's line in the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GateResult {
    pub name: String,
    pub description: String,
    pub status: Status,
    pub required: bool,
    pub duration_ms: u64,
    /// Relative to the run directory.
    pub log: PathBuf,
    pub reason: Option<String>,
    pub summary: Option<String>,
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
    pub cache_key: Option<String>,
    #[serde(default)]
    pub missing_tool: bool,
    /// SHA-256 of the service binary the gate ran and judged, when it ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_sha256: Option<String>,
}

/// The whole run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub run_id: String,
    /// Pipeline name, or `gate` for `cargo xtask gate NAME...`.
    pub pipeline: String,
    pub started_at: String,
    pub duration_ms: u64,
    /// Sum of the gates' own durations (compare with `duration_ms` to see the parallelism won).
    pub gates_duration_ms: u64,
    pub outcome: Outcome,
    pub exit_code: u8,
    pub gates: Vec<GateResult>,
    /// Required gates that were skipped while `CI=true`, which fails the run.
    #[serde(default)]
    pub required_skips: Vec<String>,
    /// The commit the run saw (`HEAD`), if the root is a git repository.
    #[serde(default)]
    pub commit: Option<String>,
    /// Whether the tree differed from that commit (tracked changes or untracked files, ignored
    /// ones aside): a release links only clean runs.
    #[serde(default)]
    pub dirty: bool,
    /// Each tool the run's gates use, as the tool itself reports its version (not the pin).
    #[serde(default)]
    pub tools: std::collections::BTreeMap<String, String>,
    /// What the compile cache (sccache on the shared bucket) did, when the run used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_cache: Option<crate::compile_cache::Stats>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Interrupted,
}

impl Report {
    /// Writes `report.json`, `junit.xml` and `summary.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let write = |name: &str, text: String| {
            std::fs::write(dir.join(name), text)
                .with_context(|| format!("cannot write {}", dir.join(name).display()))
        };
        write("report.json", serde_json::to_string_pretty(self)? + "\n")?;
        write("junit.xml", self.junit())?;
        write("summary.md", self.markdown())?;
        Ok(())
    }

    pub fn junit(&self) -> String {
        let count = |s: Status| self.gates.iter().filter(|g| g.status == s).count();
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<testsuites name=\"gatehouse\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            self.gates.len(),
            count(Status::Failed),
            count(Status::Skipped),
            secs(self.duration_ms)
        );
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
            esc(&self.pipeline),
            self.gates.len(),
            count(Status::Failed),
            count(Status::Skipped),
            secs(self.duration_ms),
            esc(&self.started_at)
        );
        for g in &self.gates {
            junit_case(&mut x, g);
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }

    pub fn markdown(&self) -> String {
        let mut md = format!(
            "## gatehouse `{}`: {}\n\n",
            self.pipeline,
            outcome_word(self.outcome)
        );
        md.push_str("| gate | status | time | note |\n|---|---|---:|---|\n");
        for g in &self.gates {
            let note = g.reason.as_deref().or(g.summary.as_deref()).unwrap_or("");
            let _ = writeln!(
                md,
                "| `{}` | {} | {:.1}s | {} |",
                g.name,
                badge(g.status),
                secs(g.duration_ms),
                note.replace('|', "\\|")
            );
        }
        let _ = writeln!(
            md,
            "\nWall time {:.1}s (gates' own time {:.1}s). Run `{}`; logs in `target/xtask/runs/{}/gates/`.",
            secs(self.duration_ms),
            secs(self.gates_duration_ms),
            self.run_id,
            self.run_id
        );
        for name in &self.required_skips {
            let _ = writeln!(
                md,
                "\n**Required gate `{name}` was skipped while `CI=true`: the run fails.**"
            );
        }
        md
    }
}

fn junit_case(x: &mut String, g: &GateResult) {
    let _ = write!(
        x,
        "    <testcase classname=\"gatehouse\" name=\"{}\" time=\"{:.3}\"",
        esc(&g.name),
        secs(g.duration_ms)
    );
    let reason = esc(g.reason.as_deref().unwrap_or(""));
    match g.status {
        Status::Passed | Status::Cached => {
            let _ = writeln!(
                x,
                ">\n      <system-out>{}: {}</system-out>\n    </testcase>",
                status_word(g.status),
                esc(&g.log.display().to_string())
            );
        }
        Status::Skipped => {
            let _ = writeln!(
                x,
                ">\n      <skipped message=\"{reason}\"/>\n    </testcase>"
            );
        }
        Status::Failed => {
            let _ = writeln!(
                x,
                ">\n      <failure message=\"{reason}\">log: {}</failure>\n    </testcase>",
                esc(&g.log.display().to_string())
            );
        }
    }
}

fn secs(ms: u64) -> f64 {
    // Durations are far below 2^52 ms, so the conversion is exact.
    #[expect(
        clippy::cast_precision_loss,
        reason = "millisecond durations fit in f64 exactly"
    )]
    let s = ms as f64 / 1000.0;
    s
}

/// XML attribute and text escaping.
pub fn esc(s: &str) -> String {
    s.chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
        Status::Cached => "cached",
    }
}

fn badge(s: Status) -> &'static str {
    match s {
        Status::Passed => "✅ passed",
        Status::Failed => "❌ failed",
        Status::Skipped => "⏭️ skipped",
        Status::Cached => "♻️ cached",
    }
}

pub fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Interrupted => "interrupted",
    }
}
