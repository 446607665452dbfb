//! A real nginx in front of the service on loopback: its master runs detached in its own process
//! group with its pid file, config and logs under `prefix`, proxies to one upstream, and switches
//! upstreams with a graceful reload (old workers finish their requests), so a switch drops
//! nothing. It serves HTTPS with a certificate from the environment's CA, as a load balancer in
//! front of a service does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::http::https_header;
use crate::system::{alive, process_table, wait_until};
use crate::tls::{Ca, LOOPBACK_NAMES};

/// A running nginx, found again from its `prefix` by later commands.
#[derive(Clone, Debug)]
pub struct Nginx {
    bin: PathBuf,
    prefix: PathBuf,
    pub port: u16,
    ca_pem: String,
    /// The path requested to see which upstream answers after a switch.
    probe: String,
}

/// The header naming the upstream that answered (how a switch is confirmed).
pub const UPSTREAM_HEADER: &str = "x-upstream";

impl Nginx {
    /// Writes the config for `port` → `upstream` (a `host:port`) with a certificate from `ca` and
    /// starts nginx, unless the one under `prefix` is already running (then it is returned as is).
    pub fn start(bin: &Path, prefix: &Path, port: u16, upstream: &str, ca: &Ca) -> Result<Nginx> {
        let nginx = Nginx {
            bin: bin.to_path_buf(),
            prefix: prefix.to_path_buf(),
            port,
            ca_pem: ca.cert_pem().to_owned(),
            probe: "/".to_owned(),
        };
        if nginx.running() {
            return Ok(nginx);
        }
        std::fs::create_dir_all(prefix.join("logs"))?;
        let leaf = ca.issue_in(
            prefix,
            "nginx",
            LOOPBACK_NAMES,
            crate::tls::Validity::Current,
        )?;
        std::fs::write(prefix.join("nginx.conf"), config(prefix, port, &leaf))?;
        nginx.write_upstream(upstream)?;
        nginx.launch()?;
        Ok(nginx)
    }

    /// Starts the master in the foreground (`daemon off`) in its own process group, detached from
    /// this process: a daemonising nginx forks and its parent exits at once, and the process
    /// module ends whatever a finished command leaves in its group, which could catch the master
    /// before it left the group. Returns once the master has written its pid file.
    fn launch(&self) -> Result<()> {
        let (conf, prefix) = (self.prefix.join("nginx.conf"), &self.prefix);
        let stderr = prefix.join("logs/stderr.log");
        let log = std::fs::File::create(&stderr)
            .with_context(|| format!("cannot create {}", stderr.display()))?;
        let sh = xshell::Shell::new()?;
        let bin = &self.bin;
        let cmd = xshell::cmd!(sh, "{bin} -c {conf} -p {prefix}").into();
        let mut child = gatehouse_process::spawn_group(cmd, log)
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut exited = None;
        let started = wait_until(Duration::from_secs(10), || {
            exited = child.try_wait().ok().flatten();
            exited.is_some() || self.running()
        });
        if started && exited.is_none() {
            // The master runs on after this process ends; later commands find it by its pid file.
            return Ok(());
        }
        let _ = child.kill();
        let _ = child.wait();
        let tail = |file: &str| std::fs::read_to_string(prefix.join(file)).unwrap_or_default();
        bail!(
            "nginx did not start ({}); its output ({}):\n{}\nits error log ({}):\n{}",
            exited.map_or("no pid file within 10 s".to_owned(), |s| s.to_string()),
            stderr.display(),
            tail("logs/stderr.log").trim(),
            prefix.join("logs/error.log").display(),
            tail("logs/error.log").trim(),
        )
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.prefix.join("nginx.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn running(&self) -> bool {
        self.pid().is_some_and(alive)
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The certificate (PEM) of the CA that issued nginx's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn write_upstream(&self, upstream: &str) -> Result<()> {
        let file = self.prefix.join("upstream.conf");
        std::fs::write(
            &file,
            format!(
                "upstream service {{\n    server {upstream} max_fails=0;\n    keepalive 32;\n}}\n"
            ),
        )
        .with_context(|| format!("cannot write {}", file.display()))
    }

    fn run(&self, extra: &[&str]) -> Result<()> {
        let conf = self.prefix.join("nginx.conf");
        let sh = xshell::Shell::new()?;
        let (bin, prefix) = (&self.bin, &self.prefix);
        let cmd = xshell::cmd!(sh, "{bin} -c {conf} -p {prefix} {extra...}").into();
        let out = gatehouse_process::capture(cmd, Duration::from_secs(30))
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !out.success() {
            bail!("`nginx {}` failed: {}", extra.join(" "), out.stderr.trim());
        }
        Ok(())
    }

    /// Confirms switches by requesting `path` (e.g. the service's readiness path) instead of `/`.
    #[must_use]
    pub fn probing(mut self, path: &str) -> Nginx {
        path.clone_into(&mut self.probe);
        self
    }

    /// Points nginx at `upstream` with a graceful reload; returns once new requests reach it.
    pub fn switch(&self, upstream: &str) -> Result<()> {
        self.write_upstream(upstream)?;
        self.run(&["-s", "reload"])?;
        let switched = wait_until(Duration::from_secs(10), || {
            https_header(
                "127.0.0.1",
                self.port,
                &self.probe,
                UPSTREAM_HEADER,
                &self.ca_pem,
            )
            .as_deref()
                == Some(upstream)
        });
        if !switched {
            bail!("nginx did not move to {upstream} within 10 s after the reload");
        }
        // Old workers may still accept a connection or finish one in flight (to the old
        // upstream) for a moment: the switch is complete once only the new worker is left.
        let master = self.pid().unwrap_or(0);
        let _ = wait_until(Duration::from_secs(20), || workers(master) <= 1);
        Ok(())
    }

    /// `nginx -s quit`: finish the requests in flight, then exit.
    pub fn stop(&self) {
        if self.running() {
            let _ = self.run(&["-s", "quit"]);
            let _ = wait_until(Duration::from_secs(10), || !self.running());
        }
    }
}

/// How many worker processes `master` has (old ones linger while they finish their requests).
fn workers(master: i32) -> usize {
    process_table()
        .iter()
        .filter(|(_, parent)| *parent == master)
        .count()
}

fn config(prefix: &Path, port: u16, leaf: &crate::tls::Leaf) -> String {
    let p = prefix.display();
    let (cert, key) = (leaf.cert.display(), leaf.key.display());
    format!(
        r#"# Written by gatehouse's launcher: nginx in front of the service on loopback.
daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {p}/logs/access.log;
    client_body_temp_path {p}/tmp_body;
    proxy_temp_path {p}/tmp_proxy;
    fastcgi_temp_path {p}/tmp_fastcgi;
    uwsgi_temp_path {p}/tmp_uwsgi;
    scgi_temp_path {p}/tmp_scgi;
    include {p}/upstream.conf;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_max_temp_file_size 0;
            proxy_next_upstream error timeout;
            add_header {UPSTREAM_HEADER} $upstream_addr always;
        }}
    }}
}}
"#
    )
}
