//! `cargo xtask`'s full build: every command (see [`xtask::main`]).

fn main() -> std::process::ExitCode {
    xtask::main()
}
