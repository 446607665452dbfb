//! What the `api-fuzz` gate reads of schemathesis: its JSON report and the seed it printed. Kept
//! apart from the gate, which needs the service's harness, so miri checks it without the
//! `service` feature's dependencies.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The part of schemathesis's JSON report the gate judges.
#[derive(Debug, Deserialize)]
pub struct FuzzReport {
    pub running_time: f64,
    pub stop_reason: String,
    /// schemathesis's own verdict: a non-zero code fails the gate even if nothing else is named.
    pub exit_code: i32,
    pub operations: Operations,
    pub test_cases: TestCases,
    #[serde(default)]
    pub failures: Vec<FuzzFailure>,
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Operations {
    pub selected: u64,
    pub tested: u64,
}

#[derive(Debug, Deserialize)]
pub struct TestCases {
    pub generated: u64,
    pub unique_failures: u64,
}

#[derive(Debug, Deserialize)]
pub struct FuzzFailure {
    pub code: String,
    pub title: String,
    pub count: u64,
    pub operations: Vec<String>,
}

impl FuzzReport {
    /// The only `json-*.json` in a run's report directory.
    pub fn read(dir: &Path) -> Result<FuzzReport> {
        let file = std::fs::read_dir(dir)
            .with_context(|| format!("no schemathesis report in {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("json-"))
            })
            .with_context(|| format!("no json-*.json report in {}", dir.display()))?;
        let text = std::fs::read_to_string(&file)?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a schemathesis JSON report", file.display()))
    }

    /// What went wrong, one line per kind of failure; empty when the run proved something.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .failures
            .iter()
            .map(|f| {
                format!(
                    "{} {} ×{} on {}",
                    f.code,
                    f.title,
                    f.count,
                    f.operations.join(", ")
                )
            })
            .collect();
        if !self.errors.is_empty() {
            out.push(format!("{} error(s) while testing", self.errors.len()));
        }
        if self.operations.tested == 0 || self.test_cases.generated == 0 {
            out.push("no operation was tested: a fuzzer that sends nothing has failed".to_owned());
        }
        if self.stop_reason != "completed" {
            out.push(format!("the run stopped early: {}", self.stop_reason));
        }
        if self.exit_code != 0 && out.is_empty() {
            out.push(format!(
                "schemathesis exited with code {} without naming a failure; see the log",
                self.exit_code
            ));
        }
        out
    }
}

/// The seed schemathesis printed (`Seed: N`; too large for a JSON number without loss).
pub fn seed_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Seed: "))
        .unwrap_or("-")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: &str) -> FuzzReport {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_seed_comes_from_the_printed_line() {
        let out = "Test cases:\n  5 generated\n\nSeed: 164938461618432283456789012345678901234\n";
        assert_eq!(seed_of(out), "164938461618432283456789012345678901234");
    }

    const PASSED: &str = r#"{"seed": 7, "running_time": 3.5, "stop_reason": "completed", "exit_code": 0,
        "operations": {"total": 3, "selected": 3, "tested": 3},
        "test_cases": {"generated": 250, "with_failures": 0, "unique_failures": 0},
        "failures": [], "errors": []}"#;

    #[test]
    fn a_clean_run_has_no_problems_and_an_empty_one_is_a_failure() {
        assert!(report(PASSED).problems().is_empty());
        let empty = PASSED
            .replace(r#""tested": 3"#, r#""tested": 0"#)
            .replace("250", "0");
        assert_eq!(report(&empty).problems().len(), 1);
        let refused = PASSED.replace(r#""exit_code": 0"#, r#""exit_code": 1"#);
        assert_eq!(
            report(&refused).problems(),
            vec!["schemathesis exited with code 1 without naming a failure; see the log"]
        );
    }

    #[test]
    fn failures_name_code_count_and_operations() {
        let failed = PASSED.replace(
            r#""failures": []"#,
            r#""failures": [{"type": "ServerError", "code": "ST101", "title": "Server error", "count": 2, "operations": ["POST /items"]}]"#,
        );
        assert_eq!(
            report(&failed).problems(),
            vec!["ST101 Server error ×2 on POST /items"]
        );
    }
}
