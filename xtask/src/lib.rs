//! gatehouse: every production-readiness gate of a Rust service, encoded in one `cargo xtask`.
//!
//! The thin binary: `cli` (grammar) → `commands` (one module per command, arguments → options,
//! one renderer) → the library crates, layered so that the compiler forbids cycles:
//! `gatehouse-engine` (gate model, graph, scheduler, cache, reports, config, tools, process
//! policy, HTTP) → `gatehouse-oci` (image, registry, signing, SBOM) and `gatehouse-cloud` (AWS,
//! GitHub) → `gatehouse-release` → `gatehouse-harness` (running the service, load, SLOs) →
//! `gatehouse-deploy` (promote, targets, judgement, drill) → `gatehouse-gates` (one module per
//! gate). External programs run only through `gatehouse-process`.

pub mod cli;
pub mod commands;

// The library crates, at the paths commands and tests name them by.
#[cfg(feature = "full")]
pub use gatehouse_cloud::{aws, s3};
#[cfg(feature = "full")]
pub use gatehouse_deploy as deploy;
pub use gatehouse_engine::{
    codegen, compile_cache, config, engine, exit, fanout, git, http, init, layout, migrations,
    platform, process, settings, tools,
};
pub use gatehouse_gates as gates;
#[cfg(feature = "full")]
pub use gatehouse_harness::{load, slo};
#[cfg(feature = "full")]
pub use gatehouse_release as release;

use crate::cli::{Cli, Command};
#[cfg(feature = "full")]
use crate::cli::{DevAction, DrillAction, EnvAction, ReleaseAction, SloAction, ToolsAction};
#[cfg(feature = "full")]
use crate::commands::Workspace;
use crate::exit::Exit;
use crate::process::Cancel;
use crate::settings::Environment;

/// The binaries' `main`: parse, wire Ctrl-C to the cancellation flag, run, exit with a fixed
/// code.
pub fn main() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    process::become_subreaper();
    let cancel = Cancel::default();
    let handler = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if handler.is_cancelled() {
            // Second Ctrl-C: stop waiting for a graceful end.
            process::kill_all_descendants();
            std::process::exit(Exit::Interrupted as i32);
        }
        eprintln!("\n[gatehouse] interrupted: stopping every running tool …");
        handler.cancel();
    });
    let exit = run(cli, &Environment::detect(), &cancel);
    if cancel.is_cancelled() {
        process::kill_all_descendants();
        return Exit::Interrupted.into();
    }
    exit.into()
}

/// Runs a parsed command line; returns the exit code after printing any error.
pub fn run(cli: Cli, env: &Environment, cancel: &Cancel) -> Exit {
    match dispatch(cli, env, cancel) {
        Ok(exit) => exit,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::exit_for(&err)
        }
    }
}

fn dispatch(cli: Cli, env: &Environment, cancel: &Cancel) -> anyhow::Result<Exit> {
    if let Command::Completions { shell } = cli.command {
        return Ok(commands::completions(shell));
    }
    if let Command::Init {
        force,
        dry_run,
        openapi,
        source,
    } = &cli.command
    {
        let opts = init::Options {
            force: *force,
            dry_run: *dry_run,
            openapi: openapi.clone(),
            source: source.clone().unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")
            }),
        };
        return commands::init(&cli.global, env, &opts);
    }
    let root = config::find_root(cli.global.root.clone())?;
    let settings = cli::settings(&cli.global, root, env);
    #[cfg(not(feature = "full"))]
    return commands::thin::dispatch(&cli.command, &settings, cancel);
    #[cfg(feature = "full")]
    full(&cli, settings, cancel)
}

/// Every command, in the full build.
#[cfg(feature = "full")]
fn full(cli: &Cli, settings: settings::Settings, cancel: &Cancel) -> anyhow::Result<Exit> {
    let ws = Workspace::load(&settings)?;
    match &cli.command {
        Command::Ci { group } => commands::ci(&settings, &ws, group.as_deref(), cancel),
        Command::Workflow {
            action: cli::WorkflowAction::Fanout { pipeline },
        } => commands::workflow_fanout(&ws, pipeline),
        Command::Cache {
            action: cli::CacheAction::Keygen { public_key, force },
        } => commands::cache_keygen(&settings, public_key, *force),
        Command::Cache {
            action: cli::CacheAction::Status,
        } => commands::cache_status(&settings, &ws),
        Command::Report {
            action:
                cli::ReportAction::Merge {
                    pipeline,
                    junit,
                    reports,
                },
        } => commands::report_merge(&settings, &ws, pipeline, junit.as_deref(), reports),
        Command::Gate { names } => commands::gate(&settings, &ws, names, cancel),
        Command::List => commands::list(&settings, &ws),
        Command::Plan { pipeline } => commands::plan(&settings, &ws, pipeline),
        Command::Explain { gate } => commands::explain(&settings, &ws, gate),
        Command::Tools {
            action: None | Some(ToolsAction::List),
        } => commands::tools_list(&settings, &ws),
        Command::Tools {
            action: Some(ToolsAction::Install { names }),
        } => commands::tools_install(&ws, names, cancel),
        Command::Tools {
            action: Some(ToolsAction::Path { name }),
        } => commands::tools_path(&settings, &ws, name, cancel),
        Command::Doctor => commands::doctor(&settings, &ws),
        Command::Codegen { check } => commands::codegen(&settings, &ws, *check, cancel),
        Command::Dev {
            action: DevAction::Up,
        } => commands::dev::up(&settings, &ws, cancel),
        Command::Dev {
            action: DevAction::Down,
        } => commands::dev::down(&settings),
        Command::Dev {
            action: DevAction::Status,
        } => commands::dev::status(&settings, &ws),
        Command::Release {
            action: Some(ReleaseAction::Plan),
            ..
        } => commands::release_plan(&settings),
        Command::Release {
            action: Some(ReleaseAction::Image),
            ..
        } => commands::release_image(&settings, &ws, cancel),
        Command::Release {
            action: Some(ReleaseAction::Keygen { dir }),
            ..
        } => commands::release_keygen(dir),
        Command::Release {
            action:
                Some(ReleaseAction::Verify {
                    reference,
                    key,
                    plain_http,
                }),
            ..
        } => commands::release_verify(reference, key, *plain_http),
        Command::Release { action: None, run } => commands::release(&settings, &ws, run, cancel),
        Command::Load { profile, dev } => commands::load(&settings, &ws, profile, *dev, cancel),
        Command::Slo {
            action: SloAction::Render { what, service },
        } => commands::slo_render(&settings, &ws, *what, service.as_deref()),
        Command::Migrations {
            action: cli::MigrationsAction::Classify { dir },
        } => commands::migrations_classify(&settings, &ws, dir.as_deref(), cancel),
        Command::Chart {
            action: cli::ChartAction::Schema,
        } => commands::chart_schema(&settings, &ws, cancel),
        Command::Chart {
            action: cli::ChartAction::Render { env, digest },
        } => commands::chart_render(&settings, &ws, env, digest.as_deref(), cancel),
        Command::Promote(args) => commands::promote(&settings, &ws, args, cancel),
        Command::Drill {
            action: DrillAction::Rollback { env, fault },
        } => commands::drill(&settings, &ws, env, *fault, cancel),
        Command::Env {
            action: EnvAction::Status { env },
        } => commands::env_status(&settings, env),
        Command::Env {
            action: EnvAction::Down { env },
        } => commands::env_down(&settings, &ws, env, cancel),
        Command::Aws {
            action: cli::AwsAction::Identity { region },
        } => aws::identity_command(&settings, &ws.config, region.as_deref()),
        Command::Completions { .. } | Command::Init { .. } => Ok(Exit::Ok),
    }
}
