//! `release`: `cargo xtask release --dry-run` as a gate. Every commit rehearses the release:
//! the reproducible static build, the image, the SBOM, ECR's control plane (moto), the push to a
//! real registry (CNCF Distribution on loopback), signing, attestation and verification. A
//! commit with nothing to release rehearses `0.0.0-snapshot.<commit>`. Publishes nothing.

use std::time::Duration;

use anyhow::Result;

use crate::config::{ReleaseDef, ServiceDef};
use crate::engine::gate::{CARGO_TARGET, Gate, GateSpec, Inputs, RunCtx, Step, Verdict};
use gatehouse_release::publish::{self, Options};

pub struct Release {
    spec: GateSpec,
    service: ServiceDef,
    release: ReleaseDef,
    root: std::path::PathBuf,
}

impl Release {
    pub fn new(
        root: &std::path::Path,
        service: &ServiceDef,
        release: &ReleaseDef,
        compiled: &[String],
    ) -> Release {
        let globs = super::build_inputs(compiled);
        let spec = GateSpec {
            name: "release".to_owned(),
            description: "release --dry-run: static build, image, SBOM, push, sign, attest and verify against a local registry and moto".to_owned(),
            version: 1,
            deps: Vec::new(),
            inputs: Inputs {
                globs,
                tools: ["release-target", "skopeo", "registry", "moto"]
                    .map(str::to_owned)
                    .into_iter()
                    .chain(release.tools.iter().cloned())
                    .collect(),
                env: vec![gatehouse_release::sign::KEY_ENV.to_owned()],
                facts: Vec::new(),
                files: Vec::new(),
                rust: true,
                git: Vec::new(),
            },
            resources: vec![CARGO_TARGET.to_owned()],
            timeout: Duration::from_secs(2400),
        };
        Release {
            spec,
            service: service.clone(),
            release: release.clone(),
            root: root.to_path_buf(),
        }
    }
}

impl Gate for Release {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        let Ok(plan) = gatehouse_release::plan_or_snapshot(&self.root) else {
            return vec![Step::in_process(
                "the release plan (it cannot be made here: see `cargo xtask release plan`)",
            )];
        };
        let mut steps =
            gatehouse_release::image_steps(&self.root, &self.service, &self.release, &plan);
        steps.extend(publish::dry_run_steps(&self.service, &self.release));
        steps
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let plan = gatehouse_release::plan_or_snapshot(&ctx.root)?;
        let say = |line: &str| ctx.log(line);
        let opts = Options {
            dry_run: true,
            trust: crate::http::Trust::configured(),
            ..Options::default()
        };
        let evidence = match publish::run(ctx, &self.service, &self.release, &plan, &opts, &say) {
            Ok(evidence) => evidence,
            Err(e) => return Ok(Verdict::failed(format!("release --dry-run: {e:#}"))),
        };
        Ok(Verdict::passed(Some(format!(
            "{}: {} pushed, signed and attested, verified with the public key",
            plan.tag, evidence.image.digest
        )))
        .judged(Some(evidence.binary.sha256.clone())))
    }
}
