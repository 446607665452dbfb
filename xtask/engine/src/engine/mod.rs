//! The gate engine: declarations, graph, scheduler, cache, reports and progress output.

pub mod cache;
pub mod dag;
pub mod gate;
pub mod output;
pub mod report;
pub mod runner;
pub mod scheduler;

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `<root>/target`).
pub fn cargo_target_dir(root: &std::path::Path) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .map_or_else(|| root.join("target"), |d| root.join(d))
}
