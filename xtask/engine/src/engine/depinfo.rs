//! What the compiler read, from the dep-info files cargo writes beside every build
//! (`target/**/*.d`): `include_str!`/`include_bytes!` data, files a `build.rs` or proc-macro
//! declared, sources a glob would not name. A pass of a gate that builds Rust records those of
//! them its globs do not cover, with their hashes; a later run takes the pass only while each is
//! unchanged.

use std::collections::BTreeSet;
use std::path::Path;

/// How deep dep-info sits under the target directory (`<triple>/<profile>/deps/x.d`).
const DEPTH: usize = 4;

/// Every regular file inside `root` (and not under `target`) that a dep-info file under
/// `target` lists, relative to `root`.
pub fn files(root: &Path, target: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    visit(target, DEPTH, &mut |file| {
        if let Ok(text) = std::fs::read_to_string(file) {
            for path in paths(&text) {
                let path = Path::new(&path);
                if path.starts_with(target) || !path.is_file() {
                    continue;
                }
                if let Ok(rel) = path.strip_prefix(root) {
                    out.insert(rel.display().to_string());
                }
            }
        }
    });
    out
}

fn visit(dir: &Path, depth: usize, found: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth > 0 {
            visit(&path, depth - 1, found);
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "d") {
            found(&path);
        }
    }
}

/// The paths a dep-info file names: make-rule targets and prerequisites (`\ ` escapes a space),
/// absolute ones only.
fn paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut word = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    word.push(' ');
                    chars.next();
                }
                ' ' | '\t' => push(&mut out, &mut word),
                _ => word.push(c),
            }
        }
        push(&mut out, &mut word);
    }
    out
}

fn push(out: &mut Vec<String>, word: &mut String) {
    let w = word.trim_end_matches(':');
    if w.starts_with('/') {
        out.push(w.to_owned());
    }
    word.clear();
}

/// SHA-256 (hex) of `root/rel`, `None` when it cannot be read (a removed file).
pub fn hash(root: &Path, rel: &str) -> Option<String> {
    super::cache::sha256_file(&root.join(rel))
}

/// The first recorded `(file, sha256)` that no longer holds, if any.
pub fn changed<'a>(root: &Path, recorded: &'a [(String, String)]) -> Option<&'a str> {
    recorded
        .iter()
        .find(|(file, sha)| hash(root, file).as_deref() != Some(sha.as_str()))
        .map(|(file, _)| file.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_prerequisites_with_escaped_spaces_are_read() {
        let text = "/t/debug/libx.rlib: /w/src/lib.rs /w/my\\ notes/a.txt\n\n/w/src/lib.rs:\nrel/ignored.rs\n";
        assert_eq!(
            paths(text),
            [
                "/t/debug/libx.rlib",
                "/w/src/lib.rs",
                "/w/my notes/a.txt",
                "/w/src/lib.rs"
            ]
        );
    }

    #[test]
    fn only_files_inside_the_root_and_outside_the_target_count() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let target = root.join("target");
        std::fs::create_dir_all(target.join("debug/deps")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/msg.txt"), "hi").unwrap();
        std::fs::write(dir.path().join("outside.txt"), "x").unwrap();
        let d = format!(
            "{t}/debug/deps/x.d: {r}/data/msg.txt {o} {t}/debug/build/out.rs {r}/data\n",
            t = target.display(),
            r = root.display(),
            o = dir.path().join("outside.txt").display()
        );
        std::fs::write(target.join("debug/deps/x.d"), d).unwrap();
        assert_eq!(
            files(&root, &target).into_iter().collect::<Vec<_>>(),
            ["data/msg.txt"]
        );
        let recorded = vec![(
            "data/msg.txt".to_owned(),
            hash(&root, "data/msg.txt").unwrap(),
        )];
        assert_eq!(changed(&root, &recorded), None);
        std::fs::write(root.join("data/msg.txt"), "changed").unwrap();
        assert_eq!(changed(&root, &recorded), Some("data/msg.txt"));
    }
}
