//! `doc`: `cargo doc --no-deps` with rustdoc warnings denied.

use crate::engine::gate::{Gate, GateSpec, Step};

pub struct Doc(GateSpec);

impl Doc {
    pub fn new() -> Doc {
        Doc(super::Decl {
            name: "doc",
            description: "rustdoc: documentation builds with warnings denied (cargo doc --no-deps)",
            deps: &["fmt"],
            globs: super::RUST_INPUTS,
            tools: &[],
            env: &["RUSTDOCFLAGS"],
            cargo: true,
            timeout_secs: 1200,
        }
        .spec(1))
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
