//! `fmt`: `cargo fmt --check`; the log holds the diff, annotations point at each hunk.

use anyhow::Result;

use crate::engine::gate::{Diagnostic, Gate, GateSpec, RunCtx, Step, Verdict};

pub struct Fmt(GateSpec);

impl Fmt {
    pub fn new() -> Fmt {
        Fmt(super::Decl {
            name: "fmt",
            description: "rustfmt: every Rust file is formatted (cargo fmt --check)",
            deps: &[],
            globs: &[
                "**/*.rs",
                "**/Cargo.toml",
                "rustfmt.toml",
                ".rustfmt.toml",
                "rust-toolchain.toml",
                "!**/tests/fixtures/**",
            ],
            tools: &["rustfmt"],
            env: &[],
            cargo: false,
            rust: true,
            timeout_secs: 300,
        }
        .spec(1))
    }
}

impl Gate for Fmt {
    fn spec(&self) -> &GateSpec {
        &self.0
    }

    fn steps(&self) -> Vec<Step> {
        vec![
            Step::new(
                "cargo",
                &["fmt", "--all", "--check", "--", "--color", "never"],
            )
            .tool("rustfmt"),
        ]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let step = &self.steps()[0];
        let out = ctx.exec(step)?;
        if out.success() {
            return Ok(Verdict::passed(None));
        }
        let diagnostics = diffs(&ctx.root, &out.stdout);
        Ok(Verdict::failed_with(step, &out, diagnostics, |d| {
            format!("{} hunk(s) need formatting: run `cargo fmt --all`", d.len())
        }))
    }
}

/// Finds rustfmt's `Diff in <file>:<line>:` headers.
fn diffs(root: &std::path::Path, stdout: &str) -> Vec<Diagnostic> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Diff in "))
        .filter_map(|rest| {
            let rest = rest.trim_end_matches(':').trim_end_matches(" at line 1");
            let (file, line) = rest.rsplit_once(':')?;
            Some(Diagnostic {
                file: super::relative(root, file),
                line: line.parse().ok()?,
                level: "error".to_owned(),
                message: "not formatted: run `cargo fmt --all`".to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_headers_become_annotations() {
        let out = "Diff in /w/src/lib.rs:3:\n-fn a(){}\n+fn a() {}\nDiff in /w/src/b c.rs:10:\n";
        let d = diffs(std::path::Path::new("/w"), out);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].file.as_str(), d[0].line), ("src/lib.rs", 3));
        assert_eq!((d[1].file.as_str(), d[1].line), ("src/b c.rs", 10));
    }
}
