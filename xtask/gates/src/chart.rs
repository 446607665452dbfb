//! `chart`: the Helm chart of every kubernetes environment, rendered as a promotion would
//! render it and checked three ways — `helm lint --strict` (with the generated values schema),
//! `kubernetes-validate --strict` against the pinned Kubernetes version's schemas, and checkov
//! with the chart's rules (`[chart] require`), each of which must have passed on every workload.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::config::ChartDef;
use crate::deploy::chart::{self, PLACEHOLDER_DIGEST};
use crate::deploy::env::Environment;
use crate::engine::gate::{Diagnostic, Gate, GateSpec, RunCtx, Step, Verdict, code};

pub struct Chart {
    spec: GateSpec,
    def: ChartDef,
    repository: String,
    root: PathBuf,
}

impl Chart {
    pub fn new(root: &Path, def: &ChartDef, repository: &str) -> Chart {
        let globs = [
            format!("{}/**", def.dir),
            "deploy/environments/**".to_owned(),
            "gatehouse.toml".to_owned(),
        ];
        let globs: Vec<&str> = globs.iter().map(String::as_str).collect();
        Chart {
            spec: super::Decl {
                name: "chart",
                description: "helm lint + template per environment, kubernetes-validate --strict, checkov with the chart's rules",
                deps: &[],
                globs: &globs,
                tools: &["helm", "kubernetes-validate", "checkov"],
                env: &[],
                cargo: false,
                rust: false,
                timeout_secs: 600,
            }
            .spec(2),
            def: def.clone(),
            repository: repository.to_owned(),
            root: root.to_path_buf(),
        }
    }

    fn lint_step(&self, root: &Path, env: &Environment) -> Result<Step> {
        let mut args = vec![
            "lint".to_owned(),
            "--strict".to_owned(),
            self.def.dir.clone(),
        ];
        args.extend(chart::helm_args(
            env,
            &self.repository,
            PLACEHOLDER_DIGEST,
            chart::PLACEHOLDER_VERSION,
        )?);
        Ok(chart::helm(root, args))
    }

    fn validate_step(&self, files: &[String]) -> Step {
        Step::new("kubernetes-validate", &["--strict", "--quiet", "-k"])
            .tool("kubernetes-validate")
            .args([self.def.kubernetes.clone()])
            .args(files.iter().cloned())
    }

    fn checkov_step(&self, files: &[String]) -> Step {
        let mut step = Step::new(
            "checkov",
            &["--framework", "kubernetes", "--skip-download", "-o", "json"],
        )
        .tool("checkov")
        .quiet_stdout();
        for f in files {
            step = step.args(["-f".to_owned(), f.clone()]);
        }
        if !self.def.skip.is_empty() {
            let skip: Vec<&str> = self.def.skip.keys().map(String::as_str).collect();
            step = step.args(["--skip-check".to_owned(), skip.join(",")]);
        }
        step
    }

    fn lint(&self, ctx: &RunCtx, env: &Environment) -> Result<Option<String>> {
        let out = ctx.exec(&self.lint_step(&ctx.root, env)?)?;
        Ok((!out.success()).then(|| {
            let first = out
                .combined()
                .lines()
                .find(|l| l.contains("[ERROR]") || l.contains("Error"))
                .unwrap_or("see the log")
                .trim()
                .to_owned();
            format!(
                "helm lint for {} failed ({}): {first}",
                env.name,
                code(&out)
            )
        }))
    }

    fn validate(&self, ctx: &RunCtx, files: &[PathBuf]) -> Result<Option<String>> {
        let out = ctx.exec(&self.validate_step(&paths(files)))?;
        Ok((!out.success()).then(|| {
            let text = out.combined();
            let errors: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("ERROR"))
                .map(str::trim)
                .collect();
            format!(
                "kubernetes-validate --strict ({}) failed: {}",
                self.def.kubernetes,
                if errors.is_empty() {
                    "see the log".to_owned()
                } else {
                    errors.join("; ")
                }
            )
        }))
    }

    fn checkov(&self, ctx: &RunCtx, files: &[PathBuf]) -> Result<Checkov> {
        let out = ctx.exec(&self.checkov_step(&paths(files)))?;
        // checkov exits 1 when a check failed; its JSON says which.
        if !matches!(out.code, Some(0 | 1)) {
            anyhow::bail!("checkov failed ({}): {}", code(&out), out.stderr.trim());
        }
        serde_json::from_str(&out.stdout).context("checkov printed no JSON report (see the log)")
    }
}

fn paths(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect()
}

/// The part of checkov's JSON report the gate reads.
#[derive(Debug, Deserialize)]
struct Checkov {
    results: CheckovResults,
}

#[derive(Debug, Deserialize)]
struct CheckovResults {
    #[serde(default)]
    passed_checks: Vec<Check>,
    #[serde(default)]
    failed_checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
struct Check {
    check_id: String,
    check_name: String,
    /// `Kind.namespace.name`.
    resource: String,
    file_abs_path: String,
    file_line_range: Vec<u32>,
}

impl Check {
    /// The service's long-running pods: every required rule applies to them (probes, say,
    /// do not apply to the migration Job, whose other checks must still not fail).
    fn is_service(&self) -> bool {
        ["Deployment.", "StatefulSet."]
            .iter()
            .any(|k| self.resource.starts_with(k))
    }
}

/// Every required check that did not pass on some Deployment of some file (`file: resource:
/// id`), and every rendered file in which checkov evaluated no Deployment at all — a file it
/// could not read must not pass by having nothing to check.
fn missing_required(
    root: &Path,
    files: &[PathBuf],
    report: &CheckovResults,
    require: &[String],
) -> Vec<String> {
    let workloads: BTreeSet<(&str, &str)> = report
        .passed_checks
        .iter()
        .chain(&report.failed_checks)
        .filter(|c| c.is_service())
        .map(|c| (c.file_abs_path.as_str(), c.resource.as_str()))
        .collect();
    let passed: BTreeSet<(&str, &str, &str)> = report
        .passed_checks
        .iter()
        .map(|c| {
            (
                c.file_abs_path.as_str(),
                c.resource.as_str(),
                c.check_id.as_str(),
            )
        })
        .collect();
    let mut missing: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy())
        .filter(|f| !workloads.iter().any(|(file, _)| file == f))
        .map(|f| {
            format!(
                "{}: checkov evaluated no Deployment",
                super::relative(root, &f)
            )
        })
        .collect();
    for (file, resource) in &workloads {
        for id in require {
            if !passed.contains(&(file, resource, id.as_str())) {
                missing.push(format!("{}: {resource}: {id}", super::relative(root, file)));
            }
        }
    }
    missing
}

fn diagnostics(root: &Path, failed: &[Check]) -> Vec<Diagnostic> {
    failed
        .iter()
        .map(|c| Diagnostic {
            file: super::relative(root, &c.file_abs_path),
            line: c.file_line_range.first().copied().unwrap_or(0),
            level: "error".to_owned(),
            message: format!("{} {}: {}", c.check_id, c.resource, c.check_name),
        })
        .collect()
}

impl Gate for Chart {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        let envs = match chart::environments(&self.root, &self.def) {
            Ok(envs) => envs,
            Err(e) => return vec![Step::in_process(&format!("nothing: {e:#}"))],
        };
        let mut steps = Vec::new();
        let mut files = Vec::new();
        for env in &envs {
            let shown = self.lint_step(&self.root, env).and_then(|lint| {
                let template = chart::template_step(
                    &self.root,
                    &self.def,
                    env,
                    &self.repository,
                    PLACEHOLDER_DIGEST,
                )?;
                Ok([lint, template])
            });
            match shown {
                Ok(pair) => steps.extend(pair),
                Err(e) => steps.push(Step::in_process(&format!(
                    "nothing for {}: {e:#}",
                    env.name
                ))),
            }
            files.push(format!("{}/chart/{}.yaml", super::RUN_GATES_DIR, env.name));
        }
        steps.push(self.validate_step(&files));
        steps.push(self.checkov_step(&files));
        steps
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let envs = chart::environments(&ctx.root, &self.def)?;
        if envs.is_empty() {
            return Ok(Verdict::failed(format!(
                "no environment under deploy/environments deploys {}: nothing was rendered",
                self.def.dir
            )));
        }
        let out_dir = ctx.log_path.with_extension("");
        std::fs::create_dir_all(&out_dir)?;
        let mut files = Vec::new();
        for env in &envs {
            if let Some(problem) = self.lint(ctx, env)? {
                return Ok(Verdict::failed(problem));
            }
            let text =
                match chart::render(ctx, &self.def, env, &self.repository, PLACEHOLDER_DIGEST) {
                    Ok(text) => text,
                    Err(e) => return Ok(Verdict::failed(format!("{e:#}"))),
                };
            let file = out_dir.join(format!("{}.yaml", env.name));
            std::fs::write(&file, text)?;
            files.push(file);
        }
        if let Some(problem) = self.validate(ctx, &files)? {
            return Ok(Verdict::failed(problem));
        }
        let report = self.checkov(ctx, &files)?.results;
        if !report.failed_checks.is_empty() {
            let n = report.failed_checks.len();
            return Ok(Verdict {
                diagnostics: diagnostics(&ctx.root, &report.failed_checks),
                ..Verdict::failed(format!(
                    "checkov: {n} check(s) failed on the rendered chart, first: {} {} ({})",
                    report.failed_checks[0].check_id,
                    report.failed_checks[0].resource,
                    report.failed_checks[0].check_name
                ))
            });
        }
        let missing = missing_required(&ctx.root, &files, &report, &self.def.require);
        if !missing.is_empty() {
            return Ok(Verdict::failed(format!(
                "checkov did not pass the chart's required rules ([chart] require) on every Deployment: {}",
                missing.join(", ")
            )));
        }
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        Ok(Verdict::passed(Some(format!(
            "{} environment(s) rendered ({}); valid for Kubernetes {} (strict); checkov {} passed, 0 failed, {} required rule(s) on every Deployment",
            envs.len(),
            names.join(", "),
            self.def.kubernetes,
            report.passed_checks.len(),
            self.def.require.len()
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, resource: &str) -> Check {
        Check {
            check_id: id.into(),
            check_name: format!("{id} name"),
            resource: resource.into(),
            file_abs_path: "/r/staging.yaml".into(),
            file_line_range: vec![3, 9],
        }
    }

    #[test]
    fn a_required_rule_must_pass_on_every_deployment_of_every_file() {
        let report = CheckovResults {
            passed_checks: vec![
                check("CKV_K8S_8", "Deployment.app.app"),
                check("CKV_K8S_22", "Job.app.app-migrate"),
                check("CKV_K8S_22", "Deployment.app.other"),
            ],
            failed_checks: Vec::new(),
        };
        let require = ["CKV_K8S_8".to_owned(), "CKV_K8S_22".to_owned()];
        assert_eq!(
            missing_required(
                Path::new("/r"),
                &[
                    PathBuf::from("/r/staging.yaml"),
                    PathBuf::from("/r/production.yaml")
                ],
                &report,
                &require
            ),
            [
                "production.yaml: checkov evaluated no Deployment",
                "staging.yaml: Deployment.app.app: CKV_K8S_22",
                "staging.yaml: Deployment.app.other: CKV_K8S_8"
            ]
        );
    }
}
