//! The OCI distribution API, as much of it as a release needs: blobs first, then the manifest by
//! digest, then the tag, so no tag ever names a half-pushed image. Transient failures (connection
//! errors, timeouts, 429, 5xx) are retried with exponential backoff; blobs and manifests already
//! present are not sent again, so a rerun after an interruption finishes without duplicates.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{StatusCode, header};

use super::image::Blob;
use crate::exit::Failure;
use crate::http::{Trust, endpoint};

pub use auth::{Auth, Challenge, PASSWORD_ENV, USER_ENV};

mod auth;

/// Media types a manifest GET accepts.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest and the blobs it references: an image, a signature or an attestation.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: Blob,
    pub blobs: Vec<Blob>,
}

impl Artifact {
    pub fn digest(&self) -> String {
        self.manifest.digest()
    }
}

/// What a push did: digest and whether the tag is new (false on an idempotent rerun).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub reference: String,
    pub digest: String,
    pub blobs_sent: usize,
    pub tagged: bool,
}

/// How hard to try before a push fails.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 5,
            first_backoff: Duration::from_millis(200),
        }
    }
}

/// The registry endpoint for an image reference's host: HTTPS, unless the user asked for plain
/// HTTP (`--plain-http`); never chosen from the host name.
pub fn base_url(host: &str, plain_http: bool) -> String {
    let scheme = if plain_http { "http" } else { "https" };
    format!("{scheme}://{host}")
}

/// One registry endpoint, e.g. `http://127.0.0.1:5000` or `https://<account>.dkr.ecr.<region>.amazonaws.com`.
#[derive(Debug, Clone)]
pub struct Registry {
    base: String,
    auth: Auth,
    /// The `Authorization` header learned from the last challenge (a bearer token, or Basic
    /// credentials), shared by clones; never printed.
    learned: Arc<Mutex<Option<auth::Learned>>>,
    client: Client,
    trust: Trust,
    retry: Retry,
}

fn transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

impl Registry {
    pub fn new(base: &str, auth: Auth, retry: Retry, trust: &Trust) -> Result<Registry> {
        Ok(Registry {
            base: base.trim_end_matches('/').to_owned(),
            auth,
            learned: Arc::new(Mutex::new(None)),
            client: trust.blocking(Duration::from_secs(120))?,
            trust: trust.clone(),
            retry,
        })
    }

    /// The registry's host as image references spell it (`127.0.0.1:5000/app@sha256:…`).
    pub fn host(&self) -> &str {
        self.base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, host)| host)
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends the request built by `make` with our credentials, answering the registry's
    /// challenge on a 401 (and, if refused again with a token for that scope, fetching a fresh
    /// one once); `what` names the request in errors.
    fn send(&self, what: &str, make: impl Fn(&Client) -> RequestBuilder) -> Result<Response> {
        let mut renewed = false;
        // Each round learns a new scope or renews one; a registry that keeps changing its
        // challenge is refused rather than followed forever.
        for _ in 0..4 {
            let sent = self.authorization();
            let response = self.retrying(&self.base, what, || {
                let request = make(&self.client);
                match &sent {
                    Some(value) => request.header(header::AUTHORIZATION, value.expose()),
                    None => request,
                }
            })?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            let challenge = Challenge::of(&response);
            if self.answered(challenge.as_ref()) {
                if renewed || !challenge.as_ref().is_some_and(Challenge::is_bearer) {
                    return Err(self.refused(what, challenge.as_ref()));
                }
                renewed = true;
            }
            let challenge = challenge.ok_or_else(|| self.refused(what, None))?;
            self.authenticate(what, &challenge)?;
        }
        Err(self.refused(what, None))
    }

    /// The `Authorization` header to send: what the last challenge taught us, else the preset one.
    fn authorization(&self) -> Option<auth::Secret> {
        let learned = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
        match (&*learned, &self.auth) {
            (Some(l), _) => Some(l.header.clone()),
            (None, Auth::Header(h)) => Some(h.clone()),
            _ => None,
        }
    }

    /// Whether our current credentials were already the answer to `challenge` (so a fresh 401
    /// means they were refused, not missing).
    fn answered(&self, challenge: Option<&Challenge>) -> bool {
        let learned = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
        match (challenge, &*learned) {
            (Some(c), Some(l)) => l.answers(c),
            (_, None) => matches!(self.auth, Auth::Header(_)),
            (None, Some(_)) => true,
        }
    }

    /// Answers `challenge`: Basic credentials, or a bearer token from its realm.
    fn authenticate(&self, what: &str, challenge: &Challenge) -> Result<()> {
        let learned = match (challenge.is_bearer(), &self.auth) {
            (true, _) => self.token(challenge)?,
            (false, Auth::Login { .. }) if challenge.is_basic() => {
                auth::Learned::basic(&self.auth, challenge)
            }
            _ => return Err(self.refused(what, Some(challenge))),
        };
        *self.learned.lock().unwrap_or_else(PoisonError::into_inner) = Some(learned);
        Ok(())
    }

    /// A bearer token for `challenge`'s scope from its realm (Basic credentials when we have them,
    /// else anonymous).
    fn token(&self, challenge: &Challenge) -> Result<auth::Learned> {
        let realm = challenge
            .param("realm")
            .with_context(|| format!("{}: a Bearer challenge without a realm", self.base))?;
        let url = reqwest::Url::parse_with_params(realm, challenge.token_query())
            .with_context(|| format!("{}: a Bearer challenge with a bad realm", self.base))?;
        let response = self.retrying(realm, "a token request", || {
            let request = self.client.get(url.clone());
            match &self.auth {
                Auth::Login { user, password } => request.basic_auth(user, Some(password.expose())),
                _ => request,
            }
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Failure::Untrusted(format!(
                "registry {}: the token service {} refused our credentials ({}); {}",
                endpoint(&self.base),
                realm.split('?').next().unwrap_or(realm),
                status.as_u16(),
                self.auth.remedy()
            ))
            .into());
        }
        let body = expect(response, "fetching a registry token")?.text()?;
        let token = auth::token_from(&body).with_context(|| {
            format!(
                "the token service {} answered without a token",
                endpoint(realm)
            )
        })?;
        Ok(auth::Learned::bearer(token, challenge))
    }

    /// The exit-7 error for a request the registry refused even with our credentials.
    fn refused(&self, what: &str, challenge: Option<&Challenge>) -> anyhow::Error {
        let why = challenge.map_or_else(
            || "the registry refused our credentials".to_owned(),
            Challenge::refusal,
        );
        Failure::Untrusted(format!(
            "registry {}: {what} was refused after authenticating: {why}; {}",
            endpoint(&self.base),
            self.auth.remedy()
        ))
        .into()
    }

    /// Sends the request built by `make` to `target`, retrying transient failures (never a 401).
    fn retrying(
        &self,
        target: &str,
        what: &str,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let mut backoff = self.retry.first_backoff;
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts.max(1) {
            match make().send() {
                Ok(response) if !transient(response.status()) => return Ok(response),
                Ok(response) => {
                    last = format!("HTTP {}", response.status());
                }
                // An untrusted certificate will not become trusted by retrying.
                Err(e) => match self.trust.explain(target, &e) {
                    e if crate::exit::failure_of(&e).is_some() => {
                        return Err(e.context(format!("{what} refused")));
                    }
                    e => last = format!("{e:#}"),
                },
            }
            if attempt < self.retry.attempts {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
        }
        bail!(
            "{what} failed after {} attempts against {}: {last}; is the registry up and reachable?",
            self.retry.attempts,
            endpoint(target)
        )
    }

    /// Whether the registry holds `digest` in `repo`.
    pub fn has_blob(&self, repo: &str, digest: &str) -> Result<bool> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let response = self.send(&format!("HEAD blob {digest}"), |c| c.head(&url))?;
        Ok(response.status().is_success())
    }

    /// Uploads one blob (monolithic POST + PUT) unless it is already there; true when sent.
    pub fn push_blob(&self, repo: &str, blob: &Blob) -> Result<bool> {
        let digest = blob.digest();
        if self.has_blob(repo, &digest)? {
            return Ok(false);
        }
        let start = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let response = self.send(&format!("starting the upload of {digest}"), |c| {
            c.post(&start).header(header::CONTENT_LENGTH, 0)
        })?;
        let response = expect(response, "starting a blob upload")?;
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("the registry started an upload without a Location header")?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self.url(&format!("{location}{sep}digest={digest}"));
        let response = self.send(&format!("uploading {digest}"), |c| {
            c.put(&put)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(blob.bytes.clone())
        })?;
        expect(response, "uploading a blob")?;
        Ok(true)
    }

    /// The manifest under `reference` (tag or digest), with its media type; `None` if absent.
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<Option<Blob>> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let response = self.send(&format!("GET manifest {reference}"), |c| {
            c.get(&url).header(header::ACCEPT, ACCEPT)
        })?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = expect(response, "reading a manifest")?;
        let media_type = match response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            Some(t) if t.contains("docker") => {
                "application/vnd.docker.distribution.manifest.v2+json"
            }
            _ => super::image::MANIFEST_TYPE,
        };
        Ok(Some(Blob {
            media_type,
            bytes: response.bytes()?.to_vec(),
        }))
    }

    /// One blob's bytes, checked against its digest.
    pub fn blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let response = self.send(&format!("GET blob {digest}"), |c| c.get(&url))?;
        let bytes = expect(response, "reading a blob")?.bytes()?.to_vec();
        let got = Blob {
            media_type: "",
            bytes,
        };
        anyhow::ensure!(
            got.digest() == digest,
            "blob {digest} from {} hashes to {}: the registry returned other bytes",
            self.base,
            got.digest()
        );
        Ok(got.bytes)
    }

    fn put_manifest(&self, repo: &str, reference: &str, manifest: &Blob) -> Result<()> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let response = self.send(&format!("PUT manifest {reference}"), |c| {
            c.put(&url)
                .header(header::CONTENT_TYPE, manifest.media_type)
                .body(manifest.bytes.clone())
        })?;
        expect(response, "putting a manifest")?;
        Ok(())
    }

    /// Pushes `artifact` to `repo` and points `tag` at it, in that order. A tag that already
    /// names this digest is left alone (a rerun); one that names another digest is refused:
    /// tags are immutable.
    pub fn push(&self, repo: &str, tag: &str, artifact: &Artifact) -> Result<Pushed> {
        let digest = artifact.digest();
        let reference = format!("{}/{repo}:{tag}", self.host());
        if let Some(existing) = self.manifest(repo, tag)? {
            if existing.digest() == digest {
                return Ok(Pushed {
                    reference,
                    digest,
                    blobs_sent: 0,
                    tagged: false,
                });
            }
            bail!(
                "{reference} already names {}, not {digest}: tags are immutable; release a new version",
                existing.digest()
            );
        }
        let mut sent = 0;
        for blob in &artifact.blobs {
            if self.push_blob(repo, blob)? {
                sent += 1;
            }
        }
        self.put_manifest(repo, &digest, &artifact.manifest)?;
        self.put_manifest(repo, tag, &artifact.manifest)?;
        Ok(Pushed {
            reference,
            digest,
            blobs_sent: sent,
            tagged: true,
        })
    }
}

/// `response` if it succeeded, else an error with the registry's own message.
fn expect(response: Response, what: &str) -> Result<Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().unwrap_or_default();
    bail!("{what}: the registry answered {status}: {}", body.trim())
}
