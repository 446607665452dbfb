//! The engine against the fixture workspace: order, cycles, cache, failures, skips, exit codes, reports.

use crate::support::{Fixture, gate_entry, reason, status};

#[test]
fn dependencies_run_first_and_the_report_lists_them_in_order() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["--jobs", "4", "plan", "chain"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let at = |gate: &str| {
        run.stdout
            .find(&format!("\n{gate} —"))
            .unwrap_or_else(|| panic!("plan does not list `{gate}`:\n{}", run.stdout))
    };
    let (a, b, c) = (at("a"), at("b"), at("c"));
    assert!(
        a < b && b < c,
        "plan must list a, b, c in order:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("$ sh -c 'echo c >> ran.log'"),
        "plan shows exact commands:\n{}",
        run.stdout
    );
    assert_eq!(fx.read("ran.log"), "", "plan runs nothing");

    let run = fx.run(&["--jobs", "4", "gate", "c"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(fx.read("ran.log"), "a\nb\nc\n");
    let names: Vec<_> = fx.report()["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn a_dependency_cycle_is_rejected_with_exit_2_naming_the_cycle() {
    let fx = Fixture::new("engine");
    let config = fx
        .read("gatehouse.toml")
        .replace("deps = [\"a\"]", "deps = [\"a\", \"c\"]");
    fx.write("gatehouse.toml", &config);
    let run = fx.run(&["list"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("dependency cycle between gates: b -> c -> b"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_rerun_with_nothing_changed_is_cached_and_runs_no_tool() {
    let fx = Fixture::new("engine");
    assert_eq!(fx.run(&["gate", "c"]).code, 0);
    let run = fx.run(&["gate", "c"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = fx.report();
    for gate in ["a", "b", "c"] {
        assert_eq!(status(&report, gate), "cached", "{gate}");
    }
    assert_eq!(
        fx.read("ran.log"),
        "a\nb\nc\n",
        "cached gates spend no tool time"
    );
    assert!(
        fx.read("target/xtask/runs/latest/gates/b.log")
            .starts_with("cached: passed at")
    );
}

#[test]
fn changing_one_input_reruns_exactly_the_gates_that_read_it() {
    let fx = Fixture::new("engine");
    assert_eq!(fx.run(&["gate", "c"]).code, 0);
    fx.write("b.txt", "changed\n");
    assert_eq!(fx.run(&["gate", "c"]).code, 0);
    let report = fx.report();
    assert_eq!(status(&report, "a"), "cached");
    assert_eq!(status(&report, "b"), "passed");
    assert_eq!(status(&report, "c"), "passed");
    assert_eq!(fx.read("ran.log"), "a\nb\nc\nb\nc\n");
}

#[test]
fn explain_names_the_input_that_changed_since_the_last_pass() {
    let fx = Fixture::new("engine");
    let never = fx.run(&["explain", "b"]);
    assert_eq!(never.code, 0, "{}", never.stderr);
    assert!(never.stdout.contains("never passed"), "{}", never.stdout);
    assert_eq!(fx.run(&["gate", "c"]).code, 0);
    let hit = fx.run(&["explain", "b"]);
    assert!(hit.stdout.contains("cached: passed at"), "{}", hit.stdout);
    fx.write("b.txt", "changed\n");
    let miss = fx.run(&["--format", "json", "explain", "c"]);
    assert_eq!(miss.code, 0, "{}", miss.stderr);
    let why: serde_json::Value = serde_json::from_str(&miss.stdout).unwrap();
    assert!(why["hit"].is_null(), "{why}");
    let changes = why["changes"].to_string();
    assert!(
        changes.contains("changed: file b.txt") && !changes.contains("a.txt"),
        "only b.txt changed: {changes}"
    );
    let env = fx.run_with(&["explain", "c"], &[("FIXTURE_FLAVOUR", "spicy")]);
    assert!(env.stdout.contains("env FIXTURE_FLAVOUR"), "{}", env.stdout);
}

#[test]
fn a_gate_whose_inputs_change_while_it_runs_is_not_cached() {
    let fx = Fixture::new("engine");
    let first = fx.run(&["gate", "self-editing"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("inputs changed while it ran"),
        "{}",
        first.stderr
    );
    assert_eq!(fx.run(&["gate", "self-editing"]).code, 0);
    assert_eq!(status(&fx.report(), "self-editing"), "passed", "not cached");
    assert_eq!(fx.read("a.txt").matches("more").count(), 2);
}

#[test]
fn an_env_input_and_no_cache_both_force_a_rerun() {
    let fx = Fixture::new("engine");
    assert_eq!(fx.run(&["gate", "c"]).code, 0);
    assert_eq!(
        fx.run_with(&["gate", "c"], &[("FIXTURE_FLAVOUR", "spicy")])
            .code,
        0
    );
    assert_eq!(status(&fx.report(), "c"), "passed");
    assert_eq!(status(&fx.report(), "b"), "cached");
    assert_eq!(fx.run(&["--no-cache", "gate", "a"]).code, 0);
    assert_eq!(status(&fx.report(), "a"), "passed");
}

#[test]
fn a_failure_stops_its_dependents_and_everything_not_started() {
    let fx = Fixture::new("engine");
    let run = fx.run(&[
        "--jobs",
        "1",
        "--no-cache",
        "gate",
        "broken",
        "after-broken",
        "independent",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = fx.report();
    assert_eq!(status(&report, "broken"), "failed");
    assert_eq!(status(&report, "after-broken"), "skipped");
    assert!(
        reason(&report, "after-broken").contains("not run"),
        "{}",
        reason(&report, "after-broken")
    );
    assert_eq!(status(&report, "independent"), "skipped");
    assert!(reason(&report, "independent").contains("--keep-going"));
    assert!(fx.run_file("gates/broken.log").contains("something broke"));
    assert_eq!(fx.read("ran.log"), "");
}

#[test]
fn keep_going_runs_independent_gates_but_never_dependents() {
    let fx = Fixture::new("engine");
    let run = fx.run(&[
        "--jobs",
        "1",
        "--keep-going",
        "gate",
        "broken",
        "after-broken",
        "independent",
    ]);
    assert_eq!(run.code, 1);
    let report = fx.report();
    assert_eq!(status(&report, "independent"), "passed");
    assert_eq!(status(&report, "after-broken"), "skipped");
    assert_eq!(
        reason(&report, "after-broken"),
        "not run: dependency `broken` failed"
    );
    assert_eq!(fx.read("ran.log"), "independent\n");
}

#[test]
fn failures_are_never_cached() {
    let fx = Fixture::new("engine");
    assert_eq!(fx.run(&["gate", "broken"]).code, 1);
    assert_eq!(fx.run(&["gate", "broken"]).code, 1);
    assert_eq!(status(&fx.report(), "broken"), "failed");
}

#[test]
fn a_gate_that_cannot_run_is_skipped_with_its_reason() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["gate", "cannot-run"]);
    assert_eq!(
        run.code, 0,
        "outside CI a skip is reported, not failed: {}",
        run.stderr
    );
    let report = fx.report();
    assert_eq!(status(&report, "cannot-run"), "skipped");
    assert_eq!(reason(&report, "cannot-run"), "SKIPPED: needs a GPU");
    assert!(
        fx.run_file("junit.xml")
            .contains("<skipped message=\"SKIPPED: needs a GPU\"/>")
    );
}

#[test]
fn under_ci_a_required_skip_fails_the_run_and_an_optional_one_does_not() {
    let fx = Fixture::new("engine");
    let ci = [("CI", "true")];
    let tolerant = fx.read("gatehouse.toml").replace(
        "[pipelines.ci]\ngates = [\"fmt\", \"after-fmt\"]",
        "[pipelines.ci]\ngates = [\"cannot-run\", \"a\"]",
    );
    fx.write("gatehouse.toml", &tolerant);
    let run = fx.run_with(&["ci"], &ci);
    assert_eq!(run.code, 1, "a required skip fails CI: {}", run.stderr);
    assert!(
        run.stderr
            .contains("required gate `cannot-run` was skipped while CI=true"),
        "{}",
        run.stderr
    );
    assert_eq!(fx.report()["required_skips"][0], "cannot-run");

    let tolerant = tolerant.replace(
        "gates = [\"cannot-run\", \"a\"]\n\n",
        "gates = [\"cannot-run\", \"a\"]\noptional = [\"cannot-run\"]\n\n",
    );
    fx.write("gatehouse.toml", &tolerant);
    let run = fx.run_with(&["ci"], &ci);
    assert_eq!(
        run.code, 0,
        "an optional skip does not fail CI: {}",
        run.stderr
    );
    assert_eq!(status(&fx.report(), "cannot-run"), "skipped");
    assert_eq!(gate_entry(&fx.report(), "cannot-run")["required"], false);
}

#[test]
fn an_unknown_gate_exits_2_and_lists_the_known_gates() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["gate", "fmtt"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "unknown gate `fmtt`; known gates: a, advisories, after-broken, after-fmt, b, broken, c"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(", yaml"),
        "built-in gates are listed too: {}",
        run.stderr
    );
}

#[test]
fn an_unknown_pipeline_exits_2() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["plan", "nightly"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("unknown pipeline `nightly`; known pipelines: chain, ci, failing"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_malformed_configuration_exits_2_naming_the_file_and_the_key() {
    let fx = Fixture::new("engine");
    fx.write(
        "gatehouse.toml",
        &fx.read("gatehouse.toml")
            .replace("timeout_secs = 1\n", "timeout_secs = \"soon\"\n"),
    );
    let run = fx.run(&["list"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("gatehouse.toml"), "{}", run.stderr);
    assert!(run.stderr.contains("timeout_secs"), "{}", run.stderr);

    let fx = Fixture::new("engine");
    fx.write(
        "gatehouse.toml",
        &fx.read("gatehouse.toml").replace(
            "description = \"c after b after a\"",
            "descripton = \"typo\"",
        ),
    );
    let run = fx.run(&["list"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("descripton"), "{}", run.stderr);

    let fx = Fixture::new("engine");
    fx.write(
        "gatehouse.toml",
        &fx.read("gatehouse.toml")
            .replace("gates = [\"c\"]", "gates = [\"d\"]"),
    );
    let run = fx.run(&["list"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("pipelines.chain.gates: unknown gate `d`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_tool_exits_3_with_the_remedy() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["gate", "needs-missing-tool"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(reason(&fx.report(), "needs-missing-tool").contains("this fixture proves exit code 3"));
    let doctor = fx.run(&["doctor"]);
    assert_eq!(doctor.code, 3);
    assert!(
        doctor.stdout.contains("gatehouse-no-such-tool") && doctor.stdout.contains("missing"),
        "{}",
        doctor.stdout
    );
}

#[test]
fn a_gate_past_its_timeout_fails_and_says_so() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["gate", "slow"]);
    assert_eq!(run.code, 1);
    assert!(
        reason(&fx.report(), "slow").starts_with("timed out after 1s"),
        "{}",
        reason(&fx.report(), "slow")
    );
}

#[test]
fn a_misformatted_file_fails_fmt_and_stops_its_dependents() {
    let fx = Fixture::new("engine");
    fx.write("src/lib.rs", "pub fn answer()->u32{42}\n");
    let run = fx.run(&["ci"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = fx.report();
    assert_eq!(status(&report, "fmt"), "failed");
    assert_eq!(status(&report, "after-fmt"), "skipped");
    assert_eq!(
        reason(&report, "after-fmt"),
        "not run: dependency `fmt` failed"
    );
    assert_eq!(
        gate_entry(&report, "fmt")["diagnostics"][0]["file"],
        "src/lib.rs"
    );
    let junit = fx.run_file("junit.xml");
    assert!(
        junit.contains("<testcase classname=\"gatehouse\" name=\"fmt\""),
        "{junit}"
    );
    assert!(junit.contains("<failure message="), "{junit}");
    let log = fx.run_file("gates/fmt.log");
    assert!(
        log.contains("Diff in") && log.contains("+pub fn answer() -> u32 {"),
        "the log shows the diff:\n{log}"
    );
    assert!(!fx.read("ran.log").contains("after-fmt"));
}

#[test]
fn the_report_follows_the_versioned_schema() {
    let fx = Fixture::new("engine");
    let run = fx.run(&[
        "--format",
        "json",
        "--keep-going",
        "gate",
        "a",
        "broken",
        "cannot-run",
        "fmt",
    ]);
    assert_eq!(run.code, 1);
    let stdout: serde_json::Value =
        serde_json::from_str(&run.stdout).expect("--format json prints the report");
    let report = fx.report();
    assert_eq!(stdout, report);
    assert_eq!(report["schema"], "gatehouse.report/v1");
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["exit_code"], 1);
    for key in [
        "run_id",
        "pipeline",
        "started_at",
        "duration_ms",
        "gates_duration_ms",
        "gates",
    ] {
        assert!(!report[key].is_null(), "report.json lacks `{key}`");
    }
    for gate in report["gates"].as_array().unwrap() {
        for key in [
            "name",
            "status",
            "required",
            "duration_ms",
            "log",
            "reason",
            "cache_key",
        ] {
            assert!(gate.get(key).is_some(), "gate entry lacks `{key}`: {gate}");
        }
        let log = fx
            .path("target/xtask/runs/latest")
            .join(gate["log"].as_str().unwrap());
        assert!(
            log.is_file(),
            "every gate has a log file: {}",
            log.display()
        );
    }
    assert_eq!(status(&report, "a"), "passed");
    assert_eq!(status(&report, "broken"), "failed");
    assert_eq!(status(&report, "cannot-run"), "skipped");
    assert_eq!(
        report["tools"]["rustfmt"], "installed for stable",
        "the report records what each tool the run used reports: {}",
        report["tools"]
    );
    let summary = fx.run_file("summary.md");
    assert!(summary.contains("| `broken` | ❌ failed |"), "{summary}");
}

#[test]
fn github_actions_gets_groups_annotations_and_a_step_summary() {
    let fx = Fixture::new("engine");
    fx.write("src/lib.rs", "pub fn answer()->u32{42}\n");
    let summary = fx.path("step-summary.md");
    let summary_path = summary.to_string_lossy().into_owned();
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary_path.as_str()),
    ];
    let run = fx.run_with(&["ci"], &env);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("::group::fmt (failed)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("::endgroup::"));
    assert!(
        run.stderr
            .contains("::error file=src/lib.rs,line=1,title=fmt::"),
        "{}",
        run.stderr
    );
    let md = std::fs::read_to_string(&summary).expect("step summary written");
    assert!(
        md.contains("## gatehouse `ci`: failed") && md.contains("| `fmt` | ❌ failed |"),
        "{md}"
    );
}

#[test]
fn independent_gates_run_concurrently_up_to_jobs() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["--jobs", "2", "gate", "meet-1", "meet-2"]);
    assert_eq!(
        run.code, 0,
        "two independent gates overlap with --jobs 2: {}",
        run.stderr
    );
}

#[test]
fn gates_holding_the_same_resource_never_overlap() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["--jobs", "4", "gate", "holds-1", "holds-2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = fx.report();
    assert_eq!(
        (status(&report, "holds-1"), status(&report, "holds-2")),
        ("passed", "passed")
    );
}

#[test]
fn list_and_plan_speak_json_too() {
    let fx = Fixture::new("engine");
    let list: serde_json::Value =
        serde_json::from_str(&fx.run(&["--format", "json", "list"]).stdout).expect("list json");
    let c = list
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "c")
        .expect("gate c listed");
    assert_eq!(c["deps"][0], "b");
    assert_eq!(c["inputs"]["env"][0], "FIXTURE_FLAVOUR");
    let plan: serde_json::Value =
        serde_json::from_str(&fx.run(&["--format", "json", "plan", "chain"]).stdout)
            .expect("plan json");
    assert_eq!(plan["gates"][2]["commands"][0], "sh -c 'echo c >> ran.log'");
}

#[test]
fn completions_are_generated_for_the_cargo_xtask_command() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["completions", "bash"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("cargo-xtask") && run.stdout.contains("doctor"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
}

/// A Rust gate's key holds what decides a build besides the workspace's files: the rustc that
/// runs, cargo's configuration above the workspace, and the build environment. Each changed
/// alone makes `explain` name it and the gate run again.
#[test]
fn a_rust_gates_key_holds_the_toolchain_cargo_config_above_the_root_and_build_env() {
    let fx = Fixture::nested("engine");
    assert_eq!(fx.run(&["gate", "fmt"]).code, 0);
    let hit = fx.run(&["explain", "fmt"]);
    assert!(hit.stdout.contains("cached: passed at"), "{}", hit.stdout);

    // Another rustc first on PATH: the toolchain that actually runs.
    let bin = fx.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let rustc = bin.join("rustc");
    std::fs::write(&rustc, "#!/bin/sh\necho 'rustc 9.9.9 (planted)'\n").unwrap();
    std::fs::set_permissions(&rustc, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let toolchain = fx.run_with(&["explain", "fmt"], &[("PATH", path.as_str())]);
    assert!(
        toolchain.stdout.contains("changed: rust toolchain")
            && toolchain.stdout.contains("rustc 9.9.9"),
        "{}",
        toolchain.stdout
    );

    // Cargo configuration above the workspace, which the workspace's own globs do not see.
    let above = fx.dir.path().join(".cargo");
    std::fs::create_dir_all(&above).unwrap();
    std::fs::write(
        above.join("config.toml"),
        "[build]\nrustflags = [\"-Dwarnings\"]\n",
    )
    .unwrap();
    let config = fx.run(&["explain", "fmt"]);
    assert!(
        config.stdout.contains(&format!(
            "added: rust cargo-config {}",
            above.join("config.toml").display()
        )),
        "{}",
        config.stdout
    );
    assert_eq!(fx.run(&["gate", "fmt"]).code, 0);
    assert_eq!(
        status(&fx.report(), "fmt"),
        "passed",
        "run again, not cached"
    );

    // The build environment: a wrapper and cargo's own variables.
    for (var, value) in [
        ("RUSTC_WRAPPER", "sccache"),
        ("CARGO_PROFILE_DEV_OPT_LEVEL", "1"),
    ] {
        let env = fx.run_with(&["explain", "fmt"], &[(var, value)]);
        assert!(
            env.stdout.contains(&format!("added: rust build-env {var}")),
            "{var}: {}",
            env.stdout
        );
    }
    let styled = fx.run_with(&["explain", "fmt"], &[("CARGO_TERM_COLOR", "always")]);
    assert!(
        styled.stdout.contains("cached: passed at"),
        "output styling is not an input: {}",
        styled.stdout
    );
}

/// A tool's key is what it reports, not only its pin: another build of the same pinned version
/// on the machine (a second PostgreSQL 15, a system tool upgraded in place) reruns the gates
/// that use it, and `explain` names the tool.
#[test]
fn a_tool_reporting_another_version_under_the_same_pin_reruns_its_gates() {
    let fx = Fixture::new("engine");
    let bin = fx.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tool = bin.join("pgdemo");
    std::fs::write(
        &tool,
        format!("#!/bin/sh\ncat '{}'\n", fx.path("version.txt").display()),
    )
    .unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fx.write("version.txt", "pgdemo (PostgreSQL) 15.4\n");
    let config = fx.read("gatehouse.toml");
    fx.write(
        "gatehouse.toml",
        &format!(
            "{config}\n[tools.pgdemo]\nsource = \"system\"\nversion = \"15\"\nremedy = \"install pgdemo\"\ndir = \"{}\"\n\n[gates.uses-tool]\ndescription = \"runs with pgdemo on PATH\"\nrun = [\"pgdemo\"]\ntools = [\"pgdemo\"]\n",
            bin.display()
        ),
    );
    assert_eq!(fx.run(&["gate", "uses-tool"]).code, 0);
    assert_eq!(fx.run(&["gate", "uses-tool"]).code, 0);
    assert_eq!(status(&fx.report(), "uses-tool"), "cached");

    fx.write("version.txt", "pgdemo (PostgreSQL) 15.9\n");
    let explained = fx.run(&["explain", "uses-tool"]);
    assert!(
        explained.stdout.contains("pgdemo") && explained.stdout.contains("15.9"),
        "{}",
        explained.stdout
    );
    assert_eq!(fx.run(&["gate", "uses-tool"]).code, 0);
    assert_eq!(
        status(&fx.report(), "uses-tool"),
        "passed",
        "the same pin, another build: run again"
    );
}

/// CI fanned out: each job runs `ci --group NAME` (labelled `ci/NAME`, so never taken for the
/// whole pipeline), `report merge` joins the jobs' reports into one verdict, and a job that
/// left no report fails it. The workflow is generated from the same groups.
#[test]
fn a_fanned_out_pipeline_runs_by_group_and_merges_into_one_verdict() {
    let fx = Fixture::new("engine");
    let config = fx.read("gatehouse.toml");
    fx.write(
        "gatehouse.toml",
        &format!(
            "{config}\n[platform]\nos = \"debian\"\nversion = \"12\"\ncontainer = \"debian:bookworm-slim\"\n\n[[pipelines.ci.groups]]\nname = \"one\"\ngates = [\"fmt\"]\n\n[[pipelines.ci.groups]]\nname = \"two\"\ngates = [\"after-fmt\"]\n"
        ),
    );
    let unknown = fx.run(&["ci", "--group", "three"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("its groups: one, two"),
        "{}",
        unknown.stderr
    );

    assert_eq!(fx.run(&["ci", "--group", "one"]).code, 0);
    let one = fx.report();
    assert_eq!(one["pipeline"], "ci/one");
    assert_eq!(one["gates"].as_array().unwrap().len(), 1);

    let merged_alone = fx.run(&["report", "merge", "target/xtask/runs"]);
    assert_eq!(merged_alone.code, 1, "the second job left no report");
    let report = fx.report();
    assert_eq!(report["pipeline"], "ci");
    assert_eq!(status(&report, "fmt"), "passed");
    assert!(
        reason(&report, "after-fmt").contains("group `two` wrote none"),
        "{}",
        reason(&report, "after-fmt")
    );

    assert_eq!(fx.run(&["ci", "--group", "two"]).code, 0);
    let junit = fx.path("junit.xml");
    let merged = fx.run(&[
        "report",
        "merge",
        "--junit",
        &junit.display().to_string(),
        "target/xtask/runs",
    ]);
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    let report = fx.report();
    assert_eq!(report["outcome"], "passed");
    assert_eq!(status(&report, "after-fmt"), "passed");
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("after-fmt")
    );

    let workflow = fx.run(&["workflow", "fanout"]);
    assert_eq!(workflow.code, 0, "{}", workflow.stderr);
    for line in [
        "run: cargo xtask ci --group one",
        "run: cargo xtask ci --group two",
        "needs: [one, two]",
        "container: debian:bookworm-slim",
        "!target/xtask/cache",
    ] {
        assert!(
            workflow.stdout.contains(line),
            "{line}:\n{}",
            workflow.stdout
        );
    }
}

#[test]
fn a_gate_in_no_group_or_two_groups_is_a_configuration_error() {
    let fx = Fixture::new("engine");
    let config = fx.read("gatehouse.toml");
    fx.write(
        "gatehouse.toml",
        &format!(
            "{config}\n[[pipelines.ci.groups]]\nname = \"one\"\ngates = [\"fmt\", \"a\"]\n\n[[pipelines.ci.groups]]\nname = \"two\"\ngates = [\"fmt\"]\n"
        ),
    );
    let run = fx.run(&["list"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for problem in [
        "pipelines.ci.groups (one): `a` is not a gate of the pipeline",
        "pipelines.ci.groups (two): `fmt` is also in group `one`",
        "pipelines.ci.groups: `after-fmt` is in no group",
    ] {
        assert!(run.stderr.contains(problem), "{problem}: {}", run.stderr);
    }
}

/// A file the compiler read that no glob names (`include_str!` data here; a `build.rs` input
/// alike) is found in cargo's dep-info and recorded with the pass: changing it reruns the gate,
/// and `explain` names it.
#[test]
fn a_file_the_build_read_beyond_the_globs_reruns_the_gate_when_it_changes() {
    let fx = Fixture::new("engine");
    fx.write(
        "src/lib.rs",
        "//! A crate whose message is data.\n\npub const MESSAGE: &str = include_str!(\"../notes/message.txt\");\n",
    );
    std::fs::create_dir_all(fx.path("notes")).unwrap();
    fx.write("notes/message.txt", "v1\n");
    let config = fx.read("gatehouse.toml");
    fx.write(
        "gatehouse.toml",
        &format!(
            "{config}\n[gates.build]\ndescription = \"builds the crate\"\nrun = [\"cargo\", \"build\", \"--offline\", \"--quiet\"]\ninputs = [\"src/**\", \"Cargo.toml\"]\nresources = [\"cargo-target\"]\n"
        ),
    );
    let first = fx.run(&["gate", "build"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(fx.run(&["gate", "build"]).code, 0);
    assert_eq!(status(&fx.report(), "build"), "cached");

    fx.write("notes/message.txt", "v2\n");
    let explained = fx.run(&["explain", "build"]);
    assert!(
        explained.stdout.contains("notes/message.txt"),
        "{}",
        explained.stdout
    );
    let again = fx.run(&["gate", "build"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        status(&fx.report(), "build"),
        "passed",
        "the data the build embeds changed: {}",
        again.stderr
    );
}
