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

/// Every setting loom reads from the environment: removed from the loom gate's, so a caller's
/// `LOOM_MAX_PREEMPTIONS=1` cannot shrink the exploration (`[loom] env` sets them explicitly).
const LOOM_SETTINGS: [&str; 8] = [
    "LOOM_MAX_PREEMPTIONS",
    "LOOM_MAX_BRANCHES",
    "LOOM_MAX_PERMUTATIONS",
    "LOOM_MAX_DURATION",
    "LOOM_CHECKPOINT_FILE",
    "LOOM_CHECKPOINT_INTERVAL",
    "LOOM_LOCATION",
    "LOOM_LOG",
];

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
                rust: true,
                git: Vec::new(),
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
            // CARGO_ENCODED_RUSTFLAGS wins over RUSTFLAGS and every config: whatever the caller
            // set, the tests are instrumented (and `instrumented` checks the binaries).
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
            .env("CARGO_ENCODED_RUSTFLAGS", "-Zsanitizer=thread")
            .env("RUSTDOCFLAGS", "-Zsanitizer=thread"),
            // loom's bounds are the gate's (`[loom] env`, else loom's exhaustive defaults), never
            // inherited from the caller's environment.
            Kind::Loom => LOOM_SETTINGS.iter().fold(
                Step::new("cargo", &["test", "--release"])
                    .env("CARGO_ENCODED_RUSTFLAGS", "--cfg\u{1f}loom"),
                |step, key| step.unset(key),
            ),
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
        if !self.def.default_features {
            step = step.args(["--no-default-features".to_owned()]);
        }
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
        let binaries = binaries(&out.stdout, &out.stderr);
        let targets = package_targets(&ctx.root, &self.def.packages)?;
        let selection = Selection::count(&self.def, &binaries, &targets);
        let ran = format!("{} under {}; {selection}", tally, self.kind.name());
        let mut problems = selection.problems(self.kind.name());
        if self.kind == Kind::Race {
            problems.extend(uninstrumented(&ctx.root, &binaries));
        }
        if out.success() && tally.ran() > 0 && problems.is_empty() {
            return Ok(Verdict::passed(Some(ran)));
        }
        if out.success() && tally.ran() > 0 {
            return Ok(Verdict::failed(problems.join("; ")).with_summary(ran));
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

/// One test binary cargo ran: its path (from `Running … (path)`) and the tests libtest reported.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Binary {
    pub path: Option<String>,
    /// Tests that ran (passed or failed; ignored ones are not counted).
    pub tests: Vec<String>,
}

/// Pairs cargo's `Running …` / `Doc-tests …` lines (stderr) with libtest's `running N tests`
/// blocks (stdout): cargo runs one binary at a time, so both come in the same order.
pub fn binaries(stdout: &str, stderr: &str) -> Vec<Binary> {
    let paths: Vec<Option<String>> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Running ") || l.starts_with("Doc-tests "))
        .map(|l| {
            l.rsplit_once(" (")
                .filter(|_| l.ends_with(')') && l.starts_with("Running "))
                .map(|(_, p)| p.trim_end_matches(')').to_owned())
        })
        .collect();
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for line in stdout.lines().map(str::trim) {
        if line.starts_with("running ") && (line.ends_with(" tests") || line.ends_with(" test")) {
            blocks.push(Vec::new());
        } else if let Some(rest) = line.strip_prefix("test ")
            && let Some((name, result)) = rest.rsplit_once(" ... ")
            && (result.starts_with("ok") || result.starts_with("FAILED"))
            && let Some(block) = blocks.last_mut()
        {
            block.push(name.to_owned());
        }
    }
    let mut paths = paths.into_iter();
    blocks
        .into_iter()
        .map(|tests| Binary {
            path: paths.next().flatten(),
            tests,
        })
        .collect()
}

/// Each package's target names (as test binaries are named: `-` becomes `_`), from
/// `cargo metadata`.
fn package_targets(root: &Path, packages: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    let out = crate::process::capture(
        xshell::cmd!(sh, "cargo metadata --format-version 1 --no-deps --locked"),
        Duration::from_secs(300),
    )?;
    anyhow::ensure!(
        out.success(),
        "cargo metadata failed: {}",
        out.stderr.trim()
    );
    let metadata: serde_json::Value = serde_json::from_str(&out.stdout)?;
    let empty = Vec::new();
    Ok(packages
        .iter()
        .map(|name| {
            let targets = metadata["packages"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter(|p| p["name"] == name.as_str())
                .flat_map(|p| p["targets"].as_array().unwrap_or(&empty))
                .filter_map(|t| t["name"].as_str().map(|n| n.replace('-', "_")))
                .collect();
            (name.clone(), targets)
        })
        .collect())
}

/// What the gate's selection matched: tests per package and per filter.
#[derive(Debug, PartialEq, Eq)]
pub struct Selection {
    pub packages: Vec<(String, usize)>,
    pub filters: Vec<(String, usize)>,
}

impl Selection {
    pub fn count(
        def: &UnderToolDef,
        binaries: &[Binary],
        targets: &[(String, Vec<String>)],
    ) -> Selection {
        let stem = |path: &str| -> String {
            let file = Path::new(path)
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
            file.rsplit_once('-')
                .map_or(file.clone(), |(stem, _)| stem.to_owned())
        };
        let packages = targets
            .iter()
            .map(|(package, names)| {
                let ran = binaries
                    .iter()
                    .filter(|b| b.path.as_deref().is_some_and(|p| names.contains(&stem(p))))
                    .map(|b| b.tests.len())
                    .sum();
                (package.clone(), ran)
            })
            .collect();
        let filters = def
            .filters
            .iter()
            .map(|f| {
                let matched = binaries
                    .iter()
                    .flat_map(|b| &b.tests)
                    .filter(|t| t.contains(f.as_str()))
                    .count();
                (f.clone(), matched)
            })
            .collect();
        Selection { packages, filters }
    }

    /// Every package and every filter must have run at least one test.
    pub fn problems(&self, gate: &str) -> Vec<String> {
        let packages = self.packages.iter().filter(|(_, n)| *n == 0).map(|(p, _)| {
            format!("package `{p}` ran no test: check [{gate}] packages, targets and filters")
        });
        let filters = self.filters.iter().filter(|(_, n)| *n == 0).map(|(f, _)| {
            format!("filter `{f}` matched no test: a renamed test left the selection; fix [{gate}] filters")
        });
        packages.chain(filters).collect()
    }
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |items: &[(String, usize)]| {
            items
                .iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "per package: {}", list(&self.packages))?;
        if !self.filters.is_empty() {
            write!(f, "; per filter: {}", list(&self.filters))?;
        }
        Ok(())
    }
}

/// Test binaries of the run that carry no ThreadSanitizer runtime (`__tsan_init`): whatever
/// flags the caller set, a race gate must have run instrumented code.
fn uninstrumented(root: &Path, binaries: &[Binary]) -> Vec<String> {
    let paths: Vec<&str> = binaries.iter().filter_map(|b| b.path.as_deref()).collect();
    if paths.is_empty() {
        return vec![
            "no test binary was named in cargo's output: instrumentation unproven".to_owned(),
        ];
    }
    paths
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(root.join(p)).unwrap_or_default();
            !bytes.windows(11).any(|w| w == b"__tsan_init")
        })
        .map(|p| format!("{p} is not instrumented by ThreadSanitizer"))
        .collect()
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

    const STDERR: &str = "   Compiling tiny v0.1.0\n    Finished `test` profile [unoptimized + debuginfo] target(s) in 1.0s\n     Running unittests src/lib.rs (target/race/x86_64-unknown-linux-gnu/debug/deps/gatehouse_sync-0a1b2c3d)\n     Running tests/api/main.rs (target/race/x86_64-unknown-linux-gnu/debug/deps/api-9f8e7d)\n     Running unittests src/lib.rs (target/race/x86_64-unknown-linux-gnu/debug/deps/xtask-1234)\n";
    const STDOUT: &str = "\nrunning 2 tests\ntest flag::tests::raised ... ok\ntest once_map::tests::first ... ok\n\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.01s\n\n\nrunning 1 test\ntest idempotency_key::concurrent_first_uses ... FAILED\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 9 filtered out; finished in 0.5s\n\n\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 40 filtered out; finished in 0.00s\n\n";

    fn def(filters: &[&str]) -> UnderToolDef {
        UnderToolDef {
            packages: vec!["gatehouse-sync".into(), "svc".into(), "xtask".into()],
            filters: filters.iter().map(|f| (*f).to_owned()).collect(),
            ..toml::from_str("packages = []").unwrap()
        }
    }

    fn targets() -> Vec<(String, Vec<String>)> {
        vec![
            (
                "gatehouse-sync".into(),
                vec!["gatehouse_sync".into(), "loom".into()],
            ),
            ("svc".into(), vec!["svc".into(), "api".into()]),
            ("xtask".into(), vec!["xtask".into()]),
        ]
    }

    #[test]
    fn tests_are_attributed_to_their_binary_and_package() {
        let found = binaries(STDOUT, STDERR);
        assert_eq!(found.len(), 3);
        assert_eq!(
            found[1],
            Binary {
                path: Some("target/race/x86_64-unknown-linux-gnu/debug/deps/api-9f8e7d".into()),
                tests: vec!["idempotency_key::concurrent_first_uses".into()],
            }
        );
        let selection = Selection::count(&def(&["flag::", "idempotency_key"]), &found, &targets());
        assert_eq!(
            selection.packages,
            [
                ("gatehouse-sync".into(), 2),
                ("svc".into(), 1),
                ("xtask".into(), 0)
            ]
        );
        assert_eq!(
            selection.filters,
            [("flag::".into(), 1), ("idempotency_key".into(), 1)]
        );
        assert_eq!(
            selection.to_string(),
            "per package: gatehouse-sync 2, svc 1, xtask 0; per filter: flag:: 1, idempotency_key 1"
        );
    }

    #[test]
    fn a_package_or_a_filter_that_selects_nothing_fails_the_gate() {
        let found = binaries(STDOUT, STDERR);
        let selection = Selection::count(&def(&["flag::", "renamed_away"]), &found, &targets());
        let problems = selection.problems("race");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("package `xtask` ran no test"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("filter `renamed_away` matched no test"),
            "{problems:?}"
        );
    }

    #[test]
    fn only_binaries_carrying_the_tsan_runtime_count_as_instrumented() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plain-1"), b"\x7fELF no sanitizer here").unwrap();
        std::fs::write(dir.path().join("tsan-2"), b"\x7fELF ... __tsan_init ...").unwrap();
        let run = |name: &str| Binary {
            path: Some(name.to_owned()),
            tests: Vec::new(),
        };
        assert!(uninstrumented(dir.path(), &[run("tsan-2")]).is_empty());
        let problems = uninstrumented(dir.path(), &[run("tsan-2"), run("plain-1")]);
        assert_eq!(problems, ["plain-1 is not instrumented by ThreadSanitizer"]);
        assert_eq!(
            uninstrumented(dir.path(), &[]).len(),
            1,
            "no binary named: unproven"
        );
    }

    #[test]
    fn loom_bounds_come_from_the_gate_never_from_the_callers_environment() {
        let gate = UnderTool::new(
            Kind::Loom,
            &toml::from_str(
                "packages = [\"gatehouse-sync\"]\nenv = { LOOM_MAX_PREEMPTIONS = \"2\" }",
            )
            .unwrap(),
            "nightly",
            Path::new("/r"),
            &[],
        );
        let step = gate.step();
        assert!(step.unset.contains(&"LOOM_MAX_PREEMPTIONS".to_owned()));
        assert!(step.unset.contains(&"LOOM_MAX_BRANCHES".to_owned()));
        assert!(
            step.env
                .contains(&("LOOM_MAX_PREEMPTIONS".to_owned(), "2".to_owned())),
            "[loom] env is applied after"
        );
        let race = UnderTool::new(Kind::Race, &def(&[]), "nightly", Path::new("/r"), &[]);
        assert!(
            race.step().env.contains(&(
                "CARGO_ENCODED_RUSTFLAGS".to_owned(),
                "-Zsanitizer=thread".to_owned()
            )),
            "the sanitizer flag cannot be overridden by the caller's RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS"
        );
    }

    #[test]
    fn default_features_false_builds_the_packages_without_them() {
        let step = |toml: &str| {
            let def = toml::from_str(&format!("packages = [\"gatehouse-gates\"]\n{toml}")).unwrap();
            UnderTool::new(Kind::Miri, &def, "nightly", Path::new("/r"), &[])
                .step()
                .args
        };
        let args = step("default_features = false");
        let flag = args.iter().position(|a| a == "--no-default-features");
        let separator = args.iter().position(|a| a == "--");
        assert!(
            flag.is_some() && flag < separator,
            "a cargo flag, before libtest's arguments: {args:?}"
        );
        assert!(!step("").contains(&"--no-default-features".to_owned()));
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
