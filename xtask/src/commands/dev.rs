//! `cargo xtask dev up|down|status`: the local stack in the background, its state under `target/`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use launcher::{Postgres, PostgresState};

use super::Workspace;
use crate::exit::Exit;
use crate::process::Cancel;
use crate::settings::{Format, Settings};

fn state_file(settings: &Settings) -> PathBuf {
    crate::layout::Layout::of(&settings.root)
        .dev()
        .join("postgres.json")
}

fn load(settings: &Settings) -> Option<PostgresState> {
    let text = std::fs::read_to_string(state_file(settings)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn up(settings: &Settings, ws: &Workspace, cancel: &Cancel) -> Result<Exit> {
    match load(settings) {
        Some(state) if state.is_running() => {
            eprintln!("[gatehouse] the local stack is already running");
            print_settings(settings, ws, &state)?;
            return Ok(Exit::Ok);
        }
        // A server that died (or a machine that rebooted) leaves its directory behind.
        Some(stale) => stale.stop_and_remove()?,
        None => {}
    }
    if ws.config.tools.contains_key("postgresql") {
        ws.toolbox.ensure("postgresql", cancel, &|_| {})?;
    }
    eprintln!("[gatehouse] starting PostgreSQL …");
    let state = Postgres::detached().context("cannot start the local PostgreSQL")?;
    state.create_database(database(ws))?;
    let file = state_file(settings);
    std::fs::create_dir_all(file.parent().unwrap_or(&settings.root))?;
    std::fs::write(&file, serde_json::to_string_pretty(&state)?)
        .with_context(|| format!("cannot write {}", file.display()))?;
    print_settings(settings, ws, &state)?;
    Ok(Exit::Ok)
}

/// The database `[service]` uses (see `ServiceDef::database_name`), else the project's name.
fn database(ws: &Workspace) -> &str {
    ws.config
        .service
        .as_ref()
        .map_or(&ws.config.project.name, |s| s.database_name())
}

pub fn down(settings: &Settings) -> Result<Exit> {
    let Some(state) = load(settings) else {
        eprintln!("[gatehouse] the local stack is not running");
        return Ok(Exit::Ok);
    };
    state.stop_and_remove()?;
    std::fs::remove_file(state_file(settings)).context("cannot remove the dev state file")?;
    eprintln!(
        "[gatehouse] stopped PostgreSQL (pid {}) and removed its data",
        state.pid
    );
    Ok(Exit::Ok)
}

pub fn status(settings: &Settings, ws: &Workspace) -> Result<Exit> {
    match load(settings) {
        Some(state) if state.is_running() => {
            eprintln!(
                "[gatehouse] PostgreSQL: running (pid {}, port {})",
                state.pid, state.port
            );
            print_settings(settings, ws, &state)?;
        }
        Some(state) => eprintln!(
            "[gatehouse] PostgreSQL: stopped (stale state for pid {}); run `cargo xtask dev down`",
            state.pid
        ),
        None => {
            eprintln!("[gatehouse] PostgreSQL: not running; start it with `cargo xtask dev up`")
        }
    }
    Ok(Exit::Ok)
}

fn print_settings(settings: &Settings, ws: &Workspace, state: &PostgresState) -> Result<()> {
    let url = state.url(database(ws));
    // The variable `[service.env]` passes `{database_url}` in.
    let var = ws
        .config
        .service
        .as_ref()
        .and_then(|s| s.database_url_var())
        .unwrap_or("DATABASE_URL");
    if settings.format == Format::Json {
        let json = serde_json::json!({ "database_url": url, "postgres": state });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{var}={url}");
        println!(
            "# PostgreSQL log: {}",
            state.base_dir.join("postgres.log").display()
        );
    }
    Ok(())
}
