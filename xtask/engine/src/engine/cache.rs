//! The content-addressed cache: a passed gate is stored under the hash of everything that decides it.
//!
//! Key = sha256 of the gate's manifest: its name, version and commands, every input file's path
//! and contents, the pinned versions of its tools, the values of its environment variables, its
//! facts and extra files. The manifest is kept with the entry, so `cargo xtask explain` can say
//! which input changed. Failures are never stored, nor a pass whose inputs changed while it ran.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::gate::{GateSpec, GitInput};
use crate::exit::Failure;

/// What a cached pass remembers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub gate: String,
    pub key: String,
    pub passed_at: String,
    pub duration_ms: u64,
    pub summary: Option<String>,
    pub run_id: String,
    /// The service binary the pass judged (see [`crate::engine::gate::Verdict`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_sha256: Option<String>,
    /// Files the gate's builds read that its globs do not cover (cargo's dep-info), with their
    /// SHA-256: the pass holds only while each is unchanged ([`super::depinfo`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<(String, String)>,
    /// Every input and its hash or value, in key order.
    #[serde(default)]
    pub manifest: Manifest,
}

/// What a key is made of: `(kind, name-or-value)` fields in a fixed order.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest(pub Vec<(String, String)>);

impl Manifest {
    fn push(&mut self, label: &str, value: &str) {
        self.0.push((label.to_owned(), value.to_owned()));
    }

    /// The cache key: sha256 of every field.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        for (label, value) in &self.0 {
            h.update(label.as_bytes());
            h.update([0]);
            h.update(value.as_bytes());
            h.update([0]);
        }
        hex(&h.finalize())
    }

    /// The inputs as `name → value` (`file a.rs → sha256`, `tool nightly → pin`, …).
    fn inputs(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut pending: Option<String> = None;
        for (label, value) in &self.0 {
            match label.as_str() {
                "gate" | "version" | "fact" | "command" => {
                    out.insert(format!("{label} {value}"), String::new());
                }
                "file" | "tool" | "env" | "extra-file" | "rust" | "git" => {
                    pending = Some(format!("{label} {value}"));
                }
                _ => {
                    if let Some(name) = pending.take() {
                        out.insert(name, value.clone());
                    }
                }
            }
        }
        out
    }

    /// What changed from `before` to `self`, one line per input.
    pub fn changes_since(&self, before: &Manifest) -> Vec<String> {
        let (old, new) = (before.inputs(), self.inputs());
        let mut out = Vec::new();
        for (name, value) in &new {
            match old.get(name) {
                None => out.push(format!("added: {name}")),
                Some(was) if was != value => {
                    out.push(format!(
                        "changed: {name} ({} → {})",
                        short(was),
                        short(value)
                    ));
                }
                Some(_) => {}
            }
        }
        for name in old.keys().filter(|n| !new.contains_key(*n)) {
            out.push(format!("removed: {name}"));
        }
        out
    }
}

fn short(value: &str) -> &str {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        &value[..12]
    } else {
        value
    }
}

/// Where passes are kept: the local store under `target/`, or the local store in front of a
/// signed shared one ([`super::shared::Layered`]).
pub trait Store: Send + Sync {
    /// The pass of `gate` stored under `key`.
    fn get(&self, gate: &str, key: &str) -> Option<Entry>;
    fn put(&self, entry: &Entry) -> Result<()>;
    /// The newest pass stored for `gate`, whatever its key (what `explain` compares with).
    fn latest(&self, gate: &str) -> Option<Entry>;
    /// What the store has to say since it was last asked (where a pass came from, entries it
    /// ignored and why, a store it could not reach), one line each.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One JSON file per key under a directory.
#[derive(Debug)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    pub fn new(dir: PathBuf) -> LocalStore {
        LocalStore { dir }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn latest_path(&self, gate: &str) -> PathBuf {
        self.dir.join("by-gate").join(format!("{gate}.json"))
    }

    /// Write then rename, so a concurrent reader never sees half an entry.
    fn write(&self, path: &Path, entry: &Entry) -> Result<()> {
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join(format!(".{}.{}.tmp", entry.key, std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(entry)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

impl Store for LocalStore {
    fn get(&self, gate: &str, key: &str) -> Option<Entry> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        serde_json::from_str::<Entry>(&text)
            .ok()
            .filter(|e| e.key == key && e.gate == gate)
    }

    fn put(&self, entry: &Entry) -> Result<()> {
        self.write(&self.path(&entry.key), entry)?;
        self.write(&self.latest_path(&entry.gate), entry)
    }

    fn latest(&self, gate: &str) -> Option<Entry> {
        let text = std::fs::read_to_string(self.latest_path(gate)).ok()?;
        serde_json::from_str::<Entry>(&text)
            .ok()
            .filter(|e| e.gate == gate)
    }
}

/// The workspace's files (respecting `.gitignore`), hashed on demand, once each.
#[derive(Debug)]
pub struct Snapshot {
    root: PathBuf,
    files: Vec<String>,
    hashes: std::sync::Mutex<BTreeMap<String, String>>,
    rust: std::sync::OnceLock<Vec<(String, String)>>,
    tracked: std::sync::OnceLock<String>,
    tags: std::sync::OnceLock<String>,
}

impl Snapshot {
    pub fn scan(root: &Path) -> Result<Snapshot> {
        let mut files = Vec::new();
        let walker = ignore::WalkBuilder::new(root)
            .hidden(false)
            .require_git(false)
            .filter_entry(|e| e.file_name() != ".git")
            .build();
        for entry in walker {
            let entry = entry.context("cannot walk the workspace for cache inputs")?;
            if entry.file_type().is_some_and(|t| t.is_file()) {
                let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
                files.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        files.sort();
        Ok(Snapshot {
            root: root.to_path_buf(),
            files,
            hashes: Default::default(),
            rust: std::sync::OnceLock::new(),
            tracked: std::sync::OnceLock::new(),
            tags: std::sync::OnceLock::new(),
        })
    }

    /// What decides a Rust build besides the workspace's files, as `(label, value)` pairs, read
    /// once per snapshot: `rustc -vV` of the toolchain rustup resolves in the root (a
    /// `RUSTUP_TOOLCHAIN` or `cargo +toolchain` override included), every cargo configuration
    /// file from the root up to `/` and in `CARGO_HOME`, and the environment cargo and rustc
    /// read (`CARGO_*`, `RUSTFLAGS`, `RUSTC_WRAPPER`, …, not what only styles output or what cargo
    /// sets for the binary it runs).
    pub fn rust_build(&self) -> &[(String, String)] {
        self.rust.get_or_init(|| rust_build(&self.root))
    }

    /// SHA-256 of what git says about `input` in the root, read once per snapshot; why not, when
    /// git cannot say.
    pub fn git(&self, input: GitInput) -> &str {
        match input {
            GitInput::Tracked => self
                .tracked
                .get_or_init(|| git_digest(&self.root, &[&["ls-files", "--stage", "-z"]])),
            GitInput::Tags => self.tags.get_or_init(|| {
                let refs = "--format=%(refname) %(objectname) %(*objectname)";
                git_digest(
                    &self.root,
                    &[
                        &["for-each-ref", refs, "refs/tags"],
                        &["rev-parse", "--is-shallow-repository"],
                    ],
                )
            }),
        }
    }

    /// Files matching the globs (a leading `!` excludes), in order.
    pub fn matching(&self, globs: &[String]) -> Result<Vec<&str>> {
        let (include, exclude) = glob_sets(globs)?;
        Ok(self
            .files
            .iter()
            .map(String::as_str)
            .filter(|f| include.is_match(f) && !exclude.is_match(f))
            .collect())
    }

    /// A file or directory the walk does not list (ignored or outside the root): hashed when
    /// asked, never remembered; `absent` when it cannot be read. A directory hashes the names and
    /// contents of everything below it.
    pub fn hash_outside(&self, path: &str) -> String {
        let mut h = Sha256::new();
        if !hash_tree(&self.root.join(path), &mut h) {
            return "absent".to_owned();
        }
        hex(&h.finalize())
    }

    fn hash_file(&self, rel: &str) -> Result<String> {
        if let Some(h) = self.hashes.lock().ok().and_then(|m| m.get(rel).cloned()) {
            return Ok(h);
        }
        let bytes = std::fs::read(self.root.join(rel))
            .with_context(|| format!("cannot read input {rel}"))?;
        let h = hex(&Sha256::digest(&bytes));
        if let Ok(mut m) = self.hashes.lock() {
            m.insert(rel.to_owned(), h.clone());
        }
        Ok(h)
    }
}

fn rust_build(root: &Path) -> Vec<(String, String)> {
    let mut out = vec![("toolchain".to_owned(), toolchain(root))];
    out.extend(cargo_configs(root));
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())));
    out.extend(build_vars(env.collect()));
    out
}

/// The build environment's entries of a key, from every variable set (`env`): the variables
/// cargo and rustc read, with `CARGO_HOME` at its effective value (set or not, `~/.cargo` is the
/// same home: rustup's proxy sets it for `cargo run`, a direct run has it unset).
fn build_vars(env: Vec<(String, String)>) -> Vec<(String, String)> {
    let home = env
        .iter()
        .find(|(k, _)| k == "HOME")
        .map(|(_, v)| format!("{v}/.cargo"));
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| build_env(k))
        .map(|(k, v)| (format!("build-env {k}"), v))
        .collect();
    if !vars.iter().any(|(k, _)| k == "build-env CARGO_HOME")
        && let Some(home) = home
    {
        vars.push(("build-env CARGO_HOME".to_owned(), home));
    }
    vars.sort();
    vars
}

/// Every cargo configuration file that exists from `root` up to `/` and in `CARGO_HOME`, with
/// its SHA-256; the workspace's own by their path inside it, so that a clone elsewhere (another
/// runner's checkout) has the same key.
fn cargo_configs(root: &Path) -> Vec<(String, String)> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let dirs = root.ancestors().map(|d| d.join(".cargo")).chain(home);
    let mut out = Vec::new();
    for dir in dirs {
        for name in ["config.toml", "config"] {
            let file = dir.join(name);
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let shown = file.strip_prefix(root).map_or_else(
                |_| file.display().to_string(),
                |rel| format!("./{}", rel.display()),
            );
            out.push((
                format!("cargo-config {shown}"),
                hex(&Sha256::digest(&bytes)),
            ));
        }
    }
    out
}

/// SHA-256 of the outputs of the git commands `args` in `root`, or why git could not say.
fn git_digest(root: &Path, args: &[&[&str]]) -> String {
    let mut hasher = Sha256::new();
    for &args in args {
        let out = xshell::Shell::new()
            .map_err(anyhow::Error::from)
            .and_then(|sh| {
                sh.change_dir(root);
                crate::process::capture(
                    xshell::cmd!(sh, "git {args...}"),
                    std::time::Duration::from_secs(60),
                )
            });
        match out {
            Ok(out) if out.success() => hasher.update(out.stdout.as_bytes()),
            Ok(out) => return format!("git {} failed: {}", args.join(" "), out.stderr.trim()),
            Err(e) => return format!("git {} failed: {e:#}", args.join(" ")),
        }
    }
    hex(&hasher.finalize())
}

/// `rustc -vV` as rustup resolves it in `root`, or why it could not run.
fn toolchain(root: &Path) -> String {
    let probe = xshell::Shell::new()
        .map_err(anyhow::Error::from)
        .and_then(|sh| {
            sh.change_dir(root);
            crate::process::capture(
                xshell::cmd!(sh, "rustc -vV"),
                std::time::Duration::from_secs(60),
            )
        });
    match probe {
        Ok(out) if out.success() => out.stdout.trim().lines().collect::<Vec<_>>().join("; "),
        Ok(out) => format!("rustc -vV failed: {}", out.stderr.trim()),
        Err(e) => format!("rustc -vV failed: {e:#}"),
    }
}

/// Environment variables that change what cargo or rustc builds.
fn build_env(name: &str) -> bool {
    const SET_BY_CARGO_RUN: [&str; 8] = [
        "CARGO",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    let cargo = name.starts_with("CARGO_")
        && !name.starts_with("CARGO_PKG_")
        && !name.starts_with("CARGO_BIN_EXE_")
        && !name.starts_with("CARGO_TERM_")
        && !SET_BY_CARGO_RUN.contains(&name);
    let rust = matches!(
        name,
        "RUSTFLAGS"
            | "RUSTDOCFLAGS"
            | "RUSTC"
            | "RUSTDOC"
            | "RUSTC_WRAPPER"
            | "RUSTC_WORKSPACE_WRAPPER"
            | "RUSTC_BOOTSTRAP"
    );
    cargo || rust
}

fn hash_tree(path: &Path, h: &mut Sha256) -> bool {
    if let Ok(bytes) = std::fs::read(path) {
        h.update(&bytes);
        return true;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for entry in entries {
        h.update(entry.file_name().unwrap_or_default().as_encoded_bytes());
        h.update([0]);
        hash_tree(&entry, h);
    }
    true
}

fn glob_sets(globs: &[String]) -> Result<(GlobSet, GlobSet)> {
    let mut include = GlobSetBuilder::new();
    let mut exclude = GlobSetBuilder::new();
    for g in globs {
        let (set, pattern) = match g.strip_prefix('!') {
            Some(p) => (&mut exclude, p),
            None => (&mut include, g.as_str()),
        };
        let glob = Glob::new(pattern)
            .map_err(|e| Failure::Config(format!("bad input glob `{g}`: {e}")))?;
        set.add(glob);
    }
    Ok((include.build()?, exclude.build()?))
}

/// Computes a gate's cache key (see [`manifest`]).
pub fn key(
    spec: &GateSpec,
    commands: &[String],
    snapshot: &Snapshot,
    tool_versions: &BTreeMap<String, String>,
) -> Result<String> {
    Ok(manifest(spec, commands, snapshot, tool_versions)?.key())
}

/// What decides a gate: its declaration, its commands as `plan` shows them (so a changed
/// command line invalidates passes without a version bump), its inputs; `tool_versions` maps
/// manifest names to pinned versions.
pub fn manifest(
    spec: &GateSpec,
    commands: &[String],
    snapshot: &Snapshot,
    tool_versions: &BTreeMap<String, String>,
) -> Result<Manifest> {
    let mut m = Manifest::default();
    // Where the checkout lives is not an input: another runner's clone at another path (a
    // shared cache's reader) has the same key.
    let root = snapshot.root.display().to_string();
    let unrooted = |text: &str| {
        if root.len() > 1 {
            text.replace(&root, "<root>")
        } else {
            text.to_owned()
        }
    };
    let mut field = |label: &str, value: &str| m.push(label, value);
    field("gate", &spec.name);
    field("version", &spec.version.to_string());
    for command in commands {
        field("command", &unrooted(command));
    }
    for file in snapshot.matching(&spec.inputs.globs)? {
        field("file", file);
        field("sha256", &snapshot.hash_file(file)?);
    }
    for tool in &spec.inputs.tools {
        field("tool", tool);
        field(
            "pin",
            tool_versions.get(tool).map_or("unpinned", String::as_str),
        );
    }
    for var in &spec.inputs.env {
        field("env", var);
        field(
            "value",
            &std::env::var(var).unwrap_or_else(|_| "\u{0}unset".to_owned()),
        );
    }
    for fact in &spec.inputs.facts {
        field("fact", fact);
    }
    for file in &spec.inputs.files {
        field("extra-file", &unrooted(file));
        field("sha256", &snapshot.hash_outside(file));
    }
    for input in &spec.inputs.git {
        field("git", &format!("{input:?}").to_lowercase());
        field("sha256", snapshot.git(*input));
    }
    if spec.inputs.rust {
        for (name, value) in snapshot.rust_build() {
            field("rust", name);
            field("value", value);
        }
    }
    Ok(m)
}

/// SHA-256 (hex) of the file at `path`; `None` when it cannot be read.
pub fn sha256_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(hex(&Sha256::digest(bytes)))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::gate::Inputs;

    fn spec(globs: &[&str]) -> GateSpec {
        GateSpec {
            name: "g".into(),
            description: String::new(),
            version: 1,
            deps: vec![],
            inputs: Inputs {
                globs: globs.iter().map(|s| (*s).to_owned()).collect(),
                ..Inputs::default()
            },
            resources: vec![],
            timeout: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn a_clone_at_another_path_has_the_same_key() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [a.path(), b.path()] {
            std::fs::create_dir_all(dir.join(".cargo")).unwrap();
            std::fs::write(dir.join(".cargo/config.toml"), "[build]\n").unwrap();
            std::fs::write(dir.join("a.rs"), "fn a() {}").unwrap();
        }
        let key_in = |dir: &Path| {
            let mut spec = spec(&["**/*.rs"]);
            spec.inputs.files = vec![dir.join(".git/index").display().to_string()];
            let command = format!("cargo build --manifest-path {}/Cargo.toml", dir.display());
            key(
                &spec,
                &[command],
                &Snapshot::scan(dir).unwrap(),
                &BTreeMap::new(),
            )
            .unwrap()
        };
        assert_eq!(key_in(a.path()), key_in(b.path()));
        let own = |dir: &Path| {
            cargo_configs(dir)
                .into_iter()
                .filter(|(label, _)| label.starts_with("cargo-config ./"))
                .collect::<Vec<_>>()
        };
        assert_eq!(own(a.path()), own(b.path()));
        assert_eq!(own(a.path())[0].0, "cargo-config ./.cargo/config.toml");
        std::fs::write(b.path().join(".cargo/config.toml"), "[build]\njobs = 1\n").unwrap();
        assert_ne!(
            own(a.path()),
            own(b.path()),
            "the workspace's cargo config is an input"
        );
    }

    #[test]
    fn key_changes_with_an_input_and_not_with_an_unrelated_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.rs"), "fn a() {}").unwrap();
        std::fs::write(dir.path().join("b.md"), "# b").unwrap();
        let pins = BTreeMap::new();
        let k1 = key(
            &spec(&["**/*.rs"]),
            &[],
            &Snapshot::scan(dir.path()).unwrap(),
            &pins,
        )
        .unwrap();
        std::fs::write(dir.path().join("b.md"), "# changed").unwrap();
        let k2 = key(
            &spec(&["**/*.rs"]),
            &[],
            &Snapshot::scan(dir.path()).unwrap(),
            &pins,
        )
        .unwrap();
        assert_eq!(k1, k2);
        std::fs::write(dir.path().join("a.rs"), "fn a() { }").unwrap();
        let k3 = key(
            &spec(&["**/*.rs"]),
            &[],
            &Snapshot::scan(dir.path()).unwrap(),
            &pins,
        )
        .unwrap();
        assert_ne!(k1, k3);
        let snapshot = Snapshot::scan(dir.path()).unwrap();
        let with =
            |cmd: &str| key(&spec(&["**/*.rs"]), &[cmd.to_owned()], &snapshot, &pins).unwrap();
        assert_ne!(
            with("cargo doc"),
            with("cargo doc --all-targets"),
            "a changed command line"
        );
    }

    #[test]
    fn excluded_globs_do_not_enter_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/x.rs"), "1").unwrap();
        let snap = Snapshot::scan(dir.path()).unwrap();
        assert_eq!(
            snap.matching(&["**".into(), "!docs/**".into()]).unwrap(),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn the_build_environment_is_what_cargo_and_rustc_read_not_what_styles_output() {
        for var in [
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
            "CARGO_HOME",
            "CARGO_BUILD_TARGET",
            "CARGO_PROFILE_RELEASE_LTO",
        ] {
            assert!(build_env(var), "{var}");
        }
        for var in [
            "CARGO_TERM_COLOR",
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO",
            "RUST_BACKTRACE",
            "PATH",
            // The toolchain it selects is in the key (`rustc -vV`), however it was selected.
            "RUSTUP_TOOLCHAIN",
        ] {
            assert!(!build_env(var), "{var}");
        }
    }

    /// `cargo xtask` (through rustup's proxy, which sets `CARGO_HOME` and `RUSTUP_TOOLCHAIN`)
    /// and `target/debug/xtask` run directly make the same build, so the same key; another
    /// `CARGO_HOME` is another build.
    #[test]
    fn a_run_through_rustups_proxy_and_a_direct_run_have_the_same_build_environment() {
        let vars = |extra: &[(&str, &str)]| {
            let mut env = vec![("HOME".to_owned(), "/home/dev".to_owned())];
            env.extend(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            build_vars(env)
        };
        let direct = vars(&[]);
        let proxied = vars(&[
            ("CARGO_HOME", "/home/dev/.cargo"),
            ("RUSTUP_TOOLCHAIN", "1.95.0-x86_64-unknown-linux-gnu"),
        ]);
        assert_eq!(direct, proxied);
        assert_ne!(direct, vars(&[("CARGO_HOME", "/opt/cargo")]));
        assert_ne!(direct, vars(&[("RUSTFLAGS", "-Cdebuginfo=0")]));
    }

    #[test]
    fn tool_pins_facts_and_extra_files_each_change_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(outside.path(), "v1").unwrap();
        let snapshot = || Snapshot::scan(dir.path()).unwrap();
        let mut gate = spec(&[]);
        gate.inputs.tools = vec!["t".into()];
        gate.inputs.env = vec!["GATEHOUSE_CACHE_TEST_VAR".into()];
        gate.inputs.files = vec![outside.path().display().to_string()];
        let pins = |v: &str| BTreeMap::from([("t".to_owned(), v.to_owned())]);
        let base = key(&gate, &[], &snapshot(), &pins("1.0")).unwrap();
        assert_eq!(
            base,
            key(&gate, &[], &snapshot(), &pins("1.0")).unwrap(),
            "stable"
        );
        assert_ne!(
            base,
            key(&gate, &[], &snapshot(), &pins("1.1")).unwrap(),
            "a tool pin"
        );
        std::fs::write(outside.path(), "v2").unwrap();
        assert_ne!(
            base,
            key(&gate, &[], &snapshot(), &pins("1.0")).unwrap(),
            "an extra file"
        );
        std::fs::write(outside.path(), "v1").unwrap();
        let mut with_fact = spec(&[]);
        with_fact.inputs = gate.inputs.clone();
        with_fact.inputs.facts = vec!["postgres 15".into()];
        assert_ne!(
            base,
            key(&with_fact, &[], &snapshot(), &pins("1.0")).unwrap(),
            "a fact"
        );
    }

    #[test]
    fn a_change_to_an_excluded_file_leaves_the_key_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/x.rs"), "1").unwrap();
        std::fs::write(dir.path().join("a.rs"), "1").unwrap();
        let gate = spec(&["**", "!docs/**"]);
        let pins = BTreeMap::new();
        let before = key(&gate, &[], &Snapshot::scan(dir.path()).unwrap(), &pins).unwrap();
        std::fs::write(dir.path().join("docs/x.rs"), "2").unwrap();
        let after = key(&gate, &[], &Snapshot::scan(dir.path()).unwrap(), &pins).unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn store_round_trips_and_rejects_a_foreign_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().to_path_buf());
        let entry = Entry {
            gate: "g".into(),
            key: "abc".into(),
            passed_at: "now".into(),
            duration_ms: 5,
            summary: None,
            binary_sha256: None,
            read: Vec::new(),
            run_id: "r".into(),
            manifest: Manifest::default(),
        };
        store.put(&entry).unwrap();
        assert_eq!(store.get("g", "abc"), Some(entry.clone()));
        assert_eq!(store.get("g", "abd"), None);
        assert_eq!(store.latest("g"), Some(entry));
        assert_eq!(store.latest("h"), None);
    }

    #[test]
    fn a_manifest_says_which_input_changed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.rs"), "1").unwrap();
        std::fs::write(dir.path().join("b.rs"), "1").unwrap();
        let mut gate = spec(&["*.rs"]);
        gate.inputs.tools = vec!["nightly".to_owned()];
        gate.inputs.env = vec!["GATEHOUSE_TEST_EXPLAIN".to_owned()];
        let pins = |v: &str| BTreeMap::from([("nightly".to_owned(), v.to_owned())]);
        let snap = |d: &Path| Snapshot::scan(d).unwrap();
        let before = manifest(
            &gate,
            &["cargo test".to_owned()],
            &snap(dir.path()),
            &pins("1"),
        )
        .unwrap();
        std::fs::write(dir.path().join("a.rs"), "2").unwrap();
        std::fs::remove_file(dir.path().join("b.rs")).unwrap();
        std::fs::write(dir.path().join("c.rs"), "1").unwrap();
        let after = manifest(
            &gate,
            &["cargo test --all".to_owned()],
            &snap(dir.path()),
            &pins("2"),
        )
        .unwrap();
        assert_ne!(before.key(), after.key());
        let changes = after.changes_since(&before);
        for expected in [
            "changed: file a.rs",
            "added: file c.rs",
            "removed: file b.rs",
            "changed: tool nightly (1 → 2)",
            "added: command cargo test --all",
            "removed: command cargo test",
        ] {
            assert!(
                changes.iter().any(|c| c.starts_with(expected)),
                "{expected} in {changes:?}"
            );
        }
        assert!(before.changes_since(&before).is_empty());
    }
}
