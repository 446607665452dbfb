//! Gates declared in `gatehouse.toml`: one command each; exit 0 passes, 77 skips, anything else fails.

use std::time::Duration;

use anyhow::Result;

use crate::config::CustomGate;
use crate::engine::gate::{Gate, GateSpec, Inputs, RunCtx, Step, Verdict, code};

/// The automake convention for "this test cannot run here".
pub const SKIP_CODE: i32 = 77;

#[derive(Debug)]
pub struct Custom {
    spec: GateSpec,
    def: CustomGate,
}

impl Custom {
    pub fn new(name: &str, def: &CustomGate) -> Custom {
        let spec = GateSpec {
            name: name.to_owned(),
            description: def.description.clone(),
            version: def.version,
            deps: def.deps.clone(),
            inputs: Inputs {
                globs: def.inputs.clone(),
                tools: def.tools.clone(),
                env: def.env.clone(),
                facts: Vec::new(),
                files: Vec::new(),
                // A command of your own that runs cargo builds Rust.
                rust: Step::builds_rust(&def.run),
                git: Vec::new(),
            },
            resources: def.resources.clone(),
            timeout: Duration::from_secs(def.timeout_secs),
        };
        Custom {
            spec,
            def: def.clone(),
        }
    }
}

impl Gate for Custom {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        Step::configured(&self.def.run)
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let steps = self.steps();
        let out = ctx.exec_all(&steps)?;
        match out.code {
            Some(0) => Ok(Verdict::passed(None)),
            Some(SKIP_CODE) => {
                let reason = out
                    .combined()
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                Ok(Verdict::skipped(if reason.is_empty() {
                    "the gate's command exited 77 (skip)".into()
                } else {
                    reason
                }))
            }
            _ => Ok(Verdict::failed(format!(
                "`{}` exited with {}",
                steps.last().map(ToString::to_string).unwrap_or_default(),
                code(&out)
            ))),
        }
    }
}
