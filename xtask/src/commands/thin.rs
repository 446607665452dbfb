//! The thin build (`xtask` without its `full` feature, as the `cargo xtask` alias builds it):
//! the gates that only check the workspace (fmt, clippy, doc, test, …) and `tools` run here,
//! without the AWS SDK, kube or sigstore compiled in; every other command line is handed,
//! unchanged, to the full build (`cargo run --package xtask`), which replaces this process.

use std::io::IsTerminal as _;

use super::*;
use crate::cli::{Command, ToolsAction};

/// The pid of the thin build that handed off. `exec` keeps the pid through `cargo run` (which
/// execs too) to the full build, so a thin build that finds its own pid here was handed its own
/// command line (the handoff did not reach the full build) and refuses instead of looping; the
/// processes the full build starts (`cargo xtask …` generators) have other pids.
pub const HANDOFF_ENV: &str = "GATEHOUSE_HANDOFF";

/// Runs what the thin build can, else hands the command line to the full build.
pub fn dispatch(command: &Command, settings: &Settings, cancel: &Cancel) -> Result<Exit> {
    if !matches!(command, Command::Gate { .. } | Command::Tools { .. }) {
        return handoff();
    }
    // A configuration the thin build cannot load (a custom gate needing a service gate, say)
    // is the full build's to run or to report.
    let Ok(ws) = Workspace::load(settings) else {
        return handoff();
    };
    match command {
        Command::Gate { names } if serves(&ws, names) => gate(settings, &ws, names, cancel),
        Command::Tools {
            action: None | Some(ToolsAction::List),
        } => tools_list(settings, &ws),
        Command::Tools {
            action: Some(ToolsAction::Install { names }),
        } => tools_install(&ws, names, cancel),
        Command::Tools {
            action: Some(ToolsAction::Path { name }),
        } => tools_path(settings, &ws, name, cancel),
        _ => handoff(),
    }
}

/// The thin build runs `names` when it has each of them and every gate they need, and no
/// shared cache is configured (the S3 client is the full build's).
fn serves(ws: &Workspace, names: &[String]) -> bool {
    let env = std::env::var(crate::config::CACHE_ENV).ok();
    let shared = ws
        .config
        .cache
        .as_ref()
        .and_then(|def| def.shared_url(env.as_deref()))
        .is_some();
    !names.is_empty() && !shared && ws.registry.order(names).is_ok()
}

/// Replaces this process with the full build running the same command line; returns only if
/// that could not start, or if this process is itself the result of a handoff.
fn handoff() -> Result<Exit> {
    let me = std::process::id().to_string();
    if std::env::var(HANDOFF_ENV).is_ok_and(|pid| pid == me) {
        return Err(Failure::Usage(format!(
            "this xtask was built without its `full` feature, which this command needs, and it is what a handoff to the full build started ({HANDOFF_ENV}): run the full build (`cargo run --package xtask -- …`)"
        ))
        .into());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if std::io::stderr().is_terminal() {
        eprintln!(
            "xtask: this command runs in gatehouse's full build (cargo run --package xtask; the first build compiles the AWS SDK, kube and sigstore)"
        );
    }
    let sh = xshell::Shell::new()?;
    let mut cmd: std::process::Command = xshell::cmd!(
        sh,
        "{cargo} run --quiet --manifest-path {manifest} --bin xtask -- {args...}"
    )
    .into();
    cmd.env(HANDOFF_ENV, me);
    Err(gatehouse_process::handoff(cmd).context("cannot hand the command to the full build"))
}
