//! `cargo xtask migrations classify [DIR]`.

use super::*;

/// `cargo xtask migrations classify [DIR]`: each up migration, expand or contract, as promotions
/// and rollbacks judge it (PostgreSQL's own parse of it), with the statement that decided it.
pub fn migrations_classify(
    settings: &Settings,
    ws: &Workspace,
    dir: Option<&std::path::Path>,
    cancel: &Cancel,
) -> Result<Exit> {
    let config = &ws.config;
    let dir = dir
        .map(|d| d.display().to_string())
        .or_else(|| config.release.as_ref().and_then(|r| r.migrations.clone()))
        .or_else(|| config.migrations.as_ref().map(|m| m.dir.clone()))
        .ok_or_else(|| {
            Failure::Config(format!(
                "`migrations classify` needs a directory: pass DIR, or set [release] migrations or [migrations] dir in {}",
                crate::config::FILE
            ))
        })?;
    let path = settings.root.join(&dir);
    if !path.is_dir() {
        return Err(
            Failure::Config(format!("{}: no such migrations directory", path.display())).into(),
        );
    }
    let ctx = ws.command_ctx(
        settings,
        crate::layout::Layout::of(&settings.root).log("migrations/classify.log"),
        cancel,
        std::time::Duration::from_secs(600),
    )?;
    let found = crate::deploy::schema::classify_dir(&ctx, &path)?;
    emit(settings, &found, |found| classify_text(&dir, found))?;
    Ok(Exit::Ok)
}

fn classify_text(dir: &str, found: &[crate::deploy::schema::Migration]) -> String {
    use crate::deploy::schema::Kind;
    let mut out = String::new();
    for m in found {
        let _ = match &m.kind {
            Kind::Expand => writeln!(out, "expand    {dir}/{}", m.file),
            Kind::Contract {
                line,
                reason,
                statement,
            } => writeln!(
                out,
                "contract  {dir}/{}:{line}: `{statement}` {reason}",
                m.file
            ),
        };
    }
    if found.is_empty() {
        let _ = writeln!(out, "no up migration in {dir}");
    }
    out
}
