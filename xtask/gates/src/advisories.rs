//! `deny` (licences, bans, sources) and `advisories` (RustSec), both through cargo-deny.
//!
//! They are two gates because the advisory database lives on the network: when it cannot be
//! fetched, `advisories` is `skipped` with that reason, never passed, while `deny` still judges.

use anyhow::Result;

use crate::engine::gate::{Diagnostic, Gate, GateSpec, RunCtx, Step, Verdict, code};

const INPUTS: &[&str] = &["Cargo.lock", "**/Cargo.toml", "deny.toml"];

pub struct Deny(GateSpec);

impl Deny {
    pub fn new() -> Deny {
        Deny(
            super::Decl {
                name: "deny",
                description: "cargo-deny: licence allow-list, banned crates, allowed sources",
                deps: &[],
                globs: INPUTS,
                tools: &["cargo-deny"],
                env: &[],
                cargo: false,
                rust: false,
                // A fresh machine compiles cargo-deny first, beside the other gates.
                timeout_secs: 1200,
            }
            .spec(1),
        )
    }
}

impl Gate for Deny {
    fn spec(&self) -> &GateSpec {
        &self.0
    }

    fn steps(&self) -> Vec<Step> {
        let args = [
            "deny",
            "--all-features",
            "--locked",
            "check",
            "bans",
            "licenses",
            "sources",
        ];
        vec![Step::new("cargo", &args).tool("cargo-deny")]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let step = &self.steps()[0];
        let out = ctx.exec(step)?;
        if out.success() {
            return Ok(Verdict::passed(None));
        }
        let diagnostics = findings(&ctx.root, &out.combined());
        Ok(Verdict::failed_with(step, &out, diagnostics, |d| {
            let messages: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
            messages.join("; ")
        }))
    }
}

/// Pairs each `error[...]: message` of cargo-deny with the `┌─ file:line:col` that follows it.
fn findings(root: &std::path::Path, output: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut pending: Option<String> = None;
    for line in output.lines() {
        if line.starts_with("error[") {
            pending = line.split_once(": ").map(|(_, m)| m.trim().to_owned());
        } else if let (Some(at), Some(message)) = (line.split("┌─ ").nth(1), pending.as_ref()) {
            let mut parts = at.trim().rsplitn(3, ':');
            let (_col, line_no, file) = (parts.next(), parts.next(), parts.next());
            if let (Some(file), Some(Ok(n))) = (file, line_no.map(str::parse)) {
                found.push(Diagnostic {
                    file: super::relative(root, file),
                    line: n,
                    level: "error".into(),
                    message: message.clone(),
                });
            }
            pending = None;
        }
    }
    found
}

pub struct Advisories(GateSpec);

impl Advisories {
    pub fn new() -> Advisories {
        let mut spec = super::Decl {
            name: "advisories",
            description: "cargo-deny: no dependency has a RustSec advisory (needs the advisory database)",
            deps: &[],
            globs: INPUTS,
            tools: &["cargo-deny"],
            env: &[],
            cargo: false,
            rust: false,
            timeout_secs: 600,
        }
        .spec(1);
        // The database changes daily: a pass is only reused on the same (UTC) day.
        let day = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        spec.inputs.facts.push(format!("day={}", &day[..10]));
        Advisories(spec)
    }
}

impl Gate for Advisories {
    fn spec(&self) -> &GateSpec {
        &self.0
    }

    fn steps(&self) -> Vec<Step> {
        vec![
            Step::new(
                "cargo",
                &["deny", "--all-features", "--locked", "check", "advisories"],
            )
            .tool("cargo-deny"),
        ]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let step = &self.steps()[0];
        let out = ctx.exec(step)?;
        if out.success() {
            return Ok(Verdict::passed(None));
        }
        let text = out.combined();
        if let Some(why) = fetch_failure(&text) {
            return Ok(Verdict::skipped(format!(
                "advisory database unavailable: {why}"
            )));
        }
        Ok(Verdict::failed(format!(
            "`{step}` exited with {}: see the advisories in the log",
            code(&out)
        )))
    }
}

/// Recognises cargo-deny's complaint that it could not fetch or open the advisory database.
fn fetch_failure(output: &str) -> Option<String> {
    let markers = [
        "failed to fetch",
        "failed to open advisory database",
        "unable to fetch",
        "failed to clone",
    ];
    output
        .lines()
        .filter(|l| l.contains("error") || l.contains("ERROR"))
        .find(|l| {
            let l = l.to_lowercase();
            markers.iter().any(|m| l.contains(m))
        })
        .map(|l| l.trim().chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_errors_point_at_the_manifest_line() {
        let out = "error[wildcard]: found 1 wildcard dependency for crate 'xtask'\n   ┌─ /w/xtask/Cargo.toml:11:12\n   │\nwarning[license-not-encountered]: license was not encountered\n   ┌─ /w/deny.toml:16:4\n";
        let d = findings(std::path::Path::new("/w"), out);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].file.as_str(), d[0].line), ("xtask/Cargo.toml", 11));
        assert_eq!(
            d[0].message,
            "found 1 wildcard dependency for crate 'xtask'"
        );
    }

    #[test]
    fn a_fetch_failure_is_told_from_a_found_advisory() {
        let offline = "2026-11-21 ERROR failed to fetch advisory database: network unreachable\n";
        assert!(fetch_failure(offline).is_some());
        let found = "error[vulnerability]: Use-after-free in foo\n  ID: RUSTSEC-2026-0001\nadvisories FAILED\n";
        assert_eq!(fetch_failure(found), None);
        // Mentioning the database is not enough: only a failure to get it may turn into a skip.
        let broken = "error: advisory database contains an unparsable advisory RUSTSEC-2026-0002\n";
        assert_eq!(fetch_failure(broken), None);
    }
}
