//! The shared cache: passes kept where every machine of a team reads them (an S3-compatible
//! bucket), written only by holders of one signing key, so that no one who can open a pull
//! request can plant a pass that a protected branch would trust.
//!
//! An object is `<gate>/<key>.json` below the store's prefix:
//! `{"format": "gatehouse-cache/1", "signer": <key id>, "signature": <ed25519, base64>,
//! "entry": <the entry's JSON, base64>}`; the signature covers exactly the entry's bytes. A
//! reader accepts an object only if it verifies with the configured public key and the entry's
//! manifest hashes to the key it was looked up under (so a valid entry cannot be replayed under
//! another key). Anything else — unsigned, truncated, signed by another key, tampered — is
//! ignored with a warning naming the gate and the reason, and the gate runs.
//!
//! [`Layered`] puts the local store first: a verified shared pass is copied into it, every pass
//! goes to both (to the shared one only with the writer key), and an unreachable bucket costs
//! one warning, after which the run goes on with the local store alone.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::cache::{Entry, LocalStore, Store, hex};
use crate::exit::Failure;

/// `s3://bucket/prefix` as `(bucket, prefix)`; the prefix has no leading or trailing `/`.
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("s3://").with_context(|| {
        format!(
            "`{url}` is not an S3 URL: write s3://bucket/prefix ([cache] shared or GATEHOUSE_CACHE)"
        )
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!(
            "`{url}` names no bucket: write s3://bucket/prefix ([cache] shared or GATEHOUSE_CACHE)"
        );
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

/// The environment variable holding the writer's private key (base64 of the 32-byte seed).
pub const WRITER_KEY_ENV: &str = "GATEHOUSE_CACHE_KEY";
const FORMAT: &str = "gatehouse-cache/1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Where a shared store keeps its objects (an S3 bucket, a directory).
pub trait Blobs: Send + Sync {
    /// The store as users name it (`s3://bucket/prefix`), for messages.
    fn location(&self) -> String;
    /// The object `name`, `None` when there is none.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Writes `name` whole: a reader sees the old object or the new one, never a part.
    fn put(&self, name: &str, bytes: &[u8]) -> Result<()>;
}

/// The keys of a shared store: the public key every reader verifies with, and the writer's
/// private key where it is held (protected refs only).
pub struct Keys {
    public: VerifyingKey,
    writer: Option<SigningKey>,
}

impl std::fmt::Debug for Keys {
    // Never the writer key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("id", &self.id())
            .field("can_write", &self.can_write())
            .finish()
    }
}

impl Keys {
    /// The public key from `public` (a file written by `cargo xtask cache keygen`) and the
    /// writer key from `writer`, the value of [`WRITER_KEY_ENV`] if set. A writer key that does
    /// not belong to the public key is refused: its entries would be ignored by every reader.
    pub fn load(public: &Path, writer: Option<&str>) -> Result<Keys> {
        let text = std::fs::read_to_string(public).with_context(|| {
            format!(
                "cannot read the shared cache's public key {} ([cache] public_key in gatehouse.toml); `cargo xtask cache keygen` writes one",
                public.display()
            )
        })?;
        let public_key = parse_public(&text).with_context(|| {
            format!(
                "{} is not a gatehouse cache public key ([cache] public_key)",
                public.display()
            )
        })?;
        let writer = writer
            .filter(|w| !w.trim().is_empty())
            .map(|w| parse_writer(w, &public_key))
            .transpose()?;
        Ok(Keys {
            public: public_key,
            writer,
        })
    }

    /// A new pair: the public key file's text and the writer key (for [`WRITER_KEY_ENV`]).
    pub fn generate() -> Result<(String, String)> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| anyhow::anyhow!("no randomness for a signing key: {e}"))?;
        let key = SigningKey::from_bytes(&seed);
        Ok((public_text(&key.verifying_key()), B64.encode(seed)))
    }

    /// The public key's id: the first 16 hex digits of its SHA-256.
    pub fn id(&self) -> String {
        key_id(&self.public)
    }

    pub fn can_write(&self) -> bool {
        self.writer.is_some()
    }

    /// Test helper: keys from a writer seed (base64), public key derived.
    pub fn from_writer(writer: &str) -> Result<Keys> {
        let seed = seed(writer)?;
        let key = SigningKey::from_bytes(&seed);
        Ok(Keys {
            public: key.verifying_key(),
            writer: Some(key),
        })
    }
}

fn public_text(key: &VerifyingKey) -> String {
    format!(
        "# gatehouse shared cache public key (ed25519); id {}\n{}\n",
        key_id(key),
        B64.encode(key.as_bytes())
    )
}

fn parse_public(text: &str) -> Result<VerifyingKey> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .context("no key in the file")?;
    let bytes: [u8; 32] = B64
        .decode(line)
        .context("the key is not base64")?
        .try_into()
        .map_err(|_| anyhow::anyhow!("an ed25519 public key is 32 bytes"))?;
    VerifyingKey::from_bytes(&bytes).context("not an ed25519 public key")
}

fn seed(text: &str) -> Result<[u8; 32]> {
    B64.decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Failure::Config(format!(
                "{WRITER_KEY_ENV} is not a gatehouse cache writer key (base64 of 32 bytes, as `cargo xtask cache keygen` prints it)"
            ))
            .into()
        })
}

fn parse_writer(text: &str, public: &VerifyingKey) -> Result<SigningKey> {
    let key = SigningKey::from_bytes(&seed(text)?);
    if key.verifying_key() != *public {
        return Err(Failure::Config(format!(
            "{WRITER_KEY_ENV} does not belong to the public key in [cache] public_key (id {}): readers would ignore every entry it signs; set the matching key, or unset it to read only",
            key_id(public)
        ))
        .into());
    }
    Ok(key)
}

fn key_id(key: &VerifyingKey) -> String {
    hex(&Sha256::digest(key.as_bytes()))[..16].to_owned()
}

#[derive(Serialize, Deserialize)]
struct Object {
    format: String,
    signer: String,
    signature: String,
    entry: String,
}

/// The object for `entry`, signed with `writer`.
fn seal(entry: &Entry, writer: &SigningKey) -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(entry)?;
    let object = Object {
        format: FORMAT.to_owned(),
        signer: key_id(&writer.verifying_key()),
        signature: B64.encode(writer.sign(&bytes).to_bytes()),
        entry: B64.encode(&bytes),
    };
    Ok(serde_json::to_vec(&object)?)
}

/// The entry in `object` if it is a pass of `gate` under `key` signed with `public`; else why
/// not.
fn open(object: &[u8], gate: &str, key: &str, public: &VerifyingKey) -> Result<Entry, String> {
    let object: Object = serde_json::from_slice(object)
        .map_err(|_| "it is not a whole signed entry (truncated, or not written by gatehouse)")?;
    if object.format != FORMAT {
        return Err(format!("unknown format `{}`", object.format));
    }
    let ours = key_id(public);
    if object.signer != ours {
        return Err(format!(
            "it is signed by another key ({}), not the configured one ({ours})",
            object.signer
        ));
    }
    let signature = B64
        .decode(&object.signature)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or("its signature is malformed")?;
    let bytes = B64
        .decode(&object.entry)
        .map_err(|_| "its entry is not base64")?;
    public
        .verify(&bytes, &signature)
        .map_err(|_| "its signature does not verify: the entry was altered after signing")?;
    let entry: Entry =
        serde_json::from_slice(&bytes).map_err(|e| format!("its entry is unreadable: {e}"))?;
    if entry.gate != gate || entry.key != key || entry.manifest.key() != key {
        return Err(format!(
            "its manifest does not match its key (entry of `{}` under {})",
            entry.gate,
            short(&entry.key)
        ));
    }
    Ok(entry)
}

fn short(key: &str) -> &str {
    key.get(..12).unwrap_or(key)
}

/// The local store in front of a signed shared one.
pub struct Layered {
    local: LocalStore,
    shared: Option<Shared>,
    /// Said before anything else (a shared store that could not be opened).
    pending: Mutex<Vec<String>>,
}

struct Shared {
    blobs: Box<dyn Blobs>,
    keys: Keys,
    /// Set after the first failure to reach the store: one warning per run, not one per gate.
    down: AtomicBool,
    read_only_noted: AtomicBool,
    notes: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Layered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("local", &self.local)
            .field("shared", &self.shared())
            .finish_non_exhaustive()
    }
}

impl Layered {
    pub fn local(local: LocalStore) -> Layered {
        Layered {
            local,
            shared: None,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// The store, with `line` to say at the first [`Store::notes`].
    pub fn noting(self, line: String) -> Layered {
        if let Ok(mut pending) = self.pending.lock() {
            pending.push(line);
        }
        self
    }

    pub fn with_shared(local: LocalStore, blobs: Box<dyn Blobs>, keys: Keys) -> Layered {
        Layered {
            local,
            shared: Some(Shared {
                blobs,
                keys,
                down: AtomicBool::new(false),
                read_only_noted: AtomicBool::new(false),
                notes: Mutex::new(Vec::new()),
            }),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// The shared store's location and whether this machine may write to it.
    pub fn shared(&self) -> Option<(String, bool)> {
        self.shared
            .as_ref()
            .map(|s| (s.blobs.location(), s.keys.can_write()))
    }
}

impl Shared {
    fn note(&self, line: String) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.push(line);
        }
    }

    /// Marks the store unusable after `e` (unreachable, or refusing the credentials), warning
    /// once.
    fn failed(&self, what: &str, e: &anyhow::Error) {
        if !self.down.swap(true, Ordering::SeqCst) {
            self.note(format!(
                "warning: shared cache {} unreachable or refused while {what} ({e:#}); this run uses the local cache only",
                self.blobs.location()
            ));
        }
    }

    fn get(&self, gate: &str, key: &str) -> Option<Entry> {
        if self.down.load(Ordering::SeqCst) {
            return None;
        }
        let bytes = match self.blobs.get(&object_name(gate, key)) {
            Ok(found) => found?,
            Err(e) => {
                self.failed(&format!("reading `{gate}`"), &e);
                return None;
            }
        };
        match open(&bytes, gate, key, &self.keys.public) {
            Ok(entry) => {
                self.note(format!(
                    "`{gate}`: pass from the shared cache {} (run {}, signature verified)",
                    self.blobs.location(),
                    entry.run_id
                ));
                Some(entry)
            }
            Err(reason) => {
                self.note(format!(
                    "warning: `{gate}`: ignoring its entry in the shared cache {}: {reason}; running the gate",
                    self.blobs.location()
                ));
                None
            }
        }
    }

    fn put(&self, entry: &Entry) {
        let Some(writer) = &self.keys.writer else {
            if !self.read_only_noted.swap(true, Ordering::SeqCst) {
                self.note(format!(
                    "shared cache {} is read-only here ({WRITER_KEY_ENV} is not set): passes stay in the local cache",
                    self.blobs.location()
                ));
            }
            return;
        };
        if self.down.load(Ordering::SeqCst) {
            return;
        }
        let stored = seal(entry, writer).and_then(|bytes| {
            self.blobs
                .put(&object_name(&entry.gate, &entry.key), &bytes)
        });
        if let Err(e) = stored {
            self.failed(&format!("storing `{}`", entry.gate), &e);
        }
    }
}

/// Where the pass of `gate` under `key` lives in a shared store.
pub fn object_name(gate: &str, key: &str) -> String {
    format!("{gate}/{key}.json")
}

impl Store for Layered {
    fn get(&self, gate: &str, key: &str) -> Option<Entry> {
        if let Some(entry) = self.local.get(gate, key) {
            return Some(entry);
        }
        let entry = self.shared.as_ref()?.get(gate, key)?;
        // Kept locally: the next run needs no round trip (a failure here only costs that).
        let _ = self.local.put(&entry);
        Some(entry)
    }

    fn put(&self, entry: &Entry) -> Result<()> {
        self.local.put(entry)?;
        if let Some(shared) = &self.shared {
            shared.put(entry);
        }
        Ok(())
    }

    fn latest(&self, gate: &str) -> Option<Entry> {
        self.local.latest(gate)
    }

    fn notes(&self) -> Vec<String> {
        let mut out = take(&self.pending);
        if let Some(shared) = &self.shared {
            out.extend(take(&shared.notes));
        }
        out
    }
}

fn take(notes: &Mutex<Vec<String>>) -> Vec<String> {
    notes
        .lock()
        .map(|mut n| std::mem::take(&mut *n))
        .unwrap_or_default()
}

/// A directory as a shared store (a mounted network volume; the tests' stand-in for a bucket).
#[derive(Debug)]
pub struct DirBlobs {
    dir: std::path::PathBuf,
}

impl DirBlobs {
    pub fn new(dir: std::path::PathBuf) -> DirBlobs {
        DirBlobs { dir }
    }
}

impl Blobs for DirBlobs {
    fn location(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.dir.join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {name}")),
        }
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        let Some(dir) = path.parent() else {
            bail!("no directory for {name}");
        };
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join(format!(".{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_url("s3://team-cache/gatehouse/ci/").unwrap(),
            ("team-cache".to_owned(), "gatehouse/ci".to_owned())
        );
        assert_eq!(
            parse_url("s3://team-cache").unwrap(),
            ("team-cache".to_owned(), String::new())
        );
        assert!(
            parse_url("https://x")
                .unwrap_err()
                .to_string()
                .contains("s3://bucket/prefix")
        );
        assert!(
            parse_url("s3:///p")
                .unwrap_err()
                .to_string()
                .contains("no bucket")
        );
    }
    use crate::engine::cache::Manifest;

    fn entry(gate: &str) -> Entry {
        let manifest = Manifest(vec![("gate".into(), gate.into())]);
        Entry {
            gate: gate.into(),
            key: manifest.key(),
            passed_at: "2026-12-03T00:00:00Z".into(),
            duration_ms: 5,
            summary: None,
            run_id: "r1".into(),
            binary_sha256: None,
            read: Vec::new(),
            manifest,
        }
    }

    fn keys() -> Keys {
        Keys::from_writer(&Keys::generate().unwrap().1).unwrap()
    }

    #[test]
    fn a_sealed_entry_opens_with_its_key_and_only_under_its_own_name() {
        let k = keys();
        let e = entry("lint");
        let object = seal(&e, k.writer.as_ref().unwrap()).unwrap();
        assert_eq!(open(&object, "lint", &e.key, &k.public), Ok(e.clone()));
        let other = entry("test");
        let replayed = open(&object, "test", &other.key, &k.public).unwrap_err();
        assert!(replayed.contains("does not match its key"), "{replayed}");
    }

    #[test]
    fn tampered_truncated_and_foreign_objects_are_refused_with_their_reason() {
        let (k, stranger) = (keys(), keys());
        let e = entry("lint");
        let object = seal(&e, k.writer.as_ref().unwrap()).unwrap();
        let reason = |bytes: &[u8]| open(bytes, "lint", &e.key, &k.public).unwrap_err();

        assert!(reason(&object[..object.len() / 2]).contains("not a whole signed entry"));
        let foreign = seal(&e, stranger.writer.as_ref().unwrap()).unwrap();
        assert!(reason(&foreign).contains("signed by another key"));

        let mut altered = e.clone();
        altered.summary = Some("forged".into());
        let mut o: Object = serde_json::from_slice(&object).unwrap();
        o.entry = B64.encode(serde_json::to_vec(&altered).unwrap());
        let tampered = serde_json::to_vec(&o).unwrap();
        assert!(reason(&tampered).contains("does not verify"));
    }

    #[test]
    fn a_writer_key_of_another_pair_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (public, _) = Keys::generate().unwrap();
        let (_, other_writer) = Keys::generate().unwrap();
        std::fs::write(dir.path().join("cache.pub"), public).unwrap();
        let err = Keys::load(&dir.path().join("cache.pub"), Some(&other_writer))
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("does not belong"), "{err:#}");
    }

    #[test]
    fn a_layered_store_copies_verified_passes_home_and_writes_only_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (public, writer) = Keys::generate().unwrap();
        let pub_path = dir.path().join("cache.pub");
        std::fs::write(&pub_path, public).unwrap();
        let bucket = dir.path().join("bucket");
        let layered = |local: &str, writer: Option<&str>| {
            Layered::with_shared(
                LocalStore::new(dir.path().join(local)),
                Box::new(DirBlobs::new(bucket.clone())),
                Keys::load(&pub_path, writer).unwrap(),
            )
        };
        let e = entry("lint");

        let reader = layered("reader", None);
        reader.put(&e).unwrap();
        assert!(reader.notes()[0].contains("read-only"));
        assert!(!bucket.join(object_name("lint", &e.key)).exists());

        layered("writer", Some(&writer)).put(&e).unwrap();
        let second = layered("second", None);
        assert_eq!(second.get("lint", &e.key), Some(e.clone()));
        assert!(second.notes()[0].contains("pass from the shared cache"));
        let home = LocalStore::new(dir.path().join("second"));
        assert_eq!(home.get("lint", &e.key), Some(e));
    }
}
