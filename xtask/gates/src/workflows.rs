//! `workflows`: actionlint over `.github/workflows`, and (in-process) every job that runs
//! `cargo xtask` runs in the `[platform]` container the tool manifest is pinned for.

use anyhow::Result;

use crate::config::PlatformDef;
use crate::engine::gate::{Diagnostic, Gate, GateSpec, RunCtx, Step, Verdict};
use gatehouse_engine::platform;

pub struct Workflows {
    spec: GateSpec,
    platform: Option<PlatformDef>,
}

impl Workflows {
    pub fn new(platform: Option<&PlatformDef>) -> Workflows {
        let mut spec = super::Decl {
            name: "workflows",
            description: "actionlint: GitHub Actions workflows are valid; in-process: every job \
                          running `cargo xtask` runs in the [platform] container",
            deps: &[],
            globs: &[".github/**"],
            tools: &["actionlint"],
            env: &[],
            cargo: false,
            rust: false,
            timeout_secs: 300,
        }
        .spec(2);
        if let Some(p) = platform {
            spec.inputs
                .facts
                .push(format!("platform container {}", p.container));
        }
        Workflows {
            spec,
            platform: platform.cloned(),
        }
    }

    /// The platform check's problems, each also in the log (none without `[platform]`).
    fn off_platform(&self, ctx: &RunCtx) -> Result<Vec<Diagnostic>> {
        let Some(p) = &self.platform else {
            ctx.log("platform check: not run, gatehouse.toml has no [platform]");
            return Ok(Vec::new());
        };
        let problems = platform::check_workflows(&ctx.root, p)?;
        ctx.log(&format!(
            "platform check (in-process): {} job(s) run `cargo xtask` outside `{}`",
            problems.len(),
            p.container
        ));
        for d in &problems {
            ctx.log(&format!("{}:{}: {}", d.file, d.line, d.message));
        }
        Ok(problems)
    }
}

impl Gate for Workflows {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        vec![Step::new("actionlint", &["-oneline", "-no-color"]).tool("actionlint")]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        if !ctx.root.join(platform::WORKFLOWS).is_dir() {
            return Ok(Verdict::skipped("no .github/workflows directory"));
        }
        let mut diagnostics = self.off_platform(ctx)?;
        let step = &self.steps()[0];
        let out = ctx.exec(step)?;
        if out.success() && diagnostics.is_empty() {
            return Ok(Verdict::passed(None));
        }
        if out.success() {
            let reason = format!(
                "{} job(s) run `cargo xtask` off the pinned platform; see the log",
                diagnostics.len()
            );
            return Ok(Verdict {
                diagnostics,
                ..Verdict::failed(reason)
            });
        }
        diagnostics.extend(super::yaml::colon_diagnostics(&out.combined()));
        Ok(Verdict::failed_with(step, &out, diagnostics, |d| {
            format!("{} problem(s) in workflows", d.len())
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn oneline_output_maps_to_file_and_line() {
        let out = ".github/workflows/ci.yml:7:9: unknown key \"run-on\" [syntax-check]\n";
        let d = super::super::yaml::colon_diagnostics(out);
        assert_eq!(
            (d[0].file.as_str(), d[0].line),
            (".github/workflows/ci.yml", 7)
        );
        assert_eq!(d[0].message, "unknown key \"run-on\" [syntax-check]");
    }
}
