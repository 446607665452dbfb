//! A long-running local process (the service under test, and later Prometheus, a registry, …):
//! its output goes to a log file, readiness is the caller's probe, and it stops on drop.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;

use crate::system::{stop, wait_until};

#[derive(Debug)]
pub struct Service {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    /// How long SIGTERM gets before SIGKILL (the service's own drain and deadline).
    grace: Duration,
}

impl Service {
    /// Spawns `cmd` in its own process group with stdout and stderr appended to `log`.
    pub fn start(name: &str, cmd: impl Into<std::process::Command>, log: &Path) -> Result<Service> {
        let file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {name}'s log {}", log.display()))?;
        let cmd: std::process::Command = cmd.into();
        let shown = format!("{cmd:?}");
        // Its own process group: a Ctrl-C meant for the runner is handled by the runner.
        let child = crate::spawn_group(cmd, file)
            .with_context(|| format!("cannot start {name}: {shown}"))?;
        Ok(Service {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_path_buf(),
            grace: Duration::from_secs(15),
        })
    }

    /// Waits until `ready` holds; fails early when the process exits, with its log's last lines.
    pub fn wait_ready(&mut self, limit: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
        let mut exited = None;
        let up = wait_until(limit, || {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                exited = Some(status);
                return true;
            }
            ready()
        });
        match (up, exited) {
            (_, Some(status)) => bail!(
                "{} exited before it was ready ({status}); its log {} ends:\n{}",
                self.name,
                self.log.display(),
                self.log_tail(20)
            ),
            (true, None) => Ok(()),
            (false, None) => bail!(
                "{} was not ready within {}s; its log {} ends:\n{}",
                self.name,
                limit.as_secs(),
                self.log.display(),
                self.log_tail(20)
            ),
        }
    }

    /// The last `n` lines of the service's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The exit status once the process has exited (without blocking).
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Lets the process outlive this handle (and the command that started it); returns its pid.
    pub fn detach(mut self) -> Option<u32> {
        self.child.take().map(|c| c.id())
    }

    /// SIGTERM, then SIGKILL after the grace period; returns once the process is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                stop(pid, Signal::SIGTERM, self.grace);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_that_exits_early_fails_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let sh = xshell::Shell::new().unwrap();
        let cmd = xshell::cmd!(sh, "sh -c 'echo listening failed >&2; exit 3'");
        let mut service = Service::start("svc", cmd, &dir.path().join("svc.log")).unwrap();
        let err = service
            .wait_ready(Duration::from_secs(10), || false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("svc exited before it was ready"), "{err}");
        assert!(err.contains("listening failed"), "{err}");
    }

    #[test]
    fn stop_ends_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let sh = xshell::Shell::new().unwrap();
        let cmd = xshell::cmd!(sh, "sleep 60");
        let mut service = Service::start("sleeper", cmd, &dir.path().join("s.log")).unwrap();
        service.wait_ready(Duration::from_secs(5), || true).unwrap();
        let pid = i32::try_from(service.pid().unwrap()).unwrap();
        assert!(crate::alive(pid));
        service.stop();
        assert!(!crate::alive(pid), "process gone after stop");
    }
}
