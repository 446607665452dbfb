//! `workflows`: actionlint over `.github/workflows`.

use anyhow::Result;

use crate::engine::gate::{Gate, GateSpec, RunCtx, Step, Verdict};

pub struct Workflows(GateSpec);

impl Workflows {
    pub fn new() -> Workflows {
        Workflows(
            super::Decl {
                name: "workflows",
                description: "actionlint: GitHub Actions workflows are valid",
                deps: &[],
                globs: &[".github/**"],
                tools: &["actionlint"],
                env: &[],
                cargo: false,
                timeout_secs: 300,
            }
            .spec(1),
        )
    }
}

impl Gate for Workflows {
    fn spec(&self) -> &GateSpec {
        &self.0
    }

    fn steps(&self) -> Vec<Step> {
        vec![Step::new("actionlint", &["-oneline", "-no-color"]).tool("actionlint")]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        if !ctx.root.join(".github/workflows").is_dir() {
            return Ok(Verdict::skipped("no .github/workflows directory"));
        }
        let step = &self.steps()[0];
        let out = ctx.exec(step)?;
        if out.success() {
            return Ok(Verdict::passed(None));
        }
        let diagnostics = super::yaml::colon_diagnostics(&out.combined());
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
