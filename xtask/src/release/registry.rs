//! The OCI distribution API, as much of it as a release needs: blobs first, then the manifest by
//! digest, then the tag, so no tag ever names a half-pushed image. Transient failures (connection
//! errors, timeouts, 429, 5xx) are retried with exponential backoff; blobs and manifests already
//! present are not sent again, so a rerun after an interruption finishes without duplicates.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{StatusCode, header};

use super::image::Blob;

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

/// The registry endpoint for an image reference's host: plain HTTP on loopback (or when asked),
/// HTTPS elsewhere.
pub fn base_url(host: &str, plain_http: bool) -> String {
    let local = host.starts_with("127.0.0.1") || host.starts_with("localhost");
    let scheme = if plain_http || local { "http" } else { "https" };
    format!("{scheme}://{host}")
}

/// One registry endpoint, e.g. `http://127.0.0.1:5000` or `https://<account>.dkr.ecr.<region>.amazonaws.com`.
#[derive(Debug, Clone)]
pub struct Registry {
    base: String,
    /// `Authorization` header value (ECR: `Basic base64(AWS:<token>)`).
    auth: Option<String>,
    client: Client,
    retry: Retry,
}

fn transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

impl Registry {
    pub fn new(base: &str, auth: Option<String>, retry: Retry) -> Result<Registry> {
        let client = Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Registry {
            base: base.trim_end_matches('/').to_owned(),
            auth,
            client,
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

    /// Sends the request built by `make`, retrying transient failures; `what` names it in errors.
    fn send(&self, what: &str, make: impl Fn(&Client) -> RequestBuilder) -> Result<Response> {
        let mut backoff = self.retry.first_backoff;
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts.max(1) {
            let mut request = make(&self.client);
            if let Some(auth) = &self.auth {
                request = request.header(header::AUTHORIZATION, auth);
            }
            match request.send() {
                Ok(response) if !transient(response.status()) => return Ok(response),
                Ok(response) => {
                    last = format!("HTTP {}", response.status());
                }
                Err(e) => last = format!("{e}"),
            }
            if attempt < self.retry.attempts {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
        }
        bail!(
            "{what} failed after {} attempts against {}: {last}; is the registry up and reachable?",
            self.retry.attempts,
            self.base
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
