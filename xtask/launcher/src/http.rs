//! Loopback components: a process on a free port, ready when an HTTP path answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::service::Service;
use crate::system::free_port;

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
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// A real server on loopback owned by this value: its files live in a temp dir, it stops (and
/// the dir goes) on drop.
#[derive(Debug)]
pub struct Loopback {
    pub port: u16,
    service: Option<Service>,
    dir: tempfile::TempDir,
}

impl Loopback {
    /// Starts `build(port, dir)` on a free port and waits until `GET ready` answers `ok`.
    fn start(
        name: &str,
        ready: (&str, u16),
        build: impl FnOnce(u16, &Path) -> Result<std::process::Command>,
    ) -> Result<Loopback> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("gatehouse-{name}-"))
            .tempdir()
            .with_context(|| format!("cannot create a temp dir for {name}"))?;
        let port = free_port()?;
        let cmd = build(port, dir.path())?;
        let mut service = Service::start(name, cmd, &dir.path().join(format!("{name}.log")))?;
        let (path, ok) = ready;
        service.wait_ready(Duration::from_secs(60), || {
            http_status(port, path) == Some(ok)
        })?;
        Ok(Loopback {
            port,
            service: Some(service),
            dir,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`, as registries name themselves in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
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

/// CNCF Distribution (Debian's `docker-registry`) with storage in a temp dir, deletes enabled.
pub fn registry(bin: &Path) -> Result<Loopback> {
    Loopback::start("registry", ("/v2/", 200), |port, dir| {
        let storage = dir.join("storage");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .with_context(|| format!("cannot write {}", config.display()))?;
        let sh = xshell::Shell::new()?;
        Ok(xshell::cmd!(sh, "{bin} serve {config}").into())
    })
}

/// moto's server (the AWS API emulator) on loopback, every service in one process.
pub fn moto(bin: &Path) -> Result<Loopback> {
    Loopback::start("moto", ("/moto-api/", 200), |port, _dir| {
        let sh = xshell::Shell::new()?;
        let port = port.to_string();
        Ok(xshell::cmd!(sh, "{bin} -H 127.0.0.1 -p {port}").into())
    })
}

/// Prometheus scraping `target` (`host:port`, `/metrics`) as `job` every second, evaluating
/// `rules` every second, with its storage in a temp dir.
pub fn prometheus(bin: &Path, job: &str, target: &str, rules: &[PathBuf]) -> Result<Loopback> {
    Loopback::start("prometheus", ("/-/ready", 200), |port, dir| {
        let config = dir.join("prometheus.yml");
        let rule_files: Vec<String> = rules
            .iter()
            .map(|r| format!("\"{}\"", r.display()))
            .collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nscrape_configs:\n  - job_name: \"{job}\"\n    static_configs:\n      - targets: [\"{target}\"]\n",
                rule_files.join(", ")
            ),
        )
        .with_context(|| format!("cannot write {}", config.display()))?;
        let (storage, listen) = (dir.join("data"), format!("127.0.0.1:{port}"));
        let sh = xshell::Shell::new()?;
        Ok(xshell::cmd!(
            sh,
            "{bin} --config.file={config} --storage.tsdb.path={storage} --web.listen-address={listen} --log.level=warn"
        )
        .into())
    })
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
