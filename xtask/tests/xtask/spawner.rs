//! One spawner: no source file of gatehouse's crates starts a process except gatehouse-process
//! (`xtask/process`), which owns process groups, deadlines and cancellation for every process,
//! short or long-running.

use crate::support::{gatehouse_sources, scan};

/// `source` with line comments and the contents of string literals blanked: text inside a string
/// (an embedded script, a URL with `//`) is data, not code that starts a process.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("//") {
            rest = rest.find('\n').map_or("", |i| &rest[i..]);
        } else if let Some(raw) = rest
            .strip_prefix('r')
            .filter(|r| r.trim_start_matches('#').starts_with('"'))
        {
            let hashes = raw.len() - raw.trim_start_matches('#').len();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = &raw[hashes + 1..];
            rest = body.find(&close).map_or("", |i| &body[i + close.len()..]);
            out.push_str("\"\"");
        } else if c == '"' {
            let mut chars = rest[1..].char_indices();
            let mut end = rest.len();
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => {
                        chars.next();
                    }
                    '"' => {
                        end = i + 2;
                        break;
                    }
                    _ => {}
                }
            }
            rest = &rest[end..];
            out.push_str("\"\"");
        } else if rest.starts_with("'\"'") {
            rest = &rest[3..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The statements of `source` (comments and string contents removed) that start or wait for a
/// process themselves: `std::process::Command`'s `spawn`/`output`/`status`/`exec`, xshell's
/// `run`/`read`/`output`.
fn spawning_statements(source: &str) -> Vec<String> {
    code_only(source)
        .split([';', '{', '}'])
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
        "let u = \"http://x\"; let c = cmd.spawn();",
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
        "const SCRIPT: &str = r#\"sql = f.read(); out.run()\"#;",
        "let url = \"https://example.com/a.spawn()\";",
        "let q = '\"'; let s = \"say \\\"x.exec()\\\"\";",
        "let r#type = 1; let raw = r\"a.spawn()\";",
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
