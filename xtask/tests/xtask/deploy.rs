//! `cargo xtask promote` refusals and the kubernetes plan, against a real registry holding
//! small images signed (or not) in cosign's format: an unsigned digest, a tampered digest, a
//! digest not yet promoted to the previous environment, a pending contract migration and
//! production without approval are each refused (exit 4) before anything is deployed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use xtask::http::Trust;
use xtask::release::image::{self, Spec};
use xtask::release::registry::{Artifact, Auth, Registry, Retry};
use xtask::release::sign::{self, Signer};

use crate::support::Run;

const REPO: &str = "gatehouse/app";

struct World {
    ca: launcher::Ca,
    registry: launcher::Loopback,
    client: Registry,
    signer: Signer,
    public: PathBuf,
    dir: tempfile::TempDir,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn xtask(args: &[&str]) -> Run {
    xtask_with(args, &[])
}

#[expect(
    clippy::disallowed_methods,
    reason = "the tests drive the xtask binary as a user would"
)]
fn xtask_with(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(root())
        .args(args)
        .env_remove("GATEHOUSE_REGISTRY_URL")
        .env_remove("CI")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_API_URL")
        .envs(vars.iter().copied())
        .output()
        .expect("run xtask");
    Run::from(out)
}

fn world() -> World {
    let bin = xtask(&["tools", "path", "registry"]);
    assert_eq!(bin.code, 0, "{}", bin.stderr);
    let ca = launcher::Ca::throwaway().unwrap();
    let registry = launcher::registry(Path::new(bin.stdout.trim()), &ca).unwrap();
    let trust = Trust::default().with_pem("the test's CA", ca.cert_pem());
    let client = Registry::new(&registry.url(), Auth::Anonymous, Retry::default(), &trust).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = sign::keygen(&dir.path().join("keys"), b"pw").unwrap();
    let signer = Signer::load(&std::fs::read(key).unwrap(), b"pw", "test key").unwrap();
    World {
        ca,
        registry,
        client,
        signer,
        public,
        dir,
    }
}

impl World {
    /// Pushes an image carrying `migrations` (and signs it unless `signed` is false); writes its
    /// evidence under `<tmp>/<version>/` and returns that directory and the digest.
    fn release(
        &self,
        version: &str,
        migrations: &[(&str, &str)],
        signed: bool,
    ) -> (PathBuf, String) {
        let files: BTreeMap<String, Vec<u8>> = migrations
            .iter()
            .map(|(f, sql)| {
                (
                    format!("usr/share/app/migrations/{f}"),
                    sql.as_bytes().to_vec(),
                )
            })
            .collect();
        let binary = format!("#!/bin/sh\necho {version}\n").into_bytes();
        let img = image::build(&Spec {
            name: "app".into(),
            binary: binary.clone(),
            ca_certificates: b"certs".to_vec(),
            cmd: vec!["serve".into()],
            ports: vec![8080],
            env: Vec::new(),
            files,
            labels: BTreeMap::new(),
            source_date_epoch: 1_795_000_000,
        })
        .unwrap();
        let artifact = Artifact {
            manifest: img.manifest.clone(),
            blobs: vec![img.layer.clone(), img.config.clone()],
        };
        let digest = self.client.push(REPO, version, &artifact).unwrap().digest;
        let name = format!("{}/{REPO}", self.registry.host());
        let sbom = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": version});
        if signed {
            let sig = sign::signature(&self.signer, &name, &digest).unwrap();
            self.client
                .push(REPO, &sign::tag_for(&digest, "sig"), &sig)
                .unwrap();
            let att = sign::attestation(
                &self.signer,
                &name,
                &digest,
                sign::CYCLONEDX_PREDICATE,
                &sbom,
            )
            .unwrap();
            self.client
                .push(REPO, &sign::tag_for(&digest, "att"), &att)
                .unwrap();
        }
        let dir = self.dir.path().join(version);
        std::fs::create_dir_all(&dir).unwrap();
        let sha = xtask::engine::cache::hex(&<sha2::Sha256 as sha2::Digest>::digest(&binary));
        let evidence = json!({
            "version": version, "tag": format!("v{version}"), "commit": "c0ffee",
            "image": {"reference": format!("{name}@{digest}"), "digest": digest},
            "binary": {"file": "app", "sha256": sha},
            "ci": {"run_id": "r1", "outcome": "passed", "report_sha256": "00"},
        });
        std::fs::write(dir.join("evidence.json"), evidence.to_string()).unwrap();
        std::fs::write(dir.join("sbom.cdx.json"), sbom.to_string()).unwrap();
        (dir, digest)
    }

    fn promoted_to_local(dir: &Path, digest: &str) {
        let record = json!([{"environment": "local", "version": "x", "digest": digest, "started": 1, "finished": 2, "verdict": "promoted", "detail": "", "report": ""}]);
        std::fs::write(dir.join("promotions.json"), record.to_string()).unwrap();
    }

    fn promote(&self, env: &str, dir: &Path, extra: &[&str]) -> Run {
        self.promote_with(env, dir, extra, &[])
    }

    fn promote_with(&self, env: &str, dir: &Path, extra: &[&str], vars: &[(&str, &str)]) -> Run {
        let (d, k) = (dir.display().to_string(), self.public.display().to_string());
        let url = self.registry.url();
        let ca = self.ca.cert_path().display().to_string();
        let mut args = vec![
            "promote",
            env,
            "--evidence",
            &d,
            "--key",
            &k,
            "--registry-url",
            &url,
            "--ca-file",
            &ca,
        ];
        args.extend(extra);
        xtask_with(&args, vars)
    }
}

/// The promotion was refused (exit 4) and its message says each of `why`.
fn assert_refused(run: &Run, why: &[&str]) {
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    for text in why {
        assert!(run.stderr.contains(text), "no `{text}` in: {}", run.stderr);
    }
}

const EXPAND: (&str, &str) = ("0001_a.up.sql", "CREATE TABLE a (id bigint);");

#[test]
fn staging_dry_run_prints_the_verified_digest_helm_command_and_pending_migrations() {
    let w = world();
    let (dir, digest) = w.release("1.0.0", &[EXPAND], true);
    World::promoted_to_local(&dir, &digest);
    let run = w.promote("staging", &dir, &["--dry-run"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(out.contains(&format!("digest      {digest}")), "{out}");
    assert!(
        out.contains("verified    signature: cosign signature of"),
        "{out}"
    );
    assert!(out.contains("verified    sbom attestation"), "{out}");
    assert!(
        out.contains("verified    ci report: ci run r1 passed"),
        "{out}"
    );
    assert!(
        out.contains("0001_a.up.sql (expand)") && out.contains("pending     [1]"),
        "{out}"
    );
    assert!(
        out.contains("judge: smoke https://app.staging.gatehouse.internal{/healthz,/readyz,/openapi.json}, goose 8 users for 2m against https://app.staging.gatehouse.internal, SLO error ratios from https://prometheus.staging.gatehouse.internal over only the series with app_kubernetes_io_version=\""),
        "{out}"
    );
    assert!(
        out.contains(&format!("helm upgrade --install app deploy/helm/app --namespace app --values deploy/helm/app/values-staging.yaml --set image.repository={}/{REPO} --set image.digest={digest} --set-string image.version=", w.registry.host())) && out.contains("--wait --timeout 5m"),
        "{out}"
    );
    assert!(
        out.contains("aws eks describe-cluster --name gatehouse-staging"),
        "{out}"
    );
}

#[test]
fn an_unsigned_digest_is_refused() {
    let w = world();
    let (dir, digest) = w.release("1.0.1", &[EXPAND], false);
    World::promoted_to_local(&dir, &digest);
    let run = w.promote("staging", &dir, &["--dry-run"]);
    assert_refused(&run, &["is not verified: signature"]);
}

#[test]
fn a_tampered_digest_is_refused() {
    let w = world();
    let (_, signed) = w.release("1.0.2", &[EXPAND], true);
    let (dir, other) = w.release(
        "1.0.3",
        &[EXPAND, ("0002_b.up.sql", "CREATE TABLE b ();")],
        false,
    );
    // The good image's signature copied beside the other image, as an attacker would.
    let sig = w
        .client
        .manifest(REPO, &sign::tag_for(&signed, "sig"))
        .unwrap()
        .unwrap();
    let layer: serde_json::Value = serde_json::from_slice(&sig.bytes).unwrap();
    let blobs = vec![
        image::Blob {
            media_type: image::CONFIG_TYPE,
            bytes: w
                .client
                .blob(REPO, layer["config"]["digest"].as_str().unwrap())
                .unwrap(),
        },
        image::Blob {
            media_type: image::LAYER_TYPE,
            bytes: w
                .client
                .blob(REPO, layer["layers"][0]["digest"].as_str().unwrap())
                .unwrap(),
        },
    ];
    w.client
        .push(
            REPO,
            &sign::tag_for(&other, "sig"),
            &Artifact {
                manifest: sig,
                blobs,
            },
        )
        .unwrap();
    World::promoted_to_local(&dir, &other);
    let run = w.promote("staging", &dir, &["--dry-run"]);
    assert_refused(&run, &["changed after signing"]);
}

#[test]
fn a_digest_not_promoted_to_the_previous_environment_is_refused() {
    let w = world();
    let (dir, _) = w.release("1.0.4", &[EXPAND], true);
    let run = w.promote("staging", &dir, &["--dry-run"]);
    assert_refused(&run, &["has not been promoted to local yet"]);
}

#[test]
fn a_pending_contract_migration_is_refused() {
    let w = world();
    let drop = (
        "0002_drop.up.sql",
        "SET lock_timeout = '5s';\nALTER TABLE a DROP COLUMN id;",
    );
    let (dir, digest) = w.release("1.0.5", &[EXPAND, drop], true);
    World::promoted_to_local(&dir, &digest);
    let run = w.promote("staging", &dir, &["--dry-run"]);
    assert_refused(&run, &["0002_drop.up.sql:2 is not expand-only"]);
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "git names the commit the live release was built from"
)]
fn a_contract_migration_the_live_release_already_applied_is_not_pending() {
    let w = world();
    let drop = (
        "0002_drop.up.sql",
        "SET lock_timeout = '5s';\nALTER TABLE a DROP COLUMN id;",
    );
    let (dir, digest) = w.release("1.0.6", &[EXPAND, drop], true);
    World::promoted_to_local(&dir, &digest);
    // The live release in staging was built from this commit, whose app/migrations has 0001-0003.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap().trim().to_owned();
    let (_rt, server) = github(&[
        (
            "deployments",
            Some("staging"),
            json!([
                {"id": 12, "sha": "0000000", "payload": {"digest": "sha256:newer-but-failed", "version": "1.0.5"}},
                {"id": 11, "sha": head, "payload": {"digest": "sha256:live", "version": "1.0.4"}},
            ]),
        ),
        (
            "deployments/12/statuses",
            None,
            json!([{"state": "failure"}]),
        ),
        (
            "deployments/11/statuses",
            None,
            json!([{"state": "success"}]),
        ),
    ]);
    let uri = server.uri();
    let vars = github_env(&uri);
    let run = w.promote_with("staging", &dir, &["--dry-run"], &vars);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "live in staging: 1.0.4 (sha256:live) at commit {head}, per GitHub deployment 11 of acme/shop: applied migrations [1, 2, 3]"
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("pending     []"), "{}", run.stdout);

    // `env status` on a kubernetes environment reads the same ledger.
    let status = xtask_with(&["env", "status", "staging"], &vars);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(
        status.stdout.trim(),
        format!(
            "staging: 1.0.4 (sha256:live) at commit {head} on EKS gatehouse-staging (eu-west-1), helm release app in app, per GitHub deployment 11 of acme/shop"
        )
    );
}

#[test]
fn production_without_approval_is_refused_before_anything_else() {
    let w = world();
    let (dir, digest) = w.release("1.0.6", &[EXPAND], true);
    World::promoted_to_local(&dir, &digest);
    let run = w.promote("production", &dir, &[]);
    assert_refused(&run, &["production requires an approval", "--approve"]);
}

/// GitHub on wiremock, answering each GET `(path under /repos/acme/shop/, environment query,
/// JSON body)`.
fn github(
    gets: &[(&str, Option<&str>, serde_json::Value)],
) -> (tokio::runtime::Runtime, wiremock::MockServer) {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        for (tail, environment, body) in gets {
            let mut mock = Mock::given(method("GET")).and(path(format!("/repos/acme/shop/{tail}")));
            if let Some(environment) = environment {
                mock = mock.and(query_param("environment", *environment));
            }
            mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
                .mount(&server)
                .await;
        }
        server
    });
    (runtime, server)
}

/// What a workflow sets for the GitHub client, pointed at `uri`.
fn github_env(uri: &str) -> [(&'static str, &str); 3] {
    [
        ("GITHUB_TOKEN", "t0ken"),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_API_URL", uri),
    ]
}

/// Staging's deployments (7 carries `digest`, with `statuses`); none in production.
fn github_with_staging(
    digest: &str,
    statuses: serde_json::Value,
) -> (tokio::runtime::Runtime, wiremock::MockServer) {
    github(&[
        (
            "deployments",
            Some("staging"),
            json!([
                {"id": 8, "environment": "staging", "payload": {"digest": "sha256:another"}},
                {"id": 7, "environment": "staging", "payload": {"digest": digest}},
            ]),
        ),
        ("deployments", Some("production"), json!([])),
        ("deployments/7/statuses", None, statuses),
    ])
}

#[test]
fn a_fresh_machine_reads_the_order_from_github_deployments() {
    let w = world();
    let (dir, digest) = w.release("3.0.0", &[EXPAND], true);
    let (_rt, server) = github_with_staging(&digest, json!([{"state": "success"}]));
    let uri = server.uri();
    let run = w.promote_with(
        "production",
        &dir,
        &["--approve", "--dry-run"],
        &github_env(&uri),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&digest), "{}", run.stdout);

    // The newest status of staging's deployment is a failure: production refuses.
    let (_rt2, failed) =
        github_with_staging(&digest, json!([{"state": "failure"}, {"state": "success"}]));
    let uri = failed.uri();
    let run = w.promote_with(
        "production",
        &dir,
        &["--approve", "--dry-run"],
        &github_env(&uri),
    );
    assert_refused(
        &run,
        &[
            "has not been promoted to staging",
            "GitHub deployments of acme/shop",
        ],
    );
}

#[test]
fn a_promotion_is_recorded_as_a_github_deployment_and_status() {
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/repos/acme/shop/deployments"))
            .and(header("authorization", "Bearer t0ken"))
            .and(body_json(json!({
                "ref": "c0ffee", "environment": "production",
                "description": "gatehouse promote production 3.0.0",
                "auto_merge": false, "required_contexts": [], "production_environment": true,
                "payload": {"digest": "sha256:abc", "version": "3.0.0"}
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 42})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/repos/acme/shop/deployments/42/statuses"))
            .and(body_json(json!({
                "state": "failure", "environment": "production",
                "description": "tasks-availability: error ratio 0.5 over budget"
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
            .expect(1)
            .mount(&server)
            .await;
        server
    });
    let target = xtask::release::github::Target {
        owner: "acme".into(),
        repo: "shop".into(),
        token: "t0ken".into(),
        api: Some(server.uri()),
    };
    let id = xtask::deploy::github::record(
        &target,
        &xtask::deploy::github::Deployment {
            environment: "production",
            commit: "c0ffee",
            version: "3.0.0",
            digest: "sha256:abc",
            verdict: xtask::deploy::PromotionVerdict::RolledBack,
            description: "tasks-availability: error ratio 0.5 over budget",
        },
    )
    .unwrap();
    assert_eq!(id, 42);
    runtime.block_on(server.verify());
}
