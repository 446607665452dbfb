//! Every client on TLS: each refuses a certificate from an unknown CA, an expired one and one
//! for another host, and accepts one from the CA it was told to trust (`--ca-file`,
//! `GATEHOUSE_CA_FILE`, `[tls] ca`). The CLI fails with exit 7 naming the endpoint and the remedy.

use std::path::Path;
use std::time::Duration;

use xtask::http::Trust;

use crate::support::{Run, repo_root as root, repo_tool as tool, repo_xtask as xtask};

fn registry(ca: &launcher::Ca, listen: &launcher::Listen) -> launcher::Loopback {
    launcher::registry_with(&tool("registry"), ca, listen, None).unwrap()
}

const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// `release verify` against `registry`: the reference names its host as users write it.
fn verify(registry: &launcher::Loopback, ca_file: Option<&Path>) -> Run {
    let keys = tempfile::tempdir().unwrap();
    let (_, key) = xtask::release::sign::keygen(keys.path(), b"pw").unwrap();
    let reference = format!("{}/gatehouse/app@{DIGEST}", registry.host());
    let ca = ca_file.map(|p| p.display().to_string());
    let vars: Vec<(&str, &str)> = ca
        .iter()
        .map(|c| ("GATEHOUSE_CA_FILE", c.as_str()))
        .collect();
    xtask(
        &[
            "release",
            "verify",
            &reference,
            "--key",
            key.to_str().unwrap(),
        ],
        &vars,
    )
}

fn assert_untrusted(run: &Run, endpoint: &str, problem: &str) {
    assert_eq!(run.code, 7, "{}{}", run.stdout, run.stderr);
    for text in [endpoint, problem, "--ca-file", "[tls] ca"] {
        assert!(run.stderr.contains(text), "no `{text}` in:\n{}", run.stderr);
    }
}

#[test]
fn release_verify_refuses_unknown_expired_and_misnamed_certificates_with_exit_7() {
    let (ca, other) = (
        launcher::Ca::throwaway().unwrap(),
        launcher::Ca::throwaway().unwrap(),
    );
    let good = registry(&ca, &launcher::Listen::default());

    // No CA named: the platform's roots do not know the run's CA.
    let run = verify(&good, None);
    assert_untrusted(&run, &good.url(), "unknown CA");
    // Another CA named: still unknown.
    let run = verify(&good, Some(&other.cert_path()));
    assert_untrusted(&run, &good.url(), "unknown CA");

    let expired = registry(
        &ca,
        &launcher::Listen {
            validity: launcher::Validity::Expired,
            ..launcher::Listen::default()
        },
    );
    assert_untrusted(
        &verify(&expired, Some(&ca.cert_path())),
        &expired.url(),
        "expired",
    );

    let misnamed = registry(
        &ca,
        &launcher::Listen {
            names: vec!["registry.example.com".to_owned()],
            ..launcher::Listen::default()
        },
    );
    let run = verify(&misnamed, Some(&ca.cert_path()));
    assert_untrusted(&run, &misnamed.url(), "another host");

    // The right CA: TLS is accepted and the command gets as far as the registry's answer.
    let run = verify(&good, Some(&ca.cert_path()));
    assert!(run.code != 0 && run.code != 7, "{}", run.stderr);
    assert!(!run.stderr.contains("TLS to"), "{}", run.stderr);
}

#[test]
fn an_unreadable_ca_file_is_a_configuration_error_naming_it() {
    let run = xtask(&["--ca-file", "/nonexistent/corp-ca.pem", "list"], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("/nonexistent/corp-ca.pem"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_http_client_trusts_prometheus_only_through_its_ca() {
    let ca = launcher::Ca::throwaway().unwrap();
    let bin = tool("prometheus").with_file_name("prometheus");
    let prometheus = launcher::prometheus(
        &bin,
        &ca,
        launcher::Scrape {
            job: "none",
            target: "127.0.0.1:9",
            path: "/metrics",
        },
        &[],
    )
    .unwrap();
    let url = format!("{}/-/ready", prometheus.url());

    let unknown = Trust::default();
    let err = unknown
        .blocking(Duration::from_secs(10))
        .unwrap()
        .get(&url)
        .send()
        .unwrap_err();
    let explained = unknown.explain(&url, &err);
    assert!(
        matches!(
            xtask::exit::failure_of(&explained),
            Some(xtask::exit::Failure::Untrusted(_))
        ),
        "{explained:#}"
    );
    assert!(
        format!("{explained}").contains(&prometheus.url()),
        "{explained}"
    );

    let trusted = Trust::default().with_pem("the test's CA", ca.cert_pem());
    let status = trusted
        .blocking(Duration::from_secs(10))
        .unwrap()
        .get(&url)
        .send()
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}

#[test]
fn the_github_client_trusts_the_api_only_through_its_ca() {
    let ca = launcher::Ca::throwaway().unwrap();
    let leaf = ca.issue("github", launcher::LOOPBACK_NAMES).unwrap();
    let not_found: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 23\r\nconnection: close\r\n\r\n{\"message\":\"Not Found\"}";
    let port = launcher::https_stub(&leaf, not_found, 2).unwrap();
    let target = xtask::release::github::Target {
        owner: "o".to_owned(),
        repo: "r".to_owned(),
        token: "t".to_owned(),
        api: Some(format!("https://127.0.0.1:{port}")),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let get = |trust: &Trust| {
        runtime.block_on(async {
            let github = xtask::release::github::client_with(&target, trust).unwrap();
            github.repos("o", "r").releases().get_by_tag("v1").await
        })
    };

    let refused = get(&Trust::default()).unwrap_err();
    let chain = format!("{:?}", anyhow::Error::new(refused));
    assert!(chain.contains("UnknownIssuer"), "{chain}");

    let answered = get(&Trust::default().with_pem("the test's CA", ca.cert_pem())).unwrap_err();
    assert!(
        matches!(answered, octocrab::Error::GitHub { .. }),
        "TLS accepted, GitHub's 404 read: {answered:?}"
    );
}

#[test]
fn the_aws_sdk_trusts_moto_only_through_its_ca() {
    let ca = launcher::Ca::throwaway().unwrap();
    let moto = launcher::moto(&tool("moto"), &ca).unwrap();
    let url = moto.url();
    let refused =
        xtask::release::ecr::prepare("gatehouse/tls", "eu-west-1", Some(&url), &Trust::default())
            .unwrap_err();
    let chain = format!("{refused:#}");
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("certificate"),
        "{chain}"
    );

    let trusted = Trust::default().with_pem("the test's CA", ca.cert_pem());
    let prepared =
        xtask::release::ecr::prepare("gatehouse/tls", "eu-west-1", Some(&url), &trusted).unwrap();
    assert!(
        prepared.authorization.starts_with("Basic "),
        "ECR's basic credentials"
    );
}

/// A client built without a TLS backend fails every `https://` URL (and `sslmode=verify-full`)
/// before a byte is sent: every HTTP and database client in this workspace's build graph (all
/// features, all targets, as `cargo tree` resolves it) has rustls, and the crates with published
/// advisories that the TLS work removed stay out.
#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "cargo tree of the workspace, read-only"
)]
fn every_http_and_database_client_has_a_tls_backend() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--workspace", "--all-features", "--target", "all"])
        .args([
            "-e",
            "normal,build",
            "-f",
            "{p} {f}",
            "--prefix",
            "none",
            // Not --offline: a fresh machine has fetched only the host's crates, and the tree
            // of every target needs the manifests of the others (android_system_properties…).
            "--locked",
        ])
        .arg("--manifest-path")
        .arg(root().join("Cargo.toml"))
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let packages: Vec<(&str, Vec<&str>)> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let features = words.find(|w| !w.starts_with('v') && !w.starts_with('('));
            Some((
                name,
                features.map_or_else(Vec::new, |f| f.split(',').collect()),
            ))
        })
        .collect();
    for banned in ["rsa", "native-tls", "openssl-sys"] {
        assert!(
            packages.iter().all(|(name, _)| *name != banned),
            "{banned} is in the graph"
        );
    }
    let required = [
        ("reqwest", "__rustls"),
        ("sqlx-core", "_tls-rustls"),
        ("hyper-rustls", "aws-lc-rs"),
    ];
    for (krate, feature) in required {
        let builds: Vec<&Vec<&str>> = packages
            .iter()
            .filter(|(name, _)| *name == krate)
            .map(|(_, f)| f)
            .collect();
        assert!(
            !builds.is_empty(),
            "{krate} is no longer in the graph: update this test"
        );
        for features in builds {
            assert!(
                features.contains(&feature),
                "{krate} without {feature}: {features:?}"
            );
        }
    }
}

/// The TLS front's nginx outlives the command that started it (later commands find it by its
/// pid file) and keeps serving while other commands run and end; one that cannot bind its port
/// fails at once with nginx's own words and where they are kept.
#[test]
fn nginx_runs_on_after_it_starts_and_a_port_in_use_is_reported_in_nginxs_words() {
    let ca = launcher::Ca::throwaway().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = launcher::free_port().unwrap();
    let nginx = launcher::Nginx::start(
        &tool("nginx"),
        &dir.path().join("a"),
        port,
        "127.0.0.1:9",
        &ca,
    )
    .expect("nginx starts");
    let sh = xshell::Shell::new().unwrap();
    for _ in 0..20 {
        let echo = xshell::cmd!(sh, "echo other command").into();
        assert!(gatehouse_process::probe(echo).is_some());
    }
    assert!(
        nginx.running(),
        "the master survives the commands run after it"
    );
    assert_eq!(
        launcher::https_status("127.0.0.1", port, "/", nginx.ca_pem()),
        Some(502),
        "it answers over TLS (its upstream is closed)"
    );

    let taken = launcher::Nginx::start(
        &tool("nginx"),
        &dir.path().join("b"),
        port,
        "127.0.0.1:9",
        &ca,
    )
    .expect_err("the port is in use");
    let message = format!("{taken:#}");
    assert!(
        message.contains("Address already in use") && message.contains("stderr.log"),
        "{message}"
    );
    nginx.stop();
    assert!(!nginx.running());
}
