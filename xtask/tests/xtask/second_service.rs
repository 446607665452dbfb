//! A second service, written by another team with other conventions than the reference app
//! (crate `orders-api`, binary `orders`, `ORDERS_*` variables, no ops listener, `/health` paths,
//! a hand-written OpenAPI document, diesel-style migration directories recorded in
//! `schema_history`, its own metric names, no goose load test), carried through `init`, `ci`,
//! `release --dry-run` and the rollback drill, which releases and promotes it to a local
//! environment three times and rolls the bad release back.

use serde_json::Value;

use crate::support::{Fixture, Run, repo_root, status};

/// The tools the team pins beside what `init` wrote: the gates and stand-ins it added.
const ADDED_TOOLS: [&str; 12] = [
    "squawk",
    "schemathesis",
    "prometheus",
    "postgresql",
    "registry",
    "moto",
    "cyclonedx",
    "skopeo",
    "musl-tools",
    "release-target",
    "nginx",
    "pglast",
];

/// Gates the team adds to the `ci` pipeline `init` wrote.
const ADDED_GATES: [&str; 3] = ["migrations", "slo-rules", "api-fuzz"];

/// The fixture's builds are shared with `init`'s test (see [`Fixture::run_sharing_builds`]).
fn run(fx: &Fixture, args: &[&str]) -> Run {
    fx.run_sharing_builds("orders", args)
}

fn adopt() -> Fixture {
    let fx = Fixture::new("adopter");
    fx.git(&["init", "-q"]);
    let init = run(&fx, &["init"]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let mut config = fx.read("gatehouse.toml");
    let written: toml::Table = toml::from_str(&config).unwrap();
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo_root().join("gatehouse.toml")).unwrap())
            .unwrap();
    let mut tools = toml::Table::new();
    for name in ADDED_TOOLS {
        if written["tools"].get(name).is_none() {
            tools.insert(name.to_owned(), manifest["tools"][name].clone());
        }
    }
    let added = ADDED_GATES.map(|g| format!(", \"{g}\"")).concat();
    config = config.replace(
        "gates = [\"fmt\", \"clippy\", \"doc\", \"test\", \"workflows\"]",
        &format!("gates = [\"fmt\", \"clippy\", \"doc\", \"test\", \"workflows\"{added}]"),
    );
    assert!(config.contains("\"api-fuzz\"]"), "{config}");
    let mut extra = toml::Table::new();
    extra.insert("tools".to_owned(), toml::Value::Table(tools));
    config.push('\n');
    config.push_str(&fx.read("after-init.toml"));
    config.push('\n');
    config.push_str(&toml::to_string(&extra).unwrap());
    fx.write("gatehouse.toml", &config);
    std::fs::remove_file(fx.path("after-init.toml")).unwrap();
    fx.write(
        ".squawk.toml",
        "pg_version = \"15.0\"\nassume_in_transaction = true\n",
    );
    std::fs::create_dir_all(fx.path("ops/slo/generated")).unwrap();
    for (what, file) in [("rules", "rules.yaml"), ("tests", "rules.test.yaml")] {
        let out = run(&fx, &["slo", "render", what]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        fx.write(&format!("ops/slo/generated/{file}"), &out.stdout);
    }
    fx.git(&["add", "-A"]);
    fx.git(&["commit", "-qm", "chore: adopt gatehouse"]);
    fx
}

#[test]
fn another_teams_service_goes_through_ci_release_and_the_rollback_drill() {
    let fx = adopt();

    let ci = run(&fx, &["ci"]);
    assert_eq!(ci.code, 0, "{}{}", ci.stdout, ci.stderr);
    let report = fx.report();
    for gate in ["fmt", "clippy", "doc", "test", "workflows"]
        .into_iter()
        .chain(ADDED_GATES)
    {
        assert_eq!(status(&report, gate), "passed", "{gate}: {report}");
    }

    let release = run(&fx, &["--format", "json", "release", "--dry-run"]);
    assert_eq!(release.code, 0, "{}{}", release.stdout, release.stderr);
    let evidence: Value = serde_json::from_str(&release.stdout).unwrap();
    assert!(
        evidence["binary"]["file"]
            .as_str()
            .is_some_and(|f| f.starts_with("orders-")),
        "the team's binary: {evidence}"
    );
    assert_eq!(evidence["ci"]["outcome"], "passed", "{evidence}");
    // One build per commit: the gate that fuzzed the running service ran the very bytes shipped.
    assert_eq!(
        evidence["ci"]["shipped_binary_judged_by"],
        serde_json::json!(["api-fuzz"]),
        "{evidence}"
    );
    assert_eq!(
        evidence["ci"]["other_binary_judged_by"],
        serde_json::json!([]),
        "{evidence}"
    );
    let files = evidence.to_string();
    assert!(
        files.contains("acme/orders"),
        "the team's image name: {files}"
    );

    let drill = run(
        &fx,
        &["--format", "json", "drill", "rollback", "--fault", "errors"],
    );
    assert_eq!(drill.code, 0, "{}{}", drill.stdout, drill.stderr);
    let drill: Value = serde_json::from_str(&drill.stdout).unwrap();
    assert_eq!(drill["verdict"], "passed", "{drill}");
    assert_eq!(drill["first"], "promoted", "{drill}");
    assert_eq!(drill["healthy"]["verdict"], "promoted", "{drill}");
    assert_eq!(drill["healthy"]["failed_requests"], 0, "{drill}");
    assert!(
        drill["healthy"]["requests"].as_u64().unwrap() > 0,
        "gatehouse's own load went through nginx: {drill}"
    );
    assert_eq!(drill["bad"]["verdict"], "rolled back", "{drill}");
    assert!(
        drill["time_to_detect_ms"].is_u64() && drill["time_to_recover_ms"].is_u64(),
        "{drill}"
    );
    assert_eq!(
        drill["schema_ahead"]["migrations_beyond_live"],
        serde_json::json!([20_991_231_000_000_i64]),
        "the bad release's migration directory was shipped and applied: {drill}"
    );
    assert_eq!(
        drill["schema_ahead"]["readiness_and_smoke"], true,
        "{drill}"
    );
}
