//! The next version and its changelog, from the conventional commits since the last `v*` tag.
//! Pure logic: `release::plan` feeds it `git log`.

use std::fmt;

/// A release version (`vMAJOR.MINOR.PATCH`; pre-release and build metadata are not used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    /// Parses `v1.2.3` or `1.2.3`.
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.strip_prefix('v').unwrap_or(text).split('.');
        let mut next = || parts.next()?.parse::<u64>().ok();
        let version = Version {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        parts.next().is_none().then_some(version)
    }

    fn bumped(self, bump: Bump) -> Version {
        match bump {
            Bump::Major => Version {
                major: self.major + 1,
                minor: 0,
                patch: 0,
            },
            Bump::Minor => Version {
                minor: self.minor + 1,
                patch: 0,
                ..self
            },
            Bump::Patch => Version {
                patch: self.patch + 1,
                ..self
            },
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One commit as `git log` gives it.
#[derive(Clone, Debug)]
pub struct Commit {
    pub sha: String,
    pub subject: String,
    pub body: String,
}

/// A conventional commit: `type(scope)!: description`, breaking also by a `BREAKING CHANGE:`
/// footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: String,
    pub scope: Option<String>,
    pub breaking: bool,
    pub description: String,
    pub sha: String,
}

impl Change {
    /// `None` when the subject does not follow the convention.
    pub fn parse(commit: &Commit) -> Option<Change> {
        let (head, description) = commit.subject.split_once(": ")?;
        let (head, bang) = match head.strip_suffix('!') {
            Some(h) => (h, true),
            None => (head, false),
        };
        let (kind, scope) = match head.split_once('(') {
            Some((kind, rest)) => (kind, Some(rest.strip_suffix(')')?.to_owned())),
            None => (head, None),
        };
        let word =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !word(kind)
            || scope.as_deref().is_some_and(|s| !word(s))
            || description.trim().is_empty()
        {
            return None;
        }
        let footer = commit
            .body
            .lines()
            .any(|l| l.starts_with("BREAKING CHANGE:") || l.starts_with("BREAKING-CHANGE:"));
        Some(Change {
            kind: kind.to_ascii_lowercase(),
            scope,
            breaking: bang || footer,
            description: description.trim().to_owned(),
            sha: commit.sha.clone(),
        })
    }

    fn bump(&self, pre_1_0: bool) -> Option<Bump> {
        match (self.breaking, self.kind.as_str(), pre_1_0) {
            (true, _, false) => Some(Bump::Major),
            (true, _, true) => Some(Bump::Minor),
            (false, "feat", false) => Some(Bump::Minor),
            (false, "feat" | "fix" | "perf", _) => Some(Bump::Patch),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Bump {
    Patch,
    Minor,
    Major,
}

/// Why there is nothing to release.
#[derive(Debug, PartialEq, Eq)]
pub enum NoRelease {
    /// Not one commit since the last tag follows the convention.
    NoConventionalCommits { commits: usize },
    /// Conventional commits, but none that changes what users get (feat, fix, perf, breaking).
    NothingReleasable { changes: usize },
}

impl fmt::Display for NoRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoRelease::NoConventionalCommits { commits } => write!(
                f,
                "none of the {commits} commit(s) since the last tag is a conventional commit (`feat: …`, `fix(scope): …`, `feat!: …`); nothing to release"
            ),
            NoRelease::NothingReleasable { changes } => write!(
                f,
                "{changes} conventional commit(s) since the last tag, but no feat, fix, perf or breaking change; nothing to release"
            ),
        }
    }
}

/// The version after `last` (none yet: `0.1.0`), from the changes since it.
pub fn next(
    last: Option<Version>,
    commits: usize,
    changes: &[Change],
) -> Result<Version, NoRelease> {
    if changes.is_empty() {
        return Err(NoRelease::NoConventionalCommits { commits });
    }
    let base = last.unwrap_or(Version {
        major: 0,
        minor: 0,
        patch: 0,
    });
    let bump = changes
        .iter()
        .filter_map(|c| c.bump(base.major == 0))
        .max()
        .ok_or(NoRelease::NothingReleasable {
            changes: changes.len(),
        })?;
    Ok(match last {
        None => Version {
            major: 0,
            minor: 1,
            patch: 0,
        },
        Some(v) => v.bumped(bump),
    })
}

/// Which changes a section of the notes lists.
type Selects = fn(&Change) -> bool;

/// The release notes: breaking changes first, then features, fixes and performance; other
/// conventional commits are left out (they change nothing users get).
pub fn changelog(version: Version, date: &str, changes: &[Change]) -> String {
    let mut out = format!("## v{version} ({date})\n");
    let sections: [(&str, Selects); 4] = [
        ("Breaking changes", |c| c.breaking),
        ("Features", |c| !c.breaking && c.kind == "feat"),
        ("Fixes", |c| !c.breaking && c.kind == "fix"),
        ("Performance", |c| !c.breaking && c.kind == "perf"),
    ];
    for (title, wanted) in sections {
        let lines: Vec<String> = changes
            .iter()
            .filter(|c| wanted(c))
            .map(|c| {
                let scope = c
                    .scope
                    .as_deref()
                    .map(|s| format!("**{s}:** "))
                    .unwrap_or_default();
                let short = &c.sha[..c.sha.len().min(7)];
                format!("- {scope}{} ({short})", c.description)
            })
            .collect();
        if !lines.is_empty() {
            out.push_str(&format!("\n### {title}\n\n{}\n", lines.join("\n")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(subject: &str, body: &str) -> Commit {
        Commit {
            sha: "0123456789abcdef".to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
        }
    }

    fn changes(subjects: &[&str]) -> Vec<Change> {
        subjects
            .iter()
            .filter_map(|s| Change::parse(&commit(s, "")))
            .collect()
    }

    #[test]
    fn conventional_subjects_parse_and_others_do_not() {
        let c = Change::parse(&commit("feat(api)!: drop v0 routes", "")).unwrap();
        assert_eq!(
            (c.kind.as_str(), c.scope.as_deref(), c.breaking),
            ("feat", Some("api"), true)
        );
        let footer = Change::parse(&commit("fix: tokens", "BREAKING CHANGE: new format")).unwrap();
        assert!(footer.breaking);
        for not in [
            "Merge branch 'x'",
            "feat:",
            "feat(a b): x",
            "fix(api: x",
            "add the thing",
        ] {
            assert!(Change::parse(&commit(not, "")).is_none(), "{not}");
        }
        // `migrations` looks like a type: the convention is the shape, so it parses, and bumps nothing.
        assert_eq!(
            next(Version::parse("v1.0.0"), 1, &changes(&["migrations: lint"])),
            Err(NoRelease::NothingReleasable { changes: 1 })
        );
    }

    #[test]
    fn the_biggest_change_decides_the_bump() {
        let v = Version::parse("v1.4.2");
        assert_eq!(
            next(v, 2, &changes(&["fix: a", "docs: b"]))
                .unwrap()
                .to_string(),
            "1.4.3"
        );
        assert_eq!(
            next(v, 2, &changes(&["fix: a", "feat: b"]))
                .unwrap()
                .to_string(),
            "1.5.0"
        );
        assert_eq!(
            next(v, 2, &changes(&["feat: b", "perf!: c"]))
                .unwrap()
                .to_string(),
            "2.0.0"
        );
        // Before 1.0 a breaking change bumps the minor and a feature the patch.
        let v0 = Version::parse("v0.3.1");
        assert_eq!(
            next(v0, 1, &changes(&["feat!: x"])).unwrap().to_string(),
            "0.4.0"
        );
        assert_eq!(
            next(v0, 1, &changes(&["feat: x"])).unwrap().to_string(),
            "0.3.2"
        );
        assert_eq!(
            next(None, 1, &changes(&["fix: first"]))
                .unwrap()
                .to_string(),
            "0.1.0"
        );
    }

    #[test]
    fn nothing_to_release_says_why() {
        let v = Version::parse("v1.0.0");
        assert_eq!(
            next(v, 3, &[]),
            Err(NoRelease::NoConventionalCommits { commits: 3 })
        );
        let why = next(v, 2, &changes(&["chore: a", "ci: b"])).unwrap_err();
        assert_eq!(why, NoRelease::NothingReleasable { changes: 2 });
        assert!(
            why.to_string()
                .contains("no feat, fix, perf or breaking change")
        );
    }

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(Version::parse("v1.2.3").unwrap().to_string(), "1.2.3");
        for bad in ["v1.2", "1.2.3.4", "v1.x.3", "", "v1.2.3-rc.1"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_changelog_groups_by_kind_and_leaves_chores_out() {
        let all = changes(&[
            "feat(api): tags",
            "fix: a crash",
            "chore: bump deps",
            "feat!: new ids",
        ]);
        let text = changelog(Version::parse("v2.0.0").unwrap(), "2026-11-21", &all);
        assert_eq!(
            text,
            "## v2.0.0 (2026-11-21)\n\n### Breaking changes\n\n- new ids (0123456)\n\n### Features\n\n- **api:** tags (0123456)\n\n### Fixes\n\n- a crash (0123456)\n"
        );
    }
}
