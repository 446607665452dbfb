//! The service as a running process, for the gates that need one (`api-fuzz`, `slo`) and
//! `cargo xtask load`: `[service]`'s release build, an ephemeral PostgreSQL, `[[service.setup]]`
//! steps, then the binary in the background until `[service] ready` answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::config::{ReleaseDef, ServiceDef};
use crate::engine::gate::{RunCtx, Step, code};

/// How the gates that run the service build it and its load test: as the release ships them
/// (`[release]`: its static target, flags and build metadata, so that the binary judged is the
/// binary shipped and one build serves tests, gates and the release), else a host release build.
#[derive(Clone, Debug, Default)]
pub struct Build {
    target: Option<String>,
    env: Vec<(String, String)>,
    tools: Vec<String>,
    /// The migrations the release ships (`[release] migrations`), absolute.
    migrations: Option<PathBuf>,
    /// The dev profile with the workspace's features: the binaries the tests' build made.
    dev: bool,
}

/// The tools a [`Build`] for `release` needs (rustup's target, e.g. musl-tools).
pub fn build_tools(release: Option<&ReleaseDef>) -> Vec<String> {
    release.map_or_else(Vec::new, |r| {
        [vec!["release-target".to_owned()], r.tools.clone()].concat()
    })
}

impl Build {
    /// The build of `release` at the workspace's HEAD (build metadata from its plan; outside git,
    /// `unknown`).
    pub fn new(root: &Path, release: Option<&ReleaseDef>) -> Build {
        let Some(release) = release else {
            return Build::default();
        };
        let plan =
            crate::release::plan_or_snapshot(root).unwrap_or_else(|_| crate::release::Plan {
                commit: "unknown".to_owned(),
                version: "0.0.0".to_owned(),
                ..crate::release::Plan::default()
            });
        Build::with_plan(root, release, &plan)
    }

    fn with_plan(root: &Path, release: &ReleaseDef, plan: &crate::release::Plan) -> Build {
        let mut env = crate::release::reproducible_env(root, plan.source_date_epoch);
        env.extend(crate::release::build_env(release, plan));
        Build {
            target: Some(release.target.clone()),
            env,
            tools: release.tools.clone(),
            migrations: release.migrations.as_ref().map(|d| root.join(d)),
            dev: false,
        }
    }

    /// The workspace's dev build (`cargo build --workspace --all-features --bin …`, what the
    /// tests' build already compiled): quick to get, but not the binary the release ships, so
    /// its numbers say nothing about the release's. `release`'s migrations still apply.
    pub fn dev(root: &Path, release: Option<&ReleaseDef>) -> Build {
        Build {
            migrations: release
                .and_then(|r| r.migrations.as_ref())
                .map(|d| root.join(d)),
            dev: true,
            ..Build::default()
        }
    }

    /// Whether this is the dev build ([`Build::dev`]).
    pub fn is_dev(&self) -> bool {
        self.dev
    }

    /// The migrations the release ships, which a started service gets through `[service]
    /// migrate` (absolute).
    pub fn migrations(&self) -> Option<&Path> {
        self.migrations.as_deref()
    }

    /// `cargo build --release` of `package`'s `bin` (for the dev build, the workspace's build of
    /// `bin`, as [`Step::configured`] builds a `{bin:…}`).
    pub fn step(&self, package: &str, bin: &str) -> Step {
        if self.dev {
            return Step::new(
                "cargo",
                &[
                    "build",
                    "--workspace",
                    "--all-features",
                    "--locked",
                    "--bin",
                ],
            )
            .args([bin.to_owned()]);
        }
        let mut step = Step::new("cargo", &["build", "--release", "--locked", "--package"]).args([
            package.to_owned(),
            "--bin".to_owned(),
            bin.to_owned(),
        ]);
        if let Some(target) = &self.target {
            step = step
                .args(["--target".to_owned(), target.clone()])
                .tool("release-target");
        }
        for (key, value) in &self.env {
            step = step.env(key, value);
        }
        step
    }

    /// Where the build puts `bin`.
    pub fn binary(&self, root: &Path, bin: &str) -> PathBuf {
        let dir = crate::engine::cargo_target_dir(root);
        if self.dev {
            return dir.join("debug").join(bin);
        }
        match &self.target {
            Some(target) => dir.join(target).join("release").join(bin),
            None => dir.join("release").join(bin),
        }
    }

    /// Builds `package`'s `bin` (the tools the static build needs first, e.g. musl-gcc; rustup's
    /// target comes with the step); its path.
    pub fn run(&self, ctx: &RunCtx, package: &str, bin: &str) -> Result<PathBuf> {
        for tool in &self.tools {
            ctx.tool_binary(tool)?;
        }
        let step = self.step(package, bin);
        let out = ctx.exec(&step)?;
        if !out.success() {
            bail!("`{step}` failed ({}); see the log", code(&out));
        }
        Ok(self.binary(&ctx.root, bin))
    }
}

/// Values the configuration's `{name}` placeholders stand for.
#[derive(Debug, Default)]
pub struct Vars(pub BTreeMap<&'static str, String>);

impl Vars {
    /// The wiring placeholders ([`crate::config::WIRING`]) for a service on loopback.
    pub fn wiring(database_url: String, port: u16, ops_port: u16) -> Vars {
        Vars(BTreeMap::from([
            ("database_url", database_url),
            ("listen", format!("127.0.0.1:{port}")),
            ("port", port.to_string()),
            ("ops_listen", format!("127.0.0.1:{ops_port}")),
            ("ops_port", ops_port.to_string()),
        ]))
    }

    #[must_use]
    pub fn with(mut self, name: &'static str, value: String) -> Vars {
        self.0.insert(name, value);
        self
    }

    pub fn fill(&self, text: &str) -> String {
        self.0.iter().fold(text.to_owned(), |acc, (name, value)| {
            acc.replace(&format!("{{{name}}}"), value)
        })
    }

    pub fn fill_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.fill(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.fill_json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.fill_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// A password for the run's accounts: random, so none is committed.
fn random_password() -> Result<String> {
    let mut bytes = [0u8; 18];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(format!("Fz-{}", crate::engine::cache::hex(&bytes)))
}

/// `binary args…` with `[service.env]` and `extra` filled in; values made from `{password}`
/// print as `[redacted]`.
pub fn binary_step(
    service: &ServiceDef,
    binary: &str,
    args: &[String],
    extra: &BTreeMap<String, String>,
    vars: &Vars,
) -> Step {
    let mut step = Step::argv(&[vec![binary.to_owned()], args.to_vec()].concat());
    for (k, v) in service.env.iter().chain(extra) {
        step = if v.contains("{password}") {
            step.secret_env(k, &vars.fill(v))
        } else {
            step.env(k, &vars.fill(v))
        };
    }
    step
}

/// What starting the service runs: `[service] migrate` with the migrations (when both are set)
/// and each `[[service.setup]]` step, in order, then the command that serves (started in the
/// background). `plan` shows them with `vars`' placeholders unfilled.
pub fn service_steps(
    service: &ServiceDef,
    binary: &str,
    migrations: Option<&Path>,
    extra: &BTreeMap<String, String>,
    vars: &Vars,
) -> (Vec<Step>, Step) {
    let mut before = Vec::new();
    if let (Some(migrate), Some(dir)) = (&service.migrate, migrations) {
        let args = [migrate.clone(), vec![dir.display().to_string()]].concat();
        before.push(binary_step(service, binary, &args, extra, vars));
    }
    for setup in &service.setup {
        before.push(binary_step(service, binary, &setup.args, &setup.env, vars));
    }
    let serve = binary_step(service, binary, &service.args, extra, vars);
    (before, serve)
}

/// The commands [`Running::start`] runs and starts, for `plan` (wiring values are placeholders).
pub fn shown_service_steps(
    service: &ServiceDef,
    binary: &str,
    migrations: Option<&Path>,
    extra: &BTreeMap<String, String>,
) -> Vec<Step> {
    let (mut steps, serve) = service_steps(service, binary, migrations, extra, &Vars::default());
    steps.push(serve);
    steps
}

/// Starts `serve` in the background and waits until `[service] ready` answers 2xx.
fn start_serve(
    def: &ServiceDef,
    ctx: &RunCtx,
    serve: &Step,
    base: &str,
    dir: &Path,
) -> Result<launcher::Service> {
    let sh = xshell::Shell::new()?;
    let (program, args) = (&serve.program, &serve.args);
    let mut cmd = xshell::cmd!(sh, "{program} {args...}");
    for (k, v) in &serve.env {
        cmd = cmd.env(k, v);
    }
    let log = dir.join("service.log");
    ctx.started(serve);
    ctx.log(&format!("$ {serve} &  (log: {})", log.display()));
    let mut service = launcher::Service::start(&def.bin, cmd, &log)?;
    let ready = format!("{base}{}", def.ready);
    let probe = crate::http::Trust::configured().blocking(Duration::from_secs(2))?;
    service
        .wait_ready(Duration::from_secs(60), || {
            probe
                .get(&ready)
                .send()
                .is_ok_and(|r| r.status().is_success())
        })
        .with_context(|| format!("service.ready: {ready} never answered 2xx"))?;
    Ok(service)
}

/// Every smoke path of the contract exists on the started service (it answers neither 404 nor
/// 405), or a configuration error names the key and the path.
fn served(def: &ServiceDef, base: &str) -> Result<()> {
    let key = if def.smoke.is_some() {
        "smoke"
    } else {
        "health/ready/openapi"
    };
    answers(
        def.smoke_paths()
            .into_iter()
            .map(|p| (key, format!("{base}{p}"))),
    )
}

/// `[service] metrics` exists on `metrics` (`host:port`), or a configuration error names it.
pub fn metrics_served(def: &ServiceDef, metrics: &str) -> Result<()> {
    answers(std::iter::once((
        "metrics",
        format!("http://{metrics}{}", def.metrics),
    )))
}

fn answers(urls: impl Iterator<Item = (&'static str, String)>) -> Result<()> {
    let trust = crate::http::Trust::configured();
    let client = trust.blocking(Duration::from_secs(10))?;
    for (key, url) in urls {
        let status = client
            .get(&url)
            .send()
            .map_err(|e| trust.explain(&url, &e))?
            .status();
        // Only "no such path" is the contract's fault: a 5xx may be a fault the run injects on
        // purpose, and the SLO judgement is what counts those.
        if matches!(status.as_u16(), 404 | 405) {
            return Err(crate::exit::Failure::Config(format!(
                "{}: [service] {key}: GET {url} answered {status}; the service does not serve that path: fix the path in [service] (or what the service serves)",
                crate::config::FILE
            ))
            .into());
        }
    }
    Ok(())
}

/// The running service and what it runs on; everything stops on drop.
#[derive(Debug)]
pub struct Running {
    pub base: String,
    /// `host:port` Prometheus scrapes: the ops listener, or the main one without.
    pub metrics: String,
    pub vars: Vars,
    pub service: launcher::Service,
    _pg: launcher::Postgres,
}

impl Running {
    /// Starts PostgreSQL, applies `migrations` with `[service] migrate` (when both are set), runs
    /// the setup steps and starts the built binary with `extra` env on top of `[service.env]`;
    /// the service's log goes to `dir/service.log`.
    pub fn start(
        ctx: &RunCtx,
        service: &ServiceDef,
        binary: &Path,
        migrations: Option<&Path>,
        extra: &BTreeMap<String, String>,
        dir: &Path,
    ) -> Result<Running> {
        ctx.toolbox
            .ensure("postgresql", &ctx.cancel, &|l| ctx.log(l))?;
        let pg = launcher::Postgres::ephemeral().context("cannot start an ephemeral PostgreSQL")?;
        pg.create_database("service")?;
        let (port, ops_port) = (launcher::free_port()?, launcher::free_port()?);
        let base = format!("http://127.0.0.1:{port}");
        let vars = Vars::wiring(pg.url("service"), port, ops_port)
            .with("base_url", base.clone())
            .with("password", random_password()?);
        let metrics = if service.has_ops_listener() {
            format!("127.0.0.1:{ops_port}")
        } else {
            format!("127.0.0.1:{port}")
        };
        let binary = binary.display().to_string();
        let (before, serve) = service_steps(service, &binary, migrations, extra, &vars);
        for step in before {
            let out = ctx.exec(&step)?;
            if !out.success() {
                bail!(
                    "[service] migrate or setup step `{}` failed ({}): {}",
                    step.args.join(" "),
                    code(&out),
                    out.stderr.trim()
                );
            }
        }
        let running = start_serve(service, ctx, &serve, &base, dir)?;
        served(service, &base)?;
        let service = running;
        Ok(Running {
            base,
            metrics,
            vars,
            service,
            _pg: pg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> ReleaseDef {
        let text = "[project]\nname = \"p\"\n[release]\nsource = \"s\"\nimage = \"i\"\ntools = [\"musl-tools\"]\nbuild_env = { SVC_COMMIT = \"{commit}\" }\n";
        crate::config::Config::parse(text, Path::new("gatehouse.toml"))
            .unwrap()
            .release
            .unwrap()
    }

    /// The service the gates run is built exactly as the release builds it: same target, same
    /// flags, same build metadata (so the artifacts are shared and the binary is the shipped one).
    #[test]
    fn the_gates_build_the_service_as_the_release_does() {
        let release = release();
        let plan = crate::release::Plan {
            commit: "abc".to_owned(),
            source_date_epoch: 7,
            ..crate::release::Plan::default()
        };
        let root = Path::new("/ws");
        let service: ServiceDef =
            toml::from_str("package = \"api\"\nbin = \"api-server\"\nready = \"/r\"\n").unwrap();
        let ours = Build::with_plan(root, &release, &plan).step("api", "api-server");
        let shipped = crate::release::build_step(root, &service, &release, &plan);
        assert_eq!(ours.env, shipped.env);
        let target = |s: &Step| {
            let at = s.args.iter().position(|a| a == "--target").unwrap();
            s.args[at + 1].clone()
        };
        assert_eq!(target(&ours), target(&shipped));
        assert!(
            ours.env
                .contains(&("SVC_COMMIT".to_owned(), "abc".to_owned()))
        );
        assert_eq!(
            Build::with_plan(root, &release, &plan).binary(root, "perf"),
            crate::engine::cargo_target_dir(root).join("x86_64-unknown-linux-musl/release/perf")
        );
        assert!(
            Build::default()
                .step("api", "api-server")
                .args
                .iter()
                .all(|a| a != "--target")
        );
    }
}
