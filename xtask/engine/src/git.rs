//! git as the release and the run reports read it: one command runner, errors with git's message.

use std::path::Path;

use anyhow::Result;

/// `git args…` in `root`, its stdout; `Err` names the command and git's message.
pub fn output(root: &Path, args: &[&str]) -> Result<String> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    let out = crate::process::capture(
        xshell::cmd!(sh, "git {args...}"),
        std::time::Duration::from_secs(120),
    )?;
    anyhow::ensure!(
        out.success(),
        "`git {}` failed: {}",
        args.join(" "),
        out.stderr.trim()
    );
    Ok(out.stdout)
}

/// `HEAD` of `root` and whether the tree differs from it: tracked changes or untracked files
/// (ignored files aside); `(None, false)` outside git.
pub fn state(root: &Path) -> (Option<String>, bool) {
    let Ok(head) = output(root, &["rev-parse", "HEAD"]) else {
        return (None, false);
    };
    let dirty = output(root, &["status", "--porcelain", "--untracked-files=normal"])
        .is_ok_and(|s| !s.trim().is_empty());
    (Some(head.trim().to_owned()), dirty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let mut all = vec!["-c", "user.email=t@example.com", "-c", "user.name=t"];
        all.extend_from_slice(args);
        output(dir, &all).unwrap();
    }

    #[test]
    fn an_untracked_file_makes_the_tree_dirty_and_an_ignored_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        std::fs::write(dir.path().join(".gitignore"), "target/\n").unwrap();
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-qm", "start"]);
        assert!(!state(dir.path()).1, "clean");
        std::fs::create_dir(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("target/out"), "x").unwrap();
        assert!(!state(dir.path()).1, "ignored files do not count");
        std::fs::write(dir.path().join("new.rs"), "x").unwrap();
        assert!(state(dir.path()).1, "an untracked file counts");
    }
}
