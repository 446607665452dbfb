//! One spawner: no source file of gatehouse's crates starts a process except gatehouse-process
//! (`xtask/process`), which owns process groups, deadlines and cancellation for every process,
//! short or long-running.

use crate::support::{gatehouse_sources, scan};

/// The statements of `source` (comments removed) that start or wait for a process themselves:
/// `std::process::Command`'s `spawn`/`output`/`status`/`exec`, xshell's `run`/`read`/`output`.
fn spawning_statements(source: &str) -> Vec<String> {
    let code: String = source
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    code.split([';', '{', '}'])
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| {
            let direct = [
                ".spawn()",
                ".output()",
                ".run()",
                ".read()",
                ".read_stderr()",
                ".exec()",
                "Command::new(",
            ]
            .iter()
            .any(|t| s.contains(t));
            // `.status()` of an HTTP response or an AWS resource is not a process: only a
            // command's is.
            let status = s.contains(".status()")
                && ["cmd", "Command", "Stdio", "xshell"]
                    .iter()
                    .any(|t| s.contains(t));
            direct || status
        })
        .collect()
}

#[test]
fn the_scan_sees_each_way_of_starting_a_process() {
    let planted = [
        "let c = cmd.spawn();",
        "let o = cmd.output()?;",
        "let s = Command::new(\"git\").status();",
        "let s = cmd.stdin(Stdio::null()).status();",
        "xshell::cmd!(sh, \"git status\").run()?;",
        "let t = xshell::cmd!(sh, \"git log\").read()?;",
        "let e = cmd.exec();",
    ];
    for line in planted {
        assert_eq!(spawning_statements(line).len(), 1, "{line}");
    }
    let benign = [
        "let s = client.get(&url).send()?.status();",
        "let s = cluster.status().map_or(\"UNKNOWN\", |s| s.as_str());",
        "std::thread::spawn(move || work());",
        "scope.spawn(|| work());",
        "// cmd.spawn() in a comment",
    ];
    for line in benign {
        assert!(spawning_statements(line).is_empty(), "{line}");
    }
}

#[test]
fn one_spawner() {
    // Every crate of gatehouse but the spawner itself.
    let found = scan(&gatehouse_sources(false), spawning_statements);
    assert!(
        found.is_empty(),
        "start processes through gatehouse-process (capture, run, spawn_group, Service):\n{}",
        found.join("\n")
    );
}
