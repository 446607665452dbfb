//! Loopback components: a process on a free port speaking TLS, ready when an HTTPS path answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::system::free_port;
use crate::tls::{Ca, Leaf, Validity};
use gatehouse_process::Service;

/// The status code of `GET path` on `127.0.0.1:port`, or `None` when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = get(port, path)?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// An HTTP/1.0 `GET path` sent to `127.0.0.1:port`; the answer is read from the stream (2 s
/// timeout), and the server closes it after the answer.
fn get(port: u16, path: &str) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    Some(stream)
}

/// The value of header `name` in the answer to `GET path` on `127.0.0.1:port`.
pub fn http_header(port: u16, path: &str, name: &str) -> Option<String> {
    let mut stream = get(port, path)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    header_of(&answer, name)
}

/// The value of header `name` in the answer to `GET path` over TLS on `host:port`.
pub fn https_header(host: &str, port: u16, path: &str, name: &str, ca_pem: &str) -> Option<String> {
    header_of(&crate::tls::https_get(host, port, path, ca_pem)?, name)
}

fn header_of(answer: &[u8], name: &str) -> Option<String> {
    let answer = String::from_utf8_lossy(answer);
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// The status code of `GET path` over TLS on `host:port`, trusting only `ca_pem`; `None` when
/// nothing answers or the certificate is not trusted.
pub fn https_status(host: &str, port: u16, path: &str, ca_pem: &str) -> Option<u16> {
    let answer = crate::tls::https_get(host, port, path, ca_pem)?;
    std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
}

/// A real server on loopback owned by this value, speaking TLS with a certificate from the run's
/// CA: its files live in a temp dir, it stops (and the dir goes) on drop.
#[derive(Debug)]
pub struct Loopback {
    pub port: u16,
    host: String,
    ca_pem: String,
    ca_path: PathBuf,
    service: Option<Service>,
    dir: tempfile::TempDir,
}

/// Where and how a stand-in listens.
#[derive(Clone, Debug)]
pub struct Listen {
    /// A loopback address (`127.0.0.1`, or another one such as `127.0.0.2`).
    pub host: String,
    pub validity: Validity,
    /// The names its certificate is for; empty: `localhost` and `host` (a fault to test with
    /// when it names another host).
    pub names: Vec<String>,
}

impl Default for Listen {
    fn default() -> Listen {
        Listen {
            host: "127.0.0.1".to_owned(),
            validity: Validity::Current,
            names: Vec::new(),
        }
    }
}

impl Listen {
    fn certificate_names(&self) -> Vec<&str> {
        if self.names.is_empty() {
            vec!["localhost", self.host.as_str()]
        } else {
            self.names.iter().map(String::as_str).collect()
        }
    }

    /// Whether its certificate is one a client should accept (else the stand-in is a fault).
    fn trusted(&self) -> bool {
        self.validity == Validity::Current && self.names.is_empty()
    }
}

/// What a stand-in's command line is built from.
#[derive(Debug)]
struct Site<'a> {
    listen: String,
    dir: &'a Path,
    leaf: Leaf,
}

impl Loopback {
    /// Starts `build(site)` on a free port of `listen.host` with a certificate from `ca`, and
    /// waits until `GET ready` over TLS answers `ok`.
    fn start(
        name: &str,
        ready: (&str, u16),
        ca: &Ca,
        listen: &Listen,
        build: impl FnOnce(&Site<'_>) -> Result<std::process::Command>,
    ) -> Result<Loopback> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("gatehouse-{name}-"))
            .tempdir()
            .with_context(|| format!("cannot create a temp dir for {name}"))?;
        let port = free_port()?;
        let host = listen.host.clone();
        let leaf = ca.issue_in(
            dir.path(),
            name,
            &listen.certificate_names(),
            listen.validity,
        )?;
        let site = Site {
            listen: format!("{host}:{port}"),
            dir: dir.path(),
            leaf,
        };
        let cmd = build(&site)?;
        let mut service = Service::start(name, cmd, &dir.path().join(format!("{name}.log")))?;
        let (path, ok) = ready;
        // A certificate under test as a fault cannot be verified: the server is up when it
        // accepts TCP.
        let probe = || match listen.trusted() {
            true => https_status(&host, port, path, ca.cert_pem()) == Some(ok),
            false => TcpStream::connect((host.as_str(), port)).is_ok(),
        };
        service.wait_ready(Duration::from_secs(60), probe)?;
        Ok(Loopback {
            port,
            host,
            ca_pem: ca.cert_pem().to_owned(),
            ca_path: ca.cert_path(),
            service: Some(service),
            dir,
        })
    }

    /// `https://<host>:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}:{}", self.host, self.port)
    }

    /// `<host>:<port>`, as registries name themselves in image references.
    pub fn host(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The certificate (PEM) of the CA that issued this server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// That CA's `ca.pem`.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Stops the server now (a fault: the component goes away mid-run); idempotent.
    pub fn stop(&mut self) {
        if let Some(mut service) = self.service.take() {
            service.stop();
        }
    }
}

/// CNCF Distribution (Debian's `docker-registry`) over TLS, storage in a temp dir, deletes enabled.
pub fn registry(bin: &Path, ca: &Ca) -> Result<Loopback> {
    registry_with(bin, ca, &Listen::default(), None)
}

/// The registry on `listen`, with `auth` (Distribution's `auth:` section, YAML indented by two
/// spaces) when given: a registry that authenticates as GHCR, Docker Hub or Harbor do.
pub fn registry_with(bin: &Path, ca: &Ca, listen: &Listen, auth: Option<&str>) -> Result<Loopback> {
    let ready = if auth.is_some() { 401 } else { 200 };
    Loopback::start("registry", ("/v2/", ready), ca, listen, |site| {
        let storage = site.dir.join("storage");
        let config = site.dir.join("config.yml");
        let (addr, cert, key) = (
            &site.listen,
            site.leaf.cert.display(),
            site.leaf.key.display(),
        );
        let auth = auth.map(|a| format!("auth:\n{a}")).unwrap_or_default();
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  tls:\n    certificate: {cert}\n    key: {key}\n{auth}",
                storage.display()
            ),
        )
        .with_context(|| format!("cannot write {}", config.display()))?;
        let sh = xshell::Shell::new()?;
        Ok(xshell::cmd!(sh, "{bin} serve {config}").into())
    })
}

/// moto's server (the AWS API emulator) over TLS on loopback, every service in one process.
pub fn moto(bin: &Path, ca: &Ca) -> Result<Loopback> {
    Loopback::start(
        "moto",
        ("/moto-api/", 200),
        ca,
        &Listen::default(),
        |site| {
            let sh = xshell::Shell::new()?;
            let (host, port) = site.listen.split_once(':').context("listen address")?;
            let (cert, key) = (&site.leaf.cert, &site.leaf.key);
            Ok(xshell::cmd!(
                sh,
                "{bin} -H {host} -p {port} --ssl-cert {cert} --ssl-key {key}"
            )
            .into())
        },
    )
}

/// What a Prometheus scrapes: `target` (`host:port`, plain HTTP as the service serves it) at
/// `path`, as `job`.
#[derive(Clone, Copy, Debug)]
pub struct Scrape<'a> {
    pub job: &'a str,
    pub target: &'a str,
    pub path: &'a str,
}

/// Prometheus over TLS (`--web.config.file`) scraping `scrape` every second, evaluating `rules`
/// every second, with its storage in a temp dir.
pub fn prometheus(bin: &Path, ca: &Ca, scrape: Scrape<'_>, rules: &[PathBuf]) -> Result<Loopback> {
    let Scrape { job, target, path } = scrape;
    Loopback::start(
        "prometheus",
        ("/-/ready", 200),
        ca,
        &Listen::default(),
        |site| {
            let (config, web) = (site.dir.join("prometheus.yml"), site.dir.join("web.yml"));
            let rule_files: Vec<String> = rules
                .iter()
                .map(|r| format!("\"{}\"", r.display()))
                .collect();
            std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nscrape_configs:\n  - job_name: \"{job}\"\n    metrics_path: \"{path}\"\n    static_configs:\n      - targets: [\"{target}\"]\n",
                rule_files.join(", ")
            ),
        )
        .with_context(|| format!("cannot write {}", config.display()))?;
            std::fs::write(
                &web,
                format!(
                    "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                    site.leaf.cert.display(),
                    site.leaf.key.display()
                ),
            )
            .with_context(|| format!("cannot write {}", web.display()))?;
            let (storage, listen) = (site.dir.join("data"), &site.listen);
            let sh = xshell::Shell::new()?;
            Ok(xshell::cmd!(
            sh,
            "{bin} --config.file={config} --web.config.file={web} --storage.tsdb.path={storage} --web.listen-address={listen} --log.level=warn"
        )
        .into())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_listening_has_no_status() {
        let port = free_port().unwrap();
        assert_eq!(http_status(port, "/"), None);
    }
}
