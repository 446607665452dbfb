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
    assert!(plan["source_date_epoch"].as_i64().unwrap_or(0) > 1_600_000_000);
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
