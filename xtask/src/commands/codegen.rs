//! `cargo xtask codegen [--check]`.

use super::*;

/// `cargo xtask codegen [--check]`: run every generator; write what changed (or, with
/// `--check`, print the diffs and fail).
pub fn codegen(settings: &Settings, ws: &Workspace, check: bool, cancel: &Cancel) -> Result<Exit> {
    if ws.config.codegen.is_empty() {
        return Err(Failure::Config(format!(
            "{FILE} lists no generated file: add a [codegen.<name>] table with `path` and `run`",
            FILE = crate::config::FILE
        ))
        .into());
    }
    let log = crate::layout::Layout::of(&settings.root).log("codegen.log");
    let ctx = ws.command_ctx(settings, log, cancel, crate::codegen::TIMEOUT)?;
    let mut stale = 0;
    for (name, file) in &ws.config.codegen {
        let (committed, generated) = match crate::codegen::Check::of(&ctx, name, file)? {
            crate::codegen::Check::Fresh => {
                println!("unchanged  {}", file.path);
                continue;
            }
            crate::codegen::Check::Broken(why) => {
                eprintln!("error: {why}");
                return Ok(Exit::GateFailed);
            }
            crate::codegen::Check::Stale {
                committed,
                generated,
            } => (committed, generated),
        };
        stale += 1;
        if check {
            print!(
                "{}",
                crate::codegen::diff(&file.path, &committed, &generated)
            );
            println!("stale      {} (codegen.{name})", file.path);
            continue;
        }
        let path = settings.root.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, generated)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        println!("updated    {}", file.path);
    }
    Ok(if check && stale > 0 {
        eprintln!("{stale} generated file(s) are stale: run `cargo xtask codegen` and commit");
        Exit::GateFailed
    } else {
        Exit::Ok
    })
}
