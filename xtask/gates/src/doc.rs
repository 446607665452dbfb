//! `doc`: `cargo doc --no-deps` with rustdoc warnings denied.

use crate::engine::gate::{Gate, GateSpec, Step};

pub struct Doc(GateSpec);

impl Doc {
    /// `compiled`: non-Rust files compiled into the crates (e.g. embedded migrations).
    pub fn new(compiled: &[String]) -> Doc {
        let mut spec = super::Decl {
            name: "doc",
            description: "rustdoc: documentation builds with warnings denied (cargo doc --no-deps)",
            deps: &["fmt"],
            globs: super::RUST_INPUTS,
            tools: &[],
            env: &["RUSTDOCFLAGS"],
            cargo: true,
            rust: true,
            timeout_secs: 1200,
        }
        .spec(1);
        spec.inputs.globs.extend(compiled.iter().cloned());
        Doc(spec)
    }
}

impl Gate for Doc {
    fn spec(&self) -> &GateSpec {
        &self.0
    }

    fn steps(&self) -> Vec<Step> {
        let flags = std::env::var("RUSTDOCFLAGS").unwrap_or_default();
        let flags = format!("{flags} -D warnings").trim().to_owned();
        vec![
            Step::new(
                "cargo",
                &[
                    "doc",
                    "--workspace",
                    "--no-deps",
                    "--all-features",
                    "--locked",
                ],
            )
            .env("RUSTDOCFLAGS", &flags),
        ]
    }
}
