//! Process control: the one place that spawns tools, owns their process groups, and kills them.
//!
//! Every external command is built with `xshell::cmd!` and handed here as a `std::process::Command`.
//! Each tool runs in a process group of its own, so a Ctrl-C on the terminal reaches xtask only;
//! xtask then terminates the whole tree of every running tool (group, descendants and orphans that
//! were re-parented to xtask, which is a child subreaper) before it exits.

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

use crate::exit::Failure;

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
    let mut child = cmd.spawn().map_err(|e| spawn_error(&program, e))?;
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
            break Err(Failure::Interrupted);
        }
        if Instant::now() >= deadline {
            break Err(Failure::TimedOut);
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
        Failure::MissingTool(format!(
            "`{program}` was not found on PATH: run `cargo xtask tools install` or `cargo xtask doctor`"
        ))
        .into()
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
    let alive = |p: Pid| launcher::alive(p.as_raw());
    !alive(group) && pids.iter().all(|&p| !alive(p))
}

/// Orphans re-parented to xtask (the subreaper) become its zombies: collect them.
fn reap_orphans(pids: &HashSet<Pid>) {
    let me = Pid::this();
    for &p in pids {
        if launcher::parent_of(p.as_raw()) == Some(me.as_raw()) {
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
    for (pid, ppid) in launcher::process_table() {
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

/// Runs a short command and returns its stdout, for probes such as `tool --version`.
pub fn probe(cmd: Command) -> Option<String> {
    let mut cmd = cmd;
    let out = cmd.stdin(Stdio::null()).output().ok()?;
    // Some tools (nginx -v) print their version on stderr.
    let text = if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    };
    out.status
        .success()
        .then(|| String::from_utf8_lossy(text).into_owned())
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
