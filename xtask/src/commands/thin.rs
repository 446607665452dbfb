//! The thin build (`xtask` without its `full` feature, as the `cargo xtask` alias builds it):
//! the gates that only check the workspace (fmt, clippy, doc, test, …) and `tools` run here,
//! without the AWS SDK, kube or sigstore compiled in; every other command line is handed,
//! unchanged, to the full build, which replaces this process. In gatehouse's own workspace the
//! full build is compiled as the test gate compiles the workspace (`--workspace
//! --all-features`), so after `gate test` it is already there: `cargo run --package xtask` would
//! resolve features for xtask alone and recompile every dependency whose features differ (136 s
//! of a cold `.ci/run`). A workspace that runs gatehouse from another checkout builds xtask alone.

use std::io::IsTerminal as _;

use super::*;
use crate::cli::{Command, ToolsAction};

/// The pid of the thin build that handed off. `exec` keeps the pid in the full build, so a thin
/// build that finds its own pid here was handed its own command line (the handoff did not reach
/// the full build) and refuses instead of looping; the processes the full build starts
/// (`cargo xtask …` generators) have other pids.
pub const HANDOFF_ENV: &str = "GATEHOUSE_HANDOFF";

/// Runs what the thin build can, else hands the command line to the full build.
pub fn dispatch(command: &Command, settings: &Settings, cancel: &Cancel) -> Result<Exit> {
    if !matches!(command, Command::Gate { .. } | Command::Tools { .. }) {
        return handoff(&settings.root, cancel);
    }
    // A configuration the thin build cannot load (a custom gate needing a service gate, say)
    // is the full build's to run or to report.
    let Ok(ws) = Workspace::load(settings) else {
        return handoff(&settings.root, cancel);
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
        _ => handoff(&settings.root, cancel),
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
/// that could not be built or started, or if this process is itself the result of a handoff.
fn handoff(root: &std::path::Path, cancel: &Cancel) -> Result<Exit> {
    let me = std::process::id().to_string();
    if std::env::var(HANDOFF_ENV).is_ok_and(|pid| pid == me) {
        return Err(Failure::Usage(format!(
            "this xtask was built without its `full` feature, which this command needs, and it is what a handoff to the full build started ({HANDOFF_ENV}): run the full build (`cargo run --package xtask -- …`)"
        ))
        .into());
    }
    if std::io::stderr().is_terminal() {
        eprintln!(
            "xtask: this command runs in gatehouse's full build (the first build compiles the AWS SDK, kube and sigstore)"
        );
    }
    let full = build_full(root, cancel)?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let sh = xshell::Shell::new()?;
    let cmd = xshell::cmd!(sh, "{full} {args...}").env(HANDOFF_ENV, me);
    Err(gatehouse_process::handoff(cmd.into()).context(format!(
        "cannot hand the command to the full build ({})",
        full.display()
    )))
}

/// `cargo build` of the full xtask (as the test gate builds it when `root` is gatehouse's own
/// workspace); the executable cargo names.
fn build_full(root: &std::path::Path, cancel: &Cancel) -> Result<std::path::PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    let own = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let as_tested: &[&str] = if own(manifest).starts_with(own(root)) {
        &["--workspace", "--all-features"]
    } else {
        &[]
    };
    let sh = xshell::Shell::new()?;
    let cmd = xshell::cmd!(
        sh,
        "{cargo} build --quiet --manifest-path {manifest} {as_tested...} --message-format=json-render-diagnostics --bin xtask"
    );
    let shown = cmd.to_string();
    let out = gatehouse_process::run(
        cmd.into(),
        &gatehouse_process::Sink::discard()?,
        std::time::Instant::now() + std::time::Duration::from_secs(3 * 3600),
        cancel,
    )?;
    if cancel.is_cancelled() {
        return Err(Failure::Interrupted.into());
    }
    anyhow::ensure!(
        out.success(),
        "gatehouse's full build failed ({shown}, exit {}):\n{}",
        out.code
            .map_or_else(|| "by a signal".to_owned(), |c| c.to_string()),
        out.stderr.trim_end()
    );
    full_executable(&out.stdout)
        .with_context(|| format!("`{shown}` named no executable for the bin target xtask"))
}

/// The executable of bin target `xtask` in cargo's JSON messages.
fn full_executable(messages: &str) -> Option<std::path::PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "xtask")
        .filter_map(|m| m["executable"].as_str().map(std::path::PathBuf::from))
        .next_back()
}
