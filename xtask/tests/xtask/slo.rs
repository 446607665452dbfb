//! SLO specs → generated rules, promtool tests and dashboard, on the fixture workspace: the
//! rules pass promtool (`slo-rules`), a stale spec fails `codegen-verify`, an edited rule fails
//! its own promtool tests, and a bad spec is refused naming the field.

use crate::support::{Fixture, reason, status};

const SPEC: &str = "service: shop\njob: shop\nobjectives:\n  - name: availability\n    description: no server errors\n    sli: availability\n    target: 99.5\n  - name: latency\n    description: fast reads\n    sli: latency\n    target: 95\n    routes: /v1/items\n    methods: GET\n    threshold_ms: 100\n";

/// The engine fixture with an SLO spec and the three generated files registered.
fn with_slo() -> Fixture {
    let fx = Fixture::new("engine");
    std::fs::create_dir_all(fx.path("slo/generated")).unwrap();
    fx.write("slo/shop.yaml", SPEC);
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let mut config = fx.read("gatehouse.toml");
    for (name, file, args) in [
        ("rules", "rules.yaml", "\"rules\""),
        ("tests", "rules.test.yaml", "\"tests\""),
        ("dashboard", "dashboard.json", "\"dashboard\", \"shop\""),
    ] {
        config.push_str(&format!(
            "\n[codegen.slo-{name}]\npath = \"slo/generated/{file}\"\nrun = [\"{xtask}\", \"slo\", \"render\", {args}]\ninputs = [\"slo/*.yaml\"]\n"
        ));
    }
    config.push_str("\n[slo]\ndir = \"slo\"\nrules = \"slo/generated/rules.yaml\"\nrule_tests = \"slo/generated/rules.test.yaml\"\n\n[tools.prometheus]\nsource = \"debian\"\nbin = \"promtool\"\nversion = \"2.42.0\"\n");
    fx.write("gatehouse.toml", &config);
    let run = fx.run(&["codegen"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    fx
}

#[test]
fn generated_rules_pass_promtool_and_their_alert_tests() {
    let fx = with_slo();
    let run = fx.run(&["gate", "slo-rules", "codegen-verify"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = fx.report();
    assert_eq!(status(&report, "slo-rules"), "passed");
    assert_eq!(
        crate::support::gate_entry(&report, "slo-rules")["summary"],
        "28 rules valid; 16 alert tests passed"
    );
    let rules = fx.read("slo/generated/rules.yaml");
    assert!(rules.contains("ShopAvailabilityErrorBudgetBurn"), "{rules}");
    // 14.4 × (1 − 0.995) and the latency bucket bound in seconds.
    assert!(rules.contains("> 0.072 and"), "{rules}");
    assert!(rules.contains(r#"le="0.1""#), "{rules}");
    let dashboard: serde_json::Value =
        serde_json::from_str(&fx.read("slo/generated/dashboard.json")).unwrap();
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"latency: error budget remaining (30 days)"),
        "{titles:?}"
    );
}

#[test]
fn a_stale_spec_fails_codegen_verify_and_an_edited_rule_fails_its_tests() {
    let fx = with_slo();
    fx.write(
        "slo/shop.yaml",
        &SPEC.replace("target: 99.5", "target: 99.9"),
    );
    let run = fx.run(&["gate", "codegen-verify"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        reason(&fx.report(), "codegen-verify").contains("slo/generated/rules.yaml"),
        "{}",
        reason(&fx.report(), "codegen-verify")
    );

    fx.write("slo/shop.yaml", SPEC);
    let rules = fx
        .read("slo/generated/rules.yaml")
        .replace("> 0.072 and", "> 0.09 and");
    fx.write("slo/generated/rules.yaml", &rules);
    let run = fx.run(&["gate", "slo-rules"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let why = reason(&fx.report(), "slo-rules").to_owned();
    assert!(why.contains("promtool test rules failed"), "{why}");
    assert!(why.contains("1.1x the 14.4x threshold"), "{why}");
}

#[test]
fn a_test_file_without_alert_tests_fails_instead_of_passing_nothing() {
    let fx = with_slo();
    fx.write(
        "slo/generated/rules.test.yaml",
        "rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests: []\n",
    );
    let run = fx.run(&["gate", "slo-rules"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        reason(&fx.report(), "slo-rules").contains("has no alert test"),
        "{}",
        reason(&fx.report(), "slo-rules")
    );
}

#[test]
fn a_bad_spec_is_refused_naming_the_file_and_field() {
    let fx = with_slo();
    fx.write(
        "slo/shop.yaml",
        &SPEC.replace("threshold_ms: 100", "threshold_ms: 0"),
    );
    let run = fx.run(&["slo", "render", "rules"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("slo/shop.yaml"), "{}", run.stderr);
    assert!(
        run.stderr.contains("objectives[1] (latency).threshold_ms"),
        "{}",
        run.stderr
    );
}
