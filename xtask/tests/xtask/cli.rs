//! The command-line grammar as a table of valid and invalid command lines.

use clap::Parser;
use xtask::cli::Cli;

#[test]
fn valid_command_lines_parse() {
    let valid = [
        "cargo-xtask ci",
        "cargo-xtask ci --jobs 4 --keep-going --no-cache --format json",
        "cargo-xtask --root /tmp ci",
        "cargo-xtask gate fmt clippy",
        "cargo-xtask gate -j 1 fmt",
        "cargo-xtask list --format json",
        "cargo-xtask plan ci",
        "cargo-xtask tools",
        "cargo-xtask tools list",
        "cargo-xtask tools install",
        "cargo-xtask tools install cargo-deny yamllint",
        "cargo-xtask doctor",
        "cargo-xtask completions bash",
        "cargo-xtask completions zsh",
        "cargo-xtask dev up",
        "cargo-xtask dev down",
        "cargo-xtask dev status",
        "cargo-xtask aws identity",
        "cargo-xtask aws identity --region eu-west-1 --format json",
    ];
    for line in valid {
        let parsed = Cli::try_parse_from(line.split_whitespace());
        assert!(parsed.is_ok(), "`{line}` should parse: {:?}", parsed.err());
    }
}

#[test]
fn invalid_command_lines_are_usage_errors() {
    let invalid = [
        "cargo-xtask",
        "cargo-xtask gate",
        "cargo-xtask plan",
        "cargo-xtask ci --jobs 0",
        "cargo-xtask ci --jobs many",
        "cargo-xtask ci --format yaml",
        "cargo-xtask deploy",
        "cargo-xtask completions tcsh",
        "cargo-xtask tools remove x",
        "cargo-xtask dev",
        "cargo-xtask dev restart",
        "cargo-xtask aws",
        "cargo-xtask aws identity eu-west-1",
    ];
    for line in invalid {
        let err = Cli::try_parse_from(line.split_whitespace()).err();
        let err = err.unwrap_or_else(|| panic!("`{line}` should be rejected"));
        assert_eq!(err.exit_code(), 2, "`{line}` should exit 2");
    }
}

#[test]
fn help_documents_every_exit_code() {
    let help = Cli::try_parse_from(["cargo-xtask", "--help"])
        .unwrap_err()
        .to_string();
    for code in ["0 ", "1 ", "2 ", "3 ", "130"] {
        assert!(
            help.contains(&format!("  {code}")),
            "--help should document exit code {code}:\n{help}"
        );
    }
    for sub in [
        "ci",
        "gate",
        "list",
        "plan",
        "tools",
        "doctor",
        "completions",
    ] {
        assert!(
            help.contains(&format!("  {sub} ")),
            "--help should list `{sub}`"
        );
    }
}
