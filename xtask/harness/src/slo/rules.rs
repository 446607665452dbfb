//! Prometheus rules from the SLO specs: SLI error ratios recorded over every window an alert
//! reads, the error budget remaining over the compliance window, and the multi-window
//! multi-burn-rate alerts of the SRE workbook (page: 14.4× over 1h and 5m, 6× over 6h and 30m;
//! ticket: 3× over 1d and 2h, 1× over 3d and 6h). Also their promtool unit tests: for each alert,
//! a constant error ratio 10% above its threshold fires it (and every slower burn), 10% below
//! leaves it silent.

use serde_json::{Value, json};

use super::{MetricNames, Objective, Sli, Spec};

/// One alert: burn rate, long and short window, severity.
#[derive(Debug)]
pub struct Burn {
    pub rate: f64,
    pub long: &'static str,
    pub short: &'static str,
    pub severity: &'static str,
}

pub const BURNS: [Burn; 4] = [
    Burn {
        rate: 14.4,
        long: "1h",
        short: "5m",
        severity: "page",
    },
    Burn {
        rate: 6.0,
        long: "6h",
        short: "30m",
        severity: "page",
    },
    Burn {
        rate: 3.0,
        long: "1d",
        short: "2h",
        severity: "ticket",
    },
    Burn {
        rate: 1.0,
        long: "3d",
        short: "6h",
        severity: "ticket",
    },
];

/// Every window a recording rule is needed for.
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// A float without noise: `0.001`, `14.4`, `0.0144`.
pub fn num(x: f64) -> String {
    let s = format!("{x:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// `availability` → `Availability`, `tasks-latency` → `TasksLatency`.
fn camel(name: &str) -> String {
    name.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The alert's name: one per objective, so each objective's alerts are tested alone.
pub fn alert_name(spec: &Spec, o: &Objective) -> String {
    format!("{}{}ErrorBudgetBurn", camel(&spec.service), camel(&o.name))
}

fn ratio_record(window: &str) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// The SLI error ratio over `window`.
fn sli_expr(spec: &Spec, o: &Objective, window: &str, m: &MetricNames) -> String {
    sli_expr_where(spec, o, window, m, None)
}

/// The SLI error ratio over `window`, as the recorded rules compute it, over only the series
/// `extra` also matches (e.g. `version="1.2.0"`): what a judgement on a shared Prometheus reads
/// instead of the recorded ratios.
pub fn sli_expr_where(
    spec: &Spec,
    o: &Objective,
    window: &str,
    m: &MetricNames,
    extra: Option<&str>,
) -> String {
    let mut sel = o.selector(&spec.job, m);
    if let Some(extra) = extra {
        sel = format!("{sel},{extra}");
    }
    let (requests, duration, status) = (&m.requests, &m.duration, &m.status);
    match o.sli {
        Sli::Availability => format!(
            // No 5xx series at all is a zero numerator, not a missing one; no traffic stays no data.
            r#"(sum(rate({requests}{{{sel},{status}=~"5.."}}[{window}])) or vector(0)) / sum(rate({requests}{{{sel}}}[{window}]))"#
        ),
        Sli::Latency => format!(
            r#"1 - (sum(rate({duration}_bucket{{{sel},le="{}"}}[{window}])) / sum(rate({duration}_count{{{sel}}}[{window}])))"#,
            o.le().unwrap_or_default()
        ),
    }
}

fn labels(spec: &Spec, o: &Objective) -> Value {
    json!({"service": spec.service, "slo": o.name})
}

fn matchers(spec: &Spec, o: &Objective) -> String {
    format!(r#"service="{}",slo="{}""#, spec.service, o.name)
}

fn annotations(spec: &Spec, o: &Objective, burn: &Burn) -> Value {
    json!({
        "summary": format!("{} {}: error budget burning {}x too fast", spec.service, o.name, num(burn.rate)),
        "description": format!(
            "{} (target {}% over {} days) has burnt its error budget at {}x the sustainable rate over the last {} and {}.",
            o.description, num(o.target), spec.window_days, num(burn.rate), burn.long, burn.short
        ),
        "runbook_url": "runbooks/slo-burn.md",
    })
}

/// The labels an alert of `burn` carries.
fn alert_labels(spec: &Spec, o: &Objective, burn: &Burn) -> Value {
    json!({
        "service": spec.service,
        "slo": o.name,
        "severity": burn.severity,
        "long_window": burn.long,
        "short_window": burn.short,
    })
}

fn group(spec: &Spec, o: &Objective, metrics: &MetricNames) -> Value {
    let mut rules: Vec<Value> = WINDOWS
        .iter()
        .chain(std::iter::once(&format!("{}d", spec.window_days).as_str()))
        .map(|w| json!({"record": ratio_record(w), "expr": sli_expr(spec, o, w, metrics), "labels": labels(spec, o)}))
        .collect();
    let m = matchers(spec, o);
    rules.push(json!({
        "record": "slo:error_budget:remaining",
        "expr": format!("1 - ({}{{{m}}} / {})", ratio_record(&format!("{}d", spec.window_days)), num(o.budget())),
        "labels": labels(spec, o),
    }));
    rules.push(json!({"record": "slo:objective:ratio", "expr": format!("vector({})", num(o.target / 100.0)), "labels": labels(spec, o)}));
    for burn in &BURNS {
        let threshold = num(burn.rate * o.budget());
        rules.push(json!({
            "alert": alert_name(spec, o),
            "expr": format!(
                "{}{{{m}}} > {threshold} and {}{{{m}}} > {threshold}",
                ratio_record(burn.long),
                ratio_record(burn.short)
            ),
            "labels": alert_labels(spec, o, burn),
            "annotations": annotations(spec, o, burn),
        }));
    }
    json!({"name": format!("slo-{}-{}", spec.service, o.name), "rules": rules})
}

/// The rule file (YAML) for `specs`, over the service's metrics named by `m`.
pub fn rules_yaml(specs: &[Spec], m: &MetricNames) -> anyhow::Result<String> {
    let groups: Vec<Value> = specs
        .iter()
        .flat_map(|s| s.objectives.iter().map(move |o| group(s, o, m)))
        .collect();
    Ok(serde_norway::to_string(&json!({ "groups": groups }))?)
}

/// A concrete label value the objective's regex matches: its first alternative, unescaped.
fn example(regex: &str, fallback: &str) -> String {
    let first = regex.split('|').next().unwrap_or("");
    if first == ".+" || first == ".*" {
        return fallback.to_owned();
    }
    let value = first
        .replace(".+", "x")
        .replace(".*", "")
        .replace(['\\', '^', '$', '(', ')'], "");
    if value.is_empty() {
        fallback.to_owned()
    } else {
        value
    }
}

/// Input series with a constant bad-event share `bad` of 1000 events a minute.
fn series(spec: &Spec, o: &Objective, bad: f64, minutes: u32, m: &MetricNames) -> Vec<Value> {
    let (route, method) = (example(&o.routes, "/x"), example(&o.methods, "GET"));
    let base = format!(
        r#"job="{}",{}="{route}",{}="{method}""#,
        spec.job, m.route, m.method
    );
    let line = |per_minute: f64| format!("0+{}x{minutes}", num(per_minute));
    let (good, bad) = (1000.0 * (1.0 - bad), 1000.0 * bad);
    let (requests, duration, status) = (&m.requests, &m.duration, &m.status);
    match o.sli {
        Sli::Availability => vec![
            json!({"series": format!(r#"{requests}{{{base},{status}="200"}}"#), "values": line(good)}),
            json!({"series": format!(r#"{requests}{{{base},{status}="500"}}"#), "values": line(bad)}),
        ],
        Sli::Latency => vec![
            json!({"series": format!(r#"{duration}_bucket{{{base},le="{}"}}"#, o.le().unwrap_or_default()), "values": line(good)}),
            json!({"series": format!(r#"{duration}_bucket{{{base},le="+Inf"}}"#), "values": line(1000.0)}),
            json!({"series": format!(r#"{duration}_count{{{base}}}"#), "values": line(1000.0)}),
        ],
    }
}

/// One promtool test: a constant error ratio of `factor` × the burn threshold of `burn`.
fn case(spec: &Spec, o: &Objective, burn: &Burn, factor: f64, m: &MetricNames) -> Value {
    let bad = factor * burn.rate * o.budget();
    // Every alert whose threshold the ratio exceeds fires: a constant ratio is the same over
    // every window, so an hour of it is enough for the 3-day one too.
    let firing: Vec<Value> = BURNS
        .iter()
        .filter(|b| b.rate * o.budget() < bad)
        .map(|b| json!({"exp_labels": alert_labels(spec, o, b), "exp_annotations": annotations(spec, o, b)}))
        .collect();
    json!({
        "name": format!("{} {}: {}x the {}x threshold", spec.service, o.name, num(factor), num(burn.rate)),
        "interval": "1m",
        "input_series": series(spec, o, bad, 60, m),
        "alert_rule_test": [{"eval_time": "1h", "alertname": alert_name(spec, o), "exp_alerts": firing}],
    })
}

/// promtool's unit-test file for the rule file at `rules_file` (relative to the test file).
pub fn tests_yaml(specs: &[Spec], m: &MetricNames, rules_file: &str) -> anyhow::Result<String> {
    let mut tests = Vec::new();
    for spec in specs {
        for o in &spec.objectives {
            for burn in &BURNS {
                tests.push(case(spec, o, burn, 1.1, m));
                tests.push(case(spec, o, burn, 0.9, m));
            }
        }
    }
    Ok(serde_norway::to_string(&json!({
        "rule_files": [rules_file],
        "evaluation_interval": "5m",
        "tests": tests,
    }))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_without_float_noise() {
        assert_eq!(num(14.4 * (1.0 - 99.9 / 100.0)), "0.0144");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.0), "0");
    }

    #[test]
    fn rules_and_their_tests_query_the_metric_names_of_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(&path, "service: svc\njob: svc\nobjectives:\n  - name: a\n    description: d\n    sli: availability\n    target: 99.9\n  - name: l\n    description: d\n    sli: latency\n    target: 99\n    threshold_ms: 250\n").unwrap();
        let specs = [Spec::load(&path).unwrap()];
        let m = MetricNames {
            requests: "svc_calls_total".to_owned(),
            duration: "svc_call_seconds".to_owned(),
            route: "path".to_owned(),
            method: "verb".to_owned(),
            status: "code".to_owned(),
        };
        let rules = rules_yaml(&specs, &m).unwrap();
        let tests = tests_yaml(&specs, &m, "rules.yaml").unwrap();
        for text in [&rules, &tests] {
            assert!(!text.contains("http_request"), "{text}");
            assert!(!text.contains("route"), "{text}");
        }
        assert!(
            rules.contains(r#"svc_calls_total{job="svc",path=~".+",verb=~".+",code=~"5.."}"#),
            "{rules}"
        );
        assert!(rules.contains("svc_call_seconds_bucket{"), "{rules}");
        assert!(
            tests.contains(r#"svc_calls_total{job="svc",path="/x",verb="GET",code="500"}"#),
            "{tests}"
        );
        let board = super::super::dashboard::dashboard(&specs[0], &m).unwrap();
        assert!(
            board.contains("sum by (path) (rate(svc_calls_total"),
            "{board}"
        );
    }

    #[test]
    fn names_and_examples() {
        assert_eq!(camel("tasks-latency"), "TasksLatency");
        assert_eq!(example(r"/items/\{id\}|/items", "/"), "/items/{id}");
        assert_eq!(example("/api/.+", "/"), "/api/x");
        assert_eq!(example(".+", "GET"), "GET");
    }
}
