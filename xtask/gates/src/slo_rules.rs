//! `slo-rules`: the Prometheus rules generated from the SLO specs pass `promtool check rules`
//! and their own unit tests (`promtool test rules`): every burn-rate alert fires at its rate and
//! stays silent below it.

use anyhow::Result;

use crate::config::SloDef;
use crate::engine::gate::{Gate, GateSpec, RunCtx, Step, Verdict, code};

pub struct SloRules {
    spec: GateSpec,
    def: SloDef,
}

impl SloRules {
    pub fn new(def: &SloDef) -> SloRules {
        let globs = [def.rules.as_str(), def.rule_tests.as_str()];
        SloRules {
            spec: super::Decl {
                name: "slo-rules",
                description: "promtool check rules + promtool test rules on the generated SLO rules",
                deps: &[],
                globs: &globs,
                tools: &["prometheus"],
                env: &[],
                cargo: false,
                rust: false,
                timeout_secs: 300,
            }
            .spec(1),
            def: def.clone(),
        }
    }
}

/// `N rules found` from promtool's check output.
fn rules_found(out: &str) -> Option<u64> {
    out.lines().find_map(|l| {
        l.trim()
            .strip_prefix("SUCCESS: ")?
            .strip_suffix(" rules found")?
            .parse()
            .ok()
    })
}

/// The alert tests in a promtool test file: `tests[*].alert_rule_test[*]` entries naming an
/// alert, read as YAML (a comment or a string mentioning `alertname:` is not a test).
fn alert_tests(text: &str) -> usize {
    let Ok(doc) = serde_norway::from_str::<serde_json::Value>(text) else {
        return 0;
    };
    let empty = Vec::new();
    doc["tests"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap_or(&empty))
        .filter(|a| a["alertname"].as_str().is_some_and(|n| !n.is_empty()))
        .count()
}

impl Gate for SloRules {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        vec![
            Step::new("promtool", &["check", "rules"])
                .tool("prometheus")
                .args([self.def.rules.clone()]),
            Step::new("promtool", &["test", "rules"])
                .tool("prometheus")
                .args([self.def.rule_tests.clone()]),
        ]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let steps = self.steps();
        let check = ctx.exec(&steps[0])?;
        if !check.success() {
            return Ok(Verdict::failed(format!(
                "promtool check rules failed ({}): {}",
                code(&check),
                check.stderr.trim()
            )));
        }
        let rules = rules_found(&check.stdout).unwrap_or(0);
        if rules == 0 {
            return Ok(Verdict::failed(format!(
                "promtool found no rules in {}",
                self.def.rules
            )));
        }
        let test = ctx.exec(&steps[1])?;
        if !test.success() {
            let first = test
                .stdout
                .lines()
                .chain(test.stderr.lines())
                .find(|l| l.contains("name:"))
                .unwrap_or("see the log")
                .trim()
                .to_owned();
            return Ok(Verdict::failed(format!(
                "promtool test rules failed: {first}"
            )));
        }
        let cases = std::fs::read_to_string(ctx.root.join(&self.def.rule_tests))
            .map(|t| alert_tests(&t))
            .unwrap_or(0);
        if cases == 0 {
            return Ok(Verdict::failed(format!(
                "{} has no alert test: promtool passed nothing; regenerate it with `cargo xtask codegen`",
                self.def.rule_tests
            )));
        }
        Ok(Verdict::passed(Some(format!(
            "{rules} rules valid; {cases} alert tests passed"
        ))))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_rules() {
        assert_eq!(
            super::rules_found("Checking r.yaml\n  SUCCESS: 28 rules found\n"),
            Some(28)
        );
        assert_eq!(super::rules_found("nothing"), None);
    }

    #[test]
    fn alert_tests_are_counted_from_the_yaml_not_from_words() {
        let only_words = "# alertname: in a comment\nrule_files: [r.yaml]\ntests: []\n";
        assert_eq!(super::alert_tests(only_words), 0);
        let two = "rule_files: [r.yaml]\ntests:\n  - interval: 1m\n    alert_rule_test:\n      - eval_time: 1h\n        alertname: A\n      - eval_time: 1h\n        alertname: B\n  - interval: 1m\n    promql_expr_test: []\n";
        assert_eq!(super::alert_tests(two), 2);
        assert_eq!(super::alert_tests("not: [yaml"), 0);
    }
}
