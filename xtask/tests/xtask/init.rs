//! `cargo xtask init` in a workspace that is not gatehouse's: another crate and binary name,
//! migrations in another folder, its own cargo settings. Then `ci` is green there.

use serde_json::Value;

use crate::support::{Fixture, status};

#[test]
fn init_writes_a_pipeline_of_runnable_gates_and_ci_is_green_in_the_adopting_workspace() {
    let fx = Fixture::new("adopter");
    fx.git(&["init", "-q"]);

    let dry = fx.run(&["--format", "json", "init", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let report: Value = serde_json::from_str(&dry.stdout).unwrap();
    assert!(
        !fx.path("gatehouse.toml").exists(),
        "--dry-run writes nothing"
    );
    assert_eq!(report["found"]["packages"][0]["name"], "orders-api");
    assert_eq!(report["found"]["packages"][0]["bins"][0], "orders");
    assert_eq!(report["found"]["migrations"][0], "db/changes");
    let gates: Vec<&str> = report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(gates, ["fmt", "clippy", "doc", "test", "workflows"]);
    let missing = report["missing"].to_string();
    assert!(
        missing.contains(".squawk.toml") && missing.contains("`orders`"),
        "{missing}"
    );

    let run = fx.run(&["init"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("wrote: gatehouse.toml"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("migrations: a .squawk.toml"),
        "says what each missing gate needs: {}",
        run.stdout
    );
    let config = fx.read("gatehouse.toml");
    assert!(config.contains("# bin = \"orders\""), "{config}");
    let cargo = fx.read(".cargo/config.toml");
    assert!(
        cargo.contains("color = \"never\"")
            && cargo.contains("xtask = \"run --quiet --manifest-path")
            && cargo.contains("--bin xtask-thin --no-default-features --\""),
        "the team's settings are kept and the alias added: {cargo}"
    );
    assert!(fx.path(".github/workflows/gatehouse.yml").is_file());

    fx.git(&["add", "-A"]);
    fx.git(&["commit", "-qm", "chore: adopt gatehouse"]);
    let ci = fx.run_sharing_builds("orders", &["ci"]);
    assert_eq!(ci.code, 0, "{}{}", ci.stdout, ci.stderr);
    let report = fx.report();
    for gate in gates {
        assert!(
            ["passed", "cached"].contains(&status(&report, gate)),
            "{gate}: {report}"
        );
    }
}

#[test]
fn init_refuses_outside_a_cargo_workspace_and_over_an_existing_config() {
    let fx = Fixture::new("adopter");
    std::fs::remove_file(fx.path("Cargo.toml")).unwrap();
    let outside = fx.run(&["init"]);
    assert_eq!(outside.code, 2, "{}", outside.stderr);
    assert!(
        outside.stderr.contains("Cargo.toml: not found")
            && outside.stderr.contains("Cargo workspace"),
        "{}",
        outside.stderr
    );
    assert!(!fx.path("gatehouse.toml").exists(), "nothing written");

    let fx = Fixture::new("adopter");
    fx.write("gatehouse.toml", "# ours\n");
    let existing = fx.run(&["init"]);
    assert_eq!(existing.code, 2, "{}", existing.stderr);
    assert!(
        existing.stderr.contains("gatehouse.toml: exists") && existing.stderr.contains("--force"),
        "{}",
        existing.stderr
    );
    assert_eq!(fx.read("gatehouse.toml"), "# ours\n", "left as it was");
    assert!(!fx.path(".github").exists(), "nothing else written either");

    let forced = fx.run(&["init", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(fx.read("gatehouse.toml").contains("[pipelines.ci]"));
}
