//! Plain run settings, made from the command line and the environment before any work.

use std::path::PathBuf;

use crate::engine::output::Mode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// Everything a command needs to know about how to run; the domain never sees clap.
#[derive(Clone, Debug)]
pub struct Settings {
    pub root: PathBuf,
    pub jobs: usize,
    pub keep_going: bool,
    pub use_cache: bool,
    pub format: Format,
    pub mode: Mode,
    /// `CI=true`: skipped required gates fail the run; apt may install packages.
    pub ci: bool,
    /// `$GITHUB_STEP_SUMMARY`, when running in GitHub Actions.
    pub step_summary: Option<PathBuf>,
    /// `--ca-file`: CA files trusted beside the platform's roots.
    pub ca_files: Vec<PathBuf>,
}

/// Facts read from the process environment, passed in so tests can choose them.
#[derive(Clone, Debug)]
pub struct Environment {
    pub stderr_is_terminal: bool,
    pub ci: bool,
    pub github_actions: bool,
    pub step_summary: Option<PathBuf>,
    pub cpus: usize,
}

impl Environment {
    pub fn detect() -> Environment {
        let truthy =
            |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        Environment {
            stderr_is_terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            ci: truthy("CI"),
            github_actions: truthy("GITHUB_ACTIONS"),
            step_summary: std::env::var_os("GITHUB_STEP_SUMMARY")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            cpus: std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
        }
    }
}
