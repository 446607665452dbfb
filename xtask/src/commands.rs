//! One function per subcommand; each turns settings into work and returns an exit code.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::config::Config;
use crate::engine::dag::Registry;
use crate::engine::runner::{self, Request};
use crate::exit::{Exit, Failure};
use crate::process::Cancel;
use crate::settings::{Format, Settings};
use crate::tools::Toolbox;

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
        ws.check_pipelines()?;
        Ok(ws)
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

pub fn ci(settings: &Settings, ws: &Workspace, cancel: &Cancel) -> Result<Exit> {
    pipeline(settings, ws, "ci", cancel)
}

pub fn pipeline(settings: &Settings, ws: &Workspace, name: &str, cancel: &Cancel) -> Result<Exit> {
    let p = ws.config.pipeline(name)?;
    let request = Request {
        label: name.to_owned(),
        gates: p.gates.clone(),
        optional: p.optional.clone(),
    };
    runner::run(settings, &ws.registry, ws.toolbox.clone(), &request, cancel)
}

pub fn gate(
    settings: &Settings,
    ws: &Workspace,
    names: &[String],
    cancel: &Cancel,
) -> Result<Exit> {
    ws.check_tools(names)?;
    let request = Request {
        label: "gate".to_owned(),
        gates: names.to_vec(),
        optional: Vec::new(),
    };
    runner::run(settings, &ws.registry, ws.toolbox.clone(), &request, cancel)
}

pub fn list(settings: &Settings, ws: &Workspace) -> Result<Exit> {
    let specs: Vec<_> = ws.registry.all().map(|g| g.spec().clone()).collect();
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&specs)?);
        return Ok(Exit::Ok);
    }
    let width = specs.iter().map(|s| s.name.len()).max().unwrap_or(4);
    let mut out = String::new();
    for s in &specs {
        let deps = if s.deps.is_empty() {
            String::new()
        } else {
            format!(" (after: {})", s.deps.join(", "))
        };
        let _ = writeln!(out, "{:width$}  {}{deps}", s.name, s.description);
    }
    print!("{out}");
    Ok(Exit::Ok)
}

pub fn plan(settings: &Settings, ws: &Workspace, name: &str) -> Result<Exit> {
    let p = ws.config.pipeline(name)?;
    let order = ws.registry.order(&p.gates)?;
    if settings.format == Format::Json {
        let gates: Vec<_> = order
            .iter()
            .map(|g| {
                let steps: Vec<String> = g.steps().iter().map(ToString::to_string).collect();
                serde_json::json!({ "gate": g.spec(), "commands": steps, "optional": p.optional.contains(&g.spec().name) })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "pipeline": name, "gates": gates }))?
        );
        return Ok(Exit::Ok);
    }
    let mut out = format!(
        "pipeline `{name}`: {} gates, dependencies first; nothing is run\n",
        order.len()
    );
    for g in &order {
        let s = g.spec();
        let deps = if s.deps.is_empty() {
            "none".to_owned()
        } else {
            s.deps.join(", ")
        };
        let optional = if p.optional.contains(&s.name) {
            ", optional"
        } else {
            ""
        };
        let holds = if s.resources.is_empty() {
            String::new()
        } else {
            format!(", holds {}", s.resources.join(", "))
        };
        let _ = writeln!(
            out,
            "\n{} — {}\n  after: {deps}{holds}{optional}, timeout {}s",
            s.name,
            s.description,
            s.timeout.as_secs()
        );
        for step in g.steps() {
            let _ = writeln!(out, "  $ {step}");
        }
    }
    print!("{out}");
    Ok(Exit::Ok)
}

pub fn tools_list(settings: &Settings, ws: &Workspace) -> Result<Exit> {
    if settings.format == Format::Json {
        let tools: Vec<_> = ws.config.tools.iter().map(|(n, d)| serde_json::json!({"name": n, "source": d.source, "version": d.version, "package": d.package})).collect();
        println!("{}", serde_json::to_string_pretty(&tools)?);
        return Ok(Exit::Ok);
    }
    let mut out = format!("tool cache: {}\n", ws.toolbox.dir.display());
    for (name, def) in &ws.config.tools {
        let pkg = def.package.as_deref().unwrap_or(name);
        let _ = writeln!(
            out,
            "{name:18} {:18} {:16} {pkg}",
            format!("{:?}", def.source),
            def.version
        );
    }
    print!("{out}");
    Ok(Exit::Ok)
}

pub fn tools_install(ws: &Workspace, names: &[String], cancel: &Cancel) -> Result<Exit> {
    let names: Vec<String> = if names.is_empty() {
        ws.config.tools.keys().cloned().collect()
    } else {
        names.to_vec()
    };
    for name in &names {
        let dirs = ws.toolbox.ensure(name, cancel, &|_| {})?;
        let place = dirs
            .first()
            .map_or_else(|| "rustup".to_owned(), |d| d.display().to_string());
        eprintln!("[gatehouse] {name}: ok ({place})");
    }
    Ok(Exit::Ok)
}

/// `cargo xtask tools path NAME`: provisions the tool and prints its executable's path.
pub fn tools_path(
    settings: &Settings,
    ws: &Workspace,
    name: &str,
    cancel: &Cancel,
) -> Result<Exit> {
    let log = settings.root.join("target/xtask/tools-path.log");
    let ctx = ws.command_ctx(settings, log, cancel, std::time::Duration::from_secs(1800))?;
    println!("{}", ctx.tool_binary(name)?.display());
    Ok(Exit::Ok)
}

pub fn doctor(settings: &Settings, ws: &Workspace) -> Result<Exit> {
    let health = ws.toolbox.health();
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&health)?);
    } else {
        let wanted = health
            .iter()
            .map(|h| h.wanted.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let mut out = format!(
            "{:18} {:16} {:wanted$} {:20} {}\n",
            "tool", "source", "wanted", "found", "status"
        );
        for h in &health {
            let found = h.found.clone().unwrap_or_else(|| "-".into());
            let found: String = found.chars().take(20).collect();
            let _ = writeln!(
                out,
                "{:18} {:16} {:wanted$} {:20} {}",
                h.name,
                format!("{:?}", h.source),
                h.wanted,
                found,
                h.status
            );
        }
        let _ = writeln!(
            out,
            "\ntool cache: {} · install what is missing: cargo xtask tools install",
            ws.toolbox.dir.display()
        );
        let os = crate::platform::OsRelease::read();
        let platform = crate::platform::doctor_line(ws.config.platform.as_ref(), os.as_ref());
        let _ = writeln!(out, "{platform}");
        print!("{out}");
    }
    Ok(if health.iter().all(|h| h.status == "ok") {
        Exit::Ok
    } else {
        Exit::MissingTool
    })
}

/// `cargo xtask init`: in `--root` (else the current directory), which need not hold a
/// gatehouse.toml yet.
pub fn init(
    global: &crate::cli::Global,
    env: &crate::settings::Environment,
    opts: &crate::init::Options,
) -> Result<Exit> {
    let root = match &global.root {
        Some(root) => std::path::absolute(root)
            .map_err(|e| Failure::Usage(format!("--root {}: {e}", root.display())))?,
        None => std::env::current_dir()?,
    };
    let settings = Settings::new(global, root, env);
    let report = crate::init::run(&settings.root, opts)?;
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", crate::init::human(&report));
    }
    Ok(Exit::Ok)
}

pub fn completions(shell: clap_complete::Shell) -> Exit {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "cargo-xtask", &mut std::io::stdout());
    Exit::Ok
}

/// `cargo xtask codegen [--check]`: run every generator; write what changed (or, with
/// `--check`, print the diffs and fail).
pub fn codegen(settings: &Settings, ws: &Workspace, check: bool, cancel: &Cancel) -> Result<Exit> {
    if ws.config.codegen.is_empty() {
        return Err(Failure::Config(format!(
            "{FILE} lists no generated file: add a [codegen.<name>] table with `path` and `run`",
            FILE = crate::config::FILE
        ))
        .into());
    }
    let log = settings.root.join("target/xtask/codegen.log");
    let ctx = ws.command_ctx(settings, log, cancel, crate::codegen::TIMEOUT)?;
    let mut stale = 0;
    for (name, file) in &ws.config.codegen {
        let (committed, generated) = match crate::codegen::Check::of(&ctx, name, file)? {
            crate::codegen::Check::Fresh => {
                println!("unchanged  {}", file.path);
                continue;
            }
            crate::codegen::Check::Broken(why) => {
                eprintln!("error: {why}");
                return Ok(Exit::GateFailed);
            }
            crate::codegen::Check::Stale {
                committed,
                generated,
            } => (committed, generated),
        };
        stale += 1;
        if check {
            print!(
                "{}",
                crate::codegen::diff(&file.path, &committed, &generated)
            );
            println!("stale      {} (codegen.{name})", file.path);
            continue;
        }
        let path = settings.root.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, generated)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        println!("updated    {}", file.path);
    }
    Ok(if check && stale > 0 {
        eprintln!("{stale} generated file(s) are stale: run `cargo xtask codegen` and commit");
        Exit::GateFailed
    } else {
        Exit::Ok
    })
}

/// `cargo xtask release plan`: the next version and its notes; nothing changes.
pub fn release_plan(settings: &Settings) -> Result<Exit> {
    let plan = crate::release::plan(&settings.root)?;
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(Exit::Ok);
    }
    let since = plan.previous.as_deref().unwrap_or("the first commit");
    println!(
        "next release: {} (commit {}, {} commits since {since}, {} conventional)\n",
        plan.tag,
        &plan.commit[..plan.commit.len().min(12)],
        plan.commits,
        plan.conventional
    );
    print!("{}", plan.changelog);
    Ok(Exit::Ok)
}

/// `cargo xtask release image`: the planned release's binary and image, as an OCI layout.
pub fn release_image(settings: &Settings, ws: &Workspace, cancel: &Cancel) -> Result<Exit> {
    let (service, release) = release_config(ws, "release image")?;
    let plan = crate::release::plan(&settings.root)?;
    let log = crate::release::dir(&settings.root, &plan.tag).join("image.log");
    let ctx = ws.command_ctx(settings, log, cancel, std::time::Duration::from_secs(3600))?;
    eprintln!(
        "[gatehouse] release {}: building {} for {} …",
        plan.tag, service.bin, release.target
    );
    let built = crate::release::image(&ctx, service, release, &plan).with_context(|| {
        format!(
            "release image failed; the log is {}",
            ctx.log_path.display()
        )
    })?;
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&built)?);
    } else {
        println!(
            "{} {}\n  binary  {} (sha256 {})\n  layout  {}",
            built.image, built.digest, built.binary, built.binary_sha256, built.layout
        );
    }
    Ok(Exit::Ok)
}

/// `[service]` and `[release]`, or a configuration error naming what `what` needs.
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

/// `cargo xtask release [--dry-run]`: build once, publish one digest with its evidence.
pub fn release(
    settings: &Settings,
    ws: &Workspace,
    args: &crate::cli::ReleaseArgs,
    cancel: &Cancel,
) -> Result<Exit> {
    let (service, release) = release_config(ws, "release")?;
    let plan = if args.dry_run {
        crate::release::plan_or_snapshot(&settings.root)?
    } else {
        crate::release::plan(&settings.root)?
    };
    let mode = if args.dry_run { " (dry run)" } else { "" };
    let log = crate::release::dir(&settings.root, &plan.tag).join("release.log");
    let ctx = ws.command_ctx(settings, log, cancel, std::time::Duration::from_secs(3600))?;
    let tag = plan.tag.clone();
    let say = |line: &str| {
        eprintln!("[gatehouse] release {tag}{mode}: {line}");
    };
    let opts = crate::release::publish::Options {
        dry_run: args.dry_run,
        key: args.key.clone(),
        registry_url: args.registry_url.clone(),
        retry: crate::release::registry::Retry {
            attempts: args.retries.max(1),
            ..Default::default()
        },
        key_password: None,
        trust: crate::http::Trust::configured(),
    };
    let evidence = crate::release::publish::run(&ctx, service, release, &plan, &opts, &say)
        .with_context(|| {
            format!(
                "release {} failed; the log is {}",
                plan.tag,
                ctx.log_path.display()
            )
        })?;
    let dir = crate::release::dir(&settings.root, &plan.tag);
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&evidence)?);
    } else {
        println!(
            "{}{mode}\n  image        {}\n  signature    {}\n  attestation  {} (CycloneDX SBOM)\n  evidence     {}",
            plan.tag,
            evidence.image.reference,
            evidence.signature.reference,
            evidence.attestation.reference,
            dir.join("evidence.json").display()
        );
        if let Some(gh) = &evidence.github {
            println!("  github       {}", gh.url);
        }
    }
    Ok(Exit::Ok)
}

/// `cargo xtask release keygen`.
pub fn release_keygen(dir: &std::path::Path) -> Result<Exit> {
    let password = std::env::var(crate::release::sign::PASSWORD_ENV).map_err(|_| {
        Failure::Config(format!(
            "set {} to the password that will encrypt the new key",
            crate::release::sign::PASSWORD_ENV
        ))
    })?;
    let (key, public) = crate::release::sign::keygen(dir, password.as_bytes())?;
    println!(
        "private key {} (encrypted; keep it secret, e.g. as the CI secret COSIGN_PRIVATE_KEY)\npublic key  {}",
        key.display(),
        public.display()
    );
    Ok(Exit::Ok)
}

/// `cargo xtask release verify REF --key PUB`.
pub fn release_verify(reference: &str, key: &std::path::Path, plain_http: bool) -> Result<Exit> {
    let bad = || {
        Failure::Config(format!(
            "`{reference}` is not host/repository@sha256:<hex> (e.g. 127.0.0.1:5000/gatehouse/app@sha256:…)"
        ))
    };
    let (name, digest) = reference.split_once('@').ok_or_else(bad)?;
    let (host, repo) = name.split_once('/').ok_or_else(bad)?;
    if !digest.starts_with("sha256:") {
        return Err(bad().into());
    }
    let registry = crate::release::registry::Registry::new(
        &crate::release::registry::base_url(host, plain_http),
        crate::release::registry::Auth::from_env(),
        crate::release::registry::Retry::default(),
        &crate::http::Trust::configured(),
    )?;
    let pem = std::fs::read(key).with_context(|| format!("cannot read --key {}", key.display()))?;
    let verifier = crate::release::sign::Verifier::from_pem(&pem, &key.display().to_string())?;
    let signed = crate::release::sign::verify_signature(&registry, repo, digest, &verifier)?;
    let sbom = crate::release::sign::verify_attestation(&registry, repo, digest, &verifier)?;
    let components = sbom["components"].as_array().map_or(0, Vec::len);
    println!(
        "verified: {name}@{digest} is signed (as {signed}) and has a signed CycloneDX SBOM attestation ({components} components)"
    );
    Ok(Exit::Ok)
}

/// `[slo]`, or a configuration error naming what needs it.
pub fn slo_config<'a>(ws: &'a Workspace, what: &str) -> Result<&'a crate::config::SloDef> {
    ws.config.slo.as_ref().ok_or_else(|| {
        Failure::Config(format!(
            "{}: `{what}` needs [slo] (dir, rules, rule_tests)",
            crate::config::FILE
        ))
        .into()
    })
}

/// `cargo xtask slo render rules|tests|dashboard SERVICE`: a generated file on stdout.
pub fn slo_render(
    settings: &Settings,
    ws: &Workspace,
    what: crate::cli::SloRender,
    service: Option<&str>,
) -> Result<Exit> {
    use crate::cli::SloRender;
    let def = slo_config(ws, "slo render")?;
    let specs = crate::slo::load_dir(&settings.root.join(&def.dir))?;
    let text = match what {
        SloRender::Rules => crate::slo::rules::rules_yaml(&specs, &def.metrics)?,
        SloRender::Tests => {
            let tests = std::path::Path::new(&def.rule_tests);
            let rules = std::path::Path::new(&def.rules);
            let relative = match (tests.parent(), rules.parent()) {
                (Some(a), Some(b)) if a == b => {
                    rules.file_name().map(|n| n.to_string_lossy().into_owned())
                }
                _ => None,
            }
            .ok_or_else(|| {
                Failure::Config("[slo] rules and rule_tests must be in one directory".to_owned())
            })?;
            crate::slo::rules::tests_yaml(&specs, &def.metrics, &relative)?
        }
        SloRender::Dashboard => {
            let name = service.ok_or_else(|| {
                Failure::Config("`slo render dashboard` needs the SERVICE".to_owned())
            })?;
            let spec = specs.iter().find(|s| s.service == name).ok_or_else(|| {
                Failure::Config(format!("no SLO spec for service `{name}` in {}", def.dir))
            })?;
            crate::slo::dashboard::dashboard(spec, &def.metrics)?
        }
    };
    print!("{text}");
    Ok(Exit::Ok)
}

/// `cargo xtask load PROFILE`.
pub fn load(settings: &Settings, ws: &Workspace, profile: &str, cancel: &Cancel) -> Result<Exit> {
    let profile = crate::load::profile(profile)?;
    let crate::deploy::promote::Service {
        service, load, slo, ..
    } = service_config(ws, "load")?;
    let dir = settings.root.join("target/xtask/load").join(profile.name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let ctx = ws.command_ctx(
        settings,
        dir.join("load.log"),
        cancel,
        std::time::Duration::from_secs(7200),
    )?;
    eprintln!(
        "[gatehouse] load {}: {} users for {} against the release build ({})",
        profile.name, profile.users, profile.run_time, profile.purpose
    );
    let outcome = crate::load::run(&ctx, service, load, slo, profile, &dir.join("reports"))
        .with_context(|| {
            format!(
                "load {} failed; the log is {}",
                profile.name,
                ctx.log_path.display()
            )
        })?;
    if let (Some(summary), Ok(md)) = (
        &settings.step_summary,
        std::fs::read_to_string(dir.join("reports/report.md")),
    ) {
        let section = format!("## Load test: {} profile\n\n{md}\n", profile.name);
        runner::append(summary, &section).with_context(|| {
            format!(
                "cannot append to $GITHUB_STEP_SUMMARY ({})",
                summary.display()
            )
        })?;
    }
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        println!("{}", crate::load::summary(&outcome));
        for t in &outcome.thresholds {
            println!("  threshold  {t}");
        }
        for p in &outcome.problems {
            println!("  FAILED     {p}");
        }
    }
    if outcome.problems.is_empty() {
        Ok(Exit::Ok)
    } else {
        Err(Failure::Threshold(format!(
            "load {}: {}",
            profile.name,
            outcome.problems.join("; ")
        ))
        .into())
    }
}

/// The service, its load test and its SLOs: what `load`, `promote` and `drill` judge with.
fn service_config<'a>(
    ws: &'a Workspace,
    what: &str,
) -> Result<crate::deploy::promote::Service<'a>> {
    let (Some(service), Some(load)) = (&ws.config.service, &ws.config.load) else {
        return Err(Failure::Config(format!(
            "{}: `{what}` needs [service] and [load] (package, bin of the load test)",
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
    })
}

/// `[chart]`, or a configuration error naming what needs it.
fn chart_config<'a>(ws: &'a Workspace, what: &str) -> Result<&'a crate::config::ChartDef> {
    ws.config.chart.as_ref().ok_or_else(|| {
        Failure::Config(format!(
            "{}: `{what}` needs [chart] (dir, variables, kubernetes, require)",
            crate::config::FILE
        ))
        .into()
    })
}

/// `cargo xtask chart schema`: the chart's `values.schema.json` on stdout.
pub fn chart_schema(settings: &Settings, ws: &Workspace, cancel: &Cancel) -> Result<Exit> {
    let def = chart_config(ws, "chart schema")?;
    let ctx = ws.command_ctx(
        settings,
        settings.root.join("target/xtask/chart/schema.log"),
        cancel,
        std::time::Duration::from_secs(1800),
    )?;
    let source = format!("[chart] variables (`{}`)", def.variables.join(" "));
    let out = ctx.exec(&crate::engine::gate::Step::argv(&def.variables).quiet_stdout())?;
    if !out.success() {
        return Err(Failure::Config(format!(
            "{source} failed ({}): {}",
            crate::engine::gate::code(&out),
            out.stderr.trim()
        ))
        .into());
    }
    let variables = crate::deploy::chart::variables(&out.stdout, &source)?;
    let schema = crate::deploy::chart::values_schema(&variables, &def.owned);
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(Exit::Ok)
}

/// `cargo xtask chart render ENV [--digest D]`: the manifests on stdout.
pub fn chart_render(
    settings: &Settings,
    ws: &Workspace,
    env: &str,
    digest: Option<&str>,
    cancel: &Cancel,
) -> Result<Exit> {
    let def = chart_config(ws, "chart render")?;
    let environment = crate::deploy::env::Environment::load(&settings.root, env)?;
    let ctx = ws.command_ctx(
        settings,
        settings.root.join("target/xtask/chart/render.log"),
        cancel,
        std::time::Duration::from_secs(600),
    )?;
    let digest = digest.unwrap_or(crate::deploy::chart::PLACEHOLDER_DIGEST);
    let repository = ws.config.image_repository();
    print!(
        "{}",
        crate::deploy::chart::render(&ctx, def, &environment, repository, digest)?
    );
    Ok(Exit::Ok)
}

/// `cargo xtask promote <env>`.
pub fn promote(
    settings: &Settings,
    ws: &Workspace,
    args: &crate::cli::PromoteArgs,
    cancel: &Cancel,
) -> Result<Exit> {
    let svc = service_config(ws, "promote")?;
    let dir = crate::deploy::local::state_dir(&settings.root, &args.env);
    let ctx = ws.command_ctx(
        settings,
        dir.join("promote.log"),
        cancel,
        std::time::Duration::from_secs(3600),
    )?;
    let env = args.env.clone();
    let say = |line: &str| eprintln!("[gatehouse] promote {env}: {line}");
    let opts = crate::deploy::promote::Options {
        env: args.env.clone(),
        version: args.version.clone(),
        digest: args.digest.clone(),
        evidence: args.evidence.clone(),
        registry_url: args.registry_url.clone(),
        key: args.key.clone(),
        approve: args.approve,
        dry_run: args.dry_run,
        state: None,
        trust: crate::http::Trust::configured(),
    };
    let report = crate::deploy::promote::run(&ctx, &svc, &opts, &say).with_context(|| {
        format!(
            "promotion to {} stopped; the log is {}",
            args.env,
            ctx.log_path.display()
        )
    })?;
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", promote_text(&report));
    }
    Ok(report.verdict.exit())
}

fn promote_text(r: &crate::deploy::promote::Report) -> String {
    let mut out = format!(
        "{} {} → {}: {}\n  digest      {}\n",
        if r.dry_run { "plan:" } else { "promotion" },
        r.version,
        r.environment,
        r.verdict,
        r.digest
    );
    for c in &r.verification {
        out.push_str(&format!("  verified    {}: {}\n", c.check, c.detail));
    }
    let kinds: Vec<String> = r
        .migrations
        .iter()
        .map(|m| format!("{} ({})", m.file, m.kind.name()))
        .collect();
    out.push_str(&format!(
        "  migrations  {}\n  pending     {:?}\n",
        kinds.join(", "),
        r.pending
    ));
    for step in &r.plan {
        out.push_str(&format!("  run         {step}\n"));
    }
    if let Some(j) = &r.judgement {
        out.push_str(&format!(
            "  judgement   {} in {} ms {}\n",
            if j.passed { "healthy" } else { "failing" },
            j.elapsed_ms,
            j.problems.join("; ")
        ));
    }
    if let Some(b) = &r.rollback {
        out.push_str(&format!(
            "  rollback    to {} ({}): {}\n",
            b.to_version, b.to_digest, b.detail
        ));
    }
    if !r.report.is_empty() {
        out.push_str(&format!("  report      {}\n", r.report));
    }
    if !r.github.is_empty() {
        out.push_str(&format!("  github      {}\n", r.github));
    }
    out
}

/// `cargo xtask drill rollback [--env local] [--fault errors|latency]`.
pub fn drill(
    settings: &Settings,
    ws: &Workspace,
    env: &str,
    fault: crate::cli::FaultArg,
    cancel: &Cancel,
) -> Result<Exit> {
    let svc = service_config(ws, "drill")?;
    let (_, release) = release_config(ws, "drill")?;
    let dir = settings.root.join("target/xtask/drill");
    let ctx = ws.command_ctx(
        settings,
        dir.join("drill.log"),
        cancel,
        std::time::Duration::from_secs(3600),
    )?;
    let say = |line: &str| eprintln!("[gatehouse] drill rollback: {line}");
    let opts = crate::deploy::drill::Options {
        env: env.to_owned(),
        fault: match fault {
            crate::cli::FaultArg::Errors => crate::deploy::drill::Fault::Errors,
            crate::cli::FaultArg::Latency => crate::deploy::drill::Fault::Latency,
        },
    };
    let report = crate::deploy::drill::run(&ctx, &svc, release, &opts, &say)
        .with_context(|| format!("the drill stopped; the log is {}", ctx.log_path.display()))?;
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", crate::deploy::drill::markdown(&report));
    }
    Ok(report.verdict.exit())
}

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

/// `cargo xtask env status <env>`: what the state records; starts nothing.
pub fn env_status(settings: &Settings, env: &str) -> Result<Exit> {
    let environment = crate::deploy::env::Environment::load(&settings.root, env)?;
    if let crate::deploy::env::Target::Kubernetes(k) = &environment.target {
        let github = crate::release::github::Target::from_env(None).ok();
        let live = crate::deploy::promote::live_release(&settings.root, github.as_ref(), env)?;
        if settings.format == Format::Json {
            println!("{}", serde_json::to_string_pretty(&live)?);
            return Ok(Exit::Ok);
        }
        let target = format!(
            "EKS {} ({}), helm release {} in {}",
            k.cluster, k.region, k.release, k.namespace
        );
        match live {
            Some(l) => println!(
                "{env}: {} ({}) at commit {} on {target}, per {}",
                l.version, l.digest, l.commit, l.source
            ),
            None if github.is_some() => {
                println!("{env}: no successful GitHub deployment yet; {target}")
            }
            None => println!(
                "{env}: no successful promotion in the local ledgers (set GITHUB_TOKEN and GITHUB_REPOSITORY to read GitHub deployments); {target}"
            ),
        }
        return Ok(Exit::Ok);
    }
    let dir = crate::deploy::local::state_dir(&settings.root, env);
    let state = crate::deploy::local::recorded(&dir);
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&state)?);
        return Ok(Exit::Ok);
    }
    let Some(state) = state else {
        println!("{env}: not running (nothing under {})", dir.display());
        return Ok(Exit::Ok);
    };
    let nginx = state
        .nginx_port
        .map_or_else(|| "none".to_owned(), |p| format!("https://127.0.0.1:{p}"));
    match &state.live {
        Some(s) => println!(
            "{env}: {} ({}) at {nginx} (process {} on port {}, metrics {})",
            s.release.version, s.release.digest, s.pid, s.port, s.ops_port
        ),
        None => println!("{env}: nothing deployed; nginx at {nginx}"),
    }
    Ok(Exit::Ok)
}

/// `cargo xtask env down <env>`: stops what the state records and removes it.
pub fn env_down(settings: &Settings, ws: &Workspace, env: &str, cancel: &Cancel) -> Result<Exit> {
    let (ctx, vars) = local_env(settings, ws, env, cancel)?;
    let dir = crate::deploy::local::state_dir(&settings.root, env);
    if crate::deploy::local::recorded(&dir).is_none() {
        println!("{env}: not running; nothing to stop");
        return Ok(Exit::Ok);
    }
    let service = ws.config.service.as_ref().ok_or_else(|| {
        Failure::Config(format!(
            "{}: `env down` needs [service] (the service the environment runs)",
            crate::config::FILE
        ))
    })?;
    crate::deploy::local::Local::open(&ctx, &dir, &vars, service)?.down()?;
    println!("{env}: stopped and removed");
    Ok(Exit::Ok)
}
