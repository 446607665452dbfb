//! `race`, `loom` and `miri`: the same tests run under another tool. Each gate is `cargo test`
//! on the configured packages with its own flags and target directory; the verdict counts the
//! tests libtest ran (zero is a failure) and turns the tool's reports into file:line findings.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::config::UnderToolDef;
use crate::engine::gate::{Diagnostic, Gate, GateSpec, Inputs, RunCtx, Step, Verdict, code};

/// Which tool the tests run under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ThreadSanitizer: nightly, the standard library rebuilt with the sanitizer.
    Race,
    /// loom: `--cfg loom` swaps in loom's primitives; models explore every interleaving.
    Loom,
    /// miri: the tests interpreted, undefined behaviour detected.
    Miri,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Race => "race",
            Kind::Loom => "loom",
            Kind::Miri => "miri",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Kind::Race => "tests under ThreadSanitizer (nightly, -Zbuild-std): any data race fails",
            Kind::Loom => {
                "loom models (--cfg loom) of hand-written synchronisation, every interleaving"
            }
            Kind::Miri => "pure-logic tests under miri: any undefined behaviour fails",
        }
    }

    fn tools(self) -> Vec<String> {
        let tools: &[&str] = match self {
            Kind::Race => &["nightly", "rust-src"],
            Kind::Loom => &[],
            Kind::Miri => &["nightly", "rust-src", "miri"],
        };
        tools.iter().map(|t| (*t).to_owned()).collect()
    }
}

pub struct UnderTool {
    kind: Kind,
    spec: GateSpec,
    def: UnderToolDef,
    /// `cargo +<toolchain>` for the nightly gates.
    toolchain: String,
    root: std::path::PathBuf,
}

/// Where ThreadSanitizer's and loom's builds go: apart from the stable build, so neither evicts
/// the other's artifacts (miri keeps its own `miri/` there by itself).
fn target_dir(root: &Path, kind: Kind) -> String {
    super::cargo_target_dir(root)
        .join(kind.name())
        .display()
        .to_string()
}

impl UnderTool {
    /// `toolchain`: the pinned nightly (`[tools.nightly] version`); `compiled`: files the tests
    /// embed besides their sources (e.g. migrations).
    pub fn new(
        kind: Kind,
        def: &UnderToolDef,
        toolchain: &str,
        root: &Path,
        compiled: &[String],
    ) -> UnderTool {
        let mut globs = super::build_inputs(compiled);
        globs.extend(def.suppressions.iter().cloned());
        let spec = GateSpec {
            name: kind.name().to_owned(),
            description: kind.description().to_owned(),
            version: 1,
            deps: Vec::new(),
            inputs: Inputs {
                globs,
                tools: [kind.tools(), def.tools.clone()].concat(),
                env: Vec::new(),
                facts: Vec::new(),
                files: Vec::new(),
            },
            resources: Vec::new(),
            timeout: Duration::from_secs(3600),
        };
        UnderTool {
            kind,
            spec,
            def: def.clone(),
            toolchain: toolchain.to_owned(),
            root: root.to_path_buf(),
        }
    }

    fn step(&self) -> Step {
        let plus = format!("+{}", self.toolchain);
        let mut step = match self.kind {
            Kind::Race => Step::new(
                "cargo",
                &[
                    &plus,
                    "test",
                    "-Zbuild-std",
                    "--target",
                    "x86_64-unknown-linux-gnu",
                ],
            )
            .env("RUSTFLAGS", "-Zsanitizer=thread")
            .env("RUSTDOCFLAGS", "-Zsanitizer=thread"),
            Kind::Loom => Step::new("cargo", &["test", "--release"]).env("RUSTFLAGS", "--cfg loom"),
            Kind::Miri => Step::new("cargo", &[&plus, "miri", "test"]),
        };
        if self.kind != Kind::Miri {
            step = step.args(["--target-dir".to_owned(), target_dir(&self.root, self.kind)]);
        }
        if let Some(file) = &self.def.suppressions {
            // Test binaries run in their package's directory: the path must be absolute.
            let file = self.root.join(file);
            step = step.env("TSAN_OPTIONS", &format!("suppressions={}", file.display()));
        }
        for (key, value) in &self.def.env {
            step = step.env(key, value);
        }
        // Every test binary runs, so the counts are complete even after a failure.
        step = step.args(["--locked".to_owned(), "--no-fail-fast".to_owned()]);
        for package in &self.def.packages {
            step = step.args(["--package".to_owned(), package.clone()]);
        }
        step = step.args(self.def.targets.iter().cloned());
        step = step.args(["--".to_owned()]);
        step = step.args(self.def.filters.iter().cloned());
        for skip in &self.def.skip {
            step = step.args(["--skip".to_owned(), skip.clone()]);
        }
        step
    }
}

impl Gate for UnderTool {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        vec![self.step()]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let out = ctx.exec(&self.step())?;
        let text = out.combined();
        let tally = Tally::parse(&text);
        let findings = findings(self.kind, &text, &ctx.root);
        let ran = format!("{} under {}", tally, self.kind.name());
        if out.success() && tally.ran() > 0 {
            return Ok(Verdict::passed(Some(ran)));
        }
        let reason = if let Some(first) = findings.first() {
            format!("{}:{}: {} ({ran})", first.file, first.line, first.message)
        } else if out.success() {
            format!(
                "{ran}: a gate that runs no test has failed; check [{}] packages, targets and filters",
                self.kind.name()
            )
        } else if tally.failed > 0 {
            format!("{ran}; failing tests are in the log")
        } else {
            format!("`cargo` exited with {} ({ran}); see the log", code(&out))
        };
        Ok(Verdict {
            diagnostics: findings,
            ..Verdict::failed(reason)
        }
        .with_summary(ran))
    }
}

/// libtest's closing lines (`test result: ok. 3 passed; 1 failed; 0 ignored; …`), summed over
/// every test binary.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: u32,
    pub failed: u32,
    pub ignored: u32,
}

impl Tally {
    pub fn parse(output: &str) -> Tally {
        let mut tally = Tally::default();
        for line in output.lines() {
            let Some(rest) = line.trim().strip_prefix("test result: ") else {
                continue;
            };
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(what), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(n) = n.parse::<u32>() else { continue };
                match what {
                    "passed" => tally.passed += n,
                    "failed" => tally.failed += n,
                    "ignored" => tally.ignored += n,
                    _ => {}
                }
            }
        }
        tally
    }

    pub fn ran(&self) -> u32 {
        self.passed + self.failed
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} tests ran, {} failed", self.ran(), self.failed)
    }
}

/// The tool's own reports as findings at the first workspace `file:line` each names.
pub fn findings(kind: Kind, output: &str, root: &Path) -> Vec<Diagnostic> {
    let lines: Vec<&str> = output.lines().collect();
    let mut out: Vec<Diagnostic> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let message = match kind {
            Kind::Race => line
                .trim()
                .strip_prefix("WARNING: ThreadSanitizer: ")
                .map(|m| format!("ThreadSanitizer: {}", m.split(" (pid=").next().unwrap_or(m))),
            Kind::Miri => line
                .trim()
                .strip_prefix("error: Undefined Behavior: ")
                .map(|m| format!("miri: undefined behaviour: {m}")),
            Kind::Loom => line
                .trim()
                .strip_prefix("thread '")
                .filter(|l| l.contains("panicked at "))
                .map(|l| {
                    let test = l.split('\'').next().unwrap_or("?");
                    let detail = lines.get(i + 1).map_or("", |d| d.trim());
                    format!("loom model `{test}` failed: {detail}")
                }),
        };
        let Some(message) = message else { continue };
        let Some((file, line)) = lines[i..]
            .iter()
            .take(80)
            .find_map(|l| workspace_location(l, root))
        else {
            continue;
        };
        if !out.iter().any(|d| d.file == file && d.line == line) {
            out.push(Diagnostic {
                file,
                line,
                level: "error".to_owned(),
                message,
            });
        }
    }
    out
}

/// The first `path.rs:line[:col]` in `line` that is a file of this workspace (not the standard
/// library or a dependency).
fn workspace_location(line: &str, root: &Path) -> Option<(String, u32)> {
    line.split_whitespace().find_map(|word| {
        let word = word
            .trim_start_matches("-->")
            .trim_matches(|c| c == '(' || c == ')');
        let (path, rest) = word.split_once(".rs:")?;
        let line: u32 = rest.split(':').next()?.parse().ok()?;
        let file = format!("{path}.rs");
        let relative = super::relative(root, &file);
        let ours = !relative.starts_with('/')
            && !relative.contains("/rustc/")
            && !relative.contains(".cargo/registry")
            && root.join(&relative).is_file();
        ours.then_some((relative, line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_and_suppressions_are_inputs() {
        let def: UnderToolDef =
            toml::from_str("packages = [\"app\"]\nsuppressions = \"race.supp\"").unwrap();
        let gate = UnderTool::new(
            Kind::Race,
            &def,
            "nightly",
            Path::new("/r"),
            &["m/**".into()],
        );
        let globs = &gate.spec().inputs.globs;
        assert!(globs.contains(&"m/**".to_owned()), "{globs:?}");
        assert!(globs.contains(&"race.supp".to_owned()), "{globs:?}");
    }

    #[test]
    fn libtest_results_are_summed_over_binaries() {
        let out = "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
                   test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 5 filtered out; finished in 0.02s\n";
        let tally = Tally::parse(out);
        assert_eq!(
            tally,
            Tally {
                passed: 4,
                failed: 2,
                ignored: 1
            }
        );
        assert_eq!(tally.to_string(), "6 tests ran, 2 failed");
        assert_eq!(Tally::parse("error: could not compile").ran(), 0);
    }

    #[test]
    fn reports_point_at_workspace_lines_only() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("src")).unwrap();
        std::fs::write(root.path().join("src/lib.rs"), "").unwrap();
        let tsan = format!(
            "==================\nWARNING: ThreadSanitizer: data race (pid=42)\n  Write of size 8 at 0x1 by thread T2:\n    #0 core::ptr::write /rustc/abc/library/core/src/ptr/mod.rs:1:1 (x+0x1)\n    #1 racy::bump {}/src/lib.rs:12:9 (x+0x2)\n",
            root.path().display()
        );
        let found = findings(Kind::Race, &tsan, root.path());
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].file.as_str(), found[0].line), ("src/lib.rs", 12));
        assert_eq!(found[0].message, "ThreadSanitizer: data race");

        let miri = "error: Undefined Behavior: memory access failed: attempting to access 4 bytes\n  --> src/lib.rs:30:14\n";
        let found = findings(Kind::Miri, miri, root.path());
        assert_eq!((found[0].file.as_str(), found[0].line), ("src/lib.rs", 30));

        let loom = "thread 'ordering' (7) panicked at src/lib.rs:5:13:\nassertion `left == right` failed\n";
        let found = findings(Kind::Loom, loom, root.path());
        assert_eq!((found[0].file.as_str(), found[0].line), ("src/lib.rs", 5));
        assert!(
            found[0]
                .message
                .starts_with("loom model `ordering` failed: assertion"),
            "{}",
            found[0].message
        );
    }
}
