//! `test`: the workspace's tests under cargo-nextest, with pass/fail/skip counts; zero tests fail.

use anyhow::Result;

use crate::config::TestDef;
use crate::engine::gate::{Gate, GateSpec, RunCtx, Step, Verdict, code};

pub struct Test(GateSpec);

impl Test {
    /// `extra`: what the workspace's tests need beyond cargo-nextest (`[test]` in gatehouse.toml).
    pub fn new(extra: &TestDef) -> Test {
        let mut spec = super::Decl {
            name: "test",
            description: "tests: every workspace test under cargo-nextest; zero tests is a failure",
            deps: &["clippy"],
            globs: &["**", "!**/*.md", "!docs/**", "!.github/**"],
            tools: &["cargo-nextest"],
            env: &["RUSTFLAGS"],
            cargo: true,
            rust: true,
            // A cold run builds the workspace, and (the load test) the service's static release
            // build that the release gate then reuses: on a busy 2-core machine, over 40 minutes.
            timeout_secs: 3600,
        }
        .spec(1);
        spec.inputs.tools.extend(extra.tools.iter().cloned());
        spec.inputs.env.extend(extra.env.iter().cloned());
        Test(spec)
    }
}

impl Gate for Test {
    fn spec(&self) -> &GateSpec {
        &self.0
    }

    fn steps(&self) -> Vec<Step> {
        let args = [
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--locked",
            "--no-fail-fast",
        ];
        vec![
            Step::new("cargo", &args)
                .tool("cargo-nextest")
                .env("NEXTEST_HIDE_PROGRESS_BAR", "1"),
        ]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let step = &self.steps()[0];
        let out = ctx.exec(step)?;
        let counts = Counts::parse(&out.combined());
        match (out.success(), counts) {
            (true, Some(c)) if c.run > 0 => Ok(Verdict::passed(Some(c.to_string()))),
            (true, _) => Ok(Verdict::failed(
                "nextest ran zero tests: a test gate that runs nothing has failed",
            )),
            (false, Some(c)) => Ok(Verdict::failed(format!(
                "{c}; failing tests are listed at the end of the log"
            ))),
            (false, None) => Ok(Verdict::failed(format!(
                "`{step}` exited with {} before reporting; see the log",
                code(&out)
            ))),
        }
    }
}

/// nextest's closing counts.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    run: u32,
    passed: u32,
    failed: u32,
    skipped: u32,
}

impl Counts {
    /// Parses `Summary [ 1.2s] 12 tests run: 11 passed, 1 failed, 3 skipped`.
    fn parse(output: &str) -> Option<Counts> {
        let line = output
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with("Summary ["))?;
        let after = &line[line.find(']')? + 1..];
        let mut counts = Counts {
            run: 0,
            passed: 0,
            failed: 0,
            skipped: 0,
        };
        for part in after.split([',', ':']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            match what {
                "test" | "tests" => counts.run = n,
                "passed" => counts.passed = n,
                "failed" | "timed" => counts.failed += n,
                "skipped" => counts.skipped = n,
                _ => {}
            }
        }
        Some(counts)
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nextest_summary_is_counted() {
        let out = "  PASS [0.1s] a\n------------\n     Summary [   1.234s] 12 tests run: 11 passed, 1 failed, 3 skipped\n";
        let c = Counts::parse(out).unwrap();
        assert_eq!(
            c,
            Counts {
                run: 12,
                passed: 11,
                failed: 1,
                skipped: 3
            }
        );
        assert_eq!(c.to_string(), "11 passed, 1 failed, 3 skipped");
    }

    #[test]
    fn zero_tests_and_missing_summary_are_told_apart() {
        let zero = Counts::parse("Summary [ 0.0s] 0 tests run: 0 passed, 0 skipped").unwrap();
        assert_eq!(zero.run, 0);
        assert_eq!(Counts::parse("error: could not compile"), None);
    }
}
