//! Access tokens (EdDSA JWTs, algorithm pinned) and opaque refresh tokens.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::JwtSettings;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

/// Why a token was refused: the `reason` label of `auth_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed_token",
            Rejection::Algorithm => "wrong_algorithm",
            Rejection::UnknownKey => "unknown_key",
            Rejection::Signature => "bad_signature",
            Rejection::Expired => "expired_token",
            Rejection::NotYetValid => "token_not_yet_valid",
            Rejection::Issuer => "wrong_issuer",
            Rejection::Audience => "wrong_audience",
        }
    }
}

/// Signs an access token for `user` with the current key.
pub fn issue_access(jwt: &JwtSettings, user: Uuid) -> anyhow::Result<String> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: user,
        iss: jwt.issuer.clone(),
        aud: jwt.audience.clone(),
        iat: now,
        nbf: now,
        exp: now + secs(jwt.access_ttl),
        jti: Uuid::new_v4(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(jwt.keys.signing_kid().to_owned());
    Ok(jsonwebtoken::encode(
        &header,
        &claims,
        jwt.keys.signing_key(),
    )?)
}

/// Verifies: algorithm pinned to EdDSA, `kid` known, signature, `iss`, `aud`, `exp`, `nbf`.
pub fn verify_access(jwt: &JwtSettings, token: &str) -> Result<Claims, Rejection> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(Rejection::Algorithm);
    }
    let kid = header.kid.ok_or(Rejection::UnknownKey)?;
    let verifier = jwt.keys.verifier(&kid).ok_or(Rejection::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = 5;
    validation.validate_nbf = true;
    validation.set_issuer(&[&jwt.issuer]);
    validation.set_audience(&[&jwt.audience]);
    validation.required_spec_claims = ["exp", "nbf", "iss", "aud", "sub"]
        .into_iter()
        .map(str::to_owned)
        .collect::<HashSet<_>>();
    jsonwebtoken::decode::<Claims>(token, &verifier.key, &validation)
        .map(|data| data.claims)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => Rejection::Expired,
                K::ImmatureSignature => Rejection::NotYetValid,
                K::InvalidIssuer => Rejection::Issuer,
                K::InvalidAudience => Rejection::Audience,
                K::InvalidAlgorithm => Rejection::Algorithm,
                K::InvalidSignature => Rejection::Signature,
                _ => Rejection::Malformed,
            }
        })
}

/// A new opaque refresh token: 256 random bits, base64url.
pub fn new_refresh_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("rt_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What the database stores instead of the token.
pub fn hash_refresh_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
