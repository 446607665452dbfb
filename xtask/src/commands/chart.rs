//! `cargo xtask chart schema|render`.

use super::*;

/// `cargo xtask chart schema`: the chart's `values.schema.json` on stdout.
pub fn chart_schema(settings: &Settings, ws: &Workspace, cancel: &Cancel) -> Result<Exit> {
    let def = chart_config(ws, "chart schema")?;
    let ctx = ws.command_ctx(
        settings,
        crate::layout::Layout::of(&settings.root).log("chart/schema.log"),
        cancel,
        std::time::Duration::from_secs(1800),
    )?;
    let source = format!("[chart] variables (`{}`)", def.variables.join(" "));
    let out = ctx.exec_all(&crate::engine::gate::Step::configured_output(
        &def.variables,
    ))?;
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
        crate::layout::Layout::of(&settings.root).log("chart/render.log"),
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
