//! The built-in gates, one module each, and gates declared in `gatehouse.toml`.

mod advisories;
#[cfg(feature = "service")]
mod api_fuzz;
#[cfg(feature = "service")]
mod chart;
mod clippy;
mod codegen;
mod custom;
mod doc;
#[cfg(feature = "service")]
mod drill;
mod fmt;
#[cfg_attr(
    not(feature = "service"),
    expect(
        dead_code,
        reason = "the api-fuzz gate, its one reader, is a `service` gate"
    )
)]
mod fuzz_report;
mod migrations;
#[cfg(feature = "service")]
mod release;
mod secrets;
#[cfg(feature = "service")]
mod slo;
mod slo_rules;
mod test;
mod under_tool;
mod workflows;
mod yaml;

#[cfg(feature = "service")]
pub use gatehouse_harness::running;

#[cfg(feature = "service")]
use gatehouse_deploy as deploy;
#[cfg(feature = "service")]
use gatehouse_engine::http;
use gatehouse_engine::{config, engine, process};
#[cfg(feature = "service")]
use gatehouse_harness::load;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::engine::gate::{CARGO_TARGET, Gate, GateSpec, Inputs};

pub use custom::Custom;

/// Files compiled into the binaries besides the sources: `sqlx::migrate!` embeds the
/// migrations. Every gate that builds the workspace has them as inputs.
fn compiled_inputs(config: &Config) -> Vec<String> {
    config
        .migrations
        .iter()
        .map(|m| format!("{}/**", m.dir))
        .collect()
}

/// Where a gate's own files go in a run, as `plan` shows it (the run's id is known only when it
/// starts): `target/xtask/runs/<id>/gates`.
pub const RUN_GATES_DIR: &str = "<run dir>/gates";

/// Every built-in gate, in no particular order (the registry sorts).
pub fn builtin(config: &Config) -> Vec<Arc<dyn Gate>> {
    let compiled = compiled_inputs(config);
    vec![
        Arc::new(fmt::Fmt::new()),
        Arc::new(clippy::Clippy::new(&compiled)),
        Arc::new(doc::Doc::new(&compiled)),
        Arc::new(test::Test::new(&config.test)),
        Arc::new(advisories::Deny::new()),
        Arc::new(advisories::Advisories::new()),
        Arc::new(secrets::Secrets::new()),
        Arc::new(workflows::Workflows::new(config.platform.as_ref())),
        Arc::new(yaml::Yaml::new()),
    ]
}

/// Built-in gates plus the workspace's own. Without the `service` feature, the gates that
/// build, release, run or deploy the service are left out (see [`SERVICE_GATES`]).
pub fn all(config: &Config, root: &Path) -> Vec<Arc<dyn Gate>> {
    let mut gates = builtin(config);
    if let Some(def) = &config.migrations {
        gates.push(Arc::new(migrations::Migrations::new(def)));
    }
    let compiled = compiled_inputs(config);
    let nightly = config.nightly().unwrap_or("nightly");
    for (kind, def) in [
        (under_tool::Kind::Race, &config.race),
        (under_tool::Kind::Loom, &config.loom),
        (under_tool::Kind::Miri, &config.miri),
    ] {
        if let Some(def) = def {
            gates.push(Arc::new(under_tool::UnderTool::new(
                kind, def, nightly, root, &compiled,
            )));
        }
    }
    if let Some(slo) = &config.slo {
        gates.push(Arc::new(slo_rules::SloRules::new(slo)));
    }
    #[cfg(feature = "service")]
    gates.extend(service_gates(config, root, &compiled));
    if !config.codegen.is_empty() {
        gates.push(Arc::new(codegen::CodegenVerify::new(&config.codegen)));
    }
    for (name, def) in &config.gates {
        gates.push(Arc::new(Custom::new(name, def)));
    }
    gates
}

/// The gates only the `service` feature builds.
pub const SERVICE_GATES: &[&str] = &["api-fuzz", "chart", "drill", "release", "slo"];

/// The gates that build, release, run or deploy the service.
#[cfg(feature = "service")]
fn service_gates(config: &Config, root: &Path, compiled: &[String]) -> Vec<Arc<dyn Gate>> {
    let mut gates: Vec<Arc<dyn Gate>> = Vec::new();
    if let (Some(service), Some(fuzz)) = (&config.service, &config.api_fuzz) {
        gates.push(Arc::new(api_fuzz::ApiFuzz::new(
            root,
            service,
            fuzz,
            config.release.as_ref(),
            compiled,
        )));
    }
    if let (Some(service), Some(release)) = (&config.service, &config.release) {
        gates.push(Arc::new(release::Release::new(
            root, service, release, compiled,
        )));
    }
    if let (Some(slo), Some(service), Some(load)) = (&config.slo, &config.service, &config.load) {
        gates.push(Arc::new(slo::Slo::new(
            root,
            service,
            load,
            slo,
            config.release.as_ref(),
            compiled,
        )));
        if let Some(release) = &config.release {
            gates.push(Arc::new(drill::Drill::new(
                root, service, load, slo, release, compiled,
            )));
        }
    }
    if let Some(def) = &config.chart {
        gates.push(Arc::new(chart::Chart::new(
            root,
            def,
            config.image_repository(),
        )));
    }
    gates
}

/// Inputs of a gate that builds and runs the workspace: the Rust inputs, the files compiled
/// in (`compiled_inputs`) and `gatehouse.toml`.
fn build_inputs(compiled: &[String]) -> Vec<String> {
    RUST_INPUTS
        .iter()
        .map(|g| (*g).to_owned())
        .chain(compiled.iter().cloned())
        .chain(std::iter::once("gatehouse.toml".to_owned()))
        .collect()
}

/// Files that decide the result of anything cargo builds.
const RUST_INPUTS: &[&str] = &[
    "**/*.rs",
    "**/Cargo.toml",
    "Cargo.lock",
    "rust-toolchain.toml",
    ".cargo/config.toml",
    "clippy.toml",
    "!**/tests/fixtures/**",
];

/// Declaration shorthand shared by the built-in gates.
struct Decl<'a> {
    name: &'a str,
    description: &'a str,
    deps: &'a [&'a str],
    globs: &'a [&'a str],
    tools: &'a [&'a str],
    env: &'a [&'a str],
    cargo: bool,
    /// Runs cargo or rustc (see [`Inputs::rust`]).
    rust: bool,
    timeout_secs: u64,
}

impl Decl<'_> {
    fn spec(&self, version: u32) -> GateSpec {
        let owned = |xs: &[&str]| xs.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        GateSpec {
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            version,
            deps: owned(self.deps),
            inputs: Inputs {
                globs: owned(self.globs),
                tools: owned(self.tools),
                env: owned(self.env),
                facts: Vec::new(),
                files: Vec::new(),
                rust: self.rust,
                git: Vec::new(),
            },
            resources: if self.cargo {
                vec![CARGO_TARGET.to_owned()]
            } else {
                Vec::new()
            },
            timeout: Duration::from_secs(self.timeout_secs),
        }
    }
}

pub use crate::engine::cargo_target_dir;

/// Turns an absolute path a tool printed into one relative to the workspace root.
fn relative(root: &Path, file: &str) -> String {
    let p = Path::new(file);
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}
