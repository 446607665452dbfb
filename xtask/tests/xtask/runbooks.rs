//! Every `cargo xtask …` command quoted in a runbook parses with today's command line, and every
//! runbook says how the problem is detected and how recovery is verified.

use clap::Parser;
use xtask::cli::Cli;

fn runbooks() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The `cargo xtask …` commands inside backticks (or backtick-quoted on their own).
fn quoted_commands(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| code.find("cargo xtask ").map(|i| code[i..].to_owned()))
        .collect()
}

#[test]
fn every_quoted_command_parses() {
    let mut seen = 0;
    for (file, text) in runbooks() {
        for command in quoted_commands(&text) {
            let words = command.split_whitespace().skip(1);
            let parsed = Cli::try_parse_from(words);
            assert!(
                parsed.is_ok(),
                "{file}: `{command}` does not parse: {}",
                parsed.unwrap_err()
            );
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} commands found in the runbooks");
}

#[test]
fn a_broken_command_is_caught() {
    let bad = quoted_commands("run `cargo xtask promote --nope` now");
    assert_eq!(bad, ["cargo xtask promote --nope"]);
    assert!(Cli::try_parse_from(bad[0].split_whitespace().skip(1)).is_err());
}

#[test]
fn every_runbook_says_how_it_is_detected_and_how_recovery_is_verified() {
    let names: Vec<String> = runbooks()
        .iter()
        .map(|(f, _)| f.rsplit('/').next().unwrap().to_owned())
        .collect();
    for wanted in [
        "rollback.md",
        "failed-promotion.md",
        "database-outage.md",
        "registry-outage.md",
        "signing-key-rotation.md",
        "slo-burn.md",
    ] {
        assert!(
            names.contains(&wanted.to_owned()),
            "runbooks/{wanted} missing: {names:?}"
        );
    }
    for (file, text) in runbooks() {
        assert!(
            text.contains("Verify"),
            "{file} does not say how to verify recovery"
        );
        if !file.ends_with("signing-key-rotation.md") {
            assert!(
                text.contains("Detected by") || text.contains("alert"),
                "{file} does not say how it is detected"
            );
        }
    }
}

/// `docs/gates.md` says, for every gate `cargo xtask list` knows, what a pass guarantees and
/// what it does not: one row each in the table under `## What a pass guarantees`.
#[test]
fn the_gate_guide_says_what_each_pass_guarantees_and_what_it_does_not() {
    let list = crate::support::repo_xtask(&["--format", "json", "list"], &[]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let gates: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let guide = std::fs::read_to_string(crate::support::repo_root().join("docs/gates.md")).unwrap();
    let section = guide
        .split("\n## What a pass guarantees\n")
        .nth(1)
        .expect("docs/gates.md has a `## What a pass guarantees` section");
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    for gate in &gates {
        let name = gate["name"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r[0] == format!("`{name}`"))
            .unwrap_or_else(|| panic!("no row for `{name}` in docs/gates.md"));
        assert_eq!(
            row.len(),
            3,
            "`{name}`: gate, guarantees, does not guarantee"
        );
        assert!(
            row[1].len() > 20 && row[2].len() > 20,
            "`{name}`: say what a pass guarantees and what it does not: {row:?}"
        );
    }
    assert_eq!(
        rows.len(),
        gates.len(),
        "one row per gate, no row for a gate that is gone"
    );
}
