//! Test seam: a scratch copy of a fixture workspace and a way to run the xtask binary on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A fixture workspace copied into a temp dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// The workspace: the temporary directory itself, or a directory inside it.
    root: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        Fixture::at(name, "")
    }

    /// The fixture one directory below a temporary directory (`<tmp>/ws`), so that a test can
    /// put files above the workspace (cargo configuration, say).
    pub fn nested(name: &str) -> Fixture {
        Fixture::at(name, "ws")
    }

    /// Fixture `name` copied to `below` inside a new temporary directory.
    fn at(name: &str, below: &str) -> Fixture {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join(below);
        std::fs::create_dir_all(&root).expect("create the workspace");
        copy_dir(&src, &root);
        Fixture { dir, root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).expect("write fixture file");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// A command running xtask on this fixture, with the CI variables of the outer run removed.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_xtask")), args)
    }

    /// [`Fixture::command`] with another build of xtask (`program`).
    #[expect(
        clippy::disallowed_methods,
        reason = "tests drive the xtask binary as a user would"
    )]
    pub fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--root")
            .arg(self.root())
            .args(args)
            .current_dir(self.root());
        // The fixture's own cargo must not inherit the outer run's toolchain, flags or compile
        // cache (the race gate runs these tests under nightly with -Zsanitizer=thread; a run
        // with a shared cache runs them with sccache as RUSTC_WRAPPER, which the fixtures' own
        // keys would then hold).
        for var in [
            "CI",
            "GITHUB_ACTIONS",
            "GITHUB_STEP_SUMMARY",
            "FIXTURE_FLAVOUR",
            "RUSTUP_TOOLCHAIN",
            "RUSTFLAGS",
            "RUSTDOCFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "SCCACHE_SERVER_PORT",
            "GATEHOUSE_SCCACHE",
            "GITHUB_REPOSITORY",
            "GITHUB_API_URL",
            "GITHUB_TOKEN",
            "COSIGN_PRIVATE_KEY",
            "COSIGN_PASSWORD",
            "GATEHOUSE_REGISTRY_URL",
            "GATEHOUSE_CA_FILE",
            "GATEHOUSE_CACHE",
            "GATEHOUSE_CACHE_KEY",
            "GATEHOUSE_HANDOFF",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        Run::from(cmd.output().expect("run xtask"))
    }

    /// Runs xtask with cargo's output in `target/fixtures/<builds>` of this workspace: kept
    /// between runs and shared by every test of a fixture, so its dependencies build once.
    pub fn run_sharing_builds(&self, builds: &str, args: &[&str]) -> Run {
        self.run_in_target(&repo_root().join("target/fixtures").join(builds), args)
    }

    /// Runs xtask with cargo's output in `target`, which other tests share. Runs sharing one
    /// directory take turns (a lock on `<target>.lock`): the fixtures have the same package names,
    /// so one would otherwise run test binaries another had just rebuilt from its own sources.
    pub fn run_in_target(&self, target: &Path, args: &[&str]) -> Run {
        std::fs::create_dir_all(target).unwrap();
        let lock = std::fs::File::create(target.with_extension("lock")).unwrap();
        lock.lock()
            .expect("take turns in the shared target directory");
        let target = target.display().to_string();
        self.run_with(args, &[("CARGO_TARGET_DIR", target.as_str())])
    }

    /// The newest run's `report.json`.
    pub fn report(&self) -> Value {
        let text = self.read("target/xtask/runs/latest/report.json");
        serde_json::from_str(&text).expect("report.json is JSON")
    }

    /// Runs git in the fixture (a throw-away identity, fixed dates, no signing): the same history
    /// made twice has the same commit ids. Panics when git fails.
    #[expect(
        clippy::disallowed_methods,
        reason = "tests make git histories with tags"
    )]
    pub fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
            .args(args)
            .env("GIT_AUTHOR_DATE", "2026-11-01T12:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-11-01T12:00:00Z")
            .current_dir(self.root())
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn run_file(&self, name: &str) -> String {
        self.read(&format!("target/xtask/runs/latest/{name}"))
    }
}

/// The status of one gate in a report.
pub fn status<'a>(report: &'a Value, gate: &str) -> &'a str {
    gate_entry(report, gate)["status"]
        .as_str()
        .unwrap_or("absent")
}

pub fn reason<'a>(report: &'a Value, gate: &str) -> &'a str {
    gate_entry(report, gate)["reason"].as_str().unwrap_or("")
}

pub fn gate_entry<'a>(report: &'a Value, gate: &str) -> &'a Value {
    report["gates"]
        .as_array()
        .and_then(|gates| gates.iter().find(|g| g["name"] == gate))
        .unwrap_or(&Value::Null)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let to = dst.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).expect("copy fixture file");
        }
    }
}

/// This repository's root: tests that need a pinned tool take it from the repository's manifest.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Runs the xtask binary on this repository with `vars` set; the outer run's CI, registry and
/// trust settings are not inherited.
#[expect(
    clippy::disallowed_methods,
    reason = "the tests drive the xtask binary as a user would"
)]
pub fn repo_xtask(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("--root").arg(repo_root()).args(args);
    for var in [
        "CI",
        "GATEHOUSE_CA_FILE",
        "GATEHOUSE_REGISTRY_URL",
        "GATEHOUSE_REGISTRY_USER",
        "GATEHOUSE_REGISTRY_PASSWORD",
    ] {
        cmd.env_remove(var);
    }
    Run::from(cmd.envs(vars.iter().copied()).output().expect("run xtask"))
}

/// A pinned tool's executable, provisioned by `cargo xtask tools path`.
pub fn repo_tool(name: &str) -> PathBuf {
    let run = repo_xtask(&["tools", "path", name], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    PathBuf::from(run.stdout.trim())
}

/// Runs `program` (a tool, not xtask) with `args`.
#[expect(
    clippy::disallowed_methods,
    reason = "the tests drive tools as a user would"
)]
pub fn run_program(program: &Path, args: &[&str]) -> Run {
    Run::from(Command::new(program).args(args).output().expect("run"))
}

/// A real nginx terminating TLS (a certificate from `ca`) in front of `upstream` (`host:port`,
/// plain HTTP): how a mock that only speaks HTTP (wiremock's GitHub) is reached over HTTPS, as
/// the real service is. Stopped on drop.
pub struct TlsFront {
    pub nginx: launcher::Nginx,
    _dir: tempfile::TempDir,
}

impl TlsFront {
    pub fn start(upstream: &str, ca: &launcher::Ca) -> TlsFront {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = launcher::free_port().unwrap();
        let nginx = launcher::Nginx::start(&repo_tool("nginx"), dir.path(), port, upstream, ca)
            .expect("nginx");
        TlsFront { nginx, _dir: dir }
    }

    pub fn url(&self) -> String {
        self.nginx.url()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.nginx.stop();
    }
}

/// The source directories of gatehouse's own crates; `gatehouse-process`, the one spawner, is
/// left out when `with_spawner` is false.
pub fn gatehouse_sources(with_spawner: bool) -> Vec<PathBuf> {
    let mut dirs = vec![repo_root().join("xtask/src")];
    for entry in std::fs::read_dir(repo_root().join("xtask")).unwrap() {
        let dir = entry.unwrap().path();
        let spawner = dir.ends_with("process");
        if dir.join("Cargo.toml").is_file() && (with_spawner || !spawner) {
            dirs.push(dir.join("src"));
        }
    }
    assert!(dirs.len() >= 10, "every gatehouse crate: {dirs:?}");
    let mut files = Vec::new();
    for dir in dirs {
        rust_files(&dir, &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    files
}

/// Every line `find` reports in `files`, as `path: what`.
pub fn scan(files: &[PathBuf], find: impl Fn(&str) -> Vec<String>) -> Vec<String> {
    files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            find(&text)
                .into_iter()
                .map(move |hit| format!("{}: {hit}", file.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every variable through which the outer environment could choose credentials or endpoints.
pub const AWS_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// moto (the AWS API emulator) on loopback over TLS with its own CA, and a scratch directory.
pub struct Moto {
    pub server: launcher::Loopback,
    /// Its CA's files live as long as this value.
    _ca: launcher::Ca,
    /// moto's Python, which has boto3: an independent client for setting up and inspecting.
    pub python: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = repo_tool("moto");
        let ca = launcher::Ca::throwaway().unwrap();
        Moto {
            server: launcher::moto(&bin, &ca).unwrap(),
            _ca: ca,
            python: bin.with_file_name("python"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// Runs `body` (Python) after `import boto3, json` with `s3`, a boto3 S3 client of moto;
    /// its stdout.
    pub fn boto3_s3(&self, body: &str) -> String {
        let script = format!(
            "import boto3, json, base64\n\
             s3 = boto3.client('s3', region_name='us-east-1', endpoint_url='{url}', aws_access_key_id='testing', aws_secret_access_key='testing', verify='{ca}')\n\
             {body}\n",
            url = self.server.url(),
            ca = self.server.ca_path().display(),
        );
        let out = run_program(&self.python, &["-c", &script]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    }
}
