//! `cargo xtask ci`, `gate`, `list` and `plan`: pipelines and gates through the engine.

use super::*;

pub fn ci(
    settings: &Settings,
    ws: &Workspace,
    group: Option<&str>,
    cancel: &Cancel,
) -> Result<Exit> {
    let Some(group) = group else {
        return pipeline(settings, ws, "ci", cancel);
    };
    let p = ws.config.pipeline("ci")?;
    let g = p.group("ci", group)?;
    // Labelled `ci/<group>`: a part is never taken for the whole pipeline (release evidence).
    let request = Request {
        label: format!("ci/{group}"),
        gates: g.gates.clone(),
        optional: p.optional.clone(),
    };
    run(settings, ws, &request, cancel)
}

/// `cargo xtask workflow fanout PIPELINE`: the generated workflow on stdout.
pub fn workflow_fanout(ws: &Workspace, name: &str) -> Result<Exit> {
    print!("{}", crate::fanout::workflow(&ws.config, name)?);
    Ok(Exit::Ok)
}

/// `cargo xtask report merge`: one verdict from a fanned-out pipeline's group reports.
pub fn report_merge(
    settings: &Settings,
    ws: &Workspace,
    name: &str,
    junit: Option<&std::path::Path>,
    paths: &[std::path::PathBuf],
) -> Result<Exit> {
    use crate::engine::merge;
    let p = ws.config.pipeline(name)?;
    let reports = merge::find_reports(paths)?
        .iter()
        .map(|path| merge::read(path))
        .collect::<Result<Vec<_>>>()?;
    let run_id = format!("{}-merged", runner::run_id(std::time::SystemTime::now()));
    let report = merge::merge(name, p, &reports, run_id)?;
    let dir = crate::layout::Layout::of(&settings.root)
        .runs()
        .join(&report.run_id);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    report.write(&dir)?;
    runner::link_latest(&settings.root, &report.run_id);
    if let Some(path) = junit {
        std::fs::write(path, report.junit())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    runner::publish(settings, &report)?;
    Ok(runner::exit_code(&report))
}

pub fn pipeline(settings: &Settings, ws: &Workspace, name: &str, cancel: &Cancel) -> Result<Exit> {
    let p = ws.config.pipeline(name)?;
    let request = Request {
        label: name.to_owned(),
        gates: p.gates.clone(),
        optional: p.optional.clone(),
    };
    run(settings, ws, &request, cancel)
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
    run(settings, ws, &request, cancel)
}

/// Runs `request` with the workspace's caches: the store, and the compile cache when the
/// shared store is a bucket this run reached.
fn run(settings: &Settings, ws: &Workspace, request: &Request, cancel: &Cancel) -> Result<Exit> {
    let store = ws.store(settings)?;
    let caches = runner::Caches {
        store: &store,
        compile: ws.compile_target(&store),
    };
    runner::run(
        settings,
        &ws.registry,
        ws.toolbox.clone(),
        &caches,
        request,
        cancel,
    )
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

/// `cargo xtask explain GATE`.
pub fn explain(settings: &Settings, ws: &Workspace, name: &str) -> Result<Exit> {
    let gate = ws.registry.get(name)?;
    let why = runner::explain(
        &settings.root,
        gate.as_ref(),
        &ws.toolbox,
        &ws.store(settings)?,
    )?;
    emit(settings, &why, |w| {
        let mut out = format!("{} (key {})\n", w.gate, &w.key[..12]);
        match (&w.hit, &w.last_pass) {
            (Some(hit), _) => {
                let _ = writeln!(
                    out,
                    "  cached: passed at {} in run {}; `cargo xtask gate {}` reuses it",
                    hit.passed_at, hit.run_id, w.gate
                );
            }
            (None, None) => {
                let _ = writeln!(out, "  will run: it never passed on this machine");
            }
            (None, Some(last)) if w.changes.is_empty() => {
                let _ = writeln!(
                    out,
                    "  will run: its last pass ({} in run {}) was stored before inputs were recorded",
                    last.passed_at, last.run_id
                );
            }
            (None, Some(last)) => {
                let _ = writeln!(
                    out,
                    "  will run: since its last pass ({} in run {}):",
                    last.passed_at, last.run_id
                );
                for change in &w.changes {
                    let _ = writeln!(out, "    {change}");
                }
            }
        }
        out
    })?;
    Ok(Exit::Ok)
}
