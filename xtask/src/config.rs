//! `gatehouse.toml`: the one place that tells xtask about the workspace it guards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use crate::exit::Failure;

/// File name of the configuration, at the workspace root.
pub const FILE: &str = "gatehouse.toml";

/// The parsed, validated configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub project: Project,
    #[serde(default)]
    pub pipelines: BTreeMap<String, Pipeline>,
    /// Gates defined by the workspace itself, beside the built-in ones.
    #[serde(default)]
    pub gates: BTreeMap<String, CustomGate>,
    /// The pinned manifest of every external tool.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    #[serde(default)]
    pub description: String,
    pub gates: Vec<String>,
    /// Gates whose skip does not fail the run under `CI=true`.
    #[serde(default)]
    pub optional: Vec<String>,
}

/// A gate declared in `gatehouse.toml`: one command, with the same contract as built-in gates.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomGate {
    pub description: String,
    /// The command as an argument vector; no shell is involved unless you name one.
    pub run: Vec<String>,
    #[serde(default)]
    pub deps: Vec<String>,
    /// Path globs whose contents decide the cache key (`!glob` excludes).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Environment variables whose values decide the cache key.
    #[serde(default)]
    pub env: Vec<String>,
    /// Tools from `[tools]` this gate needs.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Resources held exclusively while the gate runs (e.g. `cargo-target`).
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Bump to invalidate cached passes.
    #[serde(default)]
    pub version: u32,
}

fn default_timeout() -> u64 {
    600
}

/// Where a tool comes from.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A rustup component of the pinned toolchain (`package` = component).
    RustupComponent,
    /// A rustup target of the pinned toolchain (`package` = target triple).
    RustupTarget,
    /// A whole rustup toolchain (`version` = channel or dated nightly).
    RustupToolchain,
    /// `cargo install --locked` into the tool cache.
    Cargo,
    /// A pip package in a venv owned by gatehouse.
    Pip,
    /// An npm package, installed into the tool cache.
    Npm,
    /// A Debian package, installed with apt (root or `CI=true` only).
    Debian,
    /// Must already be on the machine; `remedy` says how to get it.
    System,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    pub source: Source,
    pub version: String,
    /// Package, crate, component or target name; defaults to the tool's name.
    pub package: Option<String>,
    /// Executable to run; defaults to the tool's name.
    pub bin: Option<String>,
    /// Arguments that make the executable print its version.
    pub version_args: Option<Vec<String>>,
    /// Extra packages installed into the same venv (pip only).
    #[serde(default)]
    pub with: Vec<String>,
    /// What a user should do when the tool is missing (system tools).
    pub remedy: Option<String>,
}

impl Config {
    /// Reads and validates `<root>/gatehouse.toml`; every problem names the file and the key.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Failure::Config(format!(
                "cannot read {}: {e}; run from the workspace root or pass --root DIR",
                path.display()
            ))
        })?;
        Config::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            Failure::Config(format!("{}: {}", path.display(), e.to_string().trim()))
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let mut problems = Vec::new();
        for (name, gate) in &self.gates {
            if gate.run.is_empty() {
                problems.push(format!("gates.{name}.run: must name a command"));
            }
            for tool in &gate.tools {
                if !self.tools.contains_key(tool) {
                    problems.push(format!(
                        "gates.{name}.tools: unknown tool `{tool}` (add it under [tools.{tool}])"
                    ));
                }
            }
        }
        for (name, tool) in &self.tools {
            if tool.source == Source::System && tool.remedy.is_none() {
                problems.push(format!(
                    "tools.{name}.remedy: a system tool must say how to install it"
                ));
            }
        }
        for (name, pipeline) in &self.pipelines {
            for opt in &pipeline.optional {
                if !pipeline.gates.contains(opt) {
                    problems.push(format!(
                        "pipelines.{name}.optional: `{opt}` is not in pipelines.{name}.gates"
                    ));
                }
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(Failure::Config(format!("{}: {}", path.display(), problems.join("; "))).into())
    }

    pub fn pipeline(&self, name: &str) -> Result<&Pipeline> {
        self.pipelines.get(name).ok_or_else(|| {
            let known: Vec<_> = self.pipelines.keys().map(String::as_str).collect();
            Failure::Usage(format!(
                "unknown pipeline `{name}`; known pipelines: {} (defined under [pipelines] in {FILE})",
                known.join(", ")
            ))
            .into()
        })
    }
}

/// The workspace root: `--root`, else the nearest ancestor holding `gatehouse.toml`.
pub fn find_root(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(root) = explicit {
        return std::path::absolute(&root)
            .map_err(|e| Failure::Usage(format!("--root {}: {e}", root.display())).into());
    }
    let cwd = std::env::current_dir()?;
    cwd.ancestors()
        .find(|dir| dir.join(FILE).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Failure::Config(format!(
            "no {FILE} in {} or any parent; run inside a gatehouse workspace or pass --root DIR",
            cwd.display()
        ))
        .into()
        })
}
