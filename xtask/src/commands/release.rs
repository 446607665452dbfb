//! `cargo xtask release …`: plan, image, the release itself, keygen and verify.

use super::*;

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
    emit(settings, &built, |b| {
        format!(
            "{} {}\n  binary  {} (sha256 {})\n  layout  {}\n",
            b.image, b.digest, b.binary, b.binary_sha256, b.layout
        )
    })?;
    Ok(Exit::Ok)
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
    emit(settings, &evidence, |e| {
        let mut out = format!(
            "{}{mode}\n  image        {}\n  signature    {}\n  attestation  {} (CycloneDX SBOM)\n  evidence     {}\n",
            plan.tag,
            e.image.reference,
            e.signature.reference,
            e.attestation.reference,
            dir.join("evidence.json").display()
        );
        if let Some(gh) = &e.github {
            let _ = writeln!(out, "  github       {}", gh.url);
        }
        out
    })?;
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
