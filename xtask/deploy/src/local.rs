//! The `local` target: a single host, like a VM deploy. The release binary (from the image) runs
//! as a process on loopback behind a real nginx, with its own PostgreSQL; a deploy starts the
//! new version beside the old one, waits for `[service] ready`, moves nginx to it with a graceful reload
//! and stops the old one (which drains). Everything outlives the command; the state is in
//! `target/xtask/deploy/<env>/state.json` and `cargo xtask env down <env>` removes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::schema::Migration;
use super::{DeployTarget, Deployed, Endpoints, Unpacked};
use crate::config::ServiceDef;
use crate::engine::gate::{RunCtx, Step, code};
use crate::running::Vars;

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
    service: ServiceDef,
}

/// `target/xtask/deploy/<env>` under `root`.
pub fn state_dir(root: &Path, env: &str) -> PathBuf {
    crate::layout::Layout::of(root).deploy(env)
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
    pub fn open(
        ctx: &'a RunCtx,
        dir: &Path,
        env: &BTreeMap<String, String>,
        service: &ServiceDef,
    ) -> Result<Local<'a>> {
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
            pg.create_database(service.database_name())?;
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
        let nginx = launcher::Nginx::start(&nginx_bin, &dir.join("nginx"), port, &upstream, &ca)?
            .probing(&service.ready);
        state.nginx_port = Some(port);
        let local = Local {
            ctx,
            dir: dir.to_path_buf(),
            env: env.clone(),
            state,
            nginx,
            psql,
            service: service.clone(),
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
            .url(self.service.database_name()))
    }

    /// The process environment for `release`: image `Env`, then the environment's settings,
    /// then `[service.env]`'s wiring (where to listen, the database).
    fn process_env(
        &self,
        release: &Unpacked,
        port: u16,
        ops: u16,
    ) -> Result<Vec<(String, String)>> {
        let mut env: BTreeMap<String, String> = release.env.clone();
        env.extend(self.env.clone());
        let vars = Vars::wiring(self.database_url()?, port, ops);
        for (name, template) in self.service.wiring() {
            env.insert(name, vars.fill(&template));
        }
        Ok(env.into_iter().collect())
    }

    /// Runs SQL through psql on the environment's database; stdout.
    pub fn sql(&self, sql: &str) -> Result<String> {
        let url = self.database_url()?;
        let out = self
            .ctx
            .exec(&sql_step(&self.psql.display().to_string(), &url, sql))?;
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

/// psql running `sql` on the environment's database at `url`.
fn sql_step(psql: &str, url: &str, sql: &str) -> Step {
    Step::new(psql, &["-XAtq", "-v", "ON_ERROR_STOP=1"]).args([
        url.to_owned(),
        "-c".to_owned(),
        sql.to_owned(),
    ])
}

/// `[service] migrate` of a release's `binary` over its `migrations` (environment set by the
/// caller).
fn migrate_step(service: &ServiceDef, binary: &str, migrations: &str) -> Result<Step> {
    let args = service.migrate.as_ref().with_context(|| {
        format!(
            "{}: service.migrate is not set: the arguments of {} that apply migrations (e.g. [\"migrate\"]; the directory is appended)",
            crate::config::FILE,
            service.bin
        )
    })?;
    Ok(Step::argv(&[vec![binary.to_owned()], args.clone()].concat()).args([migrations.to_owned()]))
}

/// The release's `binary` serving (environment set by the caller).
fn serve_step(service: &ServiceDef, binary: &str) -> Step {
    Step::argv(&[vec![binary.to_owned()], service.args.clone()].concat())
}

/// What a promotion on the local target runs, for `plan`: psql on the ledger, each release's
/// migrations and its binary (both unpacked from the verified image), with the image's `Env`,
/// the environment's settings and the wiring.
pub fn steps(service: &ServiceDef) -> Vec<Step> {
    let binary = "<the release's binary, unpacked from its verified image>";
    let env = "<the image's Env, the environment's settings and the wiring>";
    let mut steps = vec![
        Step::in_process(
            "the local environment: an ephemeral PostgreSQL and nginx in front of the live version",
        ),
        sql_step(
            "<postgresql's psql>",
            "<the environment's database>",
            "<a query of the migrations ledger>",
        ),
    ];
    if let Ok(migrate) = migrate_step(service, binary, "<the release's migrations>") {
        steps.push(migrate.env(env, ""));
    }
    steps.push(serve_step(service, binary).env(env, ""));
    steps
}

fn stop_slot(slot: &Slot, grace: Duration) {
    if let Ok(pid) = i32::try_from(slot.pid) {
        launcher::stop(pid, nix::sys::signal::Signal::SIGTERM, grace);
    }
}

impl Local<'_> {
    /// Applies `release`'s pending migrations with `[service] migrate`.
    pub fn migrate(&mut self, release: &Unpacked) -> Result<()> {
        let mut step = migrate_step(
            &self.service,
            &release.binary.display().to_string(),
            &release.migrations.display().to_string(),
        )?;
        let secret = self.service.database_url_var();
        for (k, v) in self.process_env(release, 0, 0)? {
            step = if Some(k.as_str()) == secret {
                step.secret_env(&k, &v)
            } else {
                step.env(&k, &v)
            };
        }
        let out = self.ctx.exec(&step)?;
        if !out.success() {
            bail!(
                "`{} {}` failed ({}): {}",
                release.version,
                step.args.join(" "),
                code(&out),
                out.stderr.trim()
            );
        }
        Ok(())
    }

    /// The migration versions the environment's database has applied.
    pub fn applied_migrations(&mut self) -> Result<Vec<i64>> {
        let table = &self.service.migrations_table;
        let exists = self.sql(&format!(
            "SELECT to_regclass('{}') IS NOT NULL",
            table.replace('\'', "''")
        ))?;
        if exists.trim() != "t" {
            return Ok(Vec::new());
        }
        let out = self.sql(&self.service.applied_migrations_sql())?;
        Ok(out.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// Starts `release` beside the live version, waits for readiness, moves nginx to it and
    /// retires the old one.
    pub fn deploy(&mut self, release: &Unpacked) -> Result<Endpoints> {
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
        let mut serve = serve_step(&self.service, &release.binary.display().to_string());
        for (k, v) in self.process_env(release, port, ops_port)? {
            serve = serve.env(&k, &v);
        }
        let sh = xshell::Shell::new()?;
        let (binary, args) = (&serve.program, &serve.args);
        let mut cmd: std::process::Command = xshell::cmd!(sh, "{binary} {args...}").into();
        cmd.envs(serve.env.iter().map(|(k, v)| (k, v)));
        self.ctx.started(&serve);
        self.ctx.log(&format!(
            "$ {} {}  (port {port}, ops {ops_port}, log {})",
            serve.program,
            args.join(" "),
            log.display()
        ));
        let ready = &self.service.ready;
        let mut service = launcher::Service::start(&release.version, cmd, &log)?;
        service
            .wait_ready(Duration::from_secs(30), || {
                launcher::http_status(port, ready) == Some(200)
            })
            .with_context(|| format!("{} never became ready on {ready}", release.version))?;
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
            // It drains (not ready, still serving) and exits; nginx no longer sends it work.
            std::thread::spawn(move || stop_slot(&old, Duration::from_secs(30)));
        }
        let metrics = if self.service.has_ops_listener() {
            ops_port
        } else {
            port
        };
        Ok(Endpoints {
            base: self.base(),
            metrics: format!("127.0.0.1:{metrics}"),
            prometheus: None,
        })
    }

    /// The release serving now, if any.
    pub fn live(&self) -> Option<Unpacked> {
        self.state.live.as_ref().map(|s| s.release.clone())
    }
}

/// One promotion on the local target: `release` after the live version, if any.
#[derive(Debug)]
pub struct LocalTarget<'t, 'a> {
    pub local: &'t mut Local<'a>,
    pub release: &'t Unpacked,
    /// The release's migrations: a rollback onto its schema must know them.
    pub shipped: &'t [Migration],
    pub previous: Option<Unpacked>,
}

impl DeployTarget for LocalTarget<'_, '_> {
    fn migrate(&mut self) -> Result<()> {
        self.local.migrate(self.release)
    }

    fn deploy(&mut self, _: &dyn Fn(&str)) -> Result<std::result::Result<Deployed, String>> {
        let at = self.local.deploy(self.release)?;
        let note = format!("{} is live at {}", self.release.version, at.base);
        Ok(Ok(Deployed { at, note }))
    }

    fn can_roll_back(&mut self) -> Result<bool> {
        Ok(self.previous.is_some())
    }

    fn roll_back(&mut self, _: &dyn Fn(&str)) -> Result<std::result::Result<Deployed, String>> {
        let previous = self.previous.clone().context("nothing to roll back to")?;
        let applied = self.local.applied_migrations()?;
        let known = super::schema::classify_dir(self.local.ctx, &previous.migrations)?;
        super::promote::rollback_check(&applied, &known, self.shipped).with_context(|| {
            format!(
                "{} failed its judgement and cannot be rolled back automatically",
                self.release.version
            )
        })?;
        let at = self.local.deploy(&previous)?;
        let note = format!("rolled back to {} ({})", previous.version, previous.digest);
        Ok(Ok(Deployed { at, note }))
    }

    fn previous(&self) -> (String, String) {
        self.previous
            .as_ref()
            .map(|p| (p.version.clone(), p.digest.clone()))
            .unwrap_or_default()
    }
}
