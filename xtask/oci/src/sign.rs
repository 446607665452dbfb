//! Signing in cosign's format with the `sigstore` crate's keys: an image's signature is a
//! simple-signing payload signed with ECDSA P-256, stored as an OCI artifact under the tag
//! `sha256-<hex>.sig` beside the image; an attestation is a DSSE envelope around an in-toto
//! statement under `sha256-<hex>.att`. `cosign verify --key` and `cosign verify-attestation`
//! read both; so does `verify` here, from nothing but the public key and the registry.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, SigStoreSigner, Signature, SigningScheme};

use super::image::{Blob, CONFIG_TYPE, MANIFEST_TYPE};
use super::registry::{Artifact, Registry};

pub const SIMPLE_SIGNING_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const DSSE_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const IN_TOTO_TYPE: &str = "application/vnd.in-toto+json";
pub const CYCLONEDX_PREDICATE: &str = "https://cyclonedx.org/bom";
/// cosign's environment variables: the same key files and CI secrets work with both tools.
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";
pub const KEY_ENV: &str = "COSIGN_PRIVATE_KEY";

const SCHEME: SigningScheme = SigningScheme::ECDSA_P256_SHA256_ASN1;

/// A private key, decrypted.
pub struct Signer {
    signer: SigStoreSigner,
    public_pem: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
}

/// Writes `cosign.key` (encrypted with `password`, cosign's format) and `cosign.pub` into `dir`;
/// refuses to overwrite an existing key.
pub fn keygen(dir: &Path, password: &[u8]) -> Result<(PathBuf, PathBuf)> {
    let (key, public) = (dir.join("cosign.key"), dir.join("cosign.pub"));
    if key.exists() {
        bail!(
            "{} already exists: move it away first (a key is never overwritten)",
            key.display()
        );
    }
    let signer = SCHEME.create_signer().map_err(|e| anyhow::anyhow!("{e}"))?;
    let pair = signer
        .to_sigstore_keypair()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let private = pair
        .private_key_to_encrypted_pem(password)
        .map_err(|e| anyhow::anyhow!("cannot encrypt the new key: {e}"))?;
    let public_pem = pair
        .public_key_to_pem()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_private(&key, private.as_bytes())?;
    std::fs::write(&public, public_pem)
        .with_context(|| format!("cannot write {}", public.display()))?;
    Ok((key, public))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

impl Signer {
    /// Decrypts an encrypted PEM key; `source` names where it came from in errors.
    pub fn load(pem: &[u8], password: &[u8], source: &str) -> Result<Signer> {
        let pair = SigStoreKeyPair::from_encrypted_pem(pem, password).map_err(|e| {
            anyhow::anyhow!(
                "cannot decrypt the signing key from {source} ({e}): check {PASSWORD_ENV} and that the key is an encrypted cosign/sigstore key (`cargo xtask release keygen` makes one)"
            )
        })?;
        let signer = pair
            .to_sigstore_signer(&SCHEME)
            .map_err(|e| anyhow::anyhow!("the key from {source} is not ECDSA P-256: {e}"))?;
        let public_pem = pair
            .public_key_to_pem()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Signer { signer, public_pem })
    }

    /// The key from `file`, or from `$COSIGN_PRIVATE_KEY`; the password from `$COSIGN_PASSWORD`.
    pub fn from_file_or_env(file: Option<&Path>) -> Result<Signer> {
        let password = std::env::var(PASSWORD_ENV).unwrap_or_default();
        let (pem, source) = match file {
            Some(path) => (
                std::fs::read(path).with_context(|| {
                    format!(
                        "cannot read the signing key {}: pass --key FILE",
                        path.display()
                    )
                })?,
                path.display().to_string(),
            ),
            None => match std::env::var(KEY_ENV) {
                Ok(pem) => (pem.into_bytes(), format!("${KEY_ENV}")),
                Err(_) => bail!(
                    "no signing key: pass --key FILE or set {KEY_ENV} (and {PASSWORD_ENV}); `cargo xtask release keygen` makes a key pair"
                ),
            },
        };
        Signer::load(&pem, password.as_bytes(), &source)
    }

    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Base64 of the DER ECDSA signature over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<String> {
        let sig = self
            .signer
            .sign(message)
            .map_err(|e| anyhow::anyhow!("signing failed: {e}"))?;
        Ok(B64.encode(sig))
    }
}

/// A public key that checks signatures.
pub struct Verifier(CosignVerificationKey);

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier")
    }
}

impl Verifier {
    pub fn from_pem(pem: &[u8], source: &str) -> Result<Verifier> {
        CosignVerificationKey::from_pem(pem, &SCHEME)
            .map(Verifier)
            .map_err(|e| anyhow::anyhow!("{source} is not a P-256 public key in PEM: {e}"))
    }

    pub fn check(&self, message: &[u8], signature_b64: &str) -> Result<()> {
        self.0
            .verify_signature(Signature::Base64Encoded(signature_b64.as_bytes()), message)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// `sha256-<hex>.<suffix>`: where cosign looks for a digest's signature (`sig`) or attestations (`att`).
pub fn tag_for(digest: &str, suffix: &str) -> String {
    format!("{}.{suffix}", digest.replace(':', "-"))
}

/// cosign's simple-signing payload for `digest` of the image named `reference` (registry/repo).
pub fn payload(reference: &str, digest: &str) -> Vec<u8> {
    let payload = json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    serde_json::to_vec(&payload).expect("JSON")
}

/// An artifact with one annotated layer, shaped as cosign writes its `.sig` and `.att` images.
fn single_layer(layer: Blob, annotations: Value) -> Result<Artifact> {
    let config = json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest()]},
        "config": {},
    });
    let config = Blob {
        media_type: CONFIG_TYPE,
        bytes: serde_json::to_vec(&config)?,
    };
    let mut descriptor = layer.descriptor();
    descriptor["annotations"] = annotations;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config.descriptor(),
        "layers": [descriptor],
    });
    Ok(Artifact {
        manifest: Blob {
            media_type: MANIFEST_TYPE,
            bytes: serde_json::to_vec(&manifest)?,
        },
        blobs: vec![config, layer],
    })
}

/// The `.sig` artifact signing `digest` of `reference`.
pub fn signature(signer: &Signer, reference: &str, digest: &str) -> Result<Artifact> {
    let payload = payload(reference, digest);
    let sig = signer.sign(&payload)?;
    single_layer(
        Blob {
            media_type: SIMPLE_SIGNING_TYPE,
            bytes: payload,
        },
        json!({ SIGNATURE_ANNOTATION: sig }),
    )
}

/// DSSE's pre-authentication encoding: what is actually signed.
fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The `.att` artifact: an in-toto statement about `digest` with `predicate`, in a signed DSSE envelope.
pub fn attestation(
    signer: &Signer,
    name: &str,
    digest: &str,
    predicate_type: &str,
    predicate: &Value,
) -> Result<Artifact> {
    let hex = digest.trim_start_matches("sha256:");
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": name, "digest": {"sha256": hex}}],
        "predicate": predicate,
    });
    let body = serde_json::to_vec(&statement)?;
    let sig = signer.sign(&pae(IN_TOTO_TYPE, &body))?;
    let envelope = json!({
        "payloadType": IN_TOTO_TYPE,
        "payload": B64.encode(&body),
        "signatures": [{"keyid": "", "sig": sig}],
    });
    single_layer(
        Blob {
            media_type: DSSE_TYPE,
            bytes: serde_json::to_vec(&envelope)?,
        },
        json!({ SIGNATURE_ANNOTATION: "", "predicateType": predicate_type }),
    )
}

/// The single layer of the artifact under `tag` and its annotations; an error says what is missing.
fn fetch_layer(registry: &Registry, repo: &str, tag: &str) -> Result<(Vec<u8>, Value)> {
    let manifest = registry.manifest(repo, tag)?.with_context(|| {
        format!(
            "{}/{repo}:{tag} does not exist: the image is not signed",
            registry.host()
        )
    })?;
    let manifest: Value = serde_json::from_slice(&manifest.bytes)
        .with_context(|| format!("{tag} is not a JSON manifest"))?;
    let layer = &manifest["layers"][0];
    let digest = layer["digest"]
        .as_str()
        .with_context(|| format!("{tag} has no layer"))?;
    Ok((registry.blob(repo, digest)?, layer["annotations"].clone()))
}

/// Checks the `.sig` of `digest` with `verifier`: the signature is valid and signs exactly this
/// digest. Returns the signed docker-reference.
pub fn verify_signature(
    registry: &Registry,
    repo: &str,
    digest: &str,
    verifier: &Verifier,
) -> Result<String> {
    let (payload, annotations) = fetch_layer(registry, repo, &tag_for(digest, "sig"))?;
    let sig = annotations[SIGNATURE_ANNOTATION]
        .as_str()
        .context("the signature layer has no cosign signature annotation")?;
    verifier
        .check(&payload, sig)
        .context("the image signature does not verify with this public key")?;
    let payload: Value = serde_json::from_slice(&payload)?;
    let signed = payload["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap_or("");
    if signed != digest {
        bail!("the signature is for {signed}, not {digest}: the image was changed after signing");
    }
    Ok(payload["critical"]["identity"]["docker-reference"]
        .as_str()
        .unwrap_or("")
        .to_owned())
}

/// Checks the `.att` of `digest` and returns its predicate (the SBOM).
pub fn verify_attestation(
    registry: &Registry,
    repo: &str,
    digest: &str,
    verifier: &Verifier,
) -> Result<Value> {
    let (envelope, _) = fetch_layer(registry, repo, &tag_for(digest, "att"))?;
    let envelope: Value = serde_json::from_slice(&envelope)?;
    let body = B64
        .decode(envelope["payload"].as_str().unwrap_or(""))
        .context("the attestation payload is not base64")?;
    let sig = envelope["signatures"][0]["sig"].as_str().unwrap_or("");
    let payload_type = envelope["payloadType"].as_str().unwrap_or("");
    verifier
        .check(&pae(payload_type, &body), sig)
        .context("the attestation does not verify with this public key")?;
    let statement: Value = serde_json::from_slice(&body)?;
    let subject = statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .unwrap_or("");
    if format!("sha256:{subject}") != digest {
        bail!("the attestation is about sha256:{subject}, not {digest}");
    }
    Ok(statement["predicate"].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> (tempfile::TempDir, Signer) {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = keygen(dir.path(), b"pw").unwrap();
        let pem = std::fs::read(key).unwrap();
        let signer = Signer::load(&pem, b"pw", "test").unwrap();
        (dir, signer)
    }

    #[test]
    fn a_signature_verifies_with_the_public_key_and_not_after_a_change() {
        let (_dir, signer) = signer();
        let verifier = Verifier::from_pem(signer.public_pem().as_bytes(), "pub").unwrap();
        let sig = signer.sign(b"payload").unwrap();
        verifier.check(b"payload", &sig).unwrap();
        assert!(verifier.check(b"payloaD", &sig).is_err());
    }

    #[test]
    fn a_wrong_password_names_the_source_and_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = keygen(dir.path(), b"right").unwrap();
        let err = Signer::load(&std::fs::read(&key).unwrap(), b"wrong", "ci.key")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ci.key") && err.contains(PASSWORD_ENV),
            "{err}"
        );
        assert!(keygen(dir.path(), b"x").is_err(), "never overwrites a key");
    }

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(pae("t", b"ab"), b"DSSEv1 1 t 2 ab".to_vec());
    }
}
