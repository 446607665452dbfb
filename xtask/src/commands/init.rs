//! `cargo xtask init`: adopt gatehouse in another workspace (see `crate::init`).

use super::*;

/// `cargo xtask init`: in `--root` (else the current directory), which need not hold a
/// gatehouse.toml yet.
pub fn init(
    global: &crate::cli::Global,
    env: &crate::settings::Environment,
    opts: &crate::init::Options,
) -> Result<Exit> {
    let root = match &global.root {
        Some(root) => std::path::absolute(root)
            .map_err(|e| Failure::Usage(format!("--root {}: {e}", root.display())))?,
        None => std::env::current_dir()?,
    };
    let settings = crate::cli::settings(global, root, env);
    let report = crate::init::run(&settings.root, opts)?;
    emit(&settings, &report, crate::init::human)?;
    Ok(Exit::Ok)
}
