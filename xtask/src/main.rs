//! `cargo xtask`: parse, wire Ctrl-C to the cancellation flag, run, exit with a fixed code.

use std::process::ExitCode;

use clap::Parser;
use xtask::cli::Cli;
use xtask::exit::Exit;
use xtask::process::{self, Cancel};
use xtask::settings::Environment;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let exit = xtask::run(cli, &Environment::detect(), &cancel);
    if cancel.is_cancelled() {
        process::kill_all_descendants();
        return Exit::Interrupted.into();
    }
    exit.into()
}
