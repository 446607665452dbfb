//! `cargo xtask cache keygen` and `cache status`: the shared cache's signing pair, and which
//! stores a run would use.

use super::*;

use crate::engine::shared::{Keys, WRITER_KEY_ENV};

#[derive(serde::Serialize)]
struct Keygen {
    public_key: String,
    key_id: String,
    writer_key_env: &'static str,
}

/// Writes the public key to `path` (relative to the root) and prints the writer key once.
pub fn cache_keygen(settings: &Settings, path: &std::path::Path, force: bool) -> Result<Exit> {
    let file = settings.root.join(path);
    if file.exists() && !force {
        return Err(Failure::Usage(format!(
            "{} exists; every pass in the shared cache is signed with its pair. Pass --force to replace it (the old entries are then ignored)",
            file.display()
        ))
        .into());
    }
    let (public, writer) = Keys::generate()?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&file, &public).with_context(|| format!("cannot write {}", file.display()))?;
    let key_id = Keys::from_writer(&writer)?.id();
    let report = Keygen {
        public_key: path.display().to_string(),
        key_id,
        writer_key_env: WRITER_KEY_ENV,
    };
    emit(settings, &report, |r| {
        format!(
            "public key (id {}) written to {}: commit it and set [cache] public_key = \"{}\"\n\
             writer key, shown once; store it as the CI secret {} for protected refs only:\n",
            r.key_id, r.public_key, r.public_key, r.writer_key_env
        )
    })?;
    // The secret goes to stdout alone on its line, so it can be piped into a secret store.
    println!("{writer}");
    Ok(Exit::Ok)
}

#[derive(serde::Serialize)]
struct Status {
    local: String,
    shared: Option<String>,
    can_write: bool,
    /// Where sccache keeps what cargo compiles, when the compile cache is on.
    compile: Option<String>,
    notes: Vec<String>,
}

/// Which stores a run would use now.
pub fn cache_status(settings: &Settings, ws: &Workspace) -> Result<Exit> {
    let store = ws.store(settings)?;
    let (shared, can_write) = store
        .shared()
        .map_or((None, false), |(at, write)| (Some(at), write));
    let report = Status {
        local: crate::layout::Layout::of(&settings.root)
            .cache()
            .display()
            .to_string(),
        shared,
        can_write,
        compile: ws.compile_target(&store).map(|t| t.location()),
        notes: crate::engine::cache::Store::notes(&store),
    };
    emit(settings, &report, |r| {
        let mut out = format!("local cache: {}\n", r.local);
        let _ = match &r.shared {
            Some(at) if r.can_write => writeln!(out, "shared cache: {at} (read and write)"),
            Some(at) => writeln!(
                out,
                "shared cache: {at} (read-only: {WRITER_KEY_ENV} is not set here)"
            ),
            None => writeln!(
                out,
                "shared cache: none ([cache] shared or GATEHOUSE_CACHE)"
            ),
        };
        let _ = match &r.compile {
            Some(at) => writeln!(out, "compile cache: sccache on {at}"),
            None => writeln!(
                out,
                "compile cache: off (needs a shared bucket, [tools.sccache], [cache] compile and no RUSTC_WRAPPER or GATEHOUSE_SCCACHE=off)"
            ),
        };
        for note in &r.notes {
            let _ = writeln!(out, "{note}");
        }
        out
    })?;
    Ok(Exit::Ok)
}
