//! The `race`, `loom` and `miri` gates on a fixture crate with one deliberate defect per gate:
//! each is caught at its file and line, passes once that test is skipped, and fails when it
//! runs no test at all.

use std::path::Path;

use crate::support::{Fixture, Run, gate_entry, reason, status};

fn racy() -> Fixture {
    Fixture::new("racy")
}

/// race and loom share one target directory (the sanitized std and loom build once); miri's
/// test "binaries" remember the directory they were built in, so each fixture keeps its own.
fn run(fx: &Fixture, gate: &str) -> Run {
    if gate == "miri" {
        return fx.run(&["gate", gate]);
    }
    let target = concat!(env!("CARGO_TARGET_TMPDIR"), "/racy-target");
    fx.run_in_target(Path::new(target), &["gate", gate])
}

/// The 1-based line of the first line of `file` containing `needle`.
fn line_of(fx: &Fixture, file: &str, needle: &str) -> u64 {
    let text = fx.read(file);
    let index = text.lines().position(|l| l.contains(needle));
    u64::try_from(index.expect("needle in fixture") + 1).unwrap()
}

/// Skips `test` in `gate`, and drops the filter that selected only it (a filter that matches
/// no test fails the gate).
fn skip_in(fx: &Fixture, gate: &str, test: &str) {
    let config = fx
        .read("gatehouse.toml")
        .replace(
            &format!("[{gate}]\n"),
            &format!("[{gate}]\nskip = [\"{test}\"]\n"),
        )
        .replace(&format!("filters = [\"{test}\", "), "filters = [");
    fx.write("gatehouse.toml", &config);
}

/// Runs `gate`: it must fail at `file:line` with `message`, then pass without `test`.
fn caught_then_clean(gate: &str, file: &str, needle: &str, message: &str, test: &str, clean: &str) {
    let fx = racy();
    let first = run(&fx, gate);
    let log = fx.run_file(&format!("gates/{gate}.log"));
    assert_eq!(first.code, 1, "{gate} must fail: {}{log}", first.stdout);
    let report = fx.report();
    assert_eq!(status(&report, gate), "failed");
    let diagnostics = gate_entry(&report, gate)["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let finding = diagnostics
        .iter()
        .find(|d| d["message"].as_str().unwrap_or("").contains(message))
        .unwrap_or_else(|| panic!("{gate}: no `{message}` in {diagnostics:?}\n{log}"));
    assert_eq!(finding["file"], file, "{finding}");
    assert_eq!(finding["line"], line_of(&fx, file, needle), "{finding}");
    assert!(reason(&report, gate).starts_with(&format!("{file}:")));

    skip_in(&fx, gate, test);
    let second = run(&fx, gate);
    let log = fx.run_file(&format!("gates/{gate}.log"));
    assert_eq!(
        second.code, 0,
        "{gate} without {test}: {}{log}",
        second.stdout
    );
    let summary = gate_entry(&fx.report(), gate)["summary"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        summary.starts_with(&format!(
            "{clean} tests ran, 0 failed under {gate}; per package: racy {clean}"
        )),
        "{summary}"
    );
}

#[test]
fn race_catches_an_unsynchronised_counter() {
    caught_then_clean(
        "race",
        "src/lib.rs",
        "*shared.0 += 1",
        "ThreadSanitizer: data race",
        "race_counter",
        "2",
    );
}

#[test]
fn loom_catches_a_relaxed_publication() {
    caught_then_clean(
        "loom",
        "tests/loom.rs",
        "saw the flag but not the data",
        "loom model `relaxed_publication` failed",
        "relaxed_publication",
        "1",
    );
}

#[test]
fn miri_catches_an_out_of_bounds_read() {
    caught_then_clean(
        "miri",
        "src/lib.rs",
        "*items.as_ptr().add(items.len())",
        "miri: undefined behaviour: memory access failed",
        "out_of_bounds_read",
        "1",
    );
}

#[test]
fn a_filter_that_matches_no_test_fails_the_gate_naming_it() {
    let fx = racy();
    let config = fx.read("gatehouse.toml").replace(
        "filters = [\"out_of_bounds_read\", \"sound_sum\"]",
        "filters = [\"sound_sum\", \"renamed_away\"]",
    );
    fx.write("gatehouse.toml", &config);
    assert_eq!(run(&fx, "miri").code, 1);
    let report = fx.report();
    let why = reason(&report, "miri");
    assert!(
        why.contains("filter `renamed_away` matched no test"),
        "{why}"
    );
}

#[test]
fn a_gate_that_runs_no_test_fails() {
    let fx = racy();
    let config = fx.read("gatehouse.toml").replace(
        "filters = [\"out_of_bounds_read\", \"sound_sum\"]",
        "filters = [\"no_such_test\"]",
    );
    fx.write("gatehouse.toml", &config);
    assert_eq!(run(&fx, "miri").code, 1);
    let why = reason(&fx.report(), "miri").to_owned();
    assert!(
        why.contains("0 tests ran") && why.contains("runs no test"),
        "{why}"
    );
}
