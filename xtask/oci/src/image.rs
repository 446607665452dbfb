//! A daemonless, reproducible OCI image: one layer (the binary, CA certificates, a passwd entry
//! for the non-root user), a config and a manifest. Every byte is a function of the inputs:
//! entries sorted, fixed mtimes and owners, gzip without a timestamp or name, JSON with a fixed
//! key order. Written as an OCI image layout for offline inspection (`skopeo`, `umoci`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The non-root user the service runs as (distroless's `nonroot`).
pub const USER: u64 = 65532;

/// What goes into the image.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Name of the binary inside the image: `/usr/local/bin/<name>`.
    pub name: String,
    pub binary: Vec<u8>,
    pub ca_certificates: Vec<u8>,
    /// Arguments after the entrypoint, e.g. `["serve"]`.
    pub cmd: Vec<String>,
    pub ports: Vec<u16>,
    /// `NAME=value` settings in the config's `Env`, after PATH and SSL_CERT_FILE.
    pub env: Vec<String>,
    /// More read-only files, by path inside the image (parent directories are added).
    pub files: BTreeMap<String, Vec<u8>>,
    /// `org.opencontainers.image.*` and any other labels; also the manifest's annotations.
    pub labels: BTreeMap<String, String>,
    /// Seconds since the epoch: every mtime and the `created` field (the commit's time).
    pub source_date_epoch: i64,
}

/// One content-addressed blob.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn digest(&self) -> String {
        format!(
            "sha256:{}",
            crate::engine::cache::hex(&Sha256::digest(&self.bytes))
        )
    }

    /// `{mediaType, digest, size}`: how a manifest refers to this blob.
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest(), "size": self.bytes.len()})
    }
}

/// The assembled image: its manifest's digest is the image's identity.
#[derive(Debug, Clone)]
pub struct Image {
    pub layer: Blob,
    pub config: Blob,
    pub manifest: Blob,
}

impl Image {
    pub fn digest(&self) -> String {
        self.manifest.digest()
    }
}

/// RFC 3339 UTC for `epoch` (no dependency on a date crate: civil-from-days).
pub fn rfc3339(epoch: i64) -> String {
    let (days, secs) = (epoch.div_euclid(86_400), epoch.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// One file or directory of the layer.
struct Entry {
    mode: u32,
    uid: u64,
    body: Option<Vec<u8>>,
}

fn entries(spec: &Spec) -> Vec<(String, Entry)> {
    let dir = |uid: u64| Entry {
        mode: 0o755,
        uid,
        body: None,
    };
    let file = |mode: u32, body: Vec<u8>| Entry {
        mode,
        uid: 0,
        body: Some(body),
    };
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER}:{USER}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{USER}:\n");
    let mut out: Vec<(String, Entry)> = vec![
        ("etc/".into(), dir(0)),
        ("etc/group".into(), file(0o644, group.into_bytes())),
        ("etc/passwd".into(), file(0o644, passwd.into_bytes())),
        ("etc/ssl/".into(), dir(0)),
        ("etc/ssl/certs/".into(), dir(0)),
        (
            "etc/ssl/certs/ca-certificates.crt".into(),
            file(0o644, spec.ca_certificates.clone()),
        ),
        ("home/".into(), dir(0)),
        ("home/nonroot/".into(), dir(USER)),
        (
            "tmp/".into(),
            Entry {
                mode: 0o1777,
                ..dir(0)
            },
        ),
        ("usr/".into(), dir(0)),
        ("usr/local/".into(), dir(0)),
        ("usr/local/bin/".into(), dir(0)),
    ];
    out.push((
        format!("usr/local/bin/{}", spec.name),
        file(0o755, spec.binary.clone()),
    ));
    for (path, body) in &spec.files {
        let path = path.trim_start_matches('/');
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            let name = format!("{}/", p.display());
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, dir(0)));
            }
            parent = p.parent();
        }
        out.push((path.to_owned(), file(0o644, body.clone())));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The layer as an uncompressed tar: sorted entries, fixed owner, mode and mtime.
fn layer_tar(spec: &Spec) -> Result<Vec<u8>> {
    let mtime = u64::try_from(spec.source_date_epoch).unwrap_or(0);
    let mut tar = tar::Builder::new(Vec::new());
    for (path, entry) in entries(spec) {
        let mut header = tar::Header::new_ustar();
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.uid);
        header.set_mtime(mtime);
        match &entry.body {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, &path, std::io::empty())?;
            }
            Some(body) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(body.len() as u64);
                tar.append_data(&mut header, &path, body.as_slice())?;
            }
        }
    }
    Ok(tar.into_inner()?)
}

/// gzip with no timestamp, no file name and a fixed level.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// Assembles the image; the same `spec` gives the same bytes, hence the same digest.
pub fn build(spec: &Spec) -> Result<Image> {
    let tar = layer_tar(spec)?;
    let diff_id = format!(
        "sha256:{}",
        crate::engine::cache::hex(&Sha256::digest(&tar))
    );
    let layer = Blob {
        media_type: LAYER_TYPE,
        bytes: gzip(&tar)?,
    };
    let created = rfc3339(spec.source_date_epoch);
    let ports: BTreeMap<String, serde_json::Value> = spec
        .ports
        .iter()
        .map(|p| (format!("{p}/tcp"), json!({})))
        .collect();
    let env: Vec<String> = [
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(spec.env.iter().cloned())
    .collect();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "User": format!("{USER}:{USER}"),
            "Entrypoint": [format!("/usr/local/bin/{}", spec.name)],
            "Cmd": spec.cmd,
            "Env": env,
            "ExposedPorts": ports,
            "Labels": spec.labels,
            "WorkingDir": "/home/nonroot",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "cargo xtask release"}],
    });
    let config = Blob {
        media_type: CONFIG_TYPE,
        bytes: serde_json::to_vec(&config)?,
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
        "annotations": spec.labels,
    });
    let manifest = Blob {
        media_type: MANIFEST_TYPE,
        bytes: serde_json::to_vec(&manifest)?,
    };
    Ok(Image {
        layer,
        config,
        manifest,
    })
}

/// Writes an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) with the image
/// under `tag` (`org.opencontainers.image.ref.name`).
pub fn write_layout(image: &Image, dir: &Path, tag: &str) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("cannot create {}", blobs.display()))?;
    for blob in [&image.layer, &image.config, &image.manifest] {
        let hex = blob.digest().trim_start_matches("sha256:").to_owned();
        std::fs::write(blobs.join(hex), &blob.bytes)?;
    }
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut descriptor = image.manifest.descriptor();
    descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [descriptor]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            name: "svc".to_owned(),
            binary: b"\x7fELF pretend".to_vec(),
            ca_certificates: b"-----BEGIN CERTIFICATE-----\n".to_vec(),
            cmd: vec!["serve".to_owned()],
            ports: vec![8080, 9090],
            env: vec!["SVC_ENV=production".to_owned()],
            files: BTreeMap::from([(
                "usr/share/svc/migrations/0001_a.up.sql".to_owned(),
                b"CREATE TABLE a ();".to_vec(),
            )]),
            labels: BTreeMap::from([(
                "org.opencontainers.image.version".to_owned(),
                "0.1.0".to_owned(),
            )]),
            source_date_epoch: 1_795_000_000,
        }
    }

    #[test]
    fn the_same_inputs_give_the_same_digest_and_any_change_another() {
        let a = build(&spec()).unwrap();
        let b = build(&spec()).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.layer.bytes, b.layer.bytes);
        let other = build(&Spec {
            source_date_epoch: 1_795_000_001,
            ..spec()
        })
        .unwrap();
        assert_ne!(a.digest(), other.digest());
    }

    #[test]
    fn the_layer_is_sorted_owned_and_timestamped_as_declared() {
        let tar = layer_tar(&spec()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            let path = entry.path().unwrap().display().to_string();
            assert_eq!(h.mtime().unwrap(), 1_795_000_000, "{path}");
            if path == "usr/local/bin/app" {
                assert_eq!((h.mode().unwrap(), h.uid().unwrap()), (0o755, 0));
            }
            if path == "home/nonroot/" {
                assert_eq!(h.uid().unwrap(), USER);
            }
            seen.push(path);
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert!(seen.contains(&"etc/passwd".to_owned()));
        for dir in ["usr/share/", "usr/share/svc/", "usr/share/svc/migrations/"] {
            assert!(seen.contains(&dir.to_owned()), "{dir} in {seen:?}");
        }
        assert!(seen.contains(&"usr/share/svc/migrations/0001_a.up.sql".to_owned()));
    }

    #[test]
    fn the_config_carries_the_extra_environment() {
        let image = build(&spec()).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
        let env = config["config"]["Env"].as_array().unwrap();
        assert_eq!(env.last().unwrap(), "SVC_ENV=production");
        assert!(env[0].as_str().unwrap().starts_with("PATH="));
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
