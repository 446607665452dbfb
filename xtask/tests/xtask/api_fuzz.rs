//! The `api-fuzz` gate on a std-only fixture service (built with cargo, fuzzed by the real
//! schemathesis), broken one documented way at a time through `FIXTURE_FLAVOUR`.

use crate::support::{Fixture, gate_entry, reason, status};

fn service(flavour: &str) -> Fixture {
    let fx = Fixture::new("service");
    let config = fx.read("gatehouse.toml").replace(
        "FIXTURE_FLAVOUR = \"ok\"",
        &format!("FIXTURE_FLAVOUR = \"{flavour}\""),
    );
    fx.write("gatehouse.toml", &config);
    fx
}

/// Declares `check` off for the fixture's one operation, with `reason`.
fn except(fx: &Fixture, check: &str, reason: &str) {
    let mut config = fx.read("gatehouse.toml");
    config.push_str(&format!(
        "\n[[api-fuzz.exceptions]]\noperation = \"GET /items/{{n}}\"\ncheck = \"{check}\"\nreason = \"{reason}\"\n"
    ));
    fx.write("gatehouse.toml", &config);
}

fn failed_with(flavour: &str, expected: &str) {
    let fx = service(flavour);
    let run = fx.run(&["gate", "api-fuzz"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report = fx.report();
    assert_eq!(status(&report, "api-fuzz"), "failed");
    let why = reason(&report, "api-fuzz");
    assert!(why.contains(expected), "{flavour}: {why}");
    assert!(
        why.contains("on GET /items/{n}"),
        "names the operation: {why}"
    );
}

#[test]
fn a_conforming_service_passes_with_counts_and_the_token_reaches_it() {
    let fx = service("ok");
    let run = fx.run(&["gate", "api-fuzz"]);
    let log = fx.run_file("gates/api-fuzz.log");
    assert_eq!(run.code, 0, "{}{log}", run.stdout);
    let summary = gate_entry(&fx.report(), "api-fuzz")["summary"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(summary.starts_with("1 operations, "), "{summary}");
    let cases: u64 = summary
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        cases >= 50,
        "at least the configured examples ran: {summary}"
    );
    assert!(log.contains("setup"), "the setup command ran: {log}");
    let served = fx.run_file("gates/api-fuzz/service.log");
    assert!(
        served
            .lines()
            .filter(|l| l.starts_with("authorized"))
            .count()
            >= 10,
        "requests carried the identity's token"
    );
    assert!(log.contains("GATEHOUSE_FUZZ_TOKEN=[redacted]"), "{log}");
    assert!(!log.contains("fixture-token"), "no token in the log");
    let reports: Vec<String> =
        std::fs::read_dir(fx.path("target/xtask/runs/latest/gates/api-fuzz/user"))
            .expect("schemathesis reports kept in the run directory")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    for kind in ["json-", "junit-"] {
        assert!(
            reports.iter().any(|r| r.starts_with(kind)),
            "{kind}: {reports:?}"
        );
    }
}

#[test]
fn an_undocumented_status_fails() {
    failed_with("undocumented-status", "Undocumented status code");
}

#[test]
fn a_server_error_fails() {
    failed_with("server-error", "Server error");
}

#[test]
fn a_response_that_violates_its_schema_fails() {
    failed_with("schema-violation", "Response violates schema");
}

#[test]
fn a_missing_required_header_the_service_accepts_fails() {
    failed_with("header-ignored", "Missing required header accepted");
}

/// The document is looser than the server: a schema-valid request is refused. That fails, unless
/// the operation declares the exception with its reason, which the summary then shows.
#[test]
fn a_schema_valid_request_refused_fails_unless_declared_with_a_reason() {
    failed_with("picky", "Schema-valid request rejected");

    let fx = service("picky");
    except(
        &fx,
        "positive_data_acceptance",
        "items above 1000 are archived",
    );
    let run = fx.run(&["gate", "api-fuzz"]);
    assert_eq!(
        run.code,
        0,
        "{}{}",
        run.stdout,
        fx.run_file("gates/api-fuzz.log")
    );
    let summary = gate_entry(&fx.report(), "api-fuzz")["summary"].to_string();
    assert!(
        summary.contains("every check but 1 (positive_data_acceptance on GET /items/{n}: items above 1000 are archived)"),
        "{summary}"
    );
}

#[test]
fn an_exception_must_name_a_real_check_and_a_reason() {
    let fx = service("ok");
    except(&fx, "be_nice", "");
    let run = fx.run(&["gate", "api-fuzz"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("api-fuzz.exceptions[0].check: `be_nice` is not a schemathesis check")
            && run.stderr.contains("api-fuzz.exceptions[0].reason"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_contract_path_the_service_does_not_serve_fails_naming_the_key() {
    let fx = Fixture::new("service");
    let config = fx.read("gatehouse.toml").replace(
        "openapi = \"/openapi.json\"\n",
        "openapi = \"/openapi.json\"\nsmoke = [\"/readyz\", \"/not-served\"]\n",
    );
    fx.write("gatehouse.toml", &config);
    let run = fx.run(&["gate", "api-fuzz"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report = fx.report();
    let why = reason(&report, "api-fuzz");
    assert!(
        why.contains("[service] smoke") && why.contains("/not-served"),
        "{why}"
    );
}
