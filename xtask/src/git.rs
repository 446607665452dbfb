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

/// `HEAD` of `root` and whether tracked files differ from it; `(None, false)` outside git.
pub fn state(root: &Path) -> (Option<String>, bool) {
    let Ok(head) = output(root, &["rev-parse", "HEAD"]) else {
        return (None, false);
    };
    let dirty = output(root, &["status", "--porcelain", "--untracked-files=no"])
        .is_ok_and(|s| !s.trim().is_empty());
    (Some(head.trim().to_owned()), dirty)
}
