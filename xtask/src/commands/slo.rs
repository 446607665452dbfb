//! `cargo xtask slo render …` and `cargo xtask load <profile>`.

use super::*;
use crate::gates::running::Build;

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

/// `cargo xtask load PROFILE [--dev]`.
pub fn load(
    settings: &Settings,
    ws: &Workspace,
    profile: &str,
    dev: bool,
    cancel: &Cancel,
) -> Result<Exit> {
    let profile = crate::load::profile(profile)?;
    let crate::deploy::promote::Service {
        service, load, slo, ..
    } = service_config(ws, "load")?;
    let dir = crate::layout::Layout::of(&settings.root).load(profile.name);
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
    let release = ws.config.release.as_ref();
    let (build, which) = if dev {
        (Build::dev(&settings.root, release), "the dev build")
    } else {
        (Build::new(&settings.root, release), "the release build")
    };
    eprintln!(
        "[gatehouse] load {}: {} users for {} against {which} ({})",
        profile.name, profile.users, profile.run_time, profile.purpose
    );
    let outcome = crate::load::run(
        &ctx,
        service,
        load,
        slo,
        &build,
        profile,
        &dir.join("reports"),
    )
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
    emit(settings, &outcome, |o| {
        let mut out = format!("{}\n", crate::load::summary(o));
        for t in &o.thresholds {
            let _ = writeln!(out, "  threshold  {t}");
        }
        for p in &o.problems {
            let _ = writeln!(out, "  FAILED     {p}");
        }
        out
    })?;
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
