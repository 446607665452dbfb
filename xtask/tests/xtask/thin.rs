//! The thin build (`cargo xtask`'s alias builds xtask without its `full` feature): it compiles
//! no AWS SDK, kube or sigstore, runs the gates that only check the workspace itself with the
//! same cache keys as the full build, and hands every other command line, unchanged, to the full
//! build by replacing its own process.

use std::path::PathBuf;

use crate::support::{Fixture, Run, repo_root, status};

/// Crates only the full build may compile.
const HEAVY: &[&str] = &[
    "aws-config",
    "aws-sdk-ecr",
    "aws-sdk-eks",
    "aws-sdk-sts",
    "kube",
    "k8s-openapi",
    "octocrab",
    "sigstore",
    "cyclonedx-bom",
];

#[expect(
    clippy::disallowed_methods,
    reason = "the tests drive cargo as the alias does"
)]
fn cargo(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(args).current_dir(repo_root());
    for var in [
        "RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The packages `cargo tree` lists for xtask's normal dependencies with `features`.
fn packages(features: &[&str]) -> String {
    let args = [
        &[
            "tree",
            "--package",
            "xtask",
            "--edges",
            "normal",
            "--locked",
        ],
        features,
        &["--prefix", "none", "--format", "{p}"],
    ]
    .concat();
    String::from_utf8(cargo(&args).stdout).unwrap()
}

#[test]
fn the_thin_build_compiles_no_aws_sdk_kube_or_sigstore() {
    let thin = packages(&["--no-default-features"]);
    let full = packages(&[]);
    for heavy in HEAVY {
        let named = |tree: &str| tree.lines().any(|l| l.starts_with(&format!("{heavy} v")));
        assert!(named(&full), "the full build has {heavy}");
        assert!(!named(&thin), "the thin build compiles {heavy}");
    }
    let alias = std::fs::read_to_string(repo_root().join(".cargo/config.toml")).unwrap();
    assert!(
        alias.contains("run --quiet --package xtask --bin xtask-thin --no-default-features --"),
        "`cargo xtask` runs the thin build: {alias}"
    );
}

/// The thin build, as the alias builds it.
fn thin_xtask() -> PathBuf {
    let out = cargo(&[
        "build",
        "--package",
        "xtask",
        "--bin",
        "xtask-thin",
        "--no-default-features",
        "--locked",
        "--message-format=json-render-diagnostics",
    ]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "xtask-thin")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("the thin build's executable")
}

fn run(fx: &Fixture, thin: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = fx.command_of(thin, args);
    cmd.envs(env.iter().copied());
    Run::from(cmd.output().expect("run the thin xtask"))
}

/// A stand-in program at `path`: it records `$GATEHOUSE_HANDOFF $$ <its arguments>` (`$$` is its
/// pid) in `<path>.seen`, then runs `then`.
fn fake(path: &std::path::Path, then: &str) -> String {
    std::fs::write(
        path,
        format!(
            "#!/bin/sh\necho \"$GATEHOUSE_HANDOFF $$ $*\" > {}.seen\n{then}\n",
            path.display()
        ),
    )
    .unwrap();
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(path, executable).unwrap();
    path.display().to_string()
}

/// A stand-in cargo whose build names `full` as the executable of bin target `xtask`.
fn cargo_building(path: &std::path::Path, full: &std::path::Path) -> String {
    let artifact = serde_json::json!({
        "reason": "compiler-artifact",
        "target": {"name": "xtask", "kind": ["bin"]},
        "executable": full,
    });
    fake(path, &format!("echo '{artifact}'"))
}

/// The thin build run in this repository, as the alias runs it here.
#[expect(
    clippy::disallowed_methods,
    reason = "the thin build runs as the alias runs it, without a fixture's --root"
)]
fn run_in_repo(thin: &std::path::Path, args: &[&str], cargo: &str) -> Run {
    let mut cmd = std::process::Command::new(thin);
    cmd.args(args)
        .current_dir(repo_root())
        .env("CARGO", cargo)
        .env_remove("GATEHOUSE_HANDOFF");
    Run::from(cmd.output().expect("run the thin xtask"))
}

/// The stand-in cargo at `cargo` last built the full xtask from this repository with `flags`.
fn assert_built(cargo: &std::path::Path, flags: &str) {
    let manifest = repo_root().join("xtask/Cargo.toml");
    let wanted = format!(
        " build --quiet --manifest-path {}{flags} --message-format=json-render-diagnostics --bin xtask",
        manifest.display()
    );
    let seen = seen(cargo);
    assert!(seen.trim_end().ends_with(&wanted), "{seen}");
}

fn seen(path: &std::path::Path) -> String {
    std::fs::read_to_string(path.with_extension("seen")).unwrap_or_default()
}

#[test]
fn the_thin_build_runs_checks_with_the_full_builds_keys_and_hands_off_the_rest() {
    let thin = thin_xtask();
    let fx = Fixture::new("engine");
    let full = fx.path("full");
    fake(&full, "exit 7");
    let handed = fx.path("handed");
    let cargo = cargo_building(&handed, &full);

    // The thin build runs a chain of checks itself...
    let own = run(&fx, &thin, &["gate", "c"], &[("CARGO", &cargo)]);
    assert_eq!(own.code, 0, "{}", own.stderr);
    assert_eq!(status(&fx.report(), "c"), "passed");
    assert_eq!(seen(&handed), "", "nothing was handed off");
    // ...and the full build finds the same keys.
    let fully = fx.run(&["gate", "c"]);
    assert_eq!(fully.code, 0, "{}", fully.stderr);
    assert_eq!(status(&fx.report(), "c"), "cached", "{}", fully.stderr);
    // Building the thin binary left the full one in place: it runs `list` itself.
    let mut cmd = fx.command(&["list"]);
    cmd.env("CARGO", &cargo);
    let listed = Run::from(cmd.output().unwrap());
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(seen(&handed), "", "the full build handed nothing off");

    // Anything else: cargo builds the full xtask, and the full build, given the same command
    // line, replaces the thin build's process (same pid, its exit status). For a workspace that
    // runs gatehouse from another checkout, xtask is built alone.
    let list = run(
        &fx,
        &thin,
        &["--format", "json", "list"],
        &[("CARGO", &cargo)],
    );
    assert_eq!(
        list.code, 7,
        "the full build's exit status: {}",
        list.stderr
    );
    assert_built(&handed, "");
    let ran = seen(&full);
    let (pids, args) = ran.trim().split_at(ran.find(" --root ").unwrap());
    let (handoff, own_pid) = pids.split_once(' ').unwrap();
    assert_eq!(handoff, own_pid, "exec kept the pid: {ran}");
    assert_eq!(
        args.trim(),
        format!("--root {} --format json list", fx.root().display())
    );

    // In gatehouse's own workspace it is built as the test gate builds the workspace, so after
    // `gate test` it is already there (features resolved for xtask alone would rebuild the
    // dependencies whose features differ).
    let own = run_in_repo(&thin, &["list"], &cargo);
    assert_eq!(own.code, 7, "{}", own.stderr);
    assert_built(&handed, " --workspace --all-features");

    // A full build that does not compile: cargo's own words, the thin build's exit 1, nothing run.
    std::fs::remove_file(full.with_extension("seen")).unwrap();
    let broken = fx.path("broken");
    let cargo_failing = fake(
        &broken,
        "echo 'error[E0425]: cannot find value `x` in this scope' >&2\nexit 101",
    );
    let failed = run(&fx, &thin, &["list"], &[("CARGO", &cargo_failing)]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("gatehouse's full build failed")
            && failed.stderr.contains("exit 101")
            && failed.stderr.contains("cannot find value `x`"),
        "{}",
        failed.stderr
    );
    assert_eq!(seen(&full), "", "nothing ran after a failed build");

    // A handoff that reaches a thin build again is refused, not repeated.
    let looping = fx.path("looping");
    let cargo_to_thin = cargo_building(&looping, &thin);
    let again = run(&fx, &thin, &["list"], &[("CARGO", &cargo_to_thin)]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("built without its `full` feature"),
        "{}",
        again.stderr
    );

    // A shared cache needs the full build's S3 client, so checks go there too.
    let config = fx.read("gatehouse.toml");
    fx.write(
        "gatehouse.toml",
        &format!(
            "{config}\n[cache]\nshared = \"s3://team-cache/ci\"\npublic_key = \"cache.pub\"\n"
        ),
    );
    let shared = run(&fx, &thin, &["gate", "c"], &[("CARGO", &cargo)]);
    assert_eq!(shared.code, 7, "{}", shared.stderr);
    assert!(seen(&full).ends_with(" gate c\n"), "{}", seen(&full));
}
