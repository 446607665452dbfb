//! `cargo xtask load smoke` against the reference service (the app is what the `slo` gate is
//! proven on): a clean run meets every threshold and every SLO; 5% injected server errors fail
//! the availability objective on both sides; injected latency fails the latency objective on
//! both sides. Each run is real PostgreSQL, Prometheus and goose against the workspace's dev
//! build (`--dev`: the binaries the test build already compiled), so the test suite nests no
//! release build of the app; `ci`'s `slo` gate runs the same load against the release build.

use serde_json::Value;

use crate::support::Run;

#[expect(
    clippy::disallowed_methods,
    reason = "the tests drive the xtask binary as a user would"
)]
fn load(env: &[(&str, &str)]) -> (Run, Value) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("--root")
        .arg(root)
        .args(["--format", "json", "load", "smoke", "--dev"]);
    for var in [
        "APP_FAULT_ERROR_RATE",
        "APP_FAULT_LATENCY_MS",
        "APP_FAULT_LATENCY_RATE",
        "RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_ACTIONS",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run xtask load");
    let run = Run::from(out);
    let outcome = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|_| panic!("JSON outcome: {}{}", run.stdout, run.stderr));
    (run, outcome)
}

fn ratio(outcome: &Value, slo: &str) -> f64 {
    outcome["server"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slo"] == slo)
        .and_then(|s| s["error_ratio"].as_f64())
        .unwrap_or_else(|| panic!("no server-side ratio for {slo}: {outcome}"))
}

#[test]
fn a_clean_smoke_run_passes_and_injected_errors_and_latency_fail_their_objectives() {
    let summary = tempfile::NamedTempFile::new().unwrap();
    let summary_path = summary.path().display().to_string();
    let (clean, outcome) = load(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary_path.as_str()),
    ]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert!(
        clean.stderr.contains("against the dev build"),
        "{}",
        clean.stderr
    );
    let binary = outcome["binary"].as_str().unwrap();
    assert!(
        std::path::Path::new(binary).ends_with("debug/app"),
        "--dev runs the test build's binary, not a release build: {binary}"
    );
    assert_eq!(
        outcome["binary_sha256"].as_str().map(str::len),
        Some(64),
        "the binary judged is named by its content: {outcome}"
    );
    assert_eq!(outcome["client_exit"], 0);
    assert_eq!(
        outcome["thresholds"][0], "error-rate<0.1%",
        "thresholds come from the SLO specs"
    );
    assert!(
        outcome["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "p99<250ms for GET /v1/tasks")
    );
    assert!(ratio(&outcome, "availability") <= 0.001);
    assert!(ratio(&outcome, "tasks-latency") <= 0.01);
    let reports = std::path::Path::new(outcome["reports"].as_str().unwrap());
    for report in ["report.html", "report.json", "report.md"] {
        assert!(reports.join(report).is_file(), "goose wrote {report}");
    }
    let step_summary = std::fs::read_to_string(summary.path()).unwrap();
    assert!(
        step_summary.contains("## Load test: smoke profile")
            && step_summary.contains("| error-rate"),
        "the Markdown report goes to $GITHUB_STEP_SUMMARY: {step_summary}"
    );

    let (errors, outcome) = load(&[("APP_FAULT_ERROR_RATE", "0.05")]);
    assert_eq!(
        errors.code, 5,
        "a failed SLO has its own exit code: {}",
        errors.stderr
    );
    assert_eq!(
        outcome["client_exit"], 99,
        "goose's error-rate threshold failed"
    );
    let availability = ratio(&outcome, "availability");
    assert!(
        (0.02..0.1).contains(&availability),
        "about 5% server errors: {availability}"
    );
    assert!(
        errors.stderr.contains("slo `availability` error ratio"),
        "{}",
        errors.stderr
    );

    let (slow, outcome) = load(&[
        ("APP_FAULT_LATENCY_MS", "300"),
        ("APP_FAULT_LATENCY_RATE", "1"),
    ]);
    assert_eq!(slow.code, 5, "{}", slow.stderr);
    assert_eq!(outcome["client_exit"], 99);
    assert!(
        slow.stderr.contains("p99<250ms for GET /v1/tasks"),
        "{}",
        slow.stderr
    );
    assert!(ratio(&outcome, "tasks-latency") > 0.5, "{outcome}");
    assert!(
        ratio(&outcome, "availability") <= 0.001,
        "slow is not unavailable"
    );
}
