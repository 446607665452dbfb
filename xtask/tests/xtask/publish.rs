//! `cargo xtask release` end to end against real local components: CNCF Distribution for the
//! pushes, moto for ECR's control plane, an HTTP mock replaying GitHub's documented shapes.
//! Independent clients check the result: skopeo reads the image, a Python process verifies the
//! signature with only the public key, boto3 reads the repository's settings, and
//! cyclonedx-python-lib validates the SBOM.

use std::path::Path;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use xtask::http::Trust;

use crate::support::{Fixture, Run, TlsFront};

const PASSWORD: &str = "correct horse";

/// The service fixture as a repository with one releasable commit whose `ci` (a cheap build
/// gate) has passed, and a signing key pair in `keys/`.
fn released_fixture() -> Fixture {
    let fx = Fixture::new("service");
    let config = fx
        .read("gatehouse.toml")
        .replace(
            "[pipelines.ci]\ngates = [\"api-fuzz\"]",
            "[pipelines.ci]\ngates = [\"build\"]\n\n[gates.build]\ndescription = \"build\"\nrun = [\"cargo\", \"build\", \"--locked\"]",
        );
    fx.write("gatehouse.toml", &config);
    fx.write(".gitignore", "target/\nkeys/\n");
    fx.git(&["init", "-q"]);
    fx.git(&["add", "-A"]);
    fx.git(&["commit", "-qm", "feat: the fixture service"]);
    let ci = fx.run(&["ci"]);
    assert_eq!(ci.code, 0, "{}{}", ci.stdout, ci.stderr);
    let keygen = fx.run_with(
        &["release", "keygen", "--dir", "keys"],
        &[("COSIGN_PASSWORD", PASSWORD)],
    );
    assert_eq!(keygen.code, 0, "{}", keygen.stderr);
    fx
}

/// `cargo xtask tools path NAME` in `fx`: the provisioned executable.
fn tool(fx: &Fixture, name: &str) -> String {
    let run = fx.run(&["tools", "path", name]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.trim().to_owned()
}

/// A program from the same venv as `bin` (moto's venv has boto3 and cryptography).
fn beside(bin: &str, program: &str) -> String {
    Path::new(bin).with_file_name(program).display().to_string()
}

#[expect(
    clippy::disallowed_methods,
    reason = "independent clients are separate processes by design"
)]
fn external(program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = std::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    Run::from(out)
}

fn asset(base: &str, name: &str) -> Value {
    json!({
        "url": format!("{base}/repos/o/r/releases/assets/7"),
        "browser_download_url": format!("https://github.com/o/r/releases/download/v0.1.0/{name}"),
        "id": 7, "node_id": "RA_7", "name": name, "label": null, "state": "uploaded",
        "content_type": "application/octet-stream", "size": 1, "digest": null,
        "download_count": 0, "created_at": "2026-11-01T12:00:00Z",
        "updated_at": "2026-11-01T12:00:00Z", "uploader": null
    })
}

/// A release as GitHub's REST API returns it.
fn release(base: &str, assets: &[&str]) -> Value {
    json!({
        "url": format!("{base}/repos/o/r/releases/1"),
        "html_url": "https://github.com/o/r/releases/tag/v0.1.0",
        "assets_url": format!("{base}/repos/o/r/releases/1/assets"),
        "upload_url": format!("{base}/repos/o/r/releases/1/assets{{?name,label}}"),
        "tarball_url": null, "zipball_url": null, "id": 1, "node_id": "RE_1",
        "tag_name": "v0.1.0", "target_commitish": "main", "name": "v0.1.0", "body": "",
        "draft": false, "prerelease": false, "created_at": "2026-11-01T12:00:00Z",
        "published_at": "2026-11-01T12:00:00Z", "author": null,
        "assets": assets.iter().map(|n| asset(base, n)).collect::<Vec<_>>()
    })
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    )
}

/// GitHub when no release exists yet: lookup 404, create 201, uploads 201.
async fn github_accepting(server: &MockServer, base: &str) {
    Mock::given(method("GET"))
        .and(path("/repos/o/r/releases/tags/v0.1.0"))
        .respond_with(not_found())
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/releases"))
        .respond_with(ResponseTemplate::new(201).set_body_json(release(base, &[])))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/o/r/releases/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(release(base, &[])))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/releases/1/assets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(asset(base, "x")))
        .mount(server)
        .await;
}

struct Env {
    ca: launcher::Ca,
    registry: launcher::Loopback,
    moto: launcher::Loopback,
    github: String,
}

impl Env {
    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("COSIGN_PASSWORD", PASSWORD.to_owned()),
            ("GATEHOUSE_REGISTRY_URL", self.registry.url()),
            ("AWS_ENDPOINT_URL_ECR", self.moto.url()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("GITHUB_API_URL", self.github.clone()),
            ("GITHUB_TOKEN", "token-123".to_owned()),
            ("GITHUB_REPOSITORY", "o/r".to_owned()),
            ("GATEHOUSE_CA_FILE", self.ca_file()),
        ]
    }

    fn ca_file(&self) -> String {
        self.ca.cert_path().display().to_string()
    }

    fn release(&self, fx: &Fixture, extra: &[&str]) -> Run {
        let vars = self.vars();
        let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut args = vec!["--format", "json", "release", "--key", "keys/cosign.key"];
        args.extend_from_slice(extra);
        fx.run_with(&args, &env)
    }
}

fn requests_to(received: &[wiremock::Request], verb: &str, route: &str) -> Vec<wiremock::Request> {
    received
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == route)
        .cloned()
        .collect()
}

#[test]
fn a_full_release_pushes_signs_attests_verifies_and_publishes_and_a_rerun_finishes_it() {
    let fx = released_fixture();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(MockServer::start());
    let moto_bin = tool(&fx, "moto");
    let ca = launcher::Ca::throwaway().unwrap();
    // GitHub's API is reached over HTTPS, as api.github.com is: nginx with the test's CA in
    // front of wiremock.
    let upstream = server.address().to_string();
    let github = TlsFront::start(&upstream, &ca);
    let env = Env {
        registry: launcher::registry(Path::new(&tool(&fx, "registry")), &ca).unwrap(),
        moto: launcher::moto(Path::new(&moto_bin), &ca).unwrap(),
        github: github.url(),
        ca,
    };

    // Interrupted: GitHub fails after the image is pushed. No GitHub release, so no git tag.
    runtime.block_on(async {
        Mock::given(method("GET"))
            .and(path("/repos/o/r/releases/tags/v0.1.0"))
            .respond_with(not_found())
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/repos/o/r/releases"))
            .respond_with(ResponseTemplate::new(422).set_body_json(json!({"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest"})))
            .mount(&server)
            .await;
    });
    let first = env.release(&fx, &[]);
    assert_ne!(first.code, 0, "{}", first.stdout);
    assert!(
        first.stderr.contains("creating the GitHub release v0.1.0"),
        "{}",
        first.stderr
    );

    // The rerun finishes without pushing anything twice.
    runtime.block_on(async {
        server.reset().await;
        github_accepting(&server, &env.github).await;
    });
    let run = env.release(&fx, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let evidence: Value = serde_json::from_str(&run.stdout).expect("JSON evidence");
    assert_eq!(
        evidence["image"]["pushed"]["tagged"], false,
        "already tagged by the first run"
    );
    assert_eq!(evidence["image"]["pushed"]["blobs_sent"], 0);
    assert_eq!(
        evidence["signature"]["tagged"], false,
        "signing is deterministic"
    );
    assert_eq!(evidence["github"]["created"], true);
    let digest = evidence["image"]["digest"].as_str().unwrap().to_owned();
    let host = env.registry.host();

    // GitHub got the documented requests.
    let received = runtime.block_on(server.received_requests()).unwrap();
    let created = requests_to(&received, "POST", "/repos/o/r/releases");
    assert_eq!(created.len(), 1);
    let body: Value = serde_json::from_slice(&created[0].body).unwrap();
    assert_eq!(body["tag_name"], "v0.1.0");
    assert_eq!(body["target_commitish"], evidence["commit"]);
    assert!(
        body["body"].as_str().unwrap().contains("### Features"),
        "{body}"
    );
    let auth = created[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(auth.contains("token-123"), "{auth}");
    let mut uploaded: Vec<String> = requests_to(&received, "POST", "/repos/o/r/releases/1/assets")
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "name")
                .unwrap()
                .1
                .into_owned()
        })
        .collect();
    uploaded.sort();
    assert_eq!(
        uploaded,
        [
            "SHA256SUMS",
            "cosign.pub",
            "evidence.json",
            "fuzzed-x86_64-unknown-linux-musl",
            "sbom.cdx.json"
        ]
    );

    // The evidence links the commit's ci run; the checksums cover the assets.
    let dir = fx.path("target/xtask/release/v0.1.0");
    let written: Value =
        serde_json::from_slice(&std::fs::read(dir.join("evidence.json")).unwrap()).unwrap();
    assert!(written["ci"]["run_id"].is_string(), "{written}");
    assert_eq!(written["image"]["digest"], digest.as_str());
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains(&format!(
            "{}  sbom.cdx.json",
            written["sbom"]["sha256"].as_str().unwrap()
        )),
        "{sums}"
    );

    // The released binary, read back from the image, carries the commit and its date.
    let binary = fx.path("build-info");
    std::fs::write(
        &binary,
        file_in_layout(&dir.join("oci"), "usr/local/bin/fuzzed"),
    )
    .unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let version = external(&binary.display().to_string(), &["version"], &[]);
    let commit = evidence["commit"].as_str().unwrap();
    assert!(
        version.stdout.contains(&format!("commit={commit} date=20")),
        "{}",
        version.stdout
    );

    // skopeo reads the pushed image by tag over TLS, trusting only the test's CA.
    let certs = fx.path("registry-certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(env.ca.cert_path(), certs.join("ca.crt")).unwrap();
    let cert_dir = format!("--cert-dir={}", certs.display());
    let skopeo = external(
        "skopeo",
        &[
            "inspect",
            &cert_dir,
            "--format",
            "{{.Digest}}",
            &format!("docker://{host}/fixture/fuzzed:0.1.0"),
        ],
        &[],
    );
    assert_eq!(skopeo.stdout.trim(), digest, "{}", skopeo.stderr);
    let copy_to = fx.path("copied");
    let copied = external(
        "skopeo",
        &[
            "copy",
            &format!("--src-cert-dir={}", certs.display()),
            &format!("docker://{host}/fixture/fuzzed@{digest}"),
            &format!("oci:{}:copy", copy_to.display()),
        ],
        &[],
    );
    assert_eq!(copied.code, 0, "{}", copied.stderr);

    // A separate process with only the public key verifies the signature.
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/verify/cosign_verify.py");
    let key = fx.path("keys/cosign.pub").display().to_string();
    let python = beside(&moto_bin, "python");
    let verified = external(
        &python,
        &[
            &script.display().to_string(),
            &env.registry.url(),
            "fixture/fuzzed",
            &digest,
            &key,
        ],
        &[("SSL_CERT_FILE", &env.ca_file())],
    );
    assert_eq!(
        verified.stdout.trim(),
        format!("OK {digest}"),
        "{}",
        verified.stderr
    );
    let reference = format!("{host}/fixture/fuzzed@{digest}");
    let ca_file = env.ca_file();
    let ours = fx.run_with(
        &["release", "verify", &reference, "--key", "keys/cosign.pub"],
        &[("GATEHOUSE_CA_FILE", &ca_file)],
    );
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert!(
        ours.stdout.contains("signed CycloneDX SBOM attestation"),
        "{}",
        ours.stdout
    );

    // ECR's control plane (moto) holds the repository as the release configured it.
    let boto = "import boto3,sys; c=boto3.client('ecr', region_name='us-east-1', endpoint_url=sys.argv[1]); r=c.describe_repositories(repositoryNames=['fixture/fuzzed'])['repositories'][0]; print(r['imageTagMutability'], r['imageScanningConfiguration']['scanOnPush'], 'untagged' in c.get_lifecycle_policy(repositoryName='fixture/fuzzed')['lifecyclePolicyText'])";
    let ecr = external(
        &python,
        &["-c", boto, &env.moto.url()],
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_CA_BUNDLE", &ca_file),
        ],
    );
    assert_eq!(ecr.stdout.trim(), "IMMUTABLE True True", "{}", ecr.stderr);

    tampered_images_and_other_keys_do_not_verify(&fx, &env, &digest);
}

/// A manifest changed after signing (its digest moves) with the old signature copied beside it
/// fails; so does the real image against another key.
fn tampered_images_and_other_keys_do_not_verify(fx: &Fixture, env: &Env, digest: &str) {
    let registry = &env.registry;
    let ca_file = env.ca_file();
    let ca = [("GATEHOUSE_CA_FILE", ca_file.as_str())];
    let client = Trust::default()
        .with_pem("the test's CA", env.ca.cert_pem())
        .blocking(std::time::Duration::from_secs(30))
        .unwrap();
    let base = format!("{}/v2/fixture/fuzzed/manifests", registry.url());
    let accept = "application/vnd.oci.image.manifest.v1+json";
    let get = |reference: &str| {
        client
            .get(format!("{base}/{reference}"))
            .header("Accept", accept)
            .send()
            .unwrap()
            .bytes()
            .unwrap()
            .to_vec()
    };
    let put = |reference: &str, body: Vec<u8>| {
        let status = client
            .put(format!("{base}/{reference}"))
            .header("Content-Type", accept)
            .body(body)
            .send()
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    };
    let mut manifest: Value = serde_json::from_slice(&get(digest)).unwrap();
    manifest["annotations"]["tampered"] = json!("yes");
    let changed = serde_json::to_vec(&manifest).unwrap();
    let changed_digest = format!("sha256:{}", hex(&sha256(&changed)));
    put(&changed_digest, changed);
    let old_sig = get(&format!("{}.sig", digest.replace(':', "-")));
    put(
        &format!("{}.sig", changed_digest.replace(':', "-")),
        old_sig,
    );
    let tampered = fx.run_with(
        &[
            "release",
            "verify",
            &format!("{}/fixture/fuzzed@{changed_digest}", registry.host()),
            "--key",
            "keys/cosign.pub",
        ],
        &ca,
    );
    assert_ne!(tampered.code, 0);
    assert!(
        tampered.stderr.contains("changed after signing"),
        "{}",
        tampered.stderr
    );

    let other = fx.run_with(
        &["release", "keygen", "--dir", "other"],
        &[("COSIGN_PASSWORD", "x")],
    );
    assert_eq!(other.code, 0, "{}", other.stderr);
    let wrong_key = fx.run_with(
        &[
            "release",
            "verify",
            &format!("{}/fixture/fuzzed@{digest}", registry.host()),
            "--key",
            "other/cosign.pub",
        ],
        &ca,
    );
    assert_ne!(wrong_key.code, 0);
    assert!(
        wrong_key
            .stderr
            .contains("does not verify with this public key"),
        "{}",
        wrong_key.stderr
    );
}

/// The file at `member` in the image of the OCI layout `layout` (its layers, gzipped tars).
fn file_in_layout(layout: &Path, member: &str) -> Vec<u8> {
    use std::io::Read;
    let blob = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let bytes = blob(layer["digest"].as_str().unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_str() == Some(member) {
                let mut out = Vec::new();
                entry.read_to_end(&mut out).unwrap();
                return out;
            }
        }
    }
    panic!("{member} is in no layer of {}", layout.display());
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_wrong_password_fails_before_anything_is_pushed_and_a_missing_ci_run_is_refused() {
    let fx = released_fixture();
    let ca = launcher::Ca::throwaway().unwrap();
    let registry = launcher::registry(Path::new(&tool(&fx, "registry")), &ca).unwrap();
    let url = registry.url();
    let ca_file = ca.cert_path().display().to_string();
    let run = fx.run_with(
        &["release", "--key", "keys/cosign.key"],
        &[
            ("COSIGN_PASSWORD", "wrong"),
            ("GATEHOUSE_REGISTRY_URL", url.as_str()),
            ("GATEHOUSE_CA_FILE", ca_file.as_str()),
        ],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("cannot decrypt the signing key from keys/cosign.key"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("COSIGN_PASSWORD"), "{}", run.stderr);
    let client = Trust::default()
        .with_pem("the test's CA", ca.cert_pem())
        .blocking(std::time::Duration::from_secs(10))
        .unwrap();
    let catalog = client
        .get(format!("{url}/v2/_catalog"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        catalog.trim(),
        r#"{"repositories":[]}"#,
        "nothing was pushed"
    );

    // A commit whose ci never ran is refused (exit 4) before any build.
    fx.write("a.txt", "more\n");
    fx.git(&["add", "a.txt"]);
    fx.git(&["commit", "-qm", "fix: more"]);
    let refused = fx.run_with(
        &["release", "--key", "keys/cosign.key"],
        &[
            ("COSIGN_PASSWORD", PASSWORD),
            ("GITHUB_TOKEN", "t"),
            ("GITHUB_REPOSITORY", "o/r"),
        ],
    );
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("no passing `cargo xtask ci` report"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_registry_failing_mid_push_is_retried_then_fails_without_a_tag() {
    let fx = released_fixture();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        let repo = "/v2/fixture/fuzzed";
        Mock::given(method("HEAD"))
            .and(path_regex(format!("^{repo}/blobs/")))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{repo}/blobs/uploads/")))
            .respond_with(
                ResponseTemplate::new(202)
                    .insert_header("Location", format!("{repo}/blobs/uploads/u1")),
            )
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path(format!("{repo}/blobs/uploads/u1")))
            .respond_with(ResponseTemplate::new(201))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(format!("^{repo}/manifests/")))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path_regex(format!("^{repo}/manifests/")))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        server
    });
    let run = fx.run_with(
        &[
            "release",
            "--dry-run",
            "--retries",
            "3",
            "--registry-url",
            &server.uri(),
        ],
        &[],
    );
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("failed after 3 attempts"),
        "{}",
        run.stderr
    );
    let received = runtime.block_on(server.received_requests()).unwrap();
    let manifest_puts: Vec<String> = received
        .iter()
        .filter(|r| r.method.as_str() == "PUT" && r.url.path().contains("/manifests/"))
        .map(|r| r.url.path().rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(manifest_puts.len(), 3, "retried: {manifest_puts:?}");
    assert!(
        manifest_puts.iter().all(|r| r.starts_with("sha256:")),
        "the tag is never attempted: {manifest_puts:?}"
    );
    assert!(
        received
            .iter()
            .any(|r| r.method.as_str() == "PUT" && r.url.path().ends_with("/u1")),
        "blobs went first"
    );
}

/// The SBOM of the app's release binary: valid CycloneDX 1.5 for an independent validator, and
/// exactly the packages `cargo tree` says are linked into it for the musl target.
#[test]
fn the_app_sbom_is_valid_cyclonedx_and_lists_exactly_the_linked_packages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let sbom = xtask::release::sbom::generate(
        root,
        &xtask::release::sbom::Subject {
            package: "app",
            target: "x86_64-unknown-linux-musl",
            version: "1.2.3",
            binary_sha256: &"0".repeat(64),
            source_date_epoch: 1_793_534_400,
        },
    )
    .unwrap();
    let doc: Value = serde_json::from_slice(&sbom).unwrap();
    assert_eq!(doc["specVersion"], "1.5");
    let components = doc["components"].as_array().unwrap();
    let ours: std::collections::BTreeSet<String> = components
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["name"].as_str().unwrap(),
                c["version"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        components
            .iter()
            .all(|c| c["purl"].as_str().unwrap().starts_with("pkg:cargo/"))
    );
    let registry_crates: Vec<&Value> = components
        .iter()
        .filter(|c| c["name"] != "gatehouse-sync")
        .collect();
    assert!(
        registry_crates
            .iter()
            .all(|c| c["hashes"][0]["alg"] == "SHA-256"),
        "crates.io packages carry Cargo.lock's checksum"
    );
    assert!(
        components
            .iter()
            .filter(|c| c["licenses"].is_array())
            .count()
            > components.len() * 9 / 10
    );

    let tree = external(
        "cargo",
        &[
            "tree",
            "--locked",
            "--manifest-path",
            &root.join("Cargo.toml").display().to_string(),
            "-p",
            "app",
            "-e",
            "normal,no-proc-macro",
            "--target",
            "x86_64-unknown-linux-musl",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ],
        &[],
    );
    assert_eq!(tree.code, 0, "{}", tree.stderr);
    let expected: std::collections::BTreeSet<String> = tree
        .stdout
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (name, version) = (parts.next()?, parts.next()?);
            (name != "app").then(|| format!("{name} {}", version.trim_start_matches('v')))
        })
        .collect();
    let missing: Vec<_> = expected.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert!(
        !ours
            .iter()
            .any(|c| c.starts_with("proptest ") || c.starts_with("serde_derive ")),
        "no dev-deps, no proc-macros"
    );

    let fx = Fixture::new("engine");
    let path = fx.path("sbom.json");
    std::fs::write(&path, &sbom).unwrap();
    let python = external(
        env!("CARGO_BIN_EXE_xtask"),
        &[
            "--root",
            &root.display().to_string(),
            "tools",
            "path",
            "cyclonedx",
        ],
        &[],
    );
    assert_eq!(python.code, 0, "{}", python.stderr);
    let python = python.stdout.trim().to_owned();
    let check = "import sys; from cyclonedx.validation.json import JsonStrictValidator; from cyclonedx.schema import SchemaVersion; e = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read()); print(e or 'valid')";
    let valid = external(&python, &["-c", check, &path.display().to_string()], &[]);
    assert_eq!(valid.stdout.trim(), "valid", "{}", valid.stderr);
}
