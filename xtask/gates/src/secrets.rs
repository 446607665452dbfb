//! `secrets`: detect-secrets over every tracked file against the committed baseline.

use anyhow::Result;

use crate::engine::gate::{Diagnostic, Gate, GateSpec, GitInput, RunCtx, Step, Verdict, code};

/// The committed baseline of known, audited findings.
const BASELINE: &str = ".secrets.baseline";

pub struct Secrets(GateSpec);

impl Default for Secrets {
    fn default() -> Secrets {
        Secrets::new()
    }
}

impl Secrets {
    pub fn new() -> Secrets {
        let mut spec = super::Decl {
            name: "secrets",
            description: "detect-secrets: no secret outside the committed baseline in any tracked file",
            deps: &[],
            globs: &["**"],
            tools: &["detect-secrets"],
            env: &[],
            cargo: false,
            rust: false,
            timeout_secs: 600,
        }
        .spec(1);
        // What is scanned is what git tracks: staging a file must invalidate a cached pass (the
        // listing, not `.git/index`, whose stat data differs in every clone).
        spec.inputs.git = vec![GitInput::Tracked];
        Secrets(spec)
    }
}

impl Gate for Secrets {
    fn spec(&self) -> &GateSpec {
        &self.0
    }

    fn steps(&self) -> Vec<Step> {
        vec![
            Step::new("git", &["ls-files", "-z"]).quiet_stdout(),
            Step::new(
                "detect-secrets-hook",
                &["--baseline", BASELINE, "<every file from git ls-files>"],
            )
            .tool("detect-secrets"),
        ]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let steps = self.steps();
        let listed = ctx.exec(&steps[0])?;
        if !listed.success() {
            return Ok(Verdict::failed(
                "`git ls-files` failed: the secrets gate scans tracked files, so run it inside a git checkout",
            ));
        }
        let files: Vec<String> = listed
            .stdout
            .split('\0')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        if files.is_empty() {
            return Ok(Verdict::failed(
                "git ls-files listed no tracked file: a scan of nothing is not a pass; `git add` the sources",
            ));
        }
        let mut scan = steps[1].clone();
        scan.args.truncate(2);
        scan.args.extend(files.iter().cloned());
        let out = ctx.exec(&scan)?;
        if out.success() {
            return Ok(Verdict::passed(Some(format!(
                "{} tracked files scanned",
                files.len()
            ))));
        }
        let mut verdict = Verdict::failed(format!(
            "detect-secrets exited with {}: remove the secret, or audit it into {BASELINE} with `detect-secrets scan --baseline {BASELINE}` then `detect-secrets audit {BASELINE}`",
            code(&out)
        ));
        verdict.diagnostics = findings(&out.combined());
        Ok(verdict)
    }
}

/// Parses `Location:    path:line` lines of detect-secrets-hook.
fn findings(output: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut kind = String::from("potential secret");
    for line in output.lines().map(str::trim) {
        if let Some(k) = line.strip_prefix("Secret Type:") {
            kind = k.trim().to_owned();
        } else if let Some(loc) = line.strip_prefix("Location:") {
            let Some((file, n)) = loc.trim().rsplit_once(':') else {
                continue;
            };
            let Ok(n) = n.parse() else { continue };
            found.push(Diagnostic {
                file: file.to_owned(),
                line: n,
                level: "error".into(),
                message: kind.clone(),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn hook_findings_name_file_and_line() {
        let out = "ERROR: Potential secrets about to be committed to git repo!\n\nSecret Type: AWS Access Key\nLocation:    config/prod.env:3\n";
        let d = findings(out);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].file.as_str(), d[0].line, d[0].message.as_str()),
            ("config/prod.env", 3, "AWS Access Key")
        );
    }

    fn git(dir: &Path, args: &[&str]) {
        let sh = xshell::Shell::new().unwrap();
        sh.change_dir(dir);
        let out = crate::process::capture(
            xshell::cmd!(sh, "git {args...}"),
            std::time::Duration::from_secs(30),
        )
        .unwrap();
        assert!(out.success(), "git {args:?}: {}", out.stderr);
    }

    /// The key of the secrets gate in a repository at `dir` holding `staged`.
    fn key_with(dir: &Path, staged: &[&str]) -> String {
        git(dir, &["init", "-q"]);
        for file in staged {
            std::fs::write(dir.join(file), "x = 1\n").unwrap();
            git(dir, &["add", file]);
        }
        let snapshot = crate::engine::cache::Snapshot::scan(dir).unwrap();
        crate::engine::cache::key(Secrets::new().spec(), &[], &snapshot, &Default::default())
            .unwrap()
    }

    #[test]
    fn staging_a_file_changes_the_key_and_another_clone_of_the_same_files_does_not() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let one = key_with(a.path(), &["a.toml"]);
        assert_eq!(
            key_with(b.path(), &["a.toml"]),
            one,
            "another checkout, same key"
        );
        // A file on disk and in the walk both times: only staging it changes what git tracks.
        std::fs::write(a.path().join("b.toml"), "x = 1\n").unwrap();
        let unstaged = key_with(a.path(), &[]);
        assert_ne!(key_with(a.path(), &["b.toml"]), unstaged);
    }
}
