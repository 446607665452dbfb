//! The `local` target: a single host, like a VM deploy. The release binary (from the image) runs
//! as a process on loopback behind a real nginx, with its own PostgreSQL; a deploy starts the
//! new version beside the old one, waits for `/readyz`, moves nginx to it with a graceful reload
//! and stops the old one (which drains). Everything outlives the command; the state is in
//! `target/xtask/deploy/<env>/state.json` and `cargo xtask env down <env>` removes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::{Deployer, Endpoints, Unpacked};
use crate::engine::gate::{RunCtx, Step, code};

/// One running version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Slot {
    pub release: Unpacked,
    pub port: u16,
    pub ops_port: u16,
    pub pid: u32,
    pub log: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub postgres: Option<launcher::PostgresState>,
    pub nginx_port: Option<u16>,
    pub live: Option<Slot>,
}

#[derive(Debug)]
pub struct Local<'a> {
    ctx: &'a RunCtx,
    dir: PathBuf,
    env: BTreeMap<String, String>,
    pub state: State,
    nginx: launcher::Nginx,
    psql: PathBuf,
}

const DATABASE: &str = "app";

/// `target/xtask/deploy/<env>` under `root`.
pub fn state_dir(root: &Path, env: &str) -> PathBuf {
    root.join("target/xtask/deploy").join(env)
}

/// The recorded state of the environment in `dir`, if it was ever brought up (nothing starts).
pub fn recorded(dir: &Path) -> Option<State> {
    dir.join("state.json").exists().then(|| load_state(dir))
}

fn load_state(dir: &Path) -> State {
    std::fs::read(dir.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

impl<'a> Local<'a> {
    /// Brings up (or finds) the environment's PostgreSQL and nginx.
    pub fn open(ctx: &'a RunCtx, dir: &Path, env: &BTreeMap<String, String>) -> Result<Local<'a>> {
        std::fs::create_dir_all(dir)?;
        let mut state = load_state(dir);
        let psql = ctx.tool_binary("postgresql")?;
        let nginx_bin = ctx.tool_binary("nginx")?;
        if !state
            .postgres
            .as_ref()
            .is_some_and(launcher::PostgresState::is_running)
        {
            let pg = launcher::Postgres::detached()
                .context("cannot start the environment's PostgreSQL")?;
            pg.create_database(DATABASE)?;
            ctx.log(&format!(
                "postgres on port {} ({})",
                pg.port,
                pg.base_dir.display()
            ));
            state.postgres = Some(pg);
        }
        let port = match state.nginx_port {
            Some(p) => p,
            None => launcher::free_port()?,
        };
        let upstream = state.live.as_ref().map_or_else(
            || "127.0.0.1:9".to_owned(),
            |s| format!("127.0.0.1:{}", s.port),
        );
        // The front door's CA lives with the environment: later commands trust the same nginx.
        let ca = launcher::Ca::open_or_create(&dir.join("tls"))?;
        crate::http::trust_stand_in("the local environment's CA", ca.cert_pem());
        let nginx = launcher::Nginx::start(&nginx_bin, &dir.join("nginx"), port, &upstream, &ca)?;
        state.nginx_port = Some(port);
        let local = Local {
            ctx,
            dir: dir.to_path_buf(),
            env: env.clone(),
            state,
            nginx,
            psql,
        };
        local.save()?;
        Ok(local)
    }

    fn save(&self) -> Result<()> {
        std::fs::write(
            self.dir.join("state.json"),
            serde_json::to_vec_pretty(&self.state)?,
        )?;
        Ok(())
    }

    pub fn base(&self) -> String {
        self.nginx.url()
    }

    fn database_url(&self) -> Result<String> {
        Ok(self
            .state
            .postgres
            .as_ref()
            .context("the environment has no PostgreSQL")?
            .url(DATABASE))
    }

    /// The process environment for `release`: image `Env`, then the environment's settings,
    /// then where to listen and the database.
    fn process_env(
        &self,
        release: &Unpacked,
        port: u16,
        ops: u16,
    ) -> Result<Vec<(String, String)>> {
        let mut env: BTreeMap<String, String> = release.env.clone();
        env.extend(self.env.clone());
        env.insert("APP_DATABASE_URL".into(), self.database_url()?);
        env.insert("APP_LISTEN".into(), format!("127.0.0.1:{port}"));
        env.insert("APP_OPS_LISTEN".into(), format!("127.0.0.1:{ops}"));
        Ok(env.into_iter().collect())
    }

    /// Runs SQL through psql on the environment's database; stdout.
    pub fn sql(&self, sql: &str) -> Result<String> {
        let url = self.database_url()?;
        let out = self.ctx.exec(
            &Step::new(
                &self.psql.display().to_string(),
                &["-XAtq", "-v", "ON_ERROR_STOP=1"],
            )
            .args([url, "-c".to_owned(), sql.to_owned()]),
        )?;
        if !out.success() {
            bail!("psql failed ({}): {}", code(&out), out.stderr.trim());
        }
        Ok(out.stdout)
    }

    /// Stops everything and removes the state (`cargo xtask env down`).
    pub fn down(mut self) -> Result<()> {
        if let Some(slot) = self.state.live.take() {
            stop_slot(&slot, Duration::from_secs(15));
        }
        self.nginx.stop();
        if let Some(pg) = self.state.postgres.take() {
            pg.stop_and_remove()?;
        }
        std::fs::remove_dir_all(&self.dir).ok();
        Ok(())
    }
}

fn stop_slot(slot: &Slot, grace: Duration) {
    if let Ok(pid) = i32::try_from(slot.pid) {
        launcher::stop(pid, nix::sys::signal::Signal::SIGTERM, grace);
    }
}

impl Deployer for Local<'_> {
    fn migrate(&mut self, release: &Unpacked) -> Result<()> {
        let mut step = Step::new(&release.binary.display().to_string(), &["migrate"])
            .args([release.migrations.display().to_string()]);
        for (k, v) in self.process_env(release, 0, 0)? {
            step = if k == "APP_DATABASE_URL" {
                step.secret_env(&k, &v)
            } else {
                step.env(&k, &v)
            };
        }
        let out = self.ctx.exec(&step)?;
        if !out.success() {
            bail!(
                "`{} migrate` failed ({}): {}",
                release.version,
                code(&out),
                out.stderr.trim()
            );
        }
        Ok(())
    }

    fn applied_migrations(&mut self) -> Result<Vec<i64>> {
        let exists = self.sql("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")?;
        if exists.trim() != "t" {
            return Ok(Vec::new());
        }
        let out =
            self.sql("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")?;
        Ok(out.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    fn deploy(&mut self, release: &Unpacked) -> Result<Endpoints> {
        let (port, ops_port) = (launcher::free_port()?, launcher::free_port()?);
        let short = release
            .digest
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>();
        let log = self
            .dir
            .join(format!("{}-{short}-{port}.log", release.version));
        let sh = xshell::Shell::new()?;
        let binary = &release.binary;
        let mut cmd: std::process::Command = xshell::cmd!(sh, "{binary} serve").into();
        cmd.envs(self.process_env(release, port, ops_port)?);
        self.ctx.log(&format!(
            "$ {} serve  (port {port}, ops {ops_port}, log {})",
            release.binary.display(),
            log.display()
        ));
        let mut service = launcher::Service::start(&release.version, cmd, &log)?;
        service
            .wait_ready(Duration::from_secs(30), || {
                launcher::http_status(port, "/readyz") == Some(200)
            })
            .with_context(|| format!("{} never became ready on /readyz", release.version))?;
        let upstream = format!("127.0.0.1:{port}");
        self.nginx.switch(&upstream)?;
        let pid = service.detach().context("the new version has no pid")?;
        let old = self.state.live.replace(Slot {
            release: release.clone(),
            port,
            ops_port,
            pid,
            log,
        });
        self.save()?;
        if let Some(old) = old {
            // It drains (readyz 503, still serving) and exits; nginx no longer sends it work.
            std::thread::spawn(move || stop_slot(&old, Duration::from_secs(30)));
        }
        Ok(Endpoints {
            base: self.base(),
            metrics: format!("127.0.0.1:{ops_port}"),
            prometheus: None,
        })
    }

    fn live(&self) -> Option<Unpacked> {
        self.state.live.as_ref().map(|s| s.release.clone())
    }
}
