//! The one spawner of gatehouse: every external process, short (a tool, git, `cargo metadata`)
//! or long-running (a service, PostgreSQL, nginx), is started here, in a process group of its
//! own, with a deadline and cancellation, and killed here with everything it started.
//!
//! Commands are built with `xshell::cmd!` and handed over as `std::process::Command`. A Ctrl-C
//! on the terminal reaches the caller only; it then terminates the whole tree of every running
//! tool (group, descendants and orphans re-parented to it, a child subreaper) before it exits.
//! No other module of gatehouse's crates spawns (test `one_spawner` in xtask).

mod service;
mod system;

pub use service::Service;
pub use system::{alive, parent_of, process_table, stop, wait_until};

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Why a command did not finish by itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The run was cancelled (Ctrl-C, SIGTERM).
    #[error("interrupted")]
    Interrupted,
    /// The command outlived its deadline (and was killed).
    #[error("timed out")]
    TimedOut,
    /// The program is not on PATH.
    #[error("`{0}` was not found on PATH")]
    NotFound(String),
}

/// Shared cancellation flag, set by the Ctrl-C handler and polled by every running tool (a latch
/// modelled by loom in gatehouse-sync).
#[derive(Clone, Debug, Default)]
pub struct Cancel(gatehouse_sync::Flag);

impl Cancel {
    pub fn cancel(&self) {
        self.0.raise();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.is_raised()
    }
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout then stderr, for parsers that do not care where a line came from.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Where a command's output goes while it runs.
pub struct Sink {
    /// The gate's log file; every byte the tool prints lands here.
    pub log: Arc<Mutex<std::fs::File>>,
    /// Keep stdout out of the log (it is machine output the gate renders itself).
    pub quiet_stdout: bool,
}

impl Sink {
    /// A sink that keeps nothing but what the caller captures.
    pub fn discard() -> Result<Sink> {
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .context("cannot open /dev/null")?;
        Ok(Sink {
            log: Arc::new(Mutex::new(null)),
            quiet_stdout: true,
        })
    }
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("quiet_stdout", &self.quiet_stdout)
            .finish()
    }
}

/// Makes xtask the reaper of orphaned grandchildren so that no daemonised tool escapes the kill.
pub fn become_subreaper() {
    // Best effort: without it, descendants are still found through their parents.
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

/// Runs `cmd` to completion, streaming its output into `sink`, honouring `deadline` and `cancel`.
pub fn run(mut cmd: Command, sink: &Sink, deadline: Instant, cancel: &Cancel) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let spawned = cmd.spawn();
    let mut child = spawned.map_err(|e| spawn_error(&program, e))?;
    let out = pump(child.stdout.take(), sink.log.clone(), sink.quiet_stdout);
    let err = pump(child.stderr.take(), sink.log.clone(), false);
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);
    // Short commands (psql, git) are common: poll at 1 ms, backing off to 20 ms.
    let mut nap = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait().context("cannot wait for child process")? {
            break Ok(status);
        }
        if cancel.is_cancelled() {
            break Err(Error::Interrupted);
        }
        if Instant::now() >= deadline {
            break Err(Error::TimedOut);
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    // Whatever happened, nothing the tool started may outlive it.
    kill_tree(pid, &mut child);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let status = status?;
    Ok(Output {
        code: status.code(),
        stdout,
        stderr,
    })
}

fn spawn_error(program: &str, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound(program.to_owned()).into()
    } else {
        anyhow::Error::new(e).context(format!("cannot start `{program}`"))
    }
}

fn pump<R: Read + Send + 'static>(
    stream: Option<R>,
    log: Arc<Mutex<std::fs::File>>,
    quiet: bool,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let Some(mut stream) = stream else {
            return String::new();
        };
        let mut captured = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            captured.extend_from_slice(&buf[..n]);
            if !quiet && let Ok(mut file) = log.lock() {
                let _ = file.write_all(&buf[..n]);
            }
        }
        String::from_utf8_lossy(&captured).into_owned()
    })
}

/// Terminates `pid`'s process group and every descendant: SIGTERM first, SIGKILL after a grace period.
fn kill_tree(pid: Pid, child: &mut std::process::Child) {
    let mut doomed = descendants(pid);
    signal_all(pid, &doomed, Signal::SIGTERM);
    let grace = Instant::now() + Duration::from_secs(3);
    while Instant::now() < grace && !all_gone(pid, &doomed) {
        let _ = child.try_wait();
        thread::sleep(Duration::from_millis(20));
        doomed.extend(descendants(pid));
    }
    doomed.extend(descendants(pid));
    signal_all(pid, &doomed, Signal::SIGKILL);
    let _ = child.wait();
    reap_orphans(&doomed);
}

fn signal_all(group: Pid, pids: &HashSet<Pid>, signal: Signal) {
    let _ = killpg(group, signal);
    for &p in pids {
        let _ = kill(p, signal);
    }
}

fn all_gone(group: Pid, pids: &HashSet<Pid>) -> bool {
    let alive = |p: Pid| alive(p.as_raw());
    !alive(group) && pids.iter().all(|&p| !alive(p))
}

/// Orphans re-parented to xtask (the subreaper) become its zombies: collect them.
fn reap_orphans(pids: &HashSet<Pid>) {
    let me = Pid::this();
    for &p in pids {
        if parent_of(p.as_raw()) == Some(me.as_raw()) {
            let _ = nix::sys::wait::waitpid(p, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
    }
}

/// Kills every process below xtask itself: the last sweep before an interrupted run exits.
pub fn kill_all_descendants() {
    let me = Pid::this();
    let doomed = descendants(me);
    for &p in &doomed {
        let _ = kill(p, Signal::SIGKILL);
    }
    reap_orphans(&doomed);
}

/// Every live process whose ancestry reaches `root`, read from /proc.
pub fn descendants(root: Pid) -> HashSet<Pid> {
    let mut children: HashMap<Pid, Vec<Pid>> = HashMap::new();
    for (pid, ppid) in process_table() {
        children
            .entry(Pid::from_raw(ppid))
            .or_default()
            .push(Pid::from_raw(pid));
    }
    let mut found = HashSet::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            if found.insert(c) {
                stack.push(c);
            }
        }
    }
    found
}

/// Runs a short command to completion (git, `cargo metadata`, `nginx -s reload`) and captures
/// its output: own process group, killed with its descendants after `limit`.
pub fn capture(cmd: Command, limit: Duration) -> Result<Output> {
    run(
        cmd,
        &Sink::discard()?,
        Instant::now() + limit,
        &Cancel::default(),
    )
}

/// Runs a short command and returns its stdout, for probes such as `tool --version`.
pub fn probe(cmd: Command) -> Option<String> {
    let out = capture(cmd, Duration::from_secs(60)).ok()?;
    // Some tools (nginx -v) print their version on stderr.
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    out.code.is_some_and(|c| c == 0).then_some(text)
}

/// Starts a daemon-like process (e.g. PostgreSQL) in its own process group with stdin closed and
/// stdout and stderr in `log`; the caller owns the child and stops it with [`stop`].
pub fn spawn_group(mut cmd: Command, log: std::fs::File) -> Result<std::process::Child> {
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let spawned = cmd.spawn();
    spawned.map_err(|e| spawn_error(&program, e))
}

/// Replaces this process with `cmd` (`exec`): same pid, process group, terminal and signals, so
/// Ctrl-C and the exit status are the new program's own. Returns only if it could not start.
pub fn handoff(mut cmd: Command) -> anyhow::Error {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let e = cmd.exec();
    spawn_error(&program, e)
}

/// Runs `cmd` to completion with stdout and stderr in `log` (e.g. `initdb`); its exit status.
pub fn run_into(cmd: Command, log: std::fs::File, limit: Duration) -> Result<Option<i32>> {
    let sink = Sink {
        log: Arc::new(Mutex::new(log)),
        quiet_stdout: false,
    };
    Ok(run(cmd, &sink, Instant::now() + limit, &Cancel::default())?.code)
}

/// Runs an installer with its output in `log`, failing with the command line when it fails.
pub fn run_logged(cmd: Command, log: &Path, cancel: &Cancel) -> Result<()> {
    let shown = format!("{cmd:?}");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let sink = Sink {
        log: Arc::new(Mutex::new(file)),
        quiet_stdout: false,
    };
    let deadline = Instant::now() + Duration::from_secs(1800);
    let out = run(cmd, &sink, deadline, cancel)?;
    if out.success() {
        return Ok(());
    }
    anyhow::bail!(
        "{shown} failed (exit {:?}); see {}",
        out.code,
        log.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let sh = xshell::Shell::new().unwrap();
        xshell::cmd!(sh, "sh -c {script}").into()
    }

    #[test]
    fn capture_returns_what_a_short_command_printed_and_its_exit_code() {
        let out = capture(
            sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
    }

    #[test]
    fn a_command_past_its_deadline_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let script = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
        let err = capture(sh(&script), Duration::from_millis(500)).unwrap_err();
        assert!(
            matches!(err.downcast_ref::<Error>(), Some(Error::TimedOut)),
            "{err:#}"
        );
        let child: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!alive(child), "the grandchild went with it");
    }

    #[test]
    fn a_missing_program_is_named() {
        let sh = xshell::Shell::new().unwrap();
        let cmd = xshell::cmd!(sh, "gatehouse-no-such-program").into();
        let err = capture(cmd, Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(err.downcast_ref::<Error>(), Some(Error::NotFound(p)) if p == "gatehouse-no-such-program"),
            "{err:#}"
        );
    }
}
