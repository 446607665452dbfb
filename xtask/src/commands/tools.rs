//! `cargo xtask tools …` and `doctor`: the pinned tool manifest.

use super::*;

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
    let log = crate::layout::Layout::of(&settings.root).log("tools-path.log");
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
            "{:18} {:16} {:wanted$} {:40} {}\n",
            "tool", "source", "wanted", "found", "status"
        );
        for h in &health {
            let found = h.found.clone().unwrap_or_else(|| "-".into());
            let found: String = found.chars().take(40).collect();
            let _ = writeln!(
                out,
                "{:18} {:16} {:wanted$} {:40} {}",
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
