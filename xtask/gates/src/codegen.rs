//! `codegen-verify`: every generated file equals what its generator makes now. Regenerates in
//! memory; a stale or missing file fails with the diff (in the log) and the command to run.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::config::Generated;
use crate::engine::gate::{Diagnostic, Gate, GateSpec, Inputs, RunCtx, Step, Verdict};
use gatehouse_engine::codegen::{self, Check};

pub struct CodegenVerify {
    spec: GateSpec,
    files: BTreeMap<String, Generated>,
}

impl CodegenVerify {
    pub fn new(files: &BTreeMap<String, Generated>) -> CodegenVerify {
        let mut globs = vec!["gatehouse.toml".to_owned()];
        let mut resources: Vec<String> = Vec::new();
        for file in files.values() {
            globs.push(file.path.clone());
            globs.extend(file.inputs.iter().cloned());
            resources.extend(file.resources.iter().cloned());
        }
        resources.sort();
        resources.dedup();
        let spec = GateSpec {
            name: "codegen-verify".to_owned(),
            description: "every generated file is what `cargo xtask codegen` makes now".to_owned(),
            version: 1,
            deps: Vec::new(),
            inputs: Inputs {
                globs,
                tools: Vec::new(),
                env: Vec::new(),
                facts: Vec::new(),
                files: Vec::new(),
                // Generators that cargo builds (`cargo …`, `{bin:…}`).
                rust: files.values().any(|f| Step::builds_rust(&f.run)),
                git: Vec::new(),
            },
            resources,
            timeout: codegen::TIMEOUT,
        };
        CodegenVerify {
            spec,
            files: files.clone(),
        }
    }
}

impl Gate for CodegenVerify {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        self.files.values().flat_map(codegen::steps).collect()
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let mut diagnostics = Vec::new();
        let mut broken = Vec::new();
        for (name, file) in &self.files {
            let (committed, generated) = match Check::of(ctx, name, file)? {
                Check::Fresh => continue,
                Check::Broken(why) => {
                    broken.push(why);
                    continue;
                }
                Check::Stale {
                    committed,
                    generated,
                } => (committed, generated),
            };
            ctx.log(&codegen::diff(&file.path, &committed, &generated));
            diagnostics.push(Diagnostic {
                file: file.path.clone(),
                line: codegen::first_changed_line(&committed, &generated),
                level: "error".to_owned(),
                message: format!(
                    "{} (codegen.{name}): run `cargo xtask codegen` and commit the result",
                    stale(&committed)
                ),
            });
        }
        if !broken.is_empty() {
            return Ok(Verdict {
                diagnostics,
                ..Verdict::failed(broken.join("; "))
            });
        }
        let summary = format!("{} generated file(s) checked", self.files.len());
        if diagnostics.is_empty() {
            return Ok(Verdict::passed(Some(summary)));
        }
        let files: Vec<&str> = diagnostics.iter().map(|d| d.file.as_str()).collect();
        let reason = format!(
            "{} differ from their generators (diff in the log): run `cargo xtask codegen` and commit",
            files.join(", ")
        );
        Ok(Verdict {
            diagnostics,
            ..Verdict::failed(reason)
        }
        .with_summary(summary))
    }
}

fn stale(committed: &str) -> &'static str {
    if committed.is_empty() {
        "missing"
    } else {
        "stale"
    }
}
