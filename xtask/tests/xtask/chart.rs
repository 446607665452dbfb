//! The `chart` gate on a copy of the real chart and environments: it passes as committed, and
//! each planted fault is caught by the checker meant for it — the generated values schema
//! (through `helm lint`), `kubernetes-validate --strict`, and checkov's required rules. The
//! manifests a promotion applies render with `helm install --dry-run=client`.

use std::path::Path;

use crate::support::{Fixture, Run, gate_entry, reason, status};

const CHART: &str = "deploy/helm/app";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The engine fixture with the repository's chart, environments, `[chart]` and its tools.
fn with_chart() -> Fixture {
    let fx = Fixture::new("engine");
    copy(&repo().join(CHART), &fx.path(CHART));
    copy(
        &repo().join("deploy/environments"),
        &fx.path("deploy/environments"),
    );
    let real = std::fs::read_to_string(repo().join("gatehouse.toml")).unwrap();
    let mut config = fx.read("gatehouse.toml");
    for section in [
        "[chart]",
        "[chart.skip]",
        "[tools.helm]",
        "[tools.kubernetes-validate]",
        "[tools.checkov]",
    ] {
        config.push('\n');
        config.push_str(&section_of(&real, section));
    }
    fx.write("gatehouse.toml", &config);
    fx
}

/// `header` and its lines up to the next blank line.
fn section_of(toml: &str, header: &str) -> String {
    let start = toml
        .find(&format!("\n{header}\n"))
        .unwrap_or_else(|| panic!("gatehouse.toml has no {header}"));
    let rest = &toml[start + 1..];
    let end = rest.find("\n\n").unwrap_or(rest.len());
    format!("{}\n", &rest[..end])
}

fn copy(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

fn edit(fx: &Fixture, rel: &str, from: &str, to: &str) -> String {
    let path = format!("{CHART}/{rel}");
    let original = fx.read(&path);
    assert!(original.contains(from), "{path} has no `{from}`");
    fx.write(&path, &original.replacen(from, to, 1));
    original
}

fn failed_because(fx: &Fixture) -> String {
    let run = fx.run(&["gate", "chart"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report = fx.report();
    assert_eq!(status(&report, "chart"), "failed");
    reason(&report, "chart").to_owned()
}

#[test]
fn the_chart_passes_and_each_planted_fault_is_caught_by_its_checker() {
    let fx = with_chart();
    let run = fx.run(&["gate", "chart"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let summary = gate_entry(&fx.report(), "chart")["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summary.contains("2 environment(s) rendered (production, staging)"),
        "{summary}"
    );
    assert!(
        summary.contains("15 required rule(s) on every Deployment"),
        "{summary}"
    );

    // The generated schema: a secret in plain config, an image by tag.
    let values = edit(
        &fx,
        "values-staging.yaml",
        "  APP_LOG: info\n",
        "  APP_LOG: info\n  APP_DATABASE_URL: postgres://inline\n",
    );
    let why = failed_because(&fx);
    assert!(why.contains("helm lint for staging failed"), "{why}");
    assert!(why.contains("APP_DATABASE_URL"), "{why}");
    fx.write(&format!("{CHART}/values-staging.yaml"), &values);

    // Kubernetes' own schema, strictly: a misspelt field.
    let deployment = edit(
        &fx,
        "templates/deployment.yaml",
        "revisionHistoryLimit: 5",
        "revisionHistoryLimt: 5",
    );
    let why = failed_because(&fx);
    assert!(
        why.contains("kubernetes-validate --strict (1.33.0) failed"),
        "{why}"
    );
    assert!(why.contains("revisionHistoryLimt"), "{why}");
    fx.write(&format!("{CHART}/templates/deployment.yaml"), &deployment);

    // checkov: a writable root filesystem fails its check.
    let helpers = edit(
        &fx,
        "templates/_helpers.tpl",
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false",
    );
    let why = failed_because(&fx);
    assert!(why.contains("CKV_K8S_22"), "{why}");
    fx.write(&format!("{CHART}/templates/_helpers.tpl"), &helpers);

    // A required rule that checkov could no longer evaluate passes nothing: probes removed.
    let stripped = strip_block(&deployment, "          readinessProbe:\n");
    assert_ne!(stripped, deployment);
    fx.write(&format!("{CHART}/templates/deployment.yaml"), &stripped);
    let why = failed_because(&fx);
    assert!(why.contains("CKV_K8S_9"), "{why}");
}

/// `text` without the line `start` and the more-indented lines under it.
fn strip_block(text: &str, start: &str) -> String {
    let indent = start.len() - start.trim_start().len();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        if line == start {
            skipping = true;
            continue;
        }
        if skipping && line.len() - line.trim_start().len() > indent {
            continue;
        }
        skipping = false;
        out.push_str(line);
    }
    out
}

#[test]
fn a_promotion_renders_by_digest_and_installs_client_side() {
    let fx = with_chart();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let run = fx.run(&["chart", "render", "production", "--digest", &digest]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let images: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .collect();
    assert_eq!(images.len(), 2, "the Deployment and the migration Job");
    assert!(
        images.iter().all(|i| i.ends_with(&format!("@{digest}"))),
        "{images:?}"
    );
    assert!(run.stdout.contains("helm.sh/hook: pre-install,pre-upgrade"));
    assert!(
        run.stdout
            .contains("APP_ENV\n              value: \"production\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("minAvailable: 2"),
        "production's own values"
    );

    let tagged = fx.run(&["chart", "render", "production", "--digest", "latest"]);
    assert_ne!(tagged.code, 0);
    assert!(
        tagged.stderr.contains("does not match pattern"),
        "{}",
        tagged.stderr
    );

    let helm = fx.run(&["tools", "path", "helm"]);
    assert_eq!(helm.code, 0, "{}", helm.stderr);
    let install = helm_dry_run(fx.root(), Path::new(helm.stdout.trim()), &digest);
    assert_eq!(install.code, 0, "{}", install.stderr);
    assert!(
        install.stdout.contains("STATUS: pending-install"),
        "{}",
        install.stdout
    );
    assert!(install.stdout.contains("kind: HorizontalPodAutoscaler"));
}

#[expect(
    clippy::disallowed_methods,
    reason = "helm is the independent client the test checks the chart with"
)]
fn helm_dry_run(root: &Path, helm: &Path, digest: &str) -> Run {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(helm)
        .current_dir(root)
        .args(["install", "app", CHART, "--namespace", "app"])
        .args(["--values", &format!("{CHART}/values-staging.yaml")])
        .args(["--set", "image.repository=gatehouse/app"])
        .args(["--set", &format!("image.digest={digest}")])
        .arg("--dry-run=client")
        .env("HELM_CACHE_HOME", home.path())
        .env("HELM_CONFIG_HOME", home.path())
        .env("HELM_DATA_HOME", home.path())
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("run helm");
    Run::from(out)
}
