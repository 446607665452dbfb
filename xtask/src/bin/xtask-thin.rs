//! `cargo xtask` (the alias builds this binary without the `full` feature): the thin build,
//! which runs the gates that only check the workspace and hands every other command to the full
//! build (`xtask`). A binary of its own, so that building it never replaces the full one.

fn main() -> std::process::ExitCode {
    xtask::main()
}
