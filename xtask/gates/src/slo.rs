//! `slo`: the `[load] gate_profile` (smoke) against a fresh instance of the service, judged on
//! both sides: goose's thresholds derived from the SLO specs, and each objective's error ratio
//! in a real Prometheus that scraped the service with the generated rules. No data fails.
//! `[service.faults] inherit` variables in the environment reach the service (how the negative
//! tests break it) and are part of the key.

use std::time::Duration;

use anyhow::Result;

use crate::config::{LoadDef, ReleaseDef, ServiceDef, SloDef};
use crate::engine::gate::{CARGO_TARGET, Gate, GateSpec, Inputs, RunCtx, Step, Verdict};

pub struct Slo {
    spec: GateSpec,
    service: ServiceDef,
    load: LoadDef,
    slo: SloDef,
    release: Option<ReleaseDef>,
    root: std::path::PathBuf,
}

impl Slo {
    pub fn new(
        root: &std::path::Path,
        service: &ServiceDef,
        load: &LoadDef,
        slo: &SloDef,
        release: Option<&ReleaseDef>,
        compiled: &[String],
    ) -> Slo {
        let mut globs = super::build_inputs(compiled);
        globs.push(format!("{}/**", slo.dir));
        let spec = GateSpec {
            name: "slo".to_owned(),
            description:
                "load profile against the release build: goose thresholds and Prometheus SLO ratios"
                    .to_owned(),
            version: 1,
            deps: vec!["slo-rules".to_owned()],
            inputs: Inputs {
                globs,
                tools: [
                    vec!["prometheus".to_owned(), "postgresql".to_owned()],
                    super::running::build_tools(release),
                ]
                .concat(),
                env: service
                    .faults
                    .as_ref()
                    .map(|f| f.inherit.clone())
                    .unwrap_or_default(),
                facts: Vec::new(),
                files: Vec::new(),
                rust: true,
                git: Vec::new(),
            },
            resources: vec![CARGO_TARGET.to_owned()],
            timeout: Duration::from_secs(2400),
        };
        Slo {
            spec,
            service: service.clone(),
            load: load.clone(),
            slo: slo.clone(),
            release: release.cloned(),
            root: root.to_path_buf(),
        }
    }
}

impl Gate for Slo {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        let build = super::running::Build::new(&self.root, self.release.as_ref());
        // The profile's name is checked when the configuration loads.
        let Ok(profile) = crate::load::profile(&self.load.gate_profile) else {
            return Vec::new();
        };
        crate::load::steps(
            &self.service,
            &self.load,
            &build,
            profile,
            &format!("{}/slo", super::RUN_GATES_DIR),
        )
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let profile = crate::load::profile(&self.load.gate_profile)?;
        let dir = ctx.log_path.with_extension("");
        let build = super::running::Build::new(&ctx.root, self.release.as_ref());
        let outcome = crate::load::run(
            ctx,
            &self.service,
            &self.load,
            &self.slo,
            &build,
            profile,
            &dir,
        )?;
        let summary = crate::load::summary(&outcome);
        let judged = outcome.binary_sha256.clone();
        if outcome.problems.is_empty() {
            return Ok(Verdict::passed(Some(summary)).judged(judged));
        }
        Ok(Verdict::failed(outcome.problems.join("; "))
            .with_summary(summary)
            .judged(judged))
    }
}
