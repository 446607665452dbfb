//! The service contract: gatehouse's own crates know nothing of the reference app. Everything
//! about a service (its env names, paths, fault hooks, metric names, database) comes from
//! `[service]` and friends in `gatehouse.toml`.

use std::collections::{BTreeMap, BTreeSet};

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

/// gatehouse's crates from the bottom up: each may depend only on crates below it.
const LAYERS: [&str; 11] = [
    "gatehouse-sync",
    "gatehouse-process",
    "launcher",
    "gatehouse-engine",
    "gatehouse-oci",
    "gatehouse-cloud",
    "gatehouse-release",
    "gatehouse-harness",
    "gatehouse-deploy",
    "gatehouse-gates",
    "xtask",
];

#[test]
fn every_crate_depends_only_on_the_layers_below_it_and_the_libraries_are_publishable() {
    let root = crate::support::repo_root();
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(root.join("xtask")).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        if manifest.is_file() {
            seen.push(manifest);
        }
    }
    seen.push(root.join("xtask/Cargo.toml"));
    assert_eq!(
        seen.len(),
        LAYERS.len(),
        "a crate without a layer: {seen:?}"
    );
    for manifest in seen {
        let toml: toml::Table =
            toml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        let name = toml["package"]["name"].as_str().unwrap();
        let layer = LAYERS
            .iter()
            .position(|l| *l == name)
            .unwrap_or_else(|| panic!("{}: {name} is in no layer", manifest.display()));
        let deps = toml
            .get("dependencies")
            .and_then(toml::Value::as_table)
            .cloned()
            .unwrap_or_default();
        for (dep, spec) in &deps {
            let Some(below) = LAYERS.iter().position(|l| l == dep) else {
                continue;
            };
            assert!(
                below < layer,
                "{name} depends on {dep}, which is not below it"
            );
            if name != "xtask" {
                assert!(
                    spec.get("version").is_some(),
                    "{name}: the path dependency on {dep} needs a version to be publishable"
                );
            }
        }
        let publish = toml["package"].get("publish");
        if name == "xtask" {
            assert!(publish.is_some(), "xtask is not published");
        } else {
            assert!(
                publish.is_none(),
                "{name} is a publishable library: no `publish` key"
            );
            for key in ["description", "license", "repository"] {
                assert!(
                    toml["package"].get(key).is_some(),
                    "{name}: `{key}` is needed to publish"
                );
            }
        }
    }
}

/// External dependency units of one cargo invocation, by (package, target) with their features.
#[expect(
    clippy::disallowed_methods,
    reason = "the test asks cargo itself for its build plan"
)]
fn dependency_units(args: &[&str], mode: &str) -> BTreeMap<(String, String), BTreeSet<String>> {
    let root = crate::support::repo_root();
    let out = std::process::Command::new(env!("CARGO"))
        .args(args)
        .args(["--locked", "--unit-graph", "-Z", "unstable-options"])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(root)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let graph: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut units = BTreeMap::<(String, String), BTreeSet<String>>::new();
    for unit in graph["units"].as_array().unwrap() {
        let package = unit["pkg_id"].as_str().unwrap();
        let kind = unit["target"]["kind"].to_string();
        if package.starts_with("path+") || unit["mode"] != mode || kind.contains("custom-build") {
            continue;
        }
        let features = unit["features"].to_string();
        units
            .entry((package.to_owned(), unit["target"]["name"].to_string()))
            .or_default()
            .insert(features);
    }
    units
}

/// Every dependency unit of `other` is one `test` builds with the same features.
fn rebuilt(
    test: &BTreeMap<(String, String), BTreeSet<String>>,
    other: &BTreeMap<(String, String), BTreeSet<String>>,
) -> Vec<String> {
    other
        .iter()
        .filter(|(key, features)| !test.get(*key).is_some_and(|t| features.is_subset(t)))
        .map(|((package, _), features)| format!("{package} with {features:?}"))
        .collect()
}

/// `doc`, the `{bin:…}` generators (codegen, the chart's settings) and `load --dev` build nothing
/// the clippy and test builds have not built: dev-dependencies that turn on extra features of a dependency make
/// every build without the tests rebuild what sits above it (~10 minutes cold).
#[test]
fn the_doc_and_generator_builds_reuse_the_test_builds_dependencies() {
    let clippy = dependency_units(
        &["check", "--workspace", "--all-targets", "--all-features"],
        "check",
    );
    let doc = dependency_units(
        &["doc", "--workspace", "--no-deps", "--all-features"],
        "check",
    );
    // An empty plan (cargo naming its modes otherwise, say) would make every comparison pass.
    assert!(
        !clippy.is_empty() && !doc.is_empty(),
        "both plans have dependencies"
    );
    let missing = rebuilt(&clippy, &doc);
    assert!(missing.is_empty(), "`doc` rebuilds: {missing:#?}");
    let tests = dependency_units(
        &["test", "--workspace", "--all-features", "--no-run"],
        "build",
    );
    assert!(!tests.is_empty(), "the test plan has dependencies");
    // `{bin:app}`, and `load --dev`'s builds of the service and its goose load test.
    for bin in ["app", "perf"] {
        let dev = dependency_units(
            &["build", "--workspace", "--all-features", "--bin", bin],
            "build",
        );
        assert!(!dev.is_empty(), "the build of {bin} has dependencies");
        let missing = rebuilt(&tests, &dev);
        assert!(missing.is_empty(), "`--bin {bin}` rebuilds: {missing:#?}");
    }
}

/// `plan` shows the commands `run` executes: values known before a run (the commit, its time,
/// the root, the environments the chart renders) are filled in, and work gatehouse does in its
/// own process is marked `(in-process)`, never stood in for by a command that does not run.
#[test]
fn the_plan_fills_in_what_is_known_before_the_run() {
    let run = crate::support::repo_xtask(&["--format", "json", "plan", "ci"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("plan json");
    let commands: Vec<(String, String)> = plan["gates"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            let name = g["gate"]["name"].as_str().unwrap().to_owned();
            g["commands"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |c| (name.clone(), c.as_str().unwrap().to_owned()))
        })
        .collect();
    let head = crate::support::run_program(
        std::path::Path::new("git"),
        &[
            "-C",
            &crate::support::repo_root().display().to_string(),
            "rev-parse",
            "HEAD",
        ],
    );
    let head = head.stdout.trim();
    for (gate, command) in &commands {
        for unknown in [
            "<commit>",
            "<root>",
            "<version>",
            "SOURCE_DATE_EPOCH=0 ",
            "cargo xtask release",
            "cargo xtask drill",
        ] {
            assert!(
                !command.contains(unknown),
                "{gate}: `{command}` shows {unknown}"
            );
        }
    }
    for gate in ["slo", "api-fuzz", "release", "drill"] {
        let builds = commands
            .iter()
            .filter(|(g, c)| g == gate && c.contains("cargo build --release"))
            .count();
        assert!(builds > 0, "{gate} shows its release build");
        assert!(
            commands
                .iter()
                .filter(|(g, c)| g == gate && c.contains("cargo build --release"))
                .all(|(_, c)| c.contains(head)),
            "{gate}'s build carries the commit {head}"
        );
        assert!(
            commands
                .iter()
                .any(|(g, c)| g == gate && c.starts_with("(in-process) ")),
            "{gate} shows its in-process work as such"
        );
    }
    assert!(
        commands
            .iter()
            .any(|(g, c)| g == "chart" && c.contains("values-staging.yaml")),
        "the chart's plan renders each environment"
    );
}
