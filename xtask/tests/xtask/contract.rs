//! The service contract: gatehouse's own crates know nothing of the reference app. Everything
//! about a service (its env names, paths, fault hooks, metric names, database) comes from
//! `[service]` and friends in `gatehouse.toml`.

use crate::support::{gatehouse_sources, scan};

/// The reference app's literals in `text`: its env prefix, its API prefix (not Prometheus'
/// `/api/v1/`) and its name as a string.
fn app_literals(text: &str) -> Vec<(usize, String)> {
    let api = regex::Regex::new(r"(^|[^A-Za-z0-9])/v1/").unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.contains(concat!("APP", "_"))
                || api.is_match(line)
                || line.contains(concat!("\"", "app", "\""))
        })
        .map(|(n, line)| (n + 1, line.trim().to_owned()))
        .collect()
}

#[test]
fn the_scan_finds_each_kind_of_app_literal() {
    let planted = [
        concat!("let v = \"APP", "_LISTEN\";"),
        concat!("let p = \"/v1", "/tasks\";"),
        concat!("let n = \"", "app", "\";"),
        concat!("\"GET /v1", "/tasks\""),
    ];
    for line in planted {
        assert_eq!(app_literals(line).len(), 1, "{line}");
    }
    assert!(app_literals("let q = \"/api/v1/query\"; let a = \"apple\";").is_empty());
}

#[test]
fn no_gatehouse_source_file_contains_a_reference_app_literal() {
    let found = scan(&gatehouse_sources(true), |text| {
        app_literals(text)
            .into_iter()
            .map(|(n, line)| format!("{n}: {line}"))
            .collect()
    });
    assert!(
        found.is_empty(),
        "the service contract belongs in gatehouse.toml, not in gatehouse's sources:\n{}",
        found.join("\n")
    );
}
