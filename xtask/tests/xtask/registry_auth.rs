//! Registry authentication as GHCR, Docker Hub and Harbor do it, against the real Distribution
//! with token auth over TLS on 127.0.0.2 and a token service written here (HTTPS on 127.0.0.1,
//! JWTs signed with ES256 and an `x5c` chain Distribution verifies): pushes fetch a token per
//! scope and reuse it, renew once when refused, and a refusal is exit 7 naming the endpoint and
//! the remedy, with no token in it and no tag left behind.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::json;
use xtask::exit::{Failure, failure_of};
use xtask::http::Trust;
use xtask::release::image::{self, Spec};
use xtask::release::registry::{Artifact, Auth, Registry, Retry};
use xtask::release::sign::{self, Signer};

use crate::support::{repo_tool, repo_xtask as xtask};

const REPO: &str = "gatehouse/app";
const SERVICE: &str = "gatehouse-test";
const ISSUER: &str = "gatehouse-test-issuer";
const USER: &str = "ci";
const PASSWORD: &str = "s3cret-password";
const PULL: &str = "repository:gatehouse/app:pull";
const PUSH: &str = "repository:gatehouse/app:pull,push";

/// What the token service grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grant {
    /// Every action asked for.
    Asked,
    /// `pull` only, whatever was asked.
    PullOnly,
    /// `pull` only on the first request for a push scope, then what is asked.
    PullOnlyOnce,
}

/// One token request as the service saw it.
#[derive(Clone, Debug)]
struct Issued {
    scope: String,
    /// The user of valid Basic credentials, if any were sent.
    user: Option<String>,
    /// The token handed out (None: refused).
    token: Option<String>,
}

#[derive(Debug)]
struct State {
    grant: Mutex<Grant>,
    issued: Mutex<Vec<Issued>>,
    signer_cert: String,
    signer_key: String,
    signer_der: Vec<u8>,
}

struct World {
    ca: launcher::Ca,
    registry: launcher::Loopback,
    realm: String,
    state: Arc<State>,
    _dir: tempfile::TempDir,
}

fn world(grant: Grant) -> World {
    let bin = repo_tool("registry");
    let ca = launcher::Ca::throwaway().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(signer_state(grant));
    let bundle = dir.path().join("signer.pem");
    std::fs::write(&bundle, &state.signer_cert).unwrap();
    let port = token_service(&ca, state.clone());
    let realm = format!("https://127.0.0.1:{port}/token");
    let auth = format!(
        "  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        bundle.display()
    );
    let listen = launcher::Listen {
        host: "127.0.0.2".into(),
        ..launcher::Listen::default()
    };
    let registry = launcher::registry_with(&bin, &ca, &listen, Some(&auth)).unwrap();
    World {
        ca,
        registry,
        realm,
        state,
        _dir: dir,
    }
}

/// The self-signed P-256 certificate that signs tokens (Distribution's `rootcertbundle`).
fn signer_state(grant: Grant) -> State {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["token-signer".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    State {
        grant: Mutex::new(grant),
        issued: Mutex::new(Vec::new()),
        signer_cert: cert.pem(),
        signer_key: key.serialize_pem(),
        signer_der: cert.der().to_vec(),
    }
}

impl World {
    fn client(&self, auth: Auth) -> Registry {
        let trust = Trust::default().with_pem("the test's CA", self.ca.cert_pem());
        let retry = Retry {
            attempts: 2,
            first_backoff: std::time::Duration::from_millis(10),
        };
        Registry::new(&self.registry.url(), auth, retry, &trust).unwrap()
    }

    fn login(&self, password: &str) -> Registry {
        self.client(Auth::login(Some(USER.into()), Some(password.into())))
    }

    fn issued(&self) -> Vec<Issued> {
        self.state.issued.lock().unwrap().clone()
    }

    fn scopes(&self) -> Vec<String> {
        self.issued().into_iter().map(|i| i.scope).collect()
    }
}

fn artifact(version: &str) -> Artifact {
    let img = image::build(&Spec {
        name: "app".into(),
        binary: format!("#!/bin/sh\necho {version}\n").into_bytes(),
        ca_certificates: b"certs".to_vec(),
        cmd: vec!["serve".into()],
        ports: vec![8080],
        env: Vec::new(),
        files: BTreeMap::new(),
        labels: BTreeMap::new(),
        source_date_epoch: 1_795_000_000,
    })
    .unwrap();
    Artifact {
        manifest: img.manifest.clone(),
        blobs: vec![img.layer.clone(), img.config.clone()],
    }
}

#[test]
fn a_push_fetches_a_token_per_scope_over_tls_and_reuses_it() {
    let world = world(Grant::Asked);
    let client = world.login(PASSWORD);

    let pushed = client.push(REPO, "1.0.0", &artifact("1.0.0")).unwrap();

    assert!(pushed.tagged);
    assert_eq!(pushed.blobs_sent, 2);
    assert_eq!(world.scopes(), [PULL, PUSH], "one token per scope, reused");
    assert!(
        world
            .issued()
            .iter()
            .all(|i| i.user.as_deref() == Some(USER)),
        "{:?}",
        world.issued()
    );
    let manifest = client.manifest(REPO, "1.0.0").unwrap().unwrap();
    assert_eq!(manifest.digest(), pushed.digest);
}

#[test]
fn a_token_without_push_is_exit_7_naming_the_registry_and_the_remedy_and_leaves_no_tag() {
    let world = world(Grant::PullOnly);
    let client = world.login(PASSWORD);

    let err = client.push(REPO, "1.0.0", &artifact("1.0.0")).unwrap_err();

    assert!(
        matches!(failure_of(&err), Some(Failure::Untrusted(_))),
        "{err:#}"
    );
    let text = format!("{err:#}");
    assert!(text.contains(&world.registry.url()), "{text}");
    assert!(
        text.contains("lacks pull,push on repository:gatehouse/app"),
        "{text}"
    );
    assert!(text.contains("GATEHOUSE_REGISTRY_USER"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    for token in world.issued().iter().filter_map(|i| i.token.clone()) {
        assert!(!text.contains(&token), "{text}");
    }
    assert_eq!(
        world.scopes(),
        [PULL, PUSH, PUSH],
        "renewed once, then refused"
    );
    assert!(client.manifest(REPO, "1.0.0").unwrap().is_none());
}

#[test]
fn a_refused_token_is_renewed_once_and_the_push_goes_through() {
    let world = world(Grant::PullOnlyOnce);
    let client = world.login(PASSWORD);

    let pushed = client.push(REPO, "1.0.0", &artifact("1.0.0")).unwrap();

    assert!(pushed.tagged);
    assert_eq!(world.scopes(), [PULL, PUSH, PUSH], "exactly one renewal");
    let manifest = client.manifest(REPO, "1.0.0").unwrap().unwrap();
    assert_eq!(manifest.digest(), pushed.digest);
}

#[test]
fn a_wrong_password_is_exit_7_naming_the_token_service_and_the_variables() {
    let world = world(Grant::Asked);
    let client = world.login("wrong-password");

    let err = client.push(REPO, "1.0.0", &artifact("1.0.0")).unwrap_err();

    assert!(
        matches!(failure_of(&err), Some(Failure::Untrusted(_))),
        "{err:#}"
    );
    let text = format!("{err:#}");
    let refused = format!(
        "the token service {} refused our credentials (401)",
        world.realm
    );
    assert!(text.contains(&refused), "{text}");
    assert!(text.contains(&world.registry.url()), "{text}");
    assert!(text.contains("GATEHOUSE_REGISTRY_USER"), "{text}");
    assert!(text.contains("GATEHOUSE_REGISTRY_PASSWORD"), "{text}");
    assert!(!text.contains("wrong-password"), "{text}");
    assert_eq!(world.issued().len(), 1);
    assert!(world.issued()[0].token.is_none());
}

#[test]
fn release_verify_logs_in_with_the_registry_variables() {
    let world = world(Grant::Asked);
    let client = world.login(PASSWORD);
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = sign::keygen(keys.path(), b"pw").unwrap();
    let signer = Signer::load(&std::fs::read(key).unwrap(), b"pw", "test key").unwrap();
    let digest = push_signed(&client, &signer, &world.registry.host());
    let reference = format!("{}/{REPO}@{digest}", world.registry.host());
    let verify = |vars: &[(&str, &str)]| {
        let ca = world.ca.cert_path().display().to_string();
        let mut vars = vars.to_vec();
        vars.push(("GATEHOUSE_CA_FILE", &ca));
        let key = public.display().to_string();
        xtask(&["release", "verify", &reference, "--key", &key], &vars)
    };

    let logged_in = verify(&[
        ("GATEHOUSE_REGISTRY_USER", USER),
        ("GATEHOUSE_REGISTRY_PASSWORD", PASSWORD),
    ]);
    let anonymous = verify(&[]);

    assert_eq!(logged_in.code, 0, "{}", logged_in.stderr);
    assert!(
        logged_in.stdout.contains("verified"),
        "{}",
        logged_in.stdout
    );
    assert_eq!(anonymous.code, 7, "{}", anonymous.stderr);
    assert!(
        anonymous.stderr.contains("GATEHOUSE_REGISTRY_USER"),
        "{}",
        anonymous.stderr
    );
}

/// Pushes an image, its cosign signature and its SBOM attestation; returns the image digest.
fn push_signed(client: &Registry, signer: &Signer, host: &str) -> String {
    let digest = client
        .push(REPO, "1.0.0", &artifact("1.0.0"))
        .unwrap()
        .digest;
    let name = format!("{host}/{REPO}");
    let sig = sign::signature(signer, &name, &digest).unwrap();
    client
        .push(REPO, &sign::tag_for(&digest, "sig"), &sig)
        .unwrap();
    let sbom = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []});
    let att = sign::attestation(signer, &name, &digest, sign::CYCLONEDX_PREDICATE, &sbom).unwrap();
    client
        .push(REPO, &sign::tag_for(&digest, "att"), &att)
        .unwrap();
    digest
}

/// Starts the token service over TLS on a free port of 127.0.0.1; returns the port.
fn token_service(ca: &launcher::Ca, state: Arc<State>) -> u16 {
    let leaf = ca.issue("token", launcher::LOOPBACK_NAMES).unwrap();
    let config = leaf.server_config().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, state) = (config.clone(), state.clone());
            std::thread::spawn(move || serve(stream, &config, &state));
        }
    });
    port
}

/// Answers one HTTP/1.1 request on `stream`, then closes it.
fn serve(stream: TcpStream, config: &Arc<rustls::ServerConfig>, state: &State) {
    let conn = rustls::ServerConnection::new(config.clone()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let Some((target, authorization)) = read_head(&mut tls) else {
        return;
    };
    let (status, body) = answer(&target, authorization.as_deref(), state);
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tls.write_all(head.as_bytes());
    let _ = tls.write_all(body.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// The request target and its `Authorization` header.
fn read_head(tls: &mut impl std::io::Read) -> Option<(String, Option<String>)> {
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_owned();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            return Some((target, authorization));
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
}

/// `GET /token?service=…&scope=…`: a signed token for what the grant allows, or 401 for bad
/// credentials.
fn answer(target: &str, authorization: Option<&str>, state: &State) -> (&'static str, String) {
    let url = reqwest::Url::parse(&format!("https://token{target}")).unwrap();
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let scope = query.get("scope").cloned().unwrap_or_default();
    let user = basic_user(authorization);
    let mut issued = state.issued.lock().unwrap();
    if url.path() != "/token"
        || user.is_none()
        || query.get("service").map(String::as_str) != Some(SERVICE)
    {
        issued.push(Issued {
            scope,
            user,
            token: None,
        });
        return (
            "401 Unauthorized",
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.into(),
        );
    }
    let first_push = !issued.iter().any(|i| i.scope == scope);
    let actions = granted(&scope, *state.grant.lock().unwrap(), first_push);
    let token = jwt(state, &scope, &actions, issued.len());
    issued.push(Issued {
        scope,
        user,
        token: Some(token.clone()),
    });
    ("200 OK", json!({ "token": token }).to_string())
}

/// The user of `Authorization: Basic …` when the password is right.
fn basic_user(authorization: Option<&str>) -> Option<String> {
    let encoded = authorization?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    (user == USER && password == PASSWORD).then(|| user.to_owned())
}

/// The actions granted for `scope` (`repository:<name>:<actions>`).
fn granted(scope: &str, grant: Grant, first: bool) -> Vec<String> {
    let asked: Vec<String> = scope
        .rsplit_once(':')
        .map(|(_, a)| a.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let pull_only = match grant {
        Grant::Asked => false,
        Grant::PullOnly => true,
        Grant::PullOnlyOnce => first,
    };
    asked
        .into_iter()
        .filter(|a| !pull_only || a == "pull")
        .collect()
}

/// An ES256 JWT Distribution accepts: `x5c` names the signer, `access` what is granted.
fn jwt(state: &State, scope: &str, actions: &[String], serial: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let name = scope
        .strip_prefix("repository:")
        .and_then(|s| s.rsplit_once(':'))
        .map_or("", |(n, _)| n);
    let claims = json!({
        "iss": ISSUER, "sub": USER, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now - 10,
        "jti": format!("{now}-{serial}"),
        "access": [{"type": "repository", "name": name, "actions": actions}],
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![
        base64::engine::general_purpose::STANDARD.encode(&state.signer_der),
    ]);
    let key = jsonwebtoken::EncodingKey::from_ec_pem(state.signer_key.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}
