//! `[platform]`: whether this machine and every CI job that runs xtask are the platform the
//! tool manifest is pinned for (its Debian packages resolve nowhere else).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::config::PlatformDef;
use crate::engine::gate::Diagnostic;

/// Where workflows live, relative to the root.
pub const WORKFLOWS: &str = ".github/workflows";

/// The two facts of `/etc/os-release` a platform is named by.
#[derive(Debug, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID`, e.g. `debian`.
    pub id: String,
    /// `VERSION_ID`, e.g. `12` (empty on rolling releases that have none).
    pub version_id: String,
}

impl OsRelease {
    /// This machine's `/etc/os-release`, if it has one.
    pub fn read() -> Option<OsRelease> {
        std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| OsRelease::parse(&text))
    }

    /// Parses os-release's `KEY=value` lines (values may be quoted); `None` without `ID`.
    pub fn parse(text: &str) -> Option<OsRelease> {
        let fields: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches(['"', '\''])))
            .collect();
        Some(OsRelease {
            id: (*fields.get("ID")?).to_owned(),
            version_id: fields.get("VERSION_ID").copied().unwrap_or("").to_owned(),
        })
    }
}

/// `doctor`'s line: does this machine match `[platform]`, and what to do when it does not.
pub fn doctor_line(platform: Option<&PlatformDef>, os: Option<&OsRelease>) -> String {
    let Some(p) = platform else {
        return "platform: not pinned (no [platform] in gatehouse.toml)".to_owned();
    };
    let wanted = format!("{} {}", p.os, p.version);
    match os {
        Some(os) if os.id == p.os && os.version_id == p.version => {
            format!("platform: ok — this machine is {wanted}, as [platform] in gatehouse.toml pins")
        }
        Some(os) => format!(
            "platform: MISMATCH — this machine is {} {}, [platform] in gatehouse.toml pins {wanted}: \
             Debian tools of the manifest may not install; run inside `{}`",
            os.id, os.version_id, p.container
        ),
        None => format!(
            "platform: unknown — no /etc/os-release; [platform] in gatehouse.toml pins {wanted} \
             (container `{}`)",
            p.container
        ),
    }
}

/// Every job of every workflow under `<root>/.github/workflows` that runs `cargo xtask` outside
/// `platform.container`, as diagnostics naming the file, the job and the remedy.
pub fn check_workflows(root: &Path, platform: &PlatformDef) -> Result<Vec<Diagnostic>> {
    let mut problems = Vec::new();
    for path in workflow_files(&root.join(WORKFLOWS))? {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read workflow {}", path.display()))?;
        let file = format!(
            "{WORKFLOWS}/{}",
            path.file_name().unwrap_or_default().display()
        );
        problems.extend(check_workflow(&file, &text, platform));
    }
    Ok(problems)
}

/// One workflow's problems; `file` is the name diagnostics carry.
pub fn check_workflow(file: &str, text: &str, platform: &PlatformDef) -> Vec<Diagnostic> {
    let workflow: Workflow = match serde_norway::from_str(text) {
        Ok(w) => w,
        Err(e) => {
            return vec![diagnostic(
                file,
                1,
                format!("cannot parse the workflow: {e}"),
            )];
        }
    };
    workflow
        .jobs
        .iter()
        .filter(|(_, job)| job.runs_xtask())
        .filter_map(|(id, job)| {
            let problem = job.off_platform(platform)?;
            Some(diagnostic(
                file,
                job_line(text, id),
                format!("job `{id}` runs `cargo xtask` {problem}"),
            ))
        })
        .collect()
}

#[derive(Deserialize)]
struct Workflow {
    #[serde(default)]
    jobs: BTreeMap<String, Job>,
}

#[derive(Deserialize)]
struct Job {
    #[serde(default, rename = "runs-on")]
    runs_on: Option<serde_norway::Value>,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    steps: Vec<JobStep>,
}

/// `container: IMAGE` or `container: { image: IMAGE, … }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Container {
    Image(String),
    Spec { image: String },
}

#[derive(Deserialize)]
struct JobStep {
    #[serde(default)]
    run: Option<String>,
}

impl Job {
    /// A job that calls a reusable workflow (`uses:`) has no steps, so it never matches.
    fn runs_xtask(&self) -> bool {
        self.steps
            .iter()
            .filter_map(|s| s.run.as_deref())
            .any(|run| run.contains("cargo xtask"))
    }

    /// Why the job is not on the pinned platform, or `None` when it is.
    fn off_platform(&self, platform: &PlatformDef) -> Option<String> {
        let pinned = &platform.container;
        let remedy = format!(
            "set `container: {pinned}` on the job (gatehouse.toml [platform], {} {})",
            platform.os, platform.version
        );
        match &self.container {
            Some(Container::Image(image) | Container::Spec { image }) if image == pinned => None,
            Some(Container::Image(image) | Container::Spec { image }) => Some(format!(
                "in container `{image}`, not the manifest's platform: {remedy}"
            )),
            None => Some(format!(
                "directly on `runs-on: {}`, where the manifest's Debian pins cannot be met: {remedy}",
                self.runner()
            )),
        }
    }

    fn runner(&self) -> String {
        match &self.runs_on {
            Some(serde_norway::Value::String(s)) => s.clone(),
            Some(other) => serde_norway::to_string(other)
                .map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned()),
            None => "?".to_owned(),
        }
    }
}

/// `*.yml` and `*.yaml` directly in `dir`, sorted; none when it does not exist.
fn workflow_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The line of `<id>:` under `jobs:` (1 when it cannot be found), for annotations.
fn job_line(text: &str, id: &str) -> u32 {
    let key = format!("{id}:");
    let jobs = text.lines().position(|l| l.trim_end() == "jobs:");
    jobs.and_then(|start| {
        text.lines()
            .enumerate()
            .skip(start + 1)
            .find(|(_, l)| l.starts_with(' ') && l.trim_start().starts_with(&key))
            .map(|(i, _)| i)
    })
    .map_or(1, |i| u32::try_from(i + 1).unwrap_or(1))
}

fn diagnostic(file: &str, line: u32, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line,
        level: "error".into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: &str = "debian:bookworm-20250520-slim";

    fn platform() -> PlatformDef {
        PlatformDef {
            os: "debian".into(),
            version: "12".into(),
            container: PINNED.into(),
        }
    }

    fn workflow(job: &str) -> String {
        format!("name: ci\non:\n  push:\njobs:\n  ci:\n    runs-on: ubuntu-24.04\n{job}")
    }

    const XTASK: &str =
        "    steps:\n      - uses: actions/checkout@v4\n      - run: cargo xtask ci\n";

    #[test]
    fn a_job_on_the_runner_itself_fails_naming_file_job_and_remedy() {
        let problems = check_workflow("ci.yml", &workflow(XTASK), &platform());
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = &problems[0];
        assert_eq!((p.file.as_str(), p.line), ("ci.yml", 5));
        assert!(
            p.message.contains("job `ci`")
                && p.message.contains("runs-on: ubuntu-24.04")
                && p.message.contains(&format!("container: {PINNED}")),
            "{}",
            p.message
        );
    }

    #[test]
    fn a_job_in_the_pinned_container_passes_as_a_string_or_an_image() {
        let short = workflow(&format!("    container: {PINNED}\n{XTASK}"));
        let long = workflow(&format!(
            "    container:\n      image: {PINNED}\n      options: --init\n{XTASK}"
        ));
        for text in [short, long] {
            assert_eq!(check_workflow("ci.yml", &text, &platform()), []);
        }
    }

    #[test]
    fn a_job_in_another_container_fails() {
        let text = workflow(&format!("    container: debian:bullseye\n{XTASK}"));
        let problems = check_workflow("ci.yml", &text, &platform());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("`debian:bullseye`"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn jobs_that_do_not_run_xtask_pass() {
        let lint = workflow("    steps:\n      - run: cargo fmt --check\n");
        let reusable = "on: push\njobs:\n  call:\n    uses: org/repo/.github/workflows/x.yml@v1\n";
        assert_eq!(check_workflow("ci.yml", &lint, &platform()), []);
        assert_eq!(check_workflow("r.yml", reusable, &platform()), []);
    }

    #[test]
    fn an_unparsable_workflow_is_a_problem() {
        let problems = check_workflow("ci.yml", "jobs: [unclosed", &platform());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("cannot parse"));
    }

    #[test]
    fn os_release_values_are_unquoted() {
        let os = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n",
        );
        let os = os.unwrap();
        assert_eq!((os.id.as_str(), os.version_id.as_str()), ("debian", "12"));
        assert_eq!(OsRelease::parse("NAME=x\n"), None);
    }

    #[test]
    fn doctor_says_whether_this_machine_matches() {
        let debian = OsRelease::parse("ID=debian\nVERSION_ID=\"12\"\n").unwrap();
        let ubuntu = OsRelease::parse("ID=ubuntu\nVERSION_ID=\"24.04\"\n").unwrap();
        let p = platform();
        assert!(doctor_line(Some(&p), Some(&debian)).starts_with("platform: ok"));
        let mismatch = doctor_line(Some(&p), Some(&ubuntu));
        assert!(
            mismatch.contains("MISMATCH")
                && mismatch.contains("ubuntu 24.04")
                && mismatch.contains(PINNED),
            "{mismatch}"
        );
        assert!(doctor_line(None, Some(&debian)).contains("not pinned"));
    }
}
