//! `cargo xtask release plan` on real git histories: the version from conventional commits, the
//! notes, and each refusal (exit 4) with its reason.

use crate::support::Fixture;

/// The engine fixture as a repository: `chore: start` tagged `v0.1.0`, then `subjects`.
fn history(subjects: &[&str]) -> Fixture {
    let fx = Fixture::new("engine");
    fx.git(&["init", "-q"]);
    fx.git(&["add", "-A"]);
    fx.git(&["commit", "-qm", "chore: start"]);
    fx.git(&["tag", "v0.1.0"]);
    for (i, subject) in subjects.iter().enumerate() {
        fx.write("a.txt", &format!("change {i}\n"));
        fx.git(&["commit", "-qam", subject]);
    }
    fx
}

#[test]
fn the_plan_bumps_by_the_biggest_change_and_writes_the_notes() {
    let fx = history(&[
        "feat(api): task tags",
        "fix: a crash on empty titles",
        "docs: typo",
    ]);
    let run = fx.run(&["release", "plan"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("next release: v0.1.1 (commit "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("3 commits since v0.1.0, 3 conventional"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("### Features\n\n- **api:** task tags ("),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("### Fixes\n\n- a crash on empty titles ("),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("typo"), "docs are not release notes");

    let breaking = history(&["feat!: ids are ULIDs"]);
    let json = breaking.run(&["--format", "json", "release", "plan"]);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON plan");
    assert_eq!(plan["tag"], "v0.2.0");
    assert_eq!(plan["previous"], "v0.1.0");
    assert_eq!(
        plan["source_date_epoch"], 1_793_534_400,
        "the commit's time"
    );
    assert!(
        plan["changelog"]
            .as_str()
            .unwrap()
            .contains("### Breaking changes")
    );
}

fn refused(fx: &Fixture, reason: &str) {
    let run = fx.run(&["release", "plan"]);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(reason), "{}", run.stderr);
}

#[test]
fn a_dirty_tree_an_existing_tag_and_nothing_to_release_are_refused() {
    let dirty = history(&["fix: one"]);
    dirty.write("a.txt", "uncommitted\n");
    refused(&dirty, "the working tree has uncommitted changes");

    let tagged = history(&["fix: one"]);
    tagged.git(&["tag", "v0.1.1", "HEAD~1"]);
    refused(&tagged, "tag v0.1.1 already exists");

    let chores = history(&["chore: bump", "ci: cache"]);
    refused(&chores, "no feat, fix, perf or breaking change");

    let prose = history(&["Update the readme"]);
    refused(&prose, "is a conventional commit");
}

/// The service fixture (a std-only binary) as a repository with one releasable commit.
fn service_release() -> Fixture {
    let fx = Fixture::new("service");
    fx.write(".gitignore", "target/\n");
    fx.git(&["init", "-q"]);
    fx.git(&["add", "-A"]);
    fx.git(&["commit", "-qm", "feat: the fixture service"]);
    fx
}

fn image(fx: &Fixture) -> serde_json::Value {
    let run = fx.run(&["--format", "json", "release", "image"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).expect("JSON")
}

#[expect(
    clippy::disallowed_methods,
    reason = "umoci is the independent reader the issue asks for"
)]
fn umoci_unpack(layout: &str, bundle: &std::path::Path) {
    let out = std::process::Command::new("umoci")
        .args(["unpack", "--image", &format!("{layout}:0.1.0")])
        .arg(bundle)
        .output()
        .expect("umoci (installed by `cargo xtask tools install umoci`)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_clean_builds_give_the_same_binary_and_image_and_umoci_reads_it() {
    let first = service_release();
    let second = service_release();
    let (a, b) = (image(&first), image(&second));
    assert_eq!(a["tag"], "v0.1.0");
    assert!(a["digest"].as_str().unwrap().starts_with("sha256:"));
    // Two directories, two clean target dirs, the same commit: the same bytes.
    assert_eq!(a["commit"], b["commit"]);
    assert_eq!(
        a["binary_sha256"], b["binary_sha256"],
        "reproducible binary"
    );
    assert_eq!(a["digest"], b["digest"], "reproducible image");

    let install = first.run(&["tools", "install", "umoci"]);
    assert_eq!(install.code, 0, "{}", install.stderr);
    let bundle = first.path("bundle");
    umoci_unpack(a["layout"].as_str().unwrap(), &bundle);
    let rootfs = bundle.join("rootfs");
    use std::os::unix::fs::MetadataExt;
    let binary =
        std::fs::metadata(rootfs.join("usr/local/bin/fuzzed")).expect("binary in the image");
    assert_eq!((binary.mode() & 0o7777, binary.uid()), (0o755, 0));
    assert_eq!(
        std::fs::metadata(rootfs.join("home/nonroot"))
            .unwrap()
            .uid(),
        65532
    );
    assert!(
        std::fs::read_to_string(rootfs.join("etc/passwd"))
            .unwrap()
            .contains("nonroot:x:65532:65532")
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["process"]["user"]["uid"], 65532);
    assert_eq!(config["process"]["args"][0], "/usr/local/bin/fuzzed");
}
