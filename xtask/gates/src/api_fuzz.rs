//! `api-fuzz`: the service's release build on an ephemeral PostgreSQL, fuzzed by schemathesis
//! against its own OpenAPI document, one run per identity (member, admin, …) with that caller's
//! token. Every schemathesis check runs (a 5xx, a response-schema violation, an undocumented
//! status, a schema-valid request refused, an invalid one or one missing a required header
//! accepted, …); a check that cannot hold for one operation is switched off for that operation
//! only, by an `[[api-fuzz.exceptions]]` entry whose reason the summary shows.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::fuzz_report::{FuzzReport, seed_of};
use super::running::{self, Vars};
use crate::config::{ApiFuzzDef, Identity, ReleaseDef, ServiceDef};
use crate::engine::gate::{CARGO_TARGET, Gate, GateSpec, Inputs, RunCtx, Step, Verdict, code};

pub struct ApiFuzz {
    spec: GateSpec,
    service: ServiceDef,
    fuzz: ApiFuzzDef,
    release: Option<ReleaseDef>,
    root: std::path::PathBuf,
}

/// The environment variable that carries an identity's token into schemathesis's config.
const TOKEN_VAR: &str = "GATEHOUSE_FUZZ_TOKEN";

impl ApiFuzz {
    /// `compiled`: files the binary embeds besides its sources (e.g. migrations).
    pub fn new(
        root: &Path,
        service: &ServiceDef,
        fuzz: &ApiFuzzDef,
        release: Option<&ReleaseDef>,
        compiled: &[String],
    ) -> ApiFuzz {
        let globs = super::build_inputs(compiled);
        let spec = GateSpec {
            name: "api-fuzz".to_owned(),
            description: "schemathesis against the release build's OpenAPI document: every check, exceptions declared per operation".to_owned(),
            version: 2,
            deps: Vec::new(),
            inputs: Inputs {
                globs,
                tools: [
                    vec!["schemathesis".to_owned(), "postgresql".to_owned()],
                    running::build_tools(release),
                ]
                .concat(),
                env: vec!["RUSTFLAGS".to_owned()],
                facts: Vec::new(),
                files: Vec::new(),
                rust: true,
                git: Vec::new(),
            },
            resources: vec![CARGO_TARGET.to_owned()],
            timeout: Duration::from_secs(2400),
        };
        ApiFuzz {
            spec,
            service: service.clone(),
            fuzz: fuzz.clone(),
            release: release.cloned(),
            root: root.to_path_buf(),
        }
    }

    /// schemathesis as `identity`; its token (when it logs in) through the environment.
    fn fuzz_step(&self, url: &str, identity: &Identity, dir: &Path, token: Option<&str>) -> Step {
        let config = dir.join(format!("{}.toml", identity.name));
        let reports = dir.join(&identity.name);
        // Every check runs: schemathesis enables all by default, and a `--checks` option would
        // override the exceptions' per-operation settings in the config file.
        // In the run directory: schemathesis and hypothesis leave their caches where they run.
        let mut step = Step::new("schemathesis", &["--no-color", "--config-file"])
            .tool("schemathesis")
            .in_dir(dir)
            .args([
                config.display().to_string(),
                "run".to_owned(),
                url.to_owned(),
                "--include-path-regex".to_owned(),
                identity.paths.clone(),
                "--max-examples".to_owned(),
                self.fuzz.examples.to_string(),
                "--report".to_owned(),
                "json,junit".to_owned(),
                "--report-dir".to_owned(),
                reports.display().to_string(),
            ]);
        if let Some(seed) = &self.fuzz.seed {
            step = step.args(["--seed".to_owned(), seed.clone()]);
        }
        if let Some(token) = token {
            step = step.secret_env(TOKEN_VAR, token);
        }
        step
    }
}

/// The counts of one or more runs, for the summary.
#[derive(Debug, Default)]
struct Totals {
    operations: u64,
    cases: u64,
    failures: u64,
    seconds: f64,
}

impl Gate for ApiFuzz {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        let url = format!("<service>{}", self.service.openapi.as_deref().unwrap_or(""));
        let dir = format!("{}/api-fuzz", super::RUN_GATES_DIR);
        let build = running::Build::new(&self.root, self.release.as_ref());
        let binary = build.binary(Path::new("."), &self.service.bin);
        let mut steps = vec![build.step(&self.service.package, &self.service.bin)];
        steps.extend(running::shown_service_steps(
            &self.service,
            &binary.display().to_string(),
            build.migrations(),
            &BTreeMap::new(),
        ));
        steps.push(Step::in_process(
            "an ephemeral PostgreSQL for the service; each identity's token from its requests",
        ));
        steps.extend(self.fuzz.identities.iter().map(|id| {
            let token = id.token.as_ref().map(|_| "<token>");
            self.fuzz_step(&url, id, Path::new(&dir), token)
        }));
        steps
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let build = running::Build::new(&ctx.root, self.release.as_ref());
        let binary = match build.run(ctx, &self.service.package, &self.service.bin) {
            Ok(binary) => binary,
            Err(e) => return Ok(Verdict::failed(format!("{e:#}"))),
        };
        let judged = crate::engine::cache::sha256_file(&binary);
        let dir = ctx.log_path.with_extension("");
        std::fs::create_dir_all(&dir)?;
        let migrations = build.migrations();
        let run = running::Running::start(
            ctx,
            &self.service,
            &binary,
            migrations,
            &BTreeMap::new(),
            &dir,
        )
        .context("api-fuzz")?;
        let (base, vars) = (run.base.clone(), &run.vars);
        let client = crate::http::Trust::configured().blocking(Duration::from_secs(30))?;
        let url = format!("{base}{}", self.service.openapi.as_deref().unwrap_or(""));
        let mut totals = Totals::default();
        let mut problems = Vec::new();
        for identity in &self.fuzz.identities {
            let token = token(&client, &base, identity, vars)?;
            let (report, seed) = self.fuzz_as(ctx, &url, identity, token.as_deref(), &dir)?;
            totals.operations += report.operations.tested;
            totals.cases += report.test_cases.generated;
            totals.failures += report.test_cases.unique_failures;
            totals.seconds += report.running_time;
            ctx.log(&format!(
                "[{}] {} of {} operations, {} test cases, {} unique failures; repeat with [api-fuzz] seed = \"{seed}\"",
                identity.name,
                report.operations.tested,
                report.operations.selected,
                report.test_cases.generated,
                report.test_cases.unique_failures,
            ));
            problems.extend(
                report
                    .problems()
                    .into_iter()
                    .map(|p| format!("as {}: {p}", identity.name)),
            );
        }
        for e in &self.fuzz.exceptions {
            ctx.log(&format!(
                "exception: `{}` is off for {}: {}",
                e.check, e.operation, e.reason
            ));
        }
        let summary = format!(
            "{} operations, {} test cases (≤{} per operation and phase), {} failures, {:.1}s fuzzing, every check{}; reports in {}",
            totals.operations,
            totals.cases,
            self.fuzz.examples,
            totals.failures,
            totals.seconds,
            excepted(&self.fuzz.exceptions),
            super::relative(&ctx.root, &dir.display().to_string())
        );
        if problems.is_empty() {
            return Ok(Verdict::passed(Some(summary)).judged(judged));
        }
        Ok(Verdict::failed(problems.join("; "))
            .with_summary(summary)
            .judged(judged))
    }
}

impl ApiFuzz {
    fn fuzz_as(
        &self,
        ctx: &RunCtx,
        url: &str,
        identity: &Identity,
        token: Option<&str>,
        dir: &Path,
    ) -> Result<(FuzzReport, String)> {
        // The token reaches schemathesis through the environment, never the command line or log.
        let mut config = match token {
            Some(_) => format!("headers = {{ Authorization = \"Bearer ${{{TOKEN_VAR}}}\" }}\n"),
            None => String::new(),
        };
        config.push_str(&exceptions_toml(&self.fuzz.exceptions));
        std::fs::write(dir.join(format!("{}.toml", identity.name)), config)?;
        let step = self.fuzz_step(url, identity, dir, token);
        let out = ctx.exec(&step)?;
        let reports = dir.join(&identity.name);
        let report = FuzzReport::read(&reports).with_context(|| {
            format!(
                "schemathesis as {} wrote no report ({}): {}",
                identity.name,
                code(&out),
                out.stderr.trim()
            )
        })?;
        Ok((report, seed_of(&out.stdout)))
    }
}

/// The exceptions, for the summary: ` but 2 (positive_data_acceptance on PATCH /x: why; …)`.
fn excepted(exceptions: &[crate::config::FuzzException]) -> String {
    if exceptions.is_empty() {
        return String::new();
    }
    let each: Vec<String> = exceptions
        .iter()
        .map(|e| format!("{} on {}: {}", e.check, e.operation, e.reason))
        .collect();
    format!(" but {} ({})", exceptions.len(), each.join("; "))
}

/// schemathesis's configuration switching each exception's check off for its operation only.
fn exceptions_toml(exceptions: &[crate::config::FuzzException]) -> String {
    exceptions
        .iter()
        .map(|e| {
            format!(
                "\n[[operations]]\ninclude-name = {}\nchecks.{}.enabled = false\n",
                toml_string(&e.operation),
                e.check
            )
        })
        .collect()
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Performs the identity's requests; the last response's `token` pointer is its bearer token.
fn token(
    client: &reqwest::blocking::Client,
    base: &str,
    identity: &Identity,
    vars: &Vars,
) -> Result<Option<String>> {
    let mut last = serde_json::Value::Null;
    for req in &identity.requests {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).with_context(|| {
            format!(
                "api-fuzz.identities ({}): method `{}`",
                identity.name, req.method
            )
        })?;
        let response = client
            .request(method, format!("{base}{}", req.path))
            .json(&vars.fill_json(&req.body))
            .send()
            .with_context(|| format!("{} {} as {}", req.method, req.path, identity.name))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if !status.is_success() {
            bail!(
                "api-fuzz.identities ({}): {} {} answered {status}: {text}",
                identity.name,
                req.method,
                req.path
            );
        }
        last = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    }
    let Some(pointer) = &identity.token else {
        return Ok(None);
    };
    last.pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .map(|t| Some(t.to_owned()))
        .with_context(|| {
            format!(
                "api-fuzz.identities ({}).token: no string at `{pointer}` in the last response",
                identity.name
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_in_strings_and_json() {
        let vars = Vars(BTreeMap::from([("password", "pw".to_owned())]));
        assert_eq!(vars.fill("a {password} b {other}"), "a pw b {other}");
        let body = serde_json::json!({"p": "{password}", "n": [1, "{password}"]});
        assert_eq!(
            vars.fill_json(&body),
            serde_json::json!({"p": "pw", "n": [1, "pw"]})
        );
    }
}
