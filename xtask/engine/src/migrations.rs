//! Reversible migrations on disk, in either layout teams use: files `<version>_<name>.up.sql`
//! with `<version>_<name>.down.sql` beside them (sqlx, golang-migrate), or a directory per
//! migration, `<version>_<name>/up.sql` with `down.sql` (diesel). The version is the digits
//! before the first `_`, dashes ignored (diesel's `2026-01-01-120000`). Every reader (the
//! `migrations` gate, the image, promotions, drills, `init`) goes through here.

use std::path::Path;

use anyhow::{Context, Result};

/// One migration found in a directory; paths are relative to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `<version>_<name>`: the file stem or the directory name.
    pub stem: String,
    pub up: String,
    /// Where its down migration is, or belongs.
    pub down: String,
    pub has_down: bool,
}

/// The version of a migration named `stem`.
pub fn version(stem: &str) -> Option<i64> {
    let digits: String = stem
        .split('_')
        .next()?
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The stem of an up migration's path relative to its directory (`<stem>.up.sql` or
/// `<stem>/up.sql`); `None` for anything else.
pub fn up_stem(rel: &str) -> Option<&str> {
    rel.strip_suffix("/up.sql")
        .or_else(|| rel.strip_suffix(".up.sql"))
        .filter(|stem| !stem.contains('/'))
}

/// The migrations in `dir`, ordered by stem.
pub fn scan(dir: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            if path.join("up.sql").is_file() {
                out.push(Entry {
                    up: format!("{name}/up.sql"),
                    down: format!("{name}/down.sql"),
                    has_down: path.join("down.sql").is_file(),
                    stem: name,
                });
            }
        } else if let Some(stem) = name.strip_suffix(".up.sql") {
            let down = format!("{stem}.down.sql");
            out.push(Entry {
                up: name.clone(),
                has_down: dir.join(&down).is_file(),
                down,
                stem: stem.to_owned(),
            });
        }
    }
    out.sort_by(|a, b| a.stem.cmp(&b.stem));
    Ok(out)
}

/// Every file of every migration in `dir` (ups and downs), relative to it: what ships in the
/// image and what a drill merges.
pub fn files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in scan(dir)? {
        out.push(e.up);
        if e.has_down {
            out.push(e.down);
        }
    }
    Ok(out)
}

/// Copies `dir`'s migrations into `into`, keeping their layout.
pub fn copy(dir: &Path, into: &Path) -> Result<()> {
    for rel in files(dir)? {
        let to = into.join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(dir.join(&rel), &to)
            .with_context(|| format!("cannot copy {}", dir.join(&rel).display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_are_read_with_their_versions() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("0001_a.up.sql"), "").unwrap();
        std::fs::write(d.join("0001_a.down.sql"), "").unwrap();
        std::fs::create_dir(d.join("2026-01-02-120000_b")).unwrap();
        std::fs::write(d.join("2026-01-02-120000_b/up.sql"), "").unwrap();
        std::fs::create_dir(d.join("notes")).unwrap();
        std::fs::write(d.join("README.md"), "").unwrap();
        let found = scan(d).unwrap();
        let stems: Vec<&str> = found.iter().map(|e| e.stem.as_str()).collect();
        assert_eq!(stems, ["0001_a", "2026-01-02-120000_b"]);
        assert!(found[0].has_down && !found[1].has_down);
        assert_eq!(found[1].down, "2026-01-02-120000_b/down.sql");
        assert_eq!(version(&found[1].stem), Some(20_260_102_120_000));
        assert_eq!(
            files(d).unwrap(),
            [
                "0001_a.up.sql",
                "0001_a.down.sql",
                "2026-01-02-120000_b/up.sql"
            ]
        );
        assert_eq!(up_stem("0004_x/up.sql"), Some("0004_x"));
        assert_eq!(up_stem("0004_x.up.sql"), Some("0004_x"));
        assert_eq!(up_stem("0004_x.down.sql"), None);
        assert_eq!(up_stem("a/b/up.sql"), None);
        assert_eq!(version("v1_x"), None);
    }
}
