//! `cargo xtask env status|down`.

use super::*;

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
