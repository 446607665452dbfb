//! `cargo xtask release …`: everything after the merge gates refers to one version and one
//! commit. `plan` decides the version and the notes from git; refusals come before any work.

pub mod version;

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::exit::Failure;
use version::{Change, Commit, Version};

/// What the next release would be, read from git.
#[derive(Debug, Serialize)]
pub struct Plan {
    /// `0.2.0` (the tag is `v0.2.0`).
    pub version: String,
    pub tag: String,
    /// The last `v*` tag, if any.
    pub previous: Option<String>,
    /// The commit being released.
    pub commit: String,
    /// Its commit time: every timestamp of the release (binary, image) is this one.
    pub source_date_epoch: i64,
    pub commits: usize,
    pub conventional: usize,
    /// Markdown release notes.
    pub changelog: String,
}

/// `git` in `root`, its stdout; `Err` names the command and git's message.
fn git(root: &Path, args: &[&str]) -> Result<String> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    let out = xshell::cmd!(sh, "git {args...}")
        .quiet()
        .ignore_status()
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "`git {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The commits in `range` (`git log` order: newest first).
fn commits(root: &Path, range: &str) -> Result<Vec<Commit>> {
    let log = git(root, &["log", "--format=%H%x1f%s%x1f%b%x1e", range])?;
    Ok(log
        .split('\u{1e}')
        .filter_map(|record| {
            let mut fields = record.trim_start_matches('\n').split('\u{1f}');
            Some(Commit {
                sha: fields.next()?.to_owned(),
                subject: fields.next()?.to_owned(),
                body: fields.next().unwrap_or("").to_owned(),
            })
        })
        .collect())
}

/// The next release, or the reason there is none: a dirty tree, nothing releasable, or a tag
/// that already exists. Reads git only; changes nothing.
pub fn plan(root: &Path) -> Result<Plan> {
    let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"])?;
    if !dirty.trim().is_empty() {
        let first = dirty.lines().next().unwrap_or("").trim();
        return Err(Failure::Refused(format!(
            "the working tree has uncommitted changes ({first} …): a release is built from a commit; commit or stash them"
        ))
        .into());
    }
    let previous = git(root, &["describe", "--tags", "--abbrev=0", "--match", "v*"])
        .ok()
        .map(|t| t.trim().to_owned());
    let last = match &previous {
        Some(tag) => Some(
            Version::parse(tag)
                .with_context(|| format!("the last tag `{tag}` is not vMAJOR.MINOR.PATCH"))?,
        ),
        None => None,
    };
    let range = previous
        .as_ref()
        .map_or_else(|| "HEAD".to_owned(), |t| format!("{t}..HEAD"));
    let all = commits(root, &range)?;
    let changes: Vec<Change> = all.iter().filter_map(Change::parse).collect();
    let next = version::next(last, all.len(), &changes).map_err(|why| {
        Failure::Refused(format!(
            "{why} (since {})",
            previous.as_deref().unwrap_or("the first commit")
        ))
    })?;
    let tag = format!("v{next}");
    if git(
        root,
        &["rev-parse", "-q", "--verify", &format!("refs/tags/{tag}")],
    )
    .is_ok()
    {
        return Err(Failure::Refused(format!(
            "tag {tag} already exists: a version is released once; add a commit or delete the tag if it was never published"
        ))
        .into());
    }
    let head = git(root, &["log", "-1", "--format=%H %ct %cs"])?;
    let mut head = head.split_whitespace();
    let (commit, epoch, date) = (
        head.next().unwrap_or("").to_owned(),
        head.next().and_then(|e| e.parse().ok()).unwrap_or(0),
        head.next().unwrap_or("").to_owned(),
    );
    Ok(Plan {
        version: next.to_string(),
        tag,
        previous,
        commit,
        source_date_epoch: epoch,
        commits: all.len(),
        conventional: changes.len(),
        changelog: version::changelog(next, &date, &changes),
    })
}
