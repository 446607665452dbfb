//! `cargo xtask promote <env>` and `cargo xtask drill rollback`.

use super::*;

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
    emit(settings, &report, |r| format!("{}\n", promote_text(r)))?;
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
    let dir = crate::layout::Layout::of(&settings.root).drill();
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
    emit(settings, &report, |r| {
        format!("{}\n", crate::deploy::drill::markdown(r))
    })?;
    Ok(report.verdict.exit())
}
