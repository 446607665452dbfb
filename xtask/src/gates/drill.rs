//! `drill`: `cargo xtask drill rollback --env local` inside ci — a healthy promotion under
//! steady load with zero failed requests, a bad release detected by the SLO judgement and rolled
//! back automatically onto the schema it left ahead. Its report lands in the run directory.

use std::time::Duration;

use anyhow::Result;

use crate::config::{LoadDef, ReleaseDef, ServiceDef, SloDef};
use crate::deploy::drill::{self, Fault};
use crate::deploy::promote;
use crate::engine::gate::{CARGO_TARGET, Gate, GateSpec, Inputs, RunCtx, Step, Verdict};

pub struct Drill {
    spec: GateSpec,
    service: ServiceDef,
    load: LoadDef,
    slo: SloDef,
    release: ReleaseDef,
}

impl Drill {
    pub fn new(
        service: &ServiceDef,
        load: &LoadDef,
        slo: &SloDef,
        release: &ReleaseDef,
        compiled: &[String],
    ) -> Drill {
        let mut globs = super::build_inputs(compiled);
        globs.extend([format!("{}/**", slo.dir), "deploy/**".to_owned()]);
        let spec = GateSpec {
            name: "drill".to_owned(),
            description: "rollback drill on the local target: healthy promotion under load, bad release detected and rolled back".to_owned(),
            version: 1,
            deps: vec!["release".to_owned(), "slo".to_owned()],
            inputs: Inputs {
                globs,
                tools: ["nginx", "prometheus", "postgresql", "registry", "moto", "skopeo"].map(str::to_owned).to_vec(),
                env: Vec::new(),
                facts: Vec::new(),
                files: Vec::new(),
            },
            resources: vec![CARGO_TARGET.to_owned()],
            timeout: Duration::from_secs(1800),
        };
        Drill {
            spec,
            service: service.clone(),
            load: load.clone(),
            slo: slo.clone(),
            release: release.clone(),
        }
    }
}

impl Gate for Drill {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        vec![Step::new(
            "cargo",
            &["xtask", "drill", "rollback", "--env", "local"],
        )]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let svc = promote::Service {
            service: &self.service,
            load: &self.load,
            slo: &self.slo,
        };
        let opts = drill::Options {
            env: "local".to_owned(),
            fault: Fault::Errors,
        };
        let report = drill::run(ctx, &svc, &self.release, &opts, &|l| ctx.log(l))?;
        let dir = ctx.log_path.with_extension("");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("drill.md"), drill::markdown(&report))?;
        std::fs::write(dir.join("drill.json"), serde_json::to_vec_pretty(&report)?)?;
        let secs = |v: Option<u64>| {
            v.map_or_else(|| "—".to_owned(), |v| format!("{:.1}s", v as f64 / 1000.0))
        };
        let summary = format!(
            "detect {}, recover {}, healthy promotion {} failed of {} requests; report {}",
            secs(report.time_to_detect_ms),
            secs(report.time_to_recover_ms),
            report.healthy.failed_requests,
            report.healthy.requests,
            dir.join("drill.md").display()
        );
        if report.verdict == "passed" {
            Ok(Verdict::passed(Some(summary)))
        } else {
            Ok(Verdict::failed(report.problems.join("; ")).with_summary(summary))
        }
    }
}
