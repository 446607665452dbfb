//! A Grafana dashboard from the SLO specs: per route, requests, server errors and latency
//! quantiles; per objective, the error budget remaining and the SLI error ratio beside its
//! budget.

use serde_json::{Value, json};

use super::rules::num;
use super::{MetricNames, Spec};

fn panel(
    id: usize,
    title: &str,
    kind: &str,
    grid: (u32, u32, u32, u32),
    targets: Vec<Value>,
    unit: &str,
) -> Value {
    let (x, y, w, h) = grid;
    json!({
        "id": id,
        "title": title,
        "type": kind,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": targets,
    })
}

fn target(expr: String, legend: &str) -> Value {
    json!({"expr": expr, "legendFormat": legend, "refId": "A"})
}

/// The dashboard JSON for one service, over its metrics named by `m`.
pub fn dashboard(spec: &Spec, m: &MetricNames) -> anyhow::Result<String> {
    let job = &spec.job;
    let (requests, duration, route, status) = (&m.requests, &m.duration, &m.route, &m.status);
    let mut panels = vec![
        panel(
            1,
            "Requests per second by route",
            "timeseries",
            (0, 0, 12, 8),
            vec![target(
                format!(r#"sum by ({route}) (rate({requests}{{job="{job}"}}[5m]))"#),
                &format!("{{{{{route}}}}}"),
            )],
            "reqps",
        ),
        panel(
            2,
            "Server errors (5xx) per second by route",
            "timeseries",
            (12, 0, 12, 8),
            vec![target(
                format!(
                    r#"sum by ({route}) (rate({requests}{{job="{job}",{status}=~"5.."}}[5m]))"#
                ),
                &format!("{{{{{route}}}}}"),
            )],
            "reqps",
        ),
    ];
    let quantiles: Vec<Value> = [0.5, 0.95, 0.99]
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let mut t = target(
                format!(r#"histogram_quantile({q}, sum by (le, {route}) (rate({duration}_bucket{{job="{job}"}}[5m])))"#),
                &format!("p{} {{{{{route}}}}}", num(q * 100.0)),
            );
            t["refId"] = json!(["A", "B", "C"][i]);
            t
        })
        .collect();
    panels.push(panel(
        3,
        "Latency p50 / p95 / p99 by route",
        "timeseries",
        (0, 8, 24, 8),
        quantiles,
        "s",
    ));
    for (i, o) in spec.objectives.iter().enumerate() {
        let y = 16 + 8 * u32::try_from(i).unwrap_or(0);
        let m = format!(r#"service="{}",slo="{}""#, spec.service, o.name);
        panels.push(panel(
            10 + 2 * i,
            &format!(
                "{}: error budget remaining ({} days)",
                o.name, spec.window_days
            ),
            "stat",
            (0, y, 8, 8),
            vec![target(
                format!("slo:error_budget:remaining{{{m}}}"),
                &o.name,
            )],
            "percentunit",
        ));
        let mut ratio = panel(
            11 + 2 * i,
            &format!(
                "{}: SLI error ratio vs budget ({}% target)",
                o.name,
                num(o.target)
            ),
            "timeseries",
            (8, y, 16, 8),
            vec![
                target(format!("slo:sli_error:ratio_rate1h{{{m}}}"), "1h"),
                target(format!("slo:sli_error:ratio_rate5m{{{m}}}"), "5m"),
            ],
            "percentunit",
        );
        ratio["targets"][1]["refId"] = json!("B");
        ratio["description"] = json!(format!("{} — budget {}", o.description, num(o.budget())));
        panels.push(ratio);
    }
    let doc = json!({
        "title": format!("{} — SLOs", spec.service),
        "uid": format!("slo-{}", spec.service),
        "tags": ["slo", "gatehouse"],
        "schemaVersion": 39,
        "editable": false,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": panels,
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
