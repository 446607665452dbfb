//! Ephemeral PostgreSQL from the system's binaries: `initdb` + `postgres` on 127.0.0.1 and a free port.
//!
//! `initdb` refuses to run as root, so as root the server runs as the `postgres` user, in a
//! directory handed to that user; a developer who is not root runs it as themselves.
//!
//! By default the server requires TLS, as RDS with `rds.force_ssl` does: its certificate comes
//! from a throwaway CA in its own directory, every TCP connection without TLS is rejected, and
//! [`PostgresState::url`] asks for `sslmode=verify-full` against that CA. A plain server
//! ([`Postgres::ephemeral_plain`]) is only ever asked for explicitly.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid, User, chown};
use serde::{Deserialize, Serialize};

use crate::system::{alive, free_port, stop, wait_until};

/// How to reach a running server; written to disk by `cargo xtask dev up`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PostgresState {
    pub pid: i32,
    pub port: u16,
    /// Holds `data/`, the socket and the server's log.
    pub base_dir: PathBuf,
    pub user: String,
    /// The CA that issued the server's certificate; `None`: a plain server.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

/// Whether a server speaks TLS (and refuses connections without it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tls,
    Plain,
}

impl PostgresState {
    /// A connection URL for `database` (trust authentication on loopback); on a TLS server,
    /// with `sslmode=verify-full` and `sslrootcert` naming the server's CA.
    pub fn url(&self, database: &str) -> String {
        let base = format!(
            "postgres://{}@127.0.0.1:{}/{database}",
            self.user, self.port
        );
        match &self.ca {
            Some(ca) => format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display()),
            None => base,
        }
    }

    pub fn is_running(&self) -> bool {
        alive(self.pid) && bin_dir().is_ok_and(|bin| ready(&bin, self.port))
    }

    /// Creates an empty database (one per test, say).
    pub fn create_database(&self, name: &str) -> Result<()> {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        psql(self, &sql).with_context(|| format!("cannot create database {name}"))
    }

    /// Fast shutdown (SIGINT), SIGKILL after 10 s.
    pub fn stop(&self) {
        stop(self.pid, Signal::SIGINT, Duration::from_secs(10));
    }

    /// Stops the server and deletes its directory (data, socket, log).
    pub fn stop_and_remove(&self) -> Result<()> {
        self.stop();
        match std::fs::remove_dir_all(&self.base_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", self.base_dir.display()))
            }
            _ => Ok(()),
        }
    }
}

/// A server owned by this process: stopped, and its directory deleted, on drop.
#[derive(Debug)]
pub struct Postgres {
    pub state: PostgresState,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Postgres {
    /// Starts a throw-away server that requires TLS in a temporary directory.
    pub fn ephemeral() -> Result<Postgres> {
        Postgres::ephemeral_with(Transport::Tls)
    }

    /// Starts a throw-away server without TLS (a fault to test with, or a user's explicit choice).
    pub fn ephemeral_plain() -> Result<Postgres> {
        Postgres::ephemeral_with(Transport::Plain)
    }

    fn ephemeral_with(transport: Transport) -> Result<Postgres> {
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-pg-")
            .tempdir()
            .context("cannot create a temp dir for PostgreSQL")?;
        let (state, child) = start(dir.path(), transport)?;
        Ok(Postgres {
            state,
            child: Some(child),
            _dir: Some(dir),
        })
    }

    /// Starts a server that outlives this process (for `cargo xtask dev up`). Its directory is a
    /// fresh temp dir, reachable by the `postgres` user even when the workspace is not.
    pub fn detached() -> Result<PostgresState> {
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-dev-pg-")
            .tempdir()
            .context("cannot create a temp dir for PostgreSQL")?;
        let (state, _child) = start(&dir.keep(), Transport::Tls)?;
        Ok(state)
    }

    pub fn url(&self, database: &str) -> String {
        self.state.url(database)
    }

    /// Creates an empty database (one per test, say).
    pub fn create_database(&self, name: &str) -> Result<()> {
        self.state.create_database(name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.state.stop();
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// Runs one SQL statement as the superuser, with the `psql` of the server's own installation.
fn psql(state: &PostgresState, sql: &str) -> Result<()> {
    let sh = xshell::Shell::new()?;
    let psql = bin_dir()?.join("psql");
    let (port, user) = (state.port.to_string(), &state.user);
    let cmd = xshell::cmd!(
        sh,
        "{psql} -X -q -h 127.0.0.1 -p {port} -U {user} -d postgres -v ON_ERROR_STOP=1 -c {sql}"
    );
    let out = gatehouse_process::capture(cmd.into(), Duration::from_secs(60))
        .with_context(|| format!("cannot run {}", psql.display()))?;
    if !out.success() {
        bail!("{} failed: {}", psql.display(), out.stderr.trim());
    }
    Ok(())
}

fn start(base: &Path, transport: Transport) -> Result<(PostgresState, Child)> {
    let bin = bin_dir()?;
    let owner = Owner::detect()?;
    let data = base.join("data");
    owner.hand_over(base)?;
    initdb(&bin, &data, base, &owner)?;
    let ca = match transport {
        Transport::Tls => Some(require_tls(&data, base, &owner)?),
        Transport::Plain => None,
    };
    let port = free_port()?;
    let child = spawn(&bin, &data, base, port, &owner, ca.is_some())?;
    let pid = i32::try_from(child.id()).context("pid out of range")?;
    let state = PostgresState {
        pid,
        port,
        base_dir: base.to_path_buf(),
        user: "postgres".to_owned(),
        ca,
    };
    if !wait_until(Duration::from_secs(20), || ready(&bin, port) || !alive(pid)) || !alive(pid) {
        let log = std::fs::read_to_string(base.join("postgres.log")).unwrap_or_default();
        state.stop();
        bail!("PostgreSQL did not become ready on port {port}; its log:\n{log}");
    }
    Ok((state, child))
}

fn initdb(bin: &Path, data: &Path, base: &Path, owner: &Owner) -> Result<()> {
    let sh = xshell::Shell::new()?;
    let initdb = bin.join("initdb");
    let cmd = xshell::cmd!(
        sh,
        "{initdb} -D {data} -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 -N"
    );
    let log = std::fs::File::create(base.join("initdb.log"))?;
    owner.hand_over(&base.join("initdb.log"))?;
    let mut cmd: std::process::Command = cmd.into();
    owner.apply(&mut cmd);
    let code = gatehouse_process::run_into(cmd, log, Duration::from_secs(300))
        .with_context(|| format!("cannot run {}", initdb.display()))?;
    if code != Some(0) {
        let text = std::fs::read_to_string(base.join("initdb.log")).unwrap_or_default();
        bail!("initdb failed (exit {code:?}):\n{text}");
    }
    Ok(())
}

/// Issues the server's certificate from a CA in `base/tls` and allows TCP connections only over
/// TLS (`hostssl`; `hostnossl` is rejected). Returns the CA certificate's path.
fn require_tls(data: &Path, base: &Path, owner: &Owner) -> Result<PathBuf> {
    let tls = base.join("tls");
    let ca = crate::tls::Ca::open_or_create(&tls)?;
    let leaf = ca.issue("postgres", crate::tls::LOOPBACK_NAMES)?;
    for path in [&tls, &leaf.cert, &leaf.key] {
        owner.hand_over(path)?;
    }
    let hba = data.join("pg_hba.conf");
    let rules = "# Written by gatehouse's launcher: TCP only over TLS.\n\
                 local all all trust\n\
                 hostssl all all 127.0.0.1/32 trust\n\
                 hostnossl all all 127.0.0.1/32 reject\n";
    std::fs::write(&hba, rules).with_context(|| format!("cannot write {}", hba.display()))?;
    // `ssl` itself is on the server's command line (`spawn`), beside the other settings.
    let conf = data.join("postgresql.auto.conf");
    let settings = format!(
        "ssl_cert_file = '{}'\nssl_key_file = '{}'\n",
        leaf.cert.display(),
        leaf.key.display()
    );
    std::fs::write(&conf, settings).with_context(|| format!("cannot write {}", conf.display()))?;
    Ok(ca.cert_path())
}

fn spawn(
    bin: &Path,
    data: &Path,
    base: &Path,
    port: u16,
    owner: &Owner,
    tls: bool,
) -> Result<Child> {
    let sh = xshell::Shell::new()?;
    let postgres = bin.join("postgres");
    let (port, sock) = (port.to_string(), base.to_path_buf());
    let ssl = if tls { "ssl=on" } else { "ssl=off" };
    let settings = [
        "listen_addresses=127.0.0.1",
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        ssl,
    ];
    let settings = settings.iter().flat_map(|s| ["-c", s]);
    let cmd = xshell::cmd!(sh, "{postgres} -D {data} -p {port} -k {sock} {settings...}");
    let log = std::fs::File::create(base.join("postgres.log"))?;
    let mut cmd: std::process::Command = cmd.into();
    owner.apply(&mut cmd);
    // Its own process group: a Ctrl-C meant for a test runner or xtask does not reach it.
    gatehouse_process::spawn_group(cmd, log)
        .with_context(|| format!("cannot start {}", postgres.display()))
}

/// Ready to accept connections (not merely listening); `pg_isready` from the same installation
/// as the server, so a missing client on PATH cannot read as "not ready".
fn ready(bin: &Path, port: u16) -> bool {
    let Ok(sh) = xshell::Shell::new() else {
        return false;
    };
    let (pg_isready, port) = (bin.join("pg_isready"), port.to_string());
    let cmd = xshell::cmd!(sh, "{pg_isready} -q -h 127.0.0.1 -p {port} -U postgres");
    gatehouse_process::capture(cmd.into(), Duration::from_secs(10)).is_ok_and(|o| o.success())
}

/// `PG_BIN`, else the newest `/usr/lib/postgresql/<v>/bin`, else the directory of `initdb` on PATH.
fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).find(|d| d.join("initdb").is_file()).context(
        "PostgreSQL server binaries not found: install Debian `postgresql` (cargo xtask tools install postgresql) or set PG_BIN",
    )
}

/// Who runs the server: ourselves, or the `postgres` user when we are root.
struct Owner(Option<(Uid, Gid)>);

impl Owner {
    fn detect() -> Result<Owner> {
        if !Uid::effective().is_root() {
            return Ok(Owner(None));
        }
        let user = User::from_name("postgres")?
            .context("running as root, and there is no `postgres` user to run initdb as (install Debian `postgresql`)")?;
        Ok(Owner(Some((user.uid, user.gid))))
    }

    fn hand_over(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.0 {
            chown(path, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to the postgres user", path.display()))?;
        }
        Ok(())
    }

    fn apply(&self, cmd: &mut std::process::Command) {
        if let Some((uid, gid)) = self.0 {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
    }
}
