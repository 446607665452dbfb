//! Ed25519 signing keys, their `kid`s (RFC 7638 thumbprints) and the JWKS document.
//!
//! Rotation: the current private key signs; it and every previous public key verify, so tokens
//! signed before a rotation stay valid for the overlap.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The built-in development key's seed: public knowledge, so staging and production refuse it.
const DEVELOPMENT_SEED: [u8; 32] = *b"gatehouse-development-only-key!!";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("required outside development (make one with `app keygen`)")]
    Missing,
    #[error("not an Ed25519 private key in PKCS#8 PEM ({0}); make one with `app keygen`")]
    InvalidPrivate(String),
    #[error("block {index} is not an Ed25519 public key in PEM ({reason})")]
    InvalidPrevious { index: usize, reason: String },
    #[error(
        "the development signing key is refused outside development; make one with `app keygen`"
    )]
    DevelopmentKey,
}

impl KeyError {
    /// The environment variable to fix.
    pub fn variable(&self) -> &'static str {
        match self {
            KeyError::InvalidPrevious { .. } => "APP_JWT_PREVIOUS_PUBLIC_KEYS",
            _ => "APP_JWT_PRIVATE_KEY",
        }
    }
}

/// A public key that verifies tokens.
#[derive(Clone)]
pub struct Verifier {
    pub kid: String,
    pub key: DecodingKey,
    x: String,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The signing key and every key that verifies.
#[derive(Clone)]
pub struct Keyset {
    kid: String,
    signing: EncodingKey,
    verifiers: Vec<Verifier>,
    development: bool,
}

impl fmt::Debug for Keyset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.verifiers.iter().map(|v| v.kid.as_str()).collect();
        f.debug_struct("Keyset")
            .field("signing_kid", &self.kid)
            .field("verifying_kids", &kids)
            .field("development", &self.development)
            .finish_non_exhaustive()
    }
}

/// One entry of `/.well-known/jwks.json`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub kid: String,
    pub x: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Keyset {
    /// The built-in development key (with any previous keys).
    pub fn development(previous_pem: &str) -> Result<Keyset, KeyError> {
        let mut keys = Keyset::build(&SigningKey::from_bytes(&DEVELOPMENT_SEED), previous_pem)?;
        keys.development = true;
        Ok(keys)
    }

    /// `strict`: refuse the development key (staging and production).
    pub fn from_pem(
        private_pem: &str,
        previous_pem: &str,
        strict: bool,
    ) -> Result<Keyset, KeyError> {
        let signing = SigningKey::from_pkcs8_pem(private_pem.trim())
            .map_err(|e| KeyError::InvalidPrivate(e.to_string()))?;
        let development = signing.to_bytes() == DEVELOPMENT_SEED;
        if strict && development {
            return Err(KeyError::DevelopmentKey);
        }
        let mut keys = Keyset::build(&signing, previous_pem)?;
        keys.development = development;
        Ok(keys)
    }

    fn build(signing: &SigningKey, previous_pem: &str) -> Result<Keyset, KeyError> {
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| KeyError::InvalidPrivate(e.to_string()))?;
        let current = verifier(&signing.verifying_key());
        let mut verifiers = vec![current.clone()];
        for (index, block) in pem_blocks(previous_pem).into_iter().enumerate() {
            let key = VerifyingKey::from_public_key_pem(&block).map_err(|e| {
                KeyError::InvalidPrevious {
                    index: index + 1,
                    reason: e.to_string(),
                }
            })?;
            let v = verifier(&key);
            if !verifiers.iter().any(|known| known.kid == v.kid) {
                verifiers.push(v);
            }
        }
        Ok(Keyset {
            kid: current.kid,
            signing: EncodingKey::from_ed_der(der.as_bytes()),
            verifiers,
            development: false,
        })
    }

    pub fn signing_kid(&self) -> &str {
        &self.kid
    }

    pub fn signing_key(&self) -> &EncodingKey {
        &self.signing
    }

    pub fn is_development(&self) -> bool {
        self.development
    }

    pub fn verifier(&self, kid: &str) -> Option<&Verifier> {
        self.verifiers.iter().find(|v| v.kid == kid)
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .verifiers
                .iter()
                .map(|v| Jwk {
                    kty: "OKP",
                    crv: "Ed25519",
                    alg: "EdDSA",
                    use_: "sig",
                    kid: v.kid.clone(),
                    x: v.x.clone(),
                })
                .collect(),
        }
    }

    /// A fresh private key, PKCS#8 PEM (what `app keygen` prints).
    pub fn generate_private_pem() -> String {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        private_pem(&key)
    }

    /// The development key as PEM (tests prove staging and production refuse it).
    pub fn development_private_pem() -> String {
        private_pem(&SigningKey::from_bytes(&DEVELOPMENT_SEED))
    }

    /// The public half of a private PEM, for `APP_JWT_PREVIOUS_PUBLIC_KEYS`.
    pub fn public_pem(private_pem: &str) -> Result<String, KeyError> {
        let key = SigningKey::from_pkcs8_pem(private_pem.trim())
            .map_err(|e| KeyError::InvalidPrivate(e.to_string()))?;
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::InvalidPrivate(e.to_string()))
    }
}

fn private_pem(key: &SigningKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .unwrap_or_default()
}

fn verifier(key: &VerifyingKey) -> Verifier {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    // RFC 7638: members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    // For EdDSA, jsonwebtoken's "DER" decoding key is the raw 32-byte public key.
    let key = DecodingKey::from_ed_der(key.as_bytes());
    Verifier { kid, key, x }
}

/// Splits a bundle of PEM blocks (any separators between them).
fn pem_blocks(bundle: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in bundle.lines().map(str::trim).filter(|l| !l.is_empty()) {
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        blocks.push(current);
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037, appendix A.2 and A.3: the Ed25519 key's JWK thumbprint (RFC 7638).
    #[test]
    fn kid_matches_the_rfc8037_known_answer() {
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo") // pragma: allowlist secret (RFC 8037's public key)
            .unwrap();
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        assert_eq!(
            verifier(&key).kid,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" // pragma: allowlist secret (RFC 8037's thumbprint)
        );
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint_and_stable() {
        let pem = Keyset::generate_private_pem();
        let a = Keyset::from_pem(&pem, "", true).unwrap();
        let b = Keyset::from_pem(&pem, "", true).unwrap();
        assert_eq!(a.signing_kid(), b.signing_kid());
        assert_eq!(a.signing_kid().len(), 43);
    }

    #[test]
    fn previous_keys_verify_but_do_not_sign() {
        let old = Keyset::generate_private_pem();
        let new = Keyset::generate_private_pem();
        let old_kid = Keyset::from_pem(&old, "", true)
            .unwrap()
            .signing_kid()
            .to_owned();
        let bundle = Keyset::public_pem(&old).unwrap();
        let keys = Keyset::from_pem(&new, &format!("{bundle}\n{bundle}"), true).unwrap();
        assert_ne!(keys.signing_kid(), old_kid);
        assert!(keys.verifier(&old_kid).is_some());
        assert_eq!(keys.jwks().keys.len(), 2, "duplicates collapse");
    }

    #[test]
    fn a_broken_previous_key_names_its_block() {
        let new = Keyset::generate_private_pem();
        let err = Keyset::from_pem(
            &new,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            true,
        )
        .unwrap_err();
        assert_eq!(err.variable(), "APP_JWT_PREVIOUS_PUBLIC_KEYS");
        assert!(err.to_string().contains("block 1"), "{err}");
    }

    #[test]
    fn the_development_key_is_refused_when_strict() {
        let dev = Keyset::development_private_pem();
        assert!(matches!(
            Keyset::from_pem(&dev, "", true),
            Err(KeyError::DevelopmentKey)
        ));
        assert!(Keyset::from_pem(&dev, "", false).unwrap().is_development());
    }
}
