//! `cargo xtask release …`: everything after the merge gates refers to one version and one
//! commit. `plan` decides the version and the notes from git; refusals come before any work.

pub mod publish;
pub mod version;

pub use gatehouse_cloud::{aws_config, block_on, ecr, github};
pub use gatehouse_oci::{image, registry, sbom, sign};

use gatehouse_engine::{config, engine, exit, git, http, layout, migrations, timeline};

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::Digest;

use crate::config::{ReleaseDef, ServiceDef};
use crate::engine::gate::{RunCtx, Step};
use crate::exit::Failure;
use version::{Change, Commit, Version};

/// What the next release would be, read from git.
#[derive(Clone, Debug, Default, Serialize)]
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
    /// A dry run's stand-in when nothing is releasable: `0.0.0-snapshot.<commit>`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub snapshot: bool,
}

use crate::git::output as git;

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
        snapshot: false,
    })
}

/// The plan, or for a dry run on a commit that is not releasable (dirty tree, no releasable
/// change, tag exists) a snapshot: `0.0.0-snapshot.<short commit>`, so `ci` can rehearse the
/// release on every commit.
pub fn plan_or_snapshot(root: &Path) -> Result<Plan> {
    match plan(root) {
        Ok(plan) => Ok(plan),
        Err(e) if matches!(e.downcast_ref::<Failure>(), Some(Failure::Refused(_))) => {
            let head = git(root, &["log", "-1", "--format=%H %ct"])?;
            let mut head = head.split_whitespace();
            let commit = head.next().unwrap_or("").to_owned();
            let epoch = head.next().and_then(|e| e.parse().ok()).unwrap_or(0);
            let version = format!("0.0.0-snapshot.{}", &commit[..commit.len().min(12)]);
            Ok(Plan {
                tag: format!("v{version}"),
                changelog: format!("Snapshot of {commit}: {e}\n"),
                version,
                previous: None,
                commit,
                source_date_epoch: epoch,
                commits: 0,
                conventional: 0,
                snapshot: true,
            })
        }
        Err(e) => Err(e),
    }
}

/// Where a release's artifacts and logs go: `target/xtask/release/<tag>/`.
pub fn dir(root: &Path, tag: &str) -> std::path::PathBuf {
    layout::Layout::of(root).release(tag)
}

/// The reproducible static binary and its image, written as an OCI layout.
#[derive(Debug, Serialize)]
pub struct Built {
    pub tag: String,
    pub commit: String,
    pub binary: String,
    pub binary_sha256: String,
    pub image: String,
    pub digest: String,
    pub layout: String,
    /// `name version` of every package compiled into the binary (from the build's messages).
    #[serde(skip)]
    pub compiled: std::collections::BTreeSet<String>,
    /// The binary itself (read once; the release attaches it to the GitHub release).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Environment that makes the release build reproducible: timestamps from the commit, no
/// machine paths and no symbols in the binary. (With `--target`, build scripts and proc-macros
/// do not get these flags, so the host build is untouched.)
pub fn reproducible_env(root: &Path, epoch: i64) -> Vec<(String, String)> {
    let cargo_home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
    let flags = [
        format!("--remap-path-prefix={}=/build", root.display()),
        format!("--remap-path-prefix={cargo_home}=/cargo"),
        "-Cstrip=symbols".to_owned(),
    ];
    vec![
        ("SOURCE_DATE_EPOCH".to_owned(), epoch.to_string()),
        ("CARGO_ENCODED_RUSTFLAGS".to_owned(), flags.join("\u{1f}")),
    ]
}

/// `[release] build_env` for `plan`: `{commit}`, `{date}` (the commit's time, RFC 3339) and
/// `{version}` filled in.
pub fn build_env(release: &ReleaseDef, plan: &Plan) -> Vec<(String, String)> {
    let date = image::rfc3339(plan.source_date_epoch);
    release
        .build_env
        .iter()
        .map(|(k, v)| {
            let value = v
                .replace("{commit}", &plan.commit)
                .replace("{date}", &date)
                .replace("{version}", &plan.version);
            (k.clone(), value)
        })
        .collect()
}

/// `cargo build` of the release binary for the static target, with the build metadata of `plan`.
pub fn build_step(root: &Path, service: &ServiceDef, release: &ReleaseDef, plan: &Plan) -> Step {
    let epoch = plan.source_date_epoch;
    // JSON messages on stdout say which packages were compiled for the target: the SBOM check.
    let mut step = Step::new(
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "--message-format=json-render-diagnostics",
            "--target",
        ],
    )
    .tool("release-target")
    .quiet_stdout()
    .args([
        release.target.clone(),
        "--package".to_owned(),
        service.package.clone(),
        "--bin".to_owned(),
        service.bin.clone(),
    ]);
    for (key, value) in reproducible_env(root, epoch)
        .into_iter()
        .chain(build_env(release, plan))
    {
        step = step.env(&key, &value);
    }
    step
}

/// Where the image carries the service's migrations: `template` (`[release] migrations_path`)
/// with `{bin}` filled in.
pub fn migrations_dir_in_image(service: &ServiceDef, template: &str) -> String {
    template.replace("{bin}", &service.bin)
}

/// `[release] migrations`' files (either layout), under [`migrations_dir_in_image`].
fn image_files(
    root: &Path,
    service: &ServiceDef,
    release: &ReleaseDef,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let Some(dir) = &release.migrations else {
        return Ok(BTreeMap::new());
    };
    let mut files = BTreeMap::new();
    let from = root.join(dir);
    let into = migrations_dir_in_image(service, &release.migrations_path);
    for rel in migrations::files(&from)
        .with_context(|| format!("release.migrations: cannot read {dir}"))?
    {
        files.insert(format!("{into}/{rel}"), std::fs::read(from.join(&rel))?);
    }
    Ok(files)
}

/// `skopeo inspect` of the layout: an independent reader must see the digest we wrote.
fn inspect_step(layout: &Path, tag: &str) -> Step {
    Step::new("skopeo", &["inspect", "--format", "{{.Digest}}"])
        .tool("skopeo")
        .args([format!("oci:{}:{tag}", layout.display())])
}

/// The commands [`build_image`] runs for `plan`, for `plan` to show: the static build, then
/// skopeo reading the assembled layout back.
pub fn image_steps(
    root: &Path,
    service: &ServiceDef,
    release: &ReleaseDef,
    plan: &Plan,
) -> Vec<Step> {
    vec![
        build_step(root, service, release, plan),
        Step::in_process(
            "the image: the static binary, CA certificates and the migrations as layers (SOURCE_DATE_EPOCH), written as an OCI layout",
        ),
        inspect_step(&dir(root, &plan.tag).join("oci"), &plan.version),
    ]
}

/// Builds the reproducible static binary of `[service]` at the planned release and assembles
/// its image as an OCI layout under `target/xtask/release/<tag>/oci`, checked by skopeo.
pub fn image(
    ctx: &RunCtx,
    service: &ServiceDef,
    release: &ReleaseDef,
    plan: &Plan,
) -> Result<Built> {
    build_image(ctx, service, release, plan).map(|(built, _)| built)
}

/// [`image()`], also returning the assembled image's blobs for a push.
pub fn build_image(
    ctx: &RunCtx,
    service: &ServiceDef,
    release: &ReleaseDef,
    plan: &Plan,
) -> Result<(Built, image::Image)> {
    // What the static build needs beside rustup's target (a C compiler for musl, say).
    for tool in &release.tools {
        ctx.tool_binary(tool)?;
    }
    let built = ctx.exec(&build_step(&ctx.root, service, release, plan))?;
    anyhow::ensure!(
        built.success(),
        "the release build failed ({}): {}",
        engine::gate::code(&built),
        built
            .stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let binary_path = engine::cargo_target_dir(&ctx.root)
        .join(&release.target)
        .join("release")
        .join(&service.bin);
    let binary = std::fs::read(&binary_path)
        .with_context(|| format!("cannot read {}", binary_path.display()))?;
    let ca = "/etc/ssl/certs/ca-certificates.crt";
    let ca_certificates = std::fs::read(ca)
        .with_context(|| format!("cannot read {ca}: install the `ca-certificates` package"))?;
    let labels = BTreeMap::from([
        (
            "org.opencontainers.image.source".to_owned(),
            release.source.clone(),
        ),
        (
            "org.opencontainers.image.revision".to_owned(),
            plan.commit.clone(),
        ),
        (
            "org.opencontainers.image.version".to_owned(),
            plan.version.clone(),
        ),
        (
            "org.opencontainers.image.created".to_owned(),
            image::rfc3339(plan.source_date_epoch),
        ),
        (
            "org.opencontainers.image.title".to_owned(),
            release.image.clone(),
        ),
    ]);
    let spec = image::Spec {
        name: service.bin.clone(),
        binary,
        ca_certificates,
        cmd: release.cmd.clone(),
        ports: release.ports.clone(),
        env: release.env.clone(),
        files: image_files(&ctx.root, service, release)?,
        labels,
        source_date_epoch: plan.source_date_epoch,
    };
    let assembled = image::build(&spec)?;
    let layout = dir(&ctx.root, &plan.tag).join("oci");
    if layout.exists() {
        std::fs::remove_dir_all(&layout)?;
    }
    image::write_layout(&assembled, &layout, &plan.version)?;
    let seen = ctx.exec(&inspect_step(&layout, &plan.version))?;
    anyhow::ensure!(
        seen.success() && seen.stdout.trim() == assembled.digest(),
        "skopeo reads {} from the layout, not {}: {}",
        seen.stdout.trim(),
        assembled.digest(),
        seen.stderr.trim()
    );
    let built = Built {
        tag: plan.tag.clone(),
        commit: plan.commit.clone(),
        binary: binary_path.display().to_string(),
        binary_sha256: engine::cache::hex(&sha2::Sha256::digest(&spec.binary)),
        image: format!("{}:{}", release.image, plan.version),
        digest: assembled.digest(),
        layout: layout.display().to_string(),
        compiled: sbom::compiled_packages(&built.stdout, &release.target),
        bytes: spec.binary,
    };
    Ok((built, assembled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_metadata_is_filled_in_from_the_plan() {
        let text = "[project]\nname = \"p\"\n[release]\nsource = \"s\"\nimage = \"i\"\nbuild_env = { SVC_COMMIT = \"{commit}\", SVC_DATE = \"{date}\", SVC_VERSION = \"v{version}\" }\n";
        let config = config::Config::parse(text, Path::new("gatehouse.toml")).unwrap();
        let plan = Plan {
            version: "1.2.3".to_owned(),
            commit: "abc123".to_owned(),
            source_date_epoch: 86_400,
            ..Plan::default()
        };
        let env = build_env(config.release.as_ref().unwrap(), &plan);
        assert_eq!(
            env,
            [
                ("SVC_COMMIT".to_owned(), "abc123".to_owned()),
                ("SVC_DATE".to_owned(), "1970-01-02T00:00:00Z".to_owned()),
                ("SVC_VERSION".to_owned(), "v1.2.3".to_owned()),
            ]
        );
    }
}
