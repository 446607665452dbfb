//! The release binary's CycloneDX 1.5 SBOM: exactly the packages linked into it for its target.
//! The set and its edges come from `cargo tree -e normal,no-proc-macro --target <target>`, which
//! resolves features per package and target as the build does (`cargo metadata`'s resolve
//! unifies the whole workspace, dev-dependencies included, and overstates); proc-macros run in
//! the compiler and are not linked. Licences come from `cargo metadata`, SHA-256 from the
//! checksums Cargo.lock pins. The release then checks the set against the artifacts its own
//! build compiled for the target ([`compiled_packages`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use cyclonedx_bom::models::component::Classification;
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::license::{LicenseChoice, Licenses};
use cyclonedx_bom::models::tool::{Tool, Tools};
use cyclonedx_bom::prelude::*;
use serde::Deserialize;

use crate::engine::gate::Step;

#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    version: String,
    license: Option<String>,
    source: Option<String>,
}

/// What the SBOM describes.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub package: &'a str,
    pub target: &'a str,
    pub version: &'a str,
    pub binary_sha256: &'a str,
    pub source_date_epoch: i64,
}

/// The cargo queries the SBOM is made from, in order: what `plan` shows and [`generate`] runs.
pub fn steps(package: &str, target: &str) -> [Step; 2] {
    [
        Step::new(
            "cargo",
            &[
                "metadata",
                "--format-version",
                "1",
                "--locked",
                "--filter-platform",
                target,
            ],
        ),
        Step::new(
            "cargo",
            &[
                "tree",
                "--locked",
                "-p",
                package,
                "-e",
                "normal,no-proc-macro",
                "--target",
                target,
            ],
        )
        .args(["--prefix", "depth", "--format", "{p}"].map(str::to_owned)),
    ]
}

/// `cargo metadata` of the workspace for `target`.
fn metadata(root: &Path, step: &Step) -> Result<Metadata> {
    let out = cargo(root, step)
        .context("`cargo metadata` failed: is Cargo.lock up to date? (`cargo update -w`)")?;
    serde_json::from_str(&out).context("cannot parse `cargo metadata`")
}

/// A cargo query's stdout; its stderr is the error when it fails.
fn cargo(root: &Path, step: &Step) -> Result<String> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    let (program, args) = (&step.program, &step.args);
    let out = crate::process::capture(
        xshell::cmd!(sh, "{program} {args...}"),
        std::time::Duration::from_secs(600),
    )?;
    anyhow::ensure!(out.success(), "{}", out.stderr.trim());
    Ok(out.stdout)
}

/// `name version` → the `checksum` Cargo.lock records for registry packages.
fn lock_checksums(root: &Path) -> Result<BTreeMap<(String, String), String>> {
    #[derive(Deserialize)]
    struct Lock {
        package: Vec<Locked>,
    }
    #[derive(Deserialize)]
    struct Locked {
        name: String,
        version: String,
        checksum: Option<String>,
    }
    let path = root.join("Cargo.lock");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let lock: Lock =
        toml::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
    Ok(lock
        .package
        .into_iter()
        .filter_map(|p| Some(((p.name, p.version), p.checksum?)))
        .collect())
}

/// `name version`, the key every source of package facts here agrees on.
type Key = (String, String);

/// The packages linked into the package `step` (`cargo tree`) names, each with its direct
/// linked dependencies.
fn linked(root: &Path, step: &Step) -> Result<BTreeMap<Key, BTreeSet<Key>>> {
    let out = cargo(root, step).with_context(|| format!("`{step}` failed"))?;
    parse_tree(&out)
}

/// `cargo tree --prefix depth --format {p}` lines (`2serde v1.0.1`, `0app v0.1.0 (/path)`,
/// ` (*)` on repeats) as a map from each package to its children.
fn parse_tree(text: &str) -> Result<BTreeMap<Key, BTreeSet<Key>>> {
    let mut edges: BTreeMap<Key, BTreeSet<Key>> = BTreeMap::new();
    let mut stack: Vec<Key> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let digits = line.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
        let depth: usize = line[..digits]
            .parse()
            .with_context(|| format!("unexpected `cargo tree` line: {line}"))?;
        let mut words = line[digits..].split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            bail!("unexpected `cargo tree` line: {line}");
        };
        let key = (name.to_owned(), version.trim_start_matches('v').to_owned());
        stack.truncate(depth);
        if let Some(parent) = stack.last() {
            edges.entry(parent.clone()).or_default().insert(key.clone());
        }
        edges.entry(key.clone()).or_default();
        stack.push(key);
    }
    Ok(edges)
}

/// The packages the release build compiled for `target` (not for the host: build scripts and
/// proc-macros), from `cargo build --message-format=json` output, as `name version`.
pub fn compiled_packages(messages: &str, target: &str) -> BTreeSet<String> {
    let marker = format!("/{target}/");
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            let kinds = m["target"]["kind"].as_array().cloned().unwrap_or_default();
            !kinds
                .iter()
                .any(|k| k == "custom-build" || k == "proc-macro")
                && m["filenames"].as_array().is_some_and(|f| {
                    f.iter()
                        .any(|f| f.as_str().is_some_and(|f| f.contains(&marker)))
                })
        })
        .filter_map(|m| package_key(m["package_id"].as_str()?))
        .collect()
}

/// `registry+…#serde@1.0.1` or `path+file:///w/app#0.1.0` as `serde 1.0.1` / `app 0.1.0`.
fn package_key(id: &str) -> Option<String> {
    let (url, fragment) = id.rsplit_once('#')?;
    match fragment.split_once('@') {
        Some((name, version)) => Some(format!("{name} {version}")),
        None => Some(format!("{} {fragment}", url.rsplit('/').next()?)),
    }
}

/// `MIT/Apache-2.0` (the old Cargo spelling) as the SPDX expression `MIT OR Apache-2.0`.
fn spdx(license: &str) -> String {
    license
        .split('/')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" OR ")
}

fn sha256(hex: &str) -> Hashes {
    Hashes(vec![Hash {
        alg: HashAlgorithm::SHA_256,
        content: HashValue(hex.to_owned()),
    }])
}

fn component(
    p: &Package,
    kind: Classification,
    version: &str,
    checksum: Option<&String>,
) -> Component {
    let purl = format!("pkg:cargo/{}@{version}", p.name);
    let mut c = Component::new(kind, &p.name, version, Some(purl.clone()));
    c.purl = purl.parse().ok();
    c.licenses = p
        .license
        .as_deref()
        .map(|l| Licenses(vec![LicenseChoice::expression(&spdx(l))]));
    c.hashes = checksum.map(|h| sha256(h));
    c
}

/// A UUID that is a function of the binary: the same release gives the same SBOM bytes.
fn serial(binary_sha256: &str) -> Result<UrnUuid> {
    let h = binary_sha256;
    anyhow::ensure!(h.len() >= 32, "not a sha256: {h}");
    let s = format!(
        "urn:uuid:{}-{}-5{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    UrnUuid::new(s).map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// The SBOM as CycloneDX 1.5 JSON.
pub fn generate(root: &Path, subject: &Subject<'_>) -> Result<Vec<u8>> {
    let [metadata_step, tree_step] = steps(subject.package, subject.target);
    let meta = metadata(root, &metadata_step)?;
    let checksums = lock_checksums(root)?;
    let edges = linked(root, &tree_step)?;
    let facts: BTreeMap<Key, &Package> = meta
        .packages
        .iter()
        .map(|p| ((p.name.clone(), p.version.clone()), p))
        .collect();
    let root_pkg = meta
        .packages
        .iter()
        .find(|p| p.name == subject.package && p.source.is_none())
        .with_context(|| {
            format!(
                "[service] package `{}` is not a workspace package",
                subject.package
            )
        })?;
    let root_key = (root_pkg.name.clone(), root_pkg.version.clone());
    let purl = |k: &Key| {
        let version = if *k == root_key {
            subject.version
        } else {
            &k.1
        };
        format!("pkg:cargo/{}@{version}", k.0)
    };
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    for (key, deps) in &edges {
        dependencies.push(Dependency {
            dependency_ref: purl(key),
            dependencies: deps.iter().map(purl).collect(),
        });
        if *key != root_key {
            let p = facts
                .get(key)
                .with_context(|| format!("`cargo metadata` does not know {} {}", key.0, key.1))?;
            components.push(component(
                p,
                Classification::Library,
                &p.version,
                checksums.get(key),
            ));
        }
    }
    let mut app = component(root_pkg, Classification::Application, subject.version, None);
    app.hashes = Some(sha256(subject.binary_sha256));
    let timestamp = DateTime::try_from(super::image::rfc3339(subject.source_date_epoch))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let bom = Bom {
        serial_number: Some(serial(subject.binary_sha256)?),
        metadata: Some(cyclonedx_bom::models::metadata::Metadata {
            timestamp: Some(timestamp),
            component: Some(app),
            tools: Some(Tools::List(vec![Tool::new(
                "gatehouse",
                "cargo xtask release",
                env!("CARGO_PKG_VERSION"),
            )])),
            ..Default::default()
        }),
        components: Some(Components(components)),
        dependencies: Some(Dependencies(dependencies)),
        spec_version: SpecVersion::V1_5,
        ..Default::default()
    };
    let result = bom.validate_version(SpecVersion::V1_5);
    if !result.passed() {
        bail!("the generated SBOM does not validate: {result:?}");
    }
    let mut out = Vec::new();
    bom.output_as_json_v1_5(&mut out)
        .map_err(|e| anyhow::anyhow!("cannot write the SBOM: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_slash_licences_become_spdx_or() {
        assert_eq!(spdx("MIT/Apache-2.0"), "MIT OR Apache-2.0");
        assert_eq!(spdx("MIT OR Apache-2.0"), "MIT OR Apache-2.0");
    }

    #[test]
    fn a_depth_tree_becomes_edges_and_repeats_add_no_children() {
        let tree =
            "0svc v0.1.0 (/w/svc)\n1serde v1.0.1\n2itoa v1.0.0\n1axum v0.8.0\n2serde v1.0.1 (*)\n";
        let edges = parse_tree(tree).unwrap();
        let key = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        assert_eq!(edges.len(), 4);
        assert_eq!(
            edges[&key("svc", "0.1.0")],
            BTreeSet::from([key("serde", "1.0.1"), key("axum", "0.8.0")])
        );
        assert_eq!(
            edges[&key("axum", "0.8.0")],
            BTreeSet::from([key("serde", "1.0.1")])
        );
        assert_eq!(
            edges[&key("serde", "1.0.1")],
            BTreeSet::from([key("itoa", "1.0.0")])
        );
    }

    #[test]
    fn only_artifacts_compiled_for_the_target_count() {
        let t = "x86_64-unknown-linux-musl";
        let msgs = [
            r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#serde@1.0.1","target":{"kind":["lib"]},"filenames":["/w/target/x86_64-unknown-linux-musl/release/deps/libserde.rlib"]}"#,
            r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#serde@1.0.1","target":{"kind":["custom-build"]},"filenames":["/w/target/release/build/x/build-script-build"]}"#,
            r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#serde_derive@1.0.1","target":{"kind":["proc-macro"]},"filenames":["/w/target/release/deps/libserde_derive.so"]}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/app#0.1.0","target":{"kind":["bin"]},"filenames":["/w/target/x86_64-unknown-linux-musl/release/app"]}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(
            compiled_packages(&msgs, t),
            BTreeSet::from(["serde 1.0.1".to_owned(), "app 0.1.0".to_owned()])
        );
    }

    #[test]
    fn the_serial_is_a_uuid_derived_from_the_binary() {
        let a = serial(&"ab".repeat(32)).unwrap().to_string();
        assert_eq!(a, "urn:uuid:abababab-abab-5bab-8bab-abababababab");
    }
}
