//! Fixed exit codes and the typed failures that map to them.

use std::process::ExitCode;

/// Every exit code `cargo xtask` can return. Documented in README.md and `--help`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// All required gates passed (or were cached).
    Ok = 0,
    /// A gate failed, or a required gate was skipped under `CI=true`.
    GateFailed = 1,
    /// Bad command line or bad configuration.
    Usage = 2,
    /// A required tool or component is missing and could not be installed.
    MissingTool = 3,
    /// A release was refused before anything was done (dirty tree, existing tag, nothing to
    /// release).
    Refused = 4,
    /// A load test's threshold or an SLO was not met (`cargo xtask load`).
    ThresholdFailed = 5,
    /// A promotion failed its judgement (and was rolled back where possible), or a drill failed.
    Rejected = 6,
    /// An endpoint could not be trusted or refused our credentials: a TLS certificate from an
    /// unknown CA, expired or for another host, or a registry that refused authentication.
    Untrusted = 7,
    /// Interrupted by Ctrl-C (SIGINT) or SIGTERM; every running tool was killed.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Failures that decide the exit code. Anything else is reported as exit 1.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    MissingTool(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Threshold(String),
    #[error("{0}")]
    Untrusted(String),
    #[error("interrupted")]
    Interrupted,
    #[error("timed out")]
    TimedOut,
}

impl Failure {
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Usage(_) | Failure::Config(_) => Exit::Usage,
            Failure::MissingTool(_) => Exit::MissingTool,
            Failure::Refused(_) => Exit::Refused,
            Failure::Threshold(_) => Exit::ThresholdFailed,
            Failure::Untrusted(_) => Exit::Untrusted,
            Failure::Interrupted => Exit::Interrupted,
            Failure::TimedOut => Exit::GateFailed,
        }
    }
}

/// The classified failure somewhere in an error's chain, if any.
pub fn failure_of(err: &anyhow::Error) -> Option<&Failure> {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<Failure>())
}

/// The exit code for an error that escaped a command.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    failure_of(err).map_or(Exit::GateFailed, Failure::exit)
}
