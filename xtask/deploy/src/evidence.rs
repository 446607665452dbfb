//! The release a promotion deploys: found through its evidence (`target/xtask/release/<tag>/`
//! or `--evidence DIR`), verified against the registry with the configured public key, unpacked
//! from the image itself. Promotions are recorded in the evidence's `promotions.json`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;

use super::Unpacked;
use crate::exit::Failure;
use crate::release::registry::{Registry, Retry};
use crate::release::sign::{self, Verifier};

/// A release's evidence directory and manifest.
#[derive(Clone, Debug)]
pub struct Release {
    pub dir: PathBuf,
    pub evidence: Value,
    pub version: String,
    pub digest: String,
    /// `host/repository` the image was pushed to.
    pub name: String,
}

impl Release {
    fn from_dir(dir: &Path) -> Result<Release> {
        let file = dir.join("evidence.json");
        let evidence: Value = serde_json::from_slice(
            &std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?,
        )
        .with_context(|| format!("{} is not JSON", file.display()))?;
        let reference = evidence["image"]["reference"].as_str().unwrap_or("");
        let (name, digest) = reference
            .split_once('@')
            .with_context(|| format!("{}: image.reference has no digest", file.display()))?;
        Ok(Release {
            dir: dir.to_path_buf(),
            version: evidence["version"].as_str().unwrap_or("").to_owned(),
            digest: digest.to_owned(),
            name: name.to_owned(),
            evidence,
        })
    }

    pub fn host(&self) -> &str {
        self.name.split('/').next().unwrap_or("")
    }

    pub fn repository(&self) -> &str {
        self.name.split_once('/').map_or("", |(_, r)| r)
    }

    /// Every promotion of this release recorded so far.
    pub fn promotions(&self) -> Vec<Promotion> {
        std::fs::read(self.dir.join(PROMOTIONS))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Whether this digest was promoted successfully to `env`.
    pub fn promoted_to(&self, env: &str) -> bool {
        self.promotions().iter().any(|p| {
            p.environment == env
                && p.digest == self.digest
                && p.verdict == super::PromotionVerdict::Promoted
        })
    }

    pub fn record(&self, promotion: &Promotion) -> Result<()> {
        let mut all = self.promotions();
        all.push(promotion.clone());
        std::fs::write(self.dir.join(PROMOTIONS), serde_json::to_vec_pretty(&all)?)?;
        Ok(())
    }
}

const PROMOTIONS: &str = "promotions.json";

/// The release live in an environment, and where that was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Live {
    pub version: String,
    pub digest: String,
    pub commit: String,
    pub source: String,
}

/// The newest successful promotion to `env` across every release's evidence under
/// `target/xtask/release` (this machine's ledgers).
pub fn live(root: &Path, env: &str) -> Option<Live> {
    let dirs = std::fs::read_dir(crate::layout::Layout::of(root).releases()).ok()?;
    dirs.filter_map(|d| Release::from_dir(&d.ok()?.path()).ok())
        .flat_map(|r| {
            let commit = r.evidence["commit"].as_str().unwrap_or_default().to_owned();
            r.promotions()
                .into_iter()
                .filter(|p| p.environment == env && p.verdict == super::PromotionVerdict::Promoted)
                .map(move |p| (p.finished, p, commit.clone()))
        })
        .max_by_key(|(finished, ..)| *finished)
        .map(|(_, p, commit)| Live {
            version: p.version,
            digest: p.digest,
            commit,
            source: "the local evidence ledgers (target/xtask/release/*/promotions.json)"
                .to_owned(),
        })
}

/// One promotion of a digest into an environment, as recorded in the evidence.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Promotion {
    pub environment: String,
    pub version: String,
    pub digest: String,
    /// Seconds since the epoch.
    pub started: u64,
    pub finished: u64,
    pub verdict: super::PromotionVerdict,
    pub detail: String,
    pub report: String,
}

/// The release named by `version` (`1.2.0` or `v1.2.0`) or `digest`, searched in `dirs`
/// (an `--evidence` directory, else every release under `target/xtask/release`).
pub fn resolve(
    root: &Path,
    evidence: Option<&Path>,
    version: Option<&str>,
    digest: Option<&str>,
) -> Result<Release> {
    let dirs: Vec<PathBuf> = match evidence {
        Some(dir) => vec![dir.to_path_buf()],
        None => std::fs::read_dir(crate::layout::Layout::of(root).releases())
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default(),
    };
    let releases: Vec<Release> = dirs
        .iter()
        .filter(|d| d.join("evidence.json").exists())
        .map(|d| Release::from_dir(d))
        .collect::<Result<_>>()?;
    let found = releases.into_iter().find(|r| match (version, digest) {
        (_, Some(d)) => r.digest == d,
        (Some(v), None) => r.version == v.trim_start_matches('v'),
        (None, None) => evidence.is_some(),
    });
    found.ok_or_else(|| {
        let what = match (version, digest) {
            (_, Some(d)) => format!("digest {d}"),
            (Some(v), None) => format!("version {v}"),
            (None, None) => "--version or --digest".to_owned(),
        };
        Failure::Refused(format!(
            "no release evidence for {what} under {}: release it with `cargo xtask release` (or pass --evidence DIR with its evidence.json)",
            evidence.map_or_else(|| crate::layout::Layout::of(root).releases(), Path::to_path_buf).display()
        ))
        .into()
    })
}

/// One verification and what it found.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub check: String,
    pub passed: bool,
    pub detail: String,
}

/// The registry holding `release`: `registry_url` when given, else its recorded host.
pub fn registry_for(
    release: &Release,
    registry_url: Option<&str>,
    trust: &crate::http::Trust,
) -> Result<Registry> {
    let base = registry_url.map_or_else(
        || crate::release::registry::base_url(release.host(), false),
        str::to_owned,
    );
    // Promotion reads with the same login a release pushes with (none: anonymous).
    let auth = crate::release::registry::Auth::from_env();
    Registry::new(&base, auth, Retry::default(), trust)
}

/// Verifies `release` against `registry` with `key`: the manifest is the digest, the cosign
/// signature and the SBOM attestation verify and match the evidence, and (when required) the
/// evidence links a passing ci report. Every check is returned; any failure refuses.
pub fn verify(
    release: &Release,
    registry: &Registry,
    key: &Path,
    require_ci: bool,
) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let mut check = |name: &str, result: Result<String>| {
        let (passed, detail) = match result {
            Ok(detail) => (true, detail),
            Err(e) => (false, format!("{e:#}")),
        };
        checks.push(Check {
            check: name.to_owned(),
            passed,
            detail,
        });
    };
    let repo = release.repository();
    let digest = &release.digest;
    check(
        "image",
        registry.manifest(repo, digest).and_then(|m| match m {
            Some(m) if m.digest() == *digest => Ok(format!("{} is in the registry", release.name)),
            Some(m) => bail!("the registry serves {} for {digest}", m.digest()),
            None => bail!("{}@{digest} is not in the registry", release.name),
        }),
    );
    let verifier = std::fs::read(key)
        .with_context(|| format!("cannot read the verification key {}", key.display()))
        .and_then(|pem| Verifier::from_pem(&pem, &key.display().to_string()));
    match verifier {
        Err(e) => check("signature", Err(e)),
        Ok(verifier) => {
            check(
                "signature",
                sign::verify_signature(registry, repo, digest, &verifier).map(|r| {
                    format!(
                        "cosign signature of {digest} ({r}) verifies with {}",
                        key.display()
                    )
                }),
            );
            check(
                "sbom attestation",
                sign::verify_attestation(registry, repo, digest, &verifier)
                    .and_then(|sbom| same_sbom(release, &sbom)),
            );
        }
    }
    check("ci report", ci_report(release, require_ci));
    if let Some(failed) = checks.iter().find(|c| !c.passed) {
        return Err(Failure::Refused(format!(
            "{} {} is not verified: {}: {}",
            release.version, release.digest, failed.check, failed.detail
        ))
        .into());
    }
    Ok(checks)
}

fn same_sbom(release: &Release, attested: &Value) -> Result<String> {
    let file = release.dir.join("sbom.cdx.json");
    let ours: Value = serde_json::from_slice(&std::fs::read(&file)?)?;
    if ours != *attested {
        bail!("the attested SBOM differs from {}", file.display());
    }
    Ok("signed CycloneDX SBOM attestation matches the evidence".to_owned())
}

fn ci_report(release: &Release, required: bool) -> Result<String> {
    let ci = &release.evidence["ci"];
    match ci["outcome"].as_str() {
        Some("passed") => Ok(format!(
            "ci run {} passed (report sha256 {})",
            ci["run_id"].as_str().unwrap_or("?"),
            ci["report_sha256"].as_str().unwrap_or("?")
        )),
        _ if !required => Ok("not required by this environment (require_ci: false)".to_owned()),
        _ => bail!(
            "the evidence links no passing `cargo xtask ci` report of commit {}: run ci on that commit, then release",
            release.evidence["commit"].as_str().unwrap_or("?")
        ),
    }
}

/// Pulls the image by digest and extracts the service binary (checked against the evidence's
/// SHA-256), its migrations and its config `Env` into `dest`.
pub fn unpack(
    release: &Release,
    registry: &Registry,
    bin: &str,
    migrations_in_image: &str,
    dest: &Path,
) -> Result<Unpacked> {
    let repo = release.repository();
    let manifest = registry
        .manifest(repo, &release.digest)?
        .with_context(|| format!("{}@{} is not in the registry", release.name, release.digest))?;
    let manifest: Value = serde_json::from_slice(&manifest.bytes)?;
    let config: Value = serde_json::from_slice(
        &registry.blob(repo, manifest["config"]["digest"].as_str().unwrap_or(""))?,
    )?;
    let layer = registry.blob(repo, manifest["layers"][0]["digest"].as_str().unwrap_or(""))?;
    if dest.exists() {
        std::fs::remove_dir_all(dest)?;
    }
    let migrations = dest.join("migrations");
    std::fs::create_dir_all(&migrations)?;
    let binary = dest.join(bin);
    let wanted_bin = format!("usr/local/bin/{bin}");
    let prefix = format!("{}/", migrations_in_image.trim_end_matches('/'));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(layer.as_slice()).read_to_end(&mut bytes)?;
    let mut archive = tar::Archive::new(bytes.as_slice());
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.display().to_string();
        let mut body = Vec::new();
        entry.read_to_end(&mut body)?;
        if path == wanted_bin {
            let sha = crate::engine::cache::hex(&sha2::Sha256::digest(&body));
            let expected = release.evidence["binary"]["sha256"].as_str().unwrap_or("");
            if sha != expected {
                return Err(Failure::Refused(format!(
                    "the image's {wanted_bin} has sha256 {sha}, the evidence says {expected}"
                ))
                .into());
            }
            std::fs::write(&binary, &body)?;
            std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        } else if let Some(file) = path.strip_prefix(&prefix).filter(|f| !f.is_empty()) {
            unpack_migration(&migrations, file, entry.header().entry_type(), &body)?;
        }
    }
    if !binary.exists() {
        bail!(
            "the image {}@{} has no {wanted_bin}",
            release.name,
            release.digest
        );
    }
    let env: BTreeMap<String, String> = config["config"]["Env"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str()?.split_once('='))
        .filter(|(k, _)| !matches!(*k, "PATH" | "SSL_CERT_FILE"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(Unpacked {
        version: release.version.clone(),
        digest: release.digest.clone(),
        binary,
        migrations,
        env,
    })
}

/// One entry under the image's migrations directory, in either layout (a directory per
/// migration or files); anything that would land outside `into` is refused.
fn unpack_migration(into: &Path, file: &str, kind: tar::EntryType, body: &[u8]) -> Result<()> {
    let rel = Path::new(file.trim_end_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(Failure::Refused(format!(
            "the image's migrations hold `{file}`, a path outside their directory"
        ))
        .into());
    }
    let to = into.join(rel);
    if kind.is_dir() {
        std::fs::create_dir_all(&to)?;
    } else if kind.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, body)?;
    }
    Ok(())
}

/// The versions of the up migrations in `dir` (as the `migrations` gate scans them), in order.
pub fn migration_versions(dir: &Path) -> Result<Vec<i64>> {
    let mut out: Vec<i64> = crate::migrations::scan(dir)?
        .iter()
        .filter_map(|m| super::schema::up_version(&m.up))
        .collect();
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_migrations_unpack_in_either_layout_and_never_outside_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let into = dir.path().join("migrations");
        let file = tar::EntryType::Regular;
        unpack_migration(&into, "0001_a.up.sql", file, b"CREATE TABLE a ();").unwrap();
        unpack_migration(&into, "20260101_b/", tar::EntryType::Directory, b"").unwrap();
        unpack_migration(&into, "20260101_b/up.sql", file, b"CREATE TABLE b ();").unwrap();
        assert_eq!(migration_versions(&into).unwrap(), [1, 20_260_101]);
        for bad in ["../escape.sql", "a/../../escape.sql", "/etc/passwd"] {
            let err = unpack_migration(&into, bad, file, b"x").unwrap_err();
            assert!(err.to_string().contains("outside"), "{bad}: {err}");
        }
        assert!(!dir.path().join("escape.sql").exists());
    }
}
