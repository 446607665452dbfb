//! Process control, through gatehouse-process (the one spawner): its errors become the failures
//! that decide xtask's exit code.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;

pub use gatehouse_process::{
    Cancel, Output, Service, Sink, become_subreaper, descendants, kill_all_descendants, probe,
};

use crate::exit::Failure;

/// gatehouse-process's errors as xtask's failures (exit 130, 1, 3).
fn classify(err: anyhow::Error) -> anyhow::Error {
    match err.downcast::<gatehouse_process::Error>() {
        Ok(gatehouse_process::Error::Interrupted) => Failure::Interrupted.into(),
        Ok(gatehouse_process::Error::TimedOut) => Failure::TimedOut.into(),
        Ok(gatehouse_process::Error::NotFound(program)) => Failure::MissingTool(format!(
            "`{program}` was not found on PATH: run `cargo xtask tools install` or `cargo xtask doctor`"
        ))
        .into(),
        Err(other) => other,
    }
}

/// Runs `cmd` to completion, streaming its output into `sink`, honouring `deadline` and `cancel`.
pub fn run(cmd: Command, sink: &Sink, deadline: Instant, cancel: &Cancel) -> Result<Output> {
    gatehouse_process::run(cmd, sink, deadline, cancel).map_err(classify)
}

/// Runs a short command (git, `cargo metadata`) to completion within `limit`; its output.
pub fn capture(cmd: impl Into<Command>, limit: Duration) -> Result<Output> {
    gatehouse_process::capture(cmd.into(), limit).map_err(classify)
}

/// Runs an installer with its output in `log`, failing with the command line when it fails.
pub fn run_logged(cmd: Command, log: &Path, cancel: &Cancel) -> Result<()> {
    gatehouse_process::run_logged(cmd, log, cancel).map_err(classify)
}
