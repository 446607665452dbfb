//! `yaml`: yamllint (strict) over the repository's YAML, configured by `.yamllint.yaml`.

use anyhow::Result;

use crate::engine::gate::{Diagnostic, Gate, GateSpec, RunCtx, Step, Verdict};

pub struct Yaml(GateSpec);

impl Yaml {
    pub fn new() -> Yaml {
        Yaml(
            super::Decl {
                name: "yaml",
                description: "yamllint: every YAML file is valid and tidy (strict)",
                deps: &[],
                globs: &["**/*.yml", "**/*.yaml", ".yamllint.yaml"],
                tools: &["yamllint"],
                env: &[],
                cargo: false,
                rust: false,
                timeout_secs: 300,
            }
            .spec(1),
        )
    }
}

impl Gate for Yaml {
    fn spec(&self) -> &GateSpec {
        &self.0
    }

    fn steps(&self) -> Vec<Step> {
        vec![Step::new("yamllint", &["--strict", "--format", "parsable", "."]).tool("yamllint")]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let step = &self.steps()[0];
        let out = ctx.exec(step)?;
        if out.success() {
            return Ok(Verdict::passed(None));
        }
        let diagnostics = colon_diagnostics(&out.combined());
        Ok(Verdict::failed_with(step, &out, diagnostics, |d| {
            format!("{} YAML problem(s)", d.len())
        }))
    }
}

/// Parses `file:line:col: message` lines (yamllint's parsable format, actionlint's one-line format).
pub fn colon_diagnostics(output: &str) -> Vec<Diagnostic> {
    output
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(4, ':');
            let (file, line, _col, msg) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            let line = line.trim().parse().ok()?;
            let msg = msg.trim();
            let level = if msg.starts_with("[warning]") {
                "warning"
            } else {
                "error"
            };
            let msg = msg
                .trim_start_matches("[warning]")
                .trim_start_matches("[error]")
                .trim();
            Some(Diagnostic {
                file: file.trim_start_matches("./").to_owned(),
                line,
                level: level.into(),
                message: msg.into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsable_lines_map_to_file_line_and_level() {
        let d = colon_diagnostics(
            "./deploy/a.yaml:3:1: [warning] missing document start \"---\" (document-start)\nnoise\n",
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].file.as_str(), d[0].line, d[0].level.as_str()),
            ("deploy/a.yaml", 3, "warning")
        );
        assert_eq!(
            d[0].message,
            "missing document start \"---\" (document-start)"
        );
    }
}
