//! The release binary's CycloneDX 1.5 SBOM: exactly the packages linked into it for its target.
//! From `cargo metadata --filter-platform <target>`, the walk follows normal dependencies from
//! the service's package and stops at proc-macros (they run in the compiler, not in the binary);
//! dev- and build-dependencies never enter. Each component has its purl, its licence
//! expression and, for registry crates, the SHA-256 that Cargo.lock pins.

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

#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    resolve: Resolve,
}

#[derive(Debug, Deserialize)]
struct Package {
    id: String,
    name: String,
    version: String,
    license: Option<String>,
    source: Option<String>,
    targets: Vec<Target>,
}

#[derive(Debug, Deserialize)]
struct Target {
    kind: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
struct Node {
    id: String,
    deps: Vec<Dep>,
}

#[derive(Debug, Deserialize)]
struct Dep {
    pkg: String,
    dep_kinds: Vec<DepKind>,
}

#[derive(Debug, Deserialize)]
struct DepKind {
    kind: Option<String>,
}

impl Package {
    fn is_proc_macro(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.kind.iter().any(|k| k == "proc-macro"))
    }

    fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }
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

/// `cargo metadata` of the workspace for `target`.
fn metadata(root: &Path, target: &str) -> Result<Metadata> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    let out = xshell::cmd!(
        sh,
        "cargo metadata --format-version 1 --locked --filter-platform {target}"
    )
    .quiet()
    .read()
    .context("`cargo metadata` failed: is Cargo.lock up to date? (`cargo update -w`)")?;
    serde_json::from_str(&out).context("cannot parse `cargo metadata`")
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

/// Package ids linked into `package`'s binary, and the normal edges between them.
fn linked(meta: &Metadata, package: &str) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let by_id: BTreeMap<&str, &Package> =
        meta.packages.iter().map(|p| (p.id.as_str(), p)).collect();
    let nodes: BTreeMap<&str, &Node> = meta
        .resolve
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n))
        .collect();
    let root = meta
        .packages
        .iter()
        .find(|p| p.name == package && p.source.is_none())
        .with_context(|| format!("[service] package `{package}` is not a workspace package"))?;
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut todo = vec![root.id.as_str()];
    while let Some(id) = todo.pop() {
        if edges.contains_key(id) {
            continue;
        }
        let mut out = BTreeSet::new();
        for dep in nodes.get(id).map(|n| n.deps.as_slice()).unwrap_or_default() {
            let normal = dep.dep_kinds.iter().any(|k| k.kind.is_none());
            let linked = by_id
                .get(dep.pkg.as_str())
                .is_some_and(|p| !p.is_proc_macro());
            if normal && linked {
                out.insert(dep.pkg.clone());
                todo.push(dep.pkg.as_str());
            }
        }
        edges.insert(id.to_owned(), out);
    }
    Ok(edges)
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
    let meta = metadata(root, subject.target)?;
    let checksums = lock_checksums(root)?;
    let edges = linked(&meta, subject.package)?;
    let by_id: BTreeMap<&str, &Package> =
        meta.packages.iter().map(|p| (p.id.as_str(), p)).collect();
    let root_pkg = meta
        .packages
        .iter()
        .find(|p| p.name == subject.package && p.source.is_none())
        .context("the service package vanished")?;
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    for (id, deps) in &edges {
        let p = by_id[id.as_str()];
        let purl_of = |d: &String| by_id[d.as_str()].purl();
        let me = if p.id == root_pkg.id {
            format!("pkg:cargo/{}@{}", p.name, subject.version)
        } else {
            p.purl()
        };
        dependencies.push(Dependency {
            dependency_ref: me,
            dependencies: deps.iter().map(purl_of).collect(),
        });
        if p.id != root_pkg.id {
            let sum = checksums.get(&(p.name.clone(), p.version.clone()));
            components.push(component(p, Classification::Library, &p.version, sum));
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
    fn the_serial_is_a_uuid_derived_from_the_binary() {
        let a = serial(&"ab".repeat(32)).unwrap().to_string();
        assert_eq!(a, "urn:uuid:abababab-abab-5bab-8bab-abababababab");
    }
}
