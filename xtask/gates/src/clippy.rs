//! `clippy`: every lint denied, all targets and features; diagnostics map to file and line.

use anyhow::Result;
use serde_json::Value;

use crate::engine::gate::{Diagnostic, Gate, GateSpec, RunCtx, Step, Verdict};

pub struct Clippy(GateSpec);

impl Clippy {
    /// `compiled`: non-Rust files compiled into the crates (e.g. embedded migrations).
    pub fn new(compiled: &[String]) -> Clippy {
        let mut spec = super::Decl {
            name: "clippy",
            description: "clippy: no warnings in any target or feature (-D warnings)",
            deps: &["fmt"],
            globs: super::RUST_INPUTS,
            tools: &["clippy"],
            env: &["RUSTFLAGS"],
            cargo: true,
            rust: true,
            timeout_secs: 1800,
        }
        .spec(1);
        spec.inputs.globs.extend(compiled.iter().cloned());
        Clippy(spec)
    }
}

impl Gate for Clippy {
    fn spec(&self) -> &GateSpec {
        &self.0
    }

    fn steps(&self) -> Vec<Step> {
        let args = [
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
        ];
        let args = [
            &args[..],
            &["--message-format=json", "--", "-D", "warnings"],
        ]
        .concat();
        vec![Step::new("cargo", &args).tool("clippy").quiet_stdout()]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let step = &self.steps()[0];
        let out = ctx.exec(step)?;
        let (rendered, diagnostics) = parse(&ctx.root, &out.stdout);
        ctx.log(&rendered);
        if out.success() {
            return Ok(Verdict::passed(None));
        }
        Ok(Verdict::failed_with(step, &out, diagnostics, |d| {
            let errors = d.iter().filter(|d| d.level == "error").count();
            format!("{errors} error(s), {} diagnostic(s) in all", d.len())
        }))
    }
}

/// Reads cargo's JSON messages: the rendered text for the log, and one diagnostic per primary span.
fn parse(root: &std::path::Path, stdout: &str) -> (String, Vec<Diagnostic>) {
    let mut rendered = String::new();
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-message" {
            continue;
        }
        let message = &msg["message"];
        if let Some(text) = message["rendered"].as_str() {
            rendered.push_str(text);
        }
        let Some(d) = diagnostic(root, message) else {
            continue;
        };
        if !diagnostics.contains(&d) {
            diagnostics.push(d);
        }
    }
    (rendered, diagnostics)
}

fn diagnostic(root: &std::path::Path, message: &Value) -> Option<Diagnostic> {
    let level = message["level"].as_str()?;
    if level != "error" && level != "warning" {
        return None;
    }
    let span = message["spans"]
        .as_array()?
        .iter()
        .find(|s| s["is_primary"] == true)?;
    Some(Diagnostic {
        file: super::relative(root, span["file_name"].as_str()?),
        line: u32::try_from(span["line_start"].as_u64()?).ok()?,
        level: level.to_owned(),
        message: message["message"].as_str()?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_messages_map_to_file_and_line() {
        let msg = r#"{"reason":"compiler-message","message":{"level":"error","message":"unused variable: `x`","rendered":"error: unused variable\n","spans":[{"file_name":"src/main.rs","line_start":4,"is_primary":true}]}}"#;
        let other = r#"{"reason":"compiler-artifact","target":{}}"#;
        let summary = r#"{"reason":"compiler-message","message":{"level":"error","message":"aborting","rendered":"error: aborting\n","spans":[]}}"#;
        let (rendered, d) = parse(
            std::path::Path::new("/w"),
            &format!("{msg}\n{other}\n{summary}\nnot json\n"),
        );
        assert_eq!(rendered, "error: unused variable\nerror: aborting\n");
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].file.as_str(), d[0].line, d[0].level.as_str()),
            ("src/main.rs", 4, "error")
        );
        assert_eq!(d[0].message, "unused variable: `x`");
    }
}
