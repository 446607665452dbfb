//! Every path gatehouse uses under a workspace, in one place. gatehouse's own state (run reports,
//! the cache, release evidence, deploy and drill state, logs) lives in `<root>/target/xtask/`
//! whatever `CARGO_TARGET_DIR` says; cargo's build output is wherever cargo puts it.

use std::path::{Path, PathBuf};

/// The paths of one workspace.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn of(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    /// `<root>/target/xtask`: everything gatehouse writes.
    pub fn state(&self) -> PathBuf {
        self.root.join("target/xtask")
    }

    /// `runs/`: one directory per run (`runs/<id>/report.json`, `runs/latest`).
    pub fn runs(&self) -> PathBuf {
        self.state().join("runs")
    }

    /// `cache/`: the local store of gate results.
    pub fn cache(&self) -> PathBuf {
        self.state().join("cache")
    }

    /// `release/`: every release's directory.
    pub fn releases(&self) -> PathBuf {
        self.state().join("release")
    }

    /// `release/<tag>/`: a release's artifacts, evidence and log.
    pub fn release(&self, tag: &str) -> PathBuf {
        self.releases().join(tag)
    }

    /// `deploy/<env>/`: a local environment's state.
    pub fn deploy(&self, env: &str) -> PathBuf {
        self.state().join("deploy").join(env)
    }

    /// `drill/`: the rollback drill's throw-away environment and report.
    pub fn drill(&self) -> PathBuf {
        self.state().join("drill")
    }

    /// `dev/`: `cargo xtask dev`'s stack.
    pub fn dev(&self) -> PathBuf {
        self.state().join("dev")
    }

    /// `load/<profile>/`: a `cargo xtask load` run.
    pub fn load(&self, profile: &str) -> PathBuf {
        self.state().join("load").join(profile)
    }

    /// `helm/`: helm's home (config, cache, data) for every helm call.
    pub fn helm(&self) -> PathBuf {
        self.state().join("helm")
    }

    /// A command's own log, e.g. `codegen.log` or `chart/render.log`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.state().join(name)
    }

    /// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the root), else `<root>/target`.
    pub fn cargo_target(&self) -> PathBuf {
        cargo_target_dir(&self.root)
    }
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `<root>/target`).
pub fn cargo_target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |d| root.join(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gatehouse_state_stays_under_the_workspace_whatever_cargo_builds_into() {
        let layout = Layout::of(Path::new("/ws"));
        assert_eq!(
            layout.release("v1.0.0"),
            Path::new("/ws/target/xtask/release/v1.0.0")
        );
        assert_eq!(
            layout.deploy("local"),
            Path::new("/ws/target/xtask/deploy/local")
        );
        assert_eq!(layout.runs(), Path::new("/ws/target/xtask/runs"));
        assert_eq!(
            layout.log("chart/render.log"),
            Path::new("/ws/target/xtask/chart/render.log")
        );
    }
}
