//! The subcommands, one module each; each turns settings into work, renders its report (human
//! or `--format json`, through `emit`) and returns an exit code.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::config::Config;
use crate::engine::cache::LocalStore;
use crate::engine::dag::Registry;
use crate::engine::runner::{self, Request};
use crate::engine::shared::{self, Keys, Layered};
use crate::exit::{Exit, Failure};
use crate::process::Cancel;
use crate::settings::{Format, Settings};
use crate::tools::Toolbox;

mod cache;
#[cfg(feature = "full")]
mod chart;
mod codegen;
pub mod dev;
#[cfg(feature = "full")]
mod env;
mod init;
#[cfg(feature = "full")]
mod migrations;
mod pipeline;
#[cfg(feature = "full")]
mod promote;
#[cfg(feature = "full")]
mod release;
#[cfg(feature = "full")]
mod slo;
#[cfg(not(feature = "full"))]
pub mod thin;
mod tools;

pub use cache::{cache_keygen, cache_status};
#[cfg(feature = "full")]
pub use chart::{chart_render, chart_schema};
pub use codegen::codegen;
#[cfg(feature = "full")]
pub use env::{env_down, env_status};
pub use init::init;
#[cfg(feature = "full")]
pub use migrations::migrations_classify;
pub use pipeline::{ci, explain, gate, list, pipeline, plan, report_merge, workflow_fanout};
#[cfg(feature = "full")]
pub use promote::{drill, promote};
#[cfg(feature = "full")]
pub use release::{release, release_image, release_keygen, release_plan, release_verify};
#[cfg(feature = "full")]
pub use slo::{load, slo_render};
pub use tools::{doctor, tools_install, tools_list, tools_path};

/// The loaded workspace: configuration, gates and tools.
#[derive(Debug)]
pub struct Workspace {
    pub config: Config,
    pub registry: Registry,
    pub toolbox: Arc<Toolbox>,
}

impl Workspace {
    pub fn load(settings: &Settings) -> Result<Workspace> {
        let config = Config::load(&settings.root)?;
        let mut cas = settings.ca_files.clone();
        cas.extend(config.tls.ca.iter().map(|ca| settings.root.join(ca)));
        crate::http::Trust::configure(crate::http::Trust::load(&cas)?);
        let mut registry = Registry::default();
        for gate in crate::gates::all(&config, &settings.root) {
            registry.add(gate)?;
        }
        registry.validate()?;
        let allow_apt = settings.ci || nix::unistd::Uid::effective().is_root();
        let toolbox = Arc::new(Toolbox::new(config.tools.clone(), allow_apt));
        let ws = Workspace {
            config,
            registry,
            toolbox,
        };
        // The thin build has no service gates: the pipelines that name them are the full
        // build's to check (the thin one hands every pipeline to it).
        if cfg!(feature = "full") {
            ws.check_pipelines()?;
        }
        Ok(ws)
    }

    /// The cache a run reads and writes: the local store, in front of the shared bucket that
    /// `[cache]` or `GATEHOUSE_CACHE` names. A configuration that cannot work (no public key, a
    /// writer key of another pair) is an error; a bucket that cannot be reached now (no
    /// credentials, no network) costs a warning and the run goes on with the local store.
    pub fn store(&self, settings: &Settings) -> Result<Layered> {
        let local = LocalStore::new(crate::layout::Layout::of(&settings.root).cache());
        let from_env = std::env::var(crate::config::CACHE_ENV).ok();
        let Some(def) = self.config.cache.as_ref() else {
            if from_env
                .as_deref()
                .is_some_and(|v| !v.trim().is_empty() && v.trim() != "off")
            {
                return Err(Failure::Config(format!(
                    "{} is set but {} has no [cache] section: add [cache] public_key (from `cargo xtask cache keygen`), or unset it",
                    crate::config::CACHE_ENV,
                    crate::config::FILE
                ))
                .into());
            }
            return Ok(Layered::local(local));
        };
        let Some(url) = def.shared_url(from_env.as_deref()) else {
            return Ok(Layered::local(local));
        };
        let writer = std::env::var(shared::WRITER_KEY_ENV).ok();
        let keys =
            Keys::load(&settings.root.join(&def.public_key), writer.as_deref()).map_err(|e| {
                Failure::Config(format!(
                    "{}: [cache] public_key: {e:#}",
                    crate::config::FILE
                ))
            })?;
        shared::parse_url(&url).map_err(|e| {
            Failure::Config(format!("{}: [cache] shared: {e:#}", crate::config::FILE))
        })?;
        Ok(shared_store(local, &url, def, keys))
    }

    /// The compile cache's bucket: the shared store's, when `store` reached it, `[cache]
    /// compile` holds, `GATEHOUSE_SCCACHE` is not `off`, the manifest pins `sccache` and the
    /// user has no `RUSTC_WRAPPER` of their own.
    pub fn compile_target(&self, store: &Layered) -> Option<crate::compile_cache::Target> {
        use crate::compile_cache::{SWITCH_ENV, TOOL};
        let def = self.config.cache.as_ref().filter(|d| d.compile)?;
        let (location, _) = store.shared()?;
        let off = std::env::var(SWITCH_ENV).is_ok_and(|v| v == "off" || v == "0");
        let wrapped = std::env::var_os("RUSTC_WRAPPER").is_some_and(|v| !v.is_empty());
        if off || wrapped || !self.config.tools.contains_key(TOOL) {
            return None;
        }
        let (bucket, prefix) = shared::parse_url(&location).ok()?;
        Some(crate::compile_cache::Target {
            bucket,
            prefix,
            region: def.region.clone(),
            endpoint: def.endpoint.clone(),
        })
    }

    /// What a command outside the gate engine runs its steps with: the root, a log, the tools.
    fn command_ctx(
        &self,
        settings: &Settings,
        log: std::path::PathBuf,
        cancel: &Cancel,
        timeout: std::time::Duration,
    ) -> Result<crate::engine::gate::RunCtx> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::engine::gate::RunCtx::new(
            &settings.root,
            log,
            self.toolbox.clone(),
            cancel.clone(),
            timeout,
        )
    }

    /// Every pipeline names known gates whose tools are all in the manifest.
    fn check_pipelines(&self) -> Result<()> {
        for (name, pipeline) in &self.config.pipelines {
            for gate in &pipeline.gates {
                self.registry.get(gate).map_err(|e| {
                    Failure::Config(format!(
                        "{}: pipelines.{name}.gates: {e}",
                        crate::config::FILE
                    ))
                })?;
            }
            self.check_tools(&pipeline.gates)?;
        }
        Ok(())
    }

    /// The named gates and their dependencies only use tools from the manifest.
    pub fn check_tools(&self, gates: &[String]) -> Result<()> {
        for gate in self.registry.order(gates)? {
            for tool in &gate.spec().inputs.tools {
                if !self.config.tools.contains_key(tool) {
                    return Err(Failure::Config(format!(
                        "{}: gate `{}` needs tool `{tool}`: add [tools.{tool}] to the manifest",
                        crate::config::FILE,
                        gate.spec().name
                    ))
                    .into());
                }
            }
        }
        Ok(())
    }
}

/// The local store in front of the bucket at `url`; a bucket that cannot be opened now costs a
/// warning, not the run.
#[cfg(feature = "full")]
fn shared_store(
    local: LocalStore,
    url: &str,
    def: &crate::config::CacheDef,
    keys: Keys,
) -> Layered {
    match crate::s3::Bucket::open(url, &def.region, def.endpoint.as_deref()) {
        Ok(bucket) => Layered::with_shared(local, Box::new(bucket), keys),
        Err(e) => Layered::local(local).noting(format!(
            "warning: shared cache {url} not used: {e:#}; this run uses the local cache only"
        )),
    }
}

/// The thin build has no S3 client; it hands runs with a shared cache to the full build, so
/// this is reached only when that handoff was refused.
#[cfg(not(feature = "full"))]
fn shared_store(local: LocalStore, url: &str, _: &crate::config::CacheDef, _: Keys) -> Layered {
    Layered::local(local).noting(format!(
        "warning: shared cache {url} not used: this xtask was built without the `full` feature (no S3 client); this run uses the local cache only"
    ))
}

pub fn completions(shell: clap_complete::Shell) -> Exit {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "cargo-xtask", &mut std::io::stdout());
    Exit::Ok
}

/// `[slo]`, or a configuration error naming what needs it.
#[cfg(feature = "full")]
pub fn slo_config<'a>(ws: &'a Workspace, what: &str) -> Result<&'a crate::config::SloDef> {
    ws.config.slo.as_ref().ok_or_else(|| {
        Failure::Config(format!(
            "{}: `{what}` needs [slo] (dir, rules, rule_tests)",
            crate::config::FILE
        ))
        .into()
    })
}

/// The service, its load test and its SLOs: what `load`, `promote` and `drill` judge with.
#[cfg(feature = "full")]
fn service_config<'a>(
    ws: &'a Workspace,
    what: &str,
) -> Result<crate::deploy::promote::Service<'a>> {
    let (Some(service), Some(load)) = (&ws.config.service, &ws.config.load) else {
        return Err(Failure::Config(format!(
            "{}: `{what}` needs [service] and [load] (`package` and `bin` of a goose load test, or `paths` for gatehouse's own requests)",
            crate::config::FILE
        ))
        .into());
    };
    Ok(crate::deploy::promote::Service {
        service,
        load,
        slo: slo_config(ws, what)?,
        migrations: ws.config.migrations.as_ref().map(|m| m.dir.as_str()),
        image_migrations: crate::release::migrations_dir_in_image(
            service,
            ws.config
                .release
                .as_ref()
                .map_or(crate::config::DEFAULT_MIGRATIONS_PATH, |r| {
                    r.migrations_path.as_str()
                }),
        ),
        release: ws.config.release.as_ref(),
    })
}

/// `[chart]`, or a configuration error naming what needs it.
#[cfg(feature = "full")]
fn chart_config<'a>(ws: &'a Workspace, what: &str) -> Result<&'a crate::config::ChartDef> {
    ws.config.chart.as_ref().ok_or_else(|| {
        Failure::Config(format!(
            "{}: `{what}` needs [chart] (dir, variables, kubernetes, require)",
            crate::config::FILE
        ))
        .into()
    })
}

/// `[service]` and `[release]`, or a configuration error naming what `what` needs.
#[cfg(feature = "full")]
fn release_config<'a>(
    ws: &'a Workspace,
    what: &str,
) -> Result<(&'a crate::config::ServiceDef, &'a crate::config::ReleaseDef)> {
    match (&ws.config.service, &ws.config.release) {
        (Some(service), Some(release)) => Ok((service, release)),
        _ => Err(Failure::Config(format!(
            "{}: `{what}` needs [service] (package, bin) and [release] (source, image)",
            crate::config::FILE
        ))
        .into()),
    }
}

#[cfg(feature = "full")]
fn local_env(
    settings: &Settings,
    ws: &Workspace,
    env: &str,
    cancel: &Cancel,
) -> Result<(
    crate::engine::gate::RunCtx,
    std::collections::BTreeMap<String, String>,
)> {
    let e = crate::deploy::env::Environment::load(&settings.root, env)?;
    let crate::deploy::env::Target::Local { env: vars } = e.target else {
        return Err(Failure::Usage(format!(
            "{env} is not a local environment ({})",
            e.file.display()
        ))
        .into());
    };
    let dir = crate::deploy::local::state_dir(&settings.root, env);
    let ctx = ws.command_ctx(
        settings,
        dir.with_extension("log"),
        cancel,
        std::time::Duration::from_secs(600),
    )?;
    Ok((ctx, vars))
}

/// The one renderer: the report as JSON on stdout under `--format json`, else `human(report)`.
pub(crate) fn emit<T: serde::Serialize>(
    settings: &Settings,
    report: &T,
    human: impl FnOnce(&T) -> String,
) -> Result<()> {
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", human(report));
    }
    Ok(())
}
