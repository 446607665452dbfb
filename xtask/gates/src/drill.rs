//! `drill`: `cargo xtask drill rollback --env local --fault errors`, then `--fault latency`,
//! inside ci — each a healthy promotion under steady load with zero failed requests, a bad
//! release detected by the SLO judgement and rolled back automatically onto the schema it left
//! ahead. Both reports land in the run directory.

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
    root: std::path::PathBuf,
}

impl Drill {
    pub fn new(
        root: &std::path::Path,
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
            description: "rollback drills on the local target (errors, latency): healthy promotion under load, bad release detected and rolled back".to_owned(),
            version: 2,
            deps: vec!["release".to_owned(), "slo".to_owned()],
            inputs: Inputs {
                globs,
                tools: ["nginx", "prometheus", "postgresql", "registry", "moto", "skopeo", "pglast"].map(str::to_owned).to_vec(),
                env: Vec::new(),
                facts: Vec::new(),
                files: Vec::new(),
                rust: true,
                git: Vec::new(),
            },
            resources: vec![CARGO_TARGET.to_owned()],
            timeout: Duration::from_secs(2400),
        };
        Drill {
            spec,
            service: service.clone(),
            load: load.clone(),
            slo: slo.clone(),
            release: release.clone(),
            root: root.to_path_buf(),
        }
    }
}

impl Drill {
    fn promote_service(&self) -> promote::Service<'_> {
        promote::Service {
            service: &self.service,
            load: &self.load,
            slo: &self.slo,
            migrations: None,
            image_migrations: gatehouse_release::migrations_dir_in_image(
                &self.service,
                &self.release.migrations_path,
            ),
            release: Some(&self.release),
        }
    }
}

impl Gate for Drill {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        drill::steps(&self.root, &self.promote_service(), &self.release)
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let faults: Vec<Fault> = [Fault::Errors, Fault::Latency]
            .into_iter()
            .filter(|f| f.env(&self.service).is_ok())
            .collect();
        if faults.is_empty() {
            return Ok(Verdict::skipped(format!(
                "{}: [service.faults] declares no fault hooks (errors, latency), so no bad release can be rehearsed",
                crate::config::FILE
            )));
        }
        let svc = self.promote_service();
        let dir = ctx.log_path.with_extension("");
        std::fs::create_dir_all(&dir)?;
        let mut summaries = Vec::new();
        let mut problems = Vec::new();
        // Each fault the service has a hook for: errors (the availability objective) and latency
        // (the latency objective) must each be detected and rolled back.
        let missing: Vec<&str> = [Fault::Errors, Fault::Latency]
            .into_iter()
            .filter(|f| !faults.contains(f))
            .map(Fault::key)
            .collect();
        if !missing.is_empty() {
            summaries.push(format!(
                "not rehearsed: {} (no hook in [service.faults])",
                missing.join(", ")
            ));
        }
        for fault in faults {
            let opts = drill::Options {
                env: "local".to_owned(),
                fault,
            };
            let report = drill::run(ctx, &svc, &self.release, &opts, &|l| ctx.log(l))?;
            let name = format!("{fault:?}").to_lowercase();
            let md = dir.join(format!("drill-{name}.md"));
            std::fs::write(&md, drill::markdown(&report))?;
            std::fs::write(
                dir.join(format!("drill-{name}.json")),
                serde_json::to_vec_pretty(&report)?,
            )?;
            summaries.push(format!(
                "{name}: detect {}, recover {}, healthy promotion {} failed of {} requests",
                secs(report.time_to_detect_ms),
                secs(report.time_to_recover_ms),
                report.healthy.failed_requests,
                report.healthy.requests,
            ));
            if report.verdict != drill::DrillVerdict::Passed {
                problems.push(format!("{name}: {}", report.problems.join("; ")));
            }
        }
        let summary = format!("{}; reports in {}", summaries.join("; "), dir.display());
        // The drill's releases are the release's static build of this commit.
        let built = svc.build(&ctx.root).binary(&ctx.root, &self.service.bin);
        let judged = crate::engine::cache::sha256_file(&built);
        if problems.is_empty() {
            Ok(Verdict::passed(Some(summary)).judged(judged))
        } else {
            Ok(Verdict::failed(problems.join("; "))
                .with_summary(summary)
                .judged(judged))
        }
    }
}

/// Milliseconds as `1.2s`, or `—` when the drill did not get that far.
fn secs(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".to_owned(), |v| format!("{:.1}s", v as f64 / 1000.0))
}
