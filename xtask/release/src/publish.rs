//! `cargo xtask release [--dry-run]`: one build, and everything after it refers to its digest.
//!
//! Order (each step only after the one before succeeded, refusals before any work):
//! plan → signing key → GitHub target and the commit's `ci` report (real releases) → static
//! binary + OCI image → SBOM → ECR repository and credentials → push (blobs, manifest, tag) →
//! `.sig` and `.att` → verify both from the registry with the public key → evidence manifest →
//! GitHub release (which creates the git tag: no tag without its image).
//!
//! `--dry-run` does all of it against a throw-away registry (CNCF Distribution) and moto on
//! loopback, with a throw-away key unless one is given, and publishes nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::registry::{Artifact, Auth, Pushed, Registry, Retry};
use super::sign::{self, Signer, Verifier};
use super::{Built, Plan, ecr, github, image};
use crate::config::{ReleaseDef, ServiceDef};
use crate::engine::gate::RunCtx;
use crate::exit::Failure;
use crate::http::Trust;
use crate::timeline::{Phase, Timeline};

/// How `release` runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    /// Encrypted private key (cosign's format); else `$COSIGN_PRIVATE_KEY`.
    pub key: Option<PathBuf>,
    /// The registry endpoint to push to instead of the one ECR names (`--registry-url`).
    pub registry_url: Option<String>,
    pub retry: Retry,
    /// The key's password when the caller holds it (drills); else `$COSIGN_PASSWORD`.
    pub key_password: Option<String>,
    /// CAs trusted beside the platform's (the user's, a drill's registry).
    pub trust: Trust,
}

/// Everything a release produced; also the evidence manifest's content.
#[derive(Debug, Serialize)]
pub struct Evidence {
    pub schema: &'static str,
    pub dry_run: bool,
    pub version: String,
    pub tag: String,
    pub commit: String,
    pub snapshot: bool,
    pub image: ImageEvidence,
    pub binary: FileEvidence,
    pub sbom: FileEvidence,
    pub signature: Pushed,
    pub attestation: Pushed,
    pub public_key: FileEvidence,
    pub ecr: Option<ecr::Prepared>,
    pub ci: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github: Option<github::Published>,
    /// Wall time of each phase, in milliseconds, in order.
    pub timings_ms: Vec<(Phase, u64)>,
}

#[derive(Debug, Serialize)]
pub struct ImageEvidence {
    pub reference: String,
    pub digest: String,
    pub pushed: Pushed,
}

#[derive(Debug, Serialize)]
pub struct FileEvidence {
    pub file: String,
    pub sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::engine::cache::hex(&sha2::Sha256::digest(bytes))
}

fn refuse(why: String) -> anyhow::Error {
    Failure::Refused(why).into()
}

/// The signing key: given, or (dry run only) a throw-away pair written to the release dir.
fn signer(opts: &Options, dir: &Path) -> Result<Signer> {
    if let (Some(key), Some(password)) = (&opts.key, &opts.key_password) {
        let pem = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
        return Signer::load(&pem, password.as_bytes(), &key.display().to_string());
    }
    let given = opts.key.is_some() || std::env::var_os(sign::KEY_ENV).is_some();
    if given || !opts.dry_run {
        return Signer::from_file_or_env(opts.key.as_deref());
    }
    let keys = dir.join("throwaway-key");
    if keys.exists() {
        std::fs::remove_dir_all(&keys)?;
    }
    let (key, _) = sign::keygen(&keys, b"dry-run")?;
    Signer::load(
        &std::fs::read(&key)?,
        b"dry-run",
        &key.display().to_string(),
    )
}

/// The newest passing `ci` report of `commit` with a clean tree (untracked files count) and no
/// required gate skipped (whatever `CI` was), as `{run_id, outcome, sha256, gates, tools}`.
pub fn ci_report(root: &Path, commit: &str) -> Option<Value> {
    let runs = crate::layout::Layout::of(root).runs();
    let mut found: Vec<(String, Value, String)> = std::fs::read_dir(&runs)
        .ok()?
        .filter_map(|e| {
            let path = e.ok()?.path().join("report.json");
            let bytes = std::fs::read(&path).ok()?;
            let report: Value = serde_json::from_slice(&bytes).ok()?;
            let ours = report["pipeline"] == "ci"
                && report["commit"] == commit
                && report["dirty"] == false
                && report["outcome"] == "passed"
                && !skipped_a_required_gate(&report);
            ours.then(|| {
                let id = report["run_id"].as_str().unwrap_or("").to_owned();
                (id, report, sha256_hex(&bytes))
            })
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let (id, report, sha) = found.pop()?;
    let judged: serde_json::Map<String, Value> = report["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| {
            Some((
                g["name"].as_str()?.to_owned(),
                g.get("binary_sha256")?.clone(),
            ))
        })
        .collect();
    Some(
        json!({"run_id": id, "outcome": report["outcome"], "report_sha256": sha, "gates": report["gates"].as_array().map_or(0, Vec::len), "tools": report["tools"], "judged_binaries": judged}),
    )
}

/// Which of the linked ci run's gates judged exactly the binary this release ships (SHA-256
/// `shipped`), and which ran another build: what the evidence says about its testing.
fn judged_binary(ci: &mut Value, shipped: &str) {
    let Some(judged) = ci["judged_binaries"].as_object() else {
        return;
    };
    let gates = |same: bool| -> Vec<String> {
        judged
            .iter()
            .filter(|(_, sha)| (sha.as_str() == Some(shipped)) == same)
            .map(|(gate, _)| gate.clone())
            .collect()
    };
    let (same, other) = (gates(true), gates(false));
    ci["shipped_binary_judged_by"] = json!(same);
    ci["other_binary_judged_by"] = json!(other);
}

/// Whether a required gate of the run was skipped (only optional ones may be); a report that
/// lists no gates proves nothing and counts as skipping.
fn skipped_a_required_gate(report: &Value) -> bool {
    report["gates"].as_array().is_none_or(|gates| {
        gates
            .iter()
            .any(|g| g["required"] == true && g["status"] == "skipped")
    })
}

/// Where the image goes and with which credentials; keeps the dry run's servers alive.
struct Destination {
    registry: Registry,
    ecr: Option<ecr::Prepared>,
    _servers: Vec<launcher::Loopback>,
}

fn destination(
    ctx: &RunCtx,
    release: &ReleaseDef,
    opts: &Options,
    say: &dyn Fn(&str),
) -> Result<Destination> {
    let region = release.region.as_deref().unwrap_or("us-east-1");
    if opts.dry_run {
        say("starting a throw-away registry and moto (AWS API emulator) on loopback, over TLS");
        let ca = launcher::Ca::throwaway()?;
        let registry = launcher::registry(&ctx.tool_binary("registry")?, &ca)?;
        let moto = launcher::moto(&ctx.tool_binary("moto")?, &ca)?;
        let trust = opts
            .trust
            .clone()
            .with_pem("the dry run's throwaway CA", ca.cert_pem());
        let prepared = ecr::prepare(&release.image, region, Some(&moto.url()), &trust)?;
        let base = opts.registry_url.clone().unwrap_or_else(|| registry.url());
        let auth = Auth::header(prepared.authorization.clone());
        return Ok(Destination {
            registry: Registry::new(&base, auth, opts.retry, &trust)?,
            ecr: Some(prepared),
            _servers: vec![registry, moto],
        });
    }
    if release.registry == "ecr" {
        say(&format!(
            "ECR: ensuring repository {} in {region}",
            release.image
        ));
        let prepared = ecr::prepare(&release.image, region, None, &opts.trust)?;
        let base = opts
            .registry_url
            .clone()
            .unwrap_or_else(|| prepared.proxy_endpoint.clone());
        let auth = Auth::header(prepared.authorization.clone());
        return Ok(Destination {
            registry: Registry::new(&base, auth, opts.retry, &opts.trust)?,
            ecr: Some(prepared),
            _servers: Vec::new(),
        });
    }
    let base = opts
        .registry_url
        .clone()
        .unwrap_or_else(|| release.registry.clone());
    Ok(Destination {
        registry: Registry::new(&base, Auth::from_env(), opts.retry, &opts.trust)?,
        ecr: None,
        _servers: Vec::new(),
    })
}

fn artifact(img: &image::Image) -> Artifact {
    Artifact {
        manifest: img.manifest.clone(),
        blobs: vec![img.layer.clone(), img.config.clone()],
    }
}

/// The SBOM's components are exactly the packages the build compiled for the target (the
/// service's own package aside): an SBOM that drifts from the binary fails the release.
fn check_sbom(sbom: &[u8], built: &Built, package: &str) -> Result<()> {
    let doc: Value = serde_json::from_slice(sbom)?;
    let listed: std::collections::BTreeSet<String> = doc["components"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["name"].as_str().unwrap_or(""),
                c["version"].as_str().unwrap_or("")
            )
        })
        .collect();
    let own = format!("{package} ");
    let compiled: std::collections::BTreeSet<String> = built
        .compiled
        .iter()
        .filter(|p| !p.starts_with(&own))
        .cloned()
        .collect();
    if listed != compiled {
        let missing: Vec<_> = compiled.difference(&listed).collect();
        let extra: Vec<_> = listed.difference(&compiled).collect();
        bail!(
            "the SBOM does not match the build: compiled but not listed {missing:?}, listed but not compiled {extra:?}"
        );
    }
    Ok(())
}

/// The artifact already under `tag` (verified by the caller afterwards), or `make()` pushed there.
fn keep_or_push(
    registry: &Registry,
    repo: &str,
    tag: &str,
    make: impl FnOnce() -> Result<Artifact>,
) -> Result<Pushed> {
    match registry.manifest(repo, tag)? {
        Some(existing) => Ok(Pushed {
            reference: format!("{}/{repo}:{tag}", registry.host()),
            digest: existing.digest(),
            blobs_sent: 0,
            tagged: false,
        }),
        None => registry.push(repo, tag, &make()?),
    }
}

/// What a dry run does after [`super::image_steps`]: the SBOM's cargo queries, then work inside
/// gatehouse's process.
pub fn dry_run_steps(service: &ServiceDef, release: &ReleaseDef) -> Vec<crate::engine::gate::Step> {
    let mut steps = super::sbom::steps(&service.package, &release.target).to_vec();
    steps.extend(
        [
            "the CycloneDX SBOM from those queries, checked against the packages the build compiled",
            "a registry (CNCF Distribution) and moto's ECR over TLS with a throwaway CA: the repository checked, the image pushed",
            "the signature and SBOM attestation (cosign's formats) pushed and verified with the public key; evidence.json written",
        ]
        .map(crate::engine::gate::Step::in_process),
    );
    steps
}

/// Runs the release as its phases (each a [`Phase`] of the timeline the evidence records):
/// preflight, build and image, SBOM, registry, push, sign and attest, verify, then the evidence
/// files and, for a real release, the GitHub release. Returns the evidence (also written as
/// `evidence.json`).
pub fn run(
    ctx: &RunCtx,
    service: &ServiceDef,
    release: &ReleaseDef,
    plan: &Plan,
    opts: &Options,
    say: &dyn Fn(&str),
) -> Result<Evidence> {
    let dir = super::dir(&ctx.root, &plan.tag);
    std::fs::create_dir_all(&dir)?;
    let preflight = preflight(ctx, release, plan, opts, &dir)?;
    let mut run = Release {
        ctx,
        service,
        def: release,
        plan,
        opts,
        say,
        dir,
        clock: Timeline::start(),
    };
    let (built, img) = run.build()?;
    let sbom = run.sbom(&built)?;
    let shipped = run.push(&img)?;
    let signed = run.sign(&shipped, &preflight.signer, &sbom)?;
    let (mut evidence, assets) = run.record(&preflight, &built, sbom, &shipped, signed)?;
    if let Some(gh) = &preflight.github {
        evidence.github = Some(run.publish(gh, assets)?);
    }
    Ok(evidence)
}

/// What must hold before anything is built: the signing key and, for a real release, the
/// GitHub target and the passing `ci` report the evidence links.
struct Preflight {
    signer: Signer,
    github: Option<github::Target>,
    ci: Option<Value>,
}

fn preflight(
    ctx: &RunCtx,
    release: &ReleaseDef,
    plan: &Plan,
    opts: &Options,
    dir: &Path,
) -> Result<Preflight> {
    let signer = signer(opts, dir)?;
    if opts.dry_run {
        let ci = ci_report(&ctx.root, &plan.commit);
        return Ok(Preflight {
            signer,
            github: None,
            ci,
        });
    }
    let github = github::Target::from_env(release.github.as_deref())
        .map_err(|why| refuse(format!("cannot publish a GitHub release: {why}")))?;
    let ci = ci_report(&ctx.root, &plan.commit).ok_or_else(|| {
        refuse(format!(
            "no passing `cargo xtask ci` report for commit {} on a clean tree: run `cargo xtask ci` first (the evidence links it)",
            plan.commit
        ))
    })?;
    Ok(Preflight {
        signer,
        github: Some(github),
        ci: Some(ci),
    })
}

/// The image in its registry, under `name` (`host/repository`); the destination keeps the dry
/// run's servers alive.
struct Shipped {
    dest: Destination,
    name: String,
    pushed: Pushed,
}

impl Shipped {
    fn digest(&self) -> &str {
        &self.pushed.digest
    }
}

/// The signature and the SBOM attestation, pushed and verified with the public key.
struct Signed {
    signature: Pushed,
    attestation: Pushed,
}

/// One release under way: what it releases, where its files go, and its timeline.
struct Release<'a> {
    ctx: &'a RunCtx,
    service: &'a ServiceDef,
    def: &'a ReleaseDef,
    plan: &'a Plan,
    opts: &'a Options,
    say: &'a dyn Fn(&str),
    dir: PathBuf,
    clock: Timeline,
}

impl Release<'_> {
    fn mark(&mut self, phase: Phase, what: &str) {
        self.clock.mark(phase, what, &|_: &str| {});
    }

    /// The reproducible static build and its OCI layout.
    fn build(&mut self) -> Result<(Built, image::Image)> {
        (self.say)(&format!(
            "building {} for {}",
            self.service.bin, self.def.target
        ));
        let (built, img) = super::build_image(self.ctx, self.service, self.def, self.plan)?;
        (self.say)(&format!("image {} ({})", built.digest, built.layout));
        self.mark(Phase::Built, "build and image");
        Ok((built, img))
    }

    /// The CycloneDX SBOM, written beside the evidence and checked against what the build
    /// compiled.
    fn sbom(&mut self, built: &Built) -> Result<Vec<u8>> {
        let sbom = super::sbom::generate(
            &self.ctx.root,
            &super::sbom::Subject {
                package: &self.service.package,
                target: &self.def.target,
                version: &self.plan.version,
                binary_sha256: &built.binary_sha256,
                source_date_epoch: self.plan.source_date_epoch,
            },
        )?;
        std::fs::write(self.dir.join("sbom.cdx.json"), &sbom)?;
        check_sbom(&sbom, built, &self.service.package)?;
        self.mark(Phase::Sbom, "sbom");
        Ok(sbom)
    }

    /// The registry (and ECR's repository) made ready, then the image pushed.
    fn push(&mut self, img: &image::Image) -> Result<Shipped> {
        let dest = destination(self.ctx, self.def, self.opts, self.say)?;
        self.mark(Phase::Registry, "registry and ecr");
        let repo = self.def.image.as_str();
        let name = format!("{}/{repo}", dest.registry.host());
        (self.say)(&format!("pushing {name}:{}", self.plan.version));
        let pushed = dest
            .registry
            .push(repo, &self.plan.version, &artifact(img))
            .context("pushing the image")?;
        self.mark(Phase::Pushed, "push");
        Ok(Shipped { dest, name, pushed })
    }

    /// The signature and SBOM attestation pushed (kept when a rerun finds ones that verify:
    /// ECDSA signatures are randomised), then both verified from the registry.
    fn sign(&mut self, shipped: &Shipped, signer: &Signer, sbom: &[u8]) -> Result<Signed> {
        let (registry, repo) = (&shipped.dest.registry, self.def.image.as_str());
        let (name, digest) = (&shipped.name, shipped.digest());
        let sbom_json: Value = serde_json::from_slice(sbom)?;
        let signature = keep_or_push(registry, repo, &sign::tag_for(digest, "sig"), || {
            sign::signature(signer, name, digest)
        })
        .context("pushing the signature")?;
        let attestation = keep_or_push(registry, repo, &sign::tag_for(digest, "att"), || {
            sign::attestation(signer, name, digest, sign::CYCLONEDX_PREDICATE, &sbom_json)
        })
        .context("pushing the SBOM attestation")?;
        self.mark(Phase::Signed, "sign and attest");
        let verifier = Verifier::from_pem(signer.public_pem().as_bytes(), "the release key")?;
        sign::verify_signature(registry, repo, digest, &verifier)?;
        let attested = sign::verify_attestation(registry, repo, digest, &verifier)?;
        if attested != sbom_json {
            bail!(
                "the attested SBOM differs from the one written to {}",
                self.dir.display()
            );
        }
        self.mark(Phase::Verified, "verify");
        (self.say)("signature and SBOM attestation verified from the registry with the public key");
        Ok(Signed {
            signature,
            attestation,
        })
    }

    /// The evidence and the files a release ships (`cosign.pub`, `evidence.json`,
    /// `SHA256SUMS`) written beside the SBOM; the assets of a GitHub release, checksums last.
    fn record(
        &self,
        preflight: &Preflight,
        built: &Built,
        sbom: Vec<u8>,
        shipped: &Shipped,
        signed: Signed,
    ) -> Result<(Evidence, Vec<github::Asset>)> {
        let public_pem = preflight.signer.public_pem();
        std::fs::write(self.dir.join("cosign.pub"), public_pem)?;
        let bin_asset = format!("{}-{}", self.service.bin, self.def.target);
        let mut ci = preflight.ci.clone();
        if let Some(ci) = ci.as_mut() {
            judged_binary(ci, &built.binary_sha256);
        }
        let evidence = Evidence {
            schema: "gatehouse.evidence/v1",
            dry_run: self.opts.dry_run,
            version: self.plan.version.clone(),
            tag: self.plan.tag.clone(),
            commit: self.plan.commit.clone(),
            snapshot: self.plan.snapshot,
            image: ImageEvidence {
                reference: format!("{}@{}", shipped.name, shipped.digest()),
                digest: shipped.digest().to_owned(),
                pushed: shipped.pushed.clone(),
            },
            binary: FileEvidence {
                file: bin_asset.clone(),
                sha256: built.binary_sha256.clone(),
            },
            sbom: FileEvidence {
                file: "sbom.cdx.json".to_owned(),
                sha256: sha256_hex(&sbom),
            },
            signature: signed.signature,
            attestation: signed.attestation,
            public_key: FileEvidence {
                file: "cosign.pub".to_owned(),
                sha256: sha256_hex(public_pem.as_bytes()),
            },
            ecr: shipped.dest.ecr.clone(),
            ci,
            github: None,
            timings_ms: self.clock.durations(),
        };
        let evidence_bytes = serde_json::to_vec_pretty(&evidence)?;
        std::fs::write(self.dir.join("evidence.json"), &evidence_bytes)?;
        let mut assets = vec![
            asset(&bin_asset, built.bytes.clone()),
            asset("sbom.cdx.json", sbom),
            asset("evidence.json", evidence_bytes),
            asset("cosign.pub", public_pem.as_bytes().to_vec()),
        ];
        let sums: String = assets
            .iter()
            .map(|a| format!("{}  {}\n", sha256_hex(&a.bytes), a.name))
            .collect();
        std::fs::write(self.dir.join("SHA256SUMS"), &sums)?;
        assets.push(asset("SHA256SUMS", sums.into_bytes()));
        Ok((evidence, assets))
    }

    /// The GitHub release of the tag, with `assets`.
    fn publish(
        &self,
        gh: &github::Target,
        assets: Vec<github::Asset>,
    ) -> Result<github::Published> {
        (self.say)(&format!(
            "GitHub release {} on {}/{}",
            self.plan.tag, gh.owner, gh.repo
        ));
        github::publish(
            gh,
            &self.plan.tag,
            &self.plan.commit,
            &self.plan.changelog,
            &assets,
        )
    }
}

fn asset(name: &str, bytes: Vec<u8>) -> github::Asset {
    github::Asset {
        name: name.to_owned(),
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_run(root: &Path, id: &str, report: &Value) {
        let dir = crate::layout::Layout::of(root).runs().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("report.json"), report.to_string()).unwrap();
    }

    fn run(id: &str, dirty: bool, skipped_required: bool) -> Value {
        let status = if skipped_required {
            "skipped"
        } else {
            "passed"
        };
        json!({
            "pipeline": "ci", "commit": "c1", "dirty": dirty, "outcome": "passed", "run_id": id,
            "gates": [
                {"name": "test", "required": true, "status": status},
                {"name": "advisories", "required": false, "status": "skipped"},
                {"name": "slo", "required": true, "status": "passed", "binary_sha256": "aa"},
                {"name": "api-fuzz", "required": true, "status": "passed", "binary_sha256": "bb"},
            ],
            "tools": {"cargo-nextest": "cargo-nextest 0.9.143"},
        })
    }

    #[test]
    fn release_evidence_links_only_clean_runs_that_skipped_no_required_gate() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_run(root, "1-clean", &run("1-clean", false, false));
        write_run(root, "2-dirty", &run("2-dirty", true, false));
        write_run(root, "3-skipped", &run("3-skipped", false, true));
        let mut no_gates = run("4-no-gates", false, false);
        no_gates["gates"] = Value::Null;
        write_run(root, "4-no-gates", &no_gates);
        let linked = ci_report(root, "c1").unwrap();
        assert_eq!(linked["run_id"], "1-clean", "{linked}");
        assert_eq!(linked["tools"]["cargo-nextest"], "cargo-nextest 0.9.143");
        assert!(ci_report(root, "other-commit").is_none());
    }

    /// The evidence says which gates judged exactly the shipped bytes and which another build.
    #[test]
    fn release_evidence_names_the_gates_that_judged_the_shipped_binary() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), "1-clean", &run("1-clean", false, false));
        let mut linked = ci_report(dir.path(), "c1").unwrap();
        judged_binary(&mut linked, "aa");
        assert_eq!(linked["shipped_binary_judged_by"], json!(["slo"]));
        assert_eq!(linked["other_binary_judged_by"], json!(["api-fuzz"]));
    }
}
