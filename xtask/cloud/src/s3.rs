//! Objects in an S3-compatible bucket, as the shared cache keeps them: `GetObject` and
//! `PutObject`, SigV4-signed with the standard AWS credential chain (env, profile, GitHub's OIDC
//! role), over the one HTTPS stack and trust store. AWS is addressed virtual-host style; an
//! `endpoint` (MinIO, R2, moto) path-style.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use gatehouse_engine::engine::shared::Blobs;

/// One bucket and prefix (`s3://bucket/prefix`).
pub struct Bucket {
    location: String,
    /// The bucket's URL, ending in `/`.
    bucket: reqwest::Url,
    /// The URL objects are below (the bucket's, and the prefix), ending in `/`.
    base: reqwest::Url,
    region: String,
    credentials: Credentials,
    client: reqwest::blocking::Client,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

pub use gatehouse_engine::engine::shared::parse_url;

impl Bucket {
    /// The bucket at `url` (`s3://bucket/prefix`) in `region`, through `endpoint` if given, with
    /// credentials resolved now from the standard chain.
    pub fn open(url: &str, region: &str, endpoint: Option<&str>) -> Result<Bucket> {
        let (bucket, prefix) = parse_url(url)?;
        let host = match endpoint {
            Some(e) => format!("{}/{bucket}/", e.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com/"),
        };
        let bucket_url = reqwest::Url::parse(&host)
            .with_context(|| format!("`{host}` is not a URL ([cache] endpoint)"))?;
        let base = if prefix.is_empty() {
            bucket_url.clone()
        } else {
            bucket_url.join(&format!("{prefix}/"))?
        };
        let trust = crate::http::Trust::configured();
        Ok(Bucket {
            location: format!("s3://{bucket}/{prefix}")
                .trim_end_matches('/')
                .to_owned(),
            bucket: bucket_url,
            base,
            region: region.to_owned(),
            credentials: credentials(region, &trust)?,
            client: trust.blocking(Duration::from_secs(60))?,
        })
    }

    /// `CreateBucket` (first set-up, and emulators); an existing bucket of ours is fine.
    pub fn create(&self) -> Result<()> {
        let response = self.send("PUT", self.bucket.clone(), &[])?;
        match response.status().as_u16() {
            200 | 409 => Ok(()),
            code => bail!("CreateBucket {}: HTTP {code}", self.location),
        }
    }

    fn send(
        &self,
        method: &str,
        url: reqwest::Url,
        body: &[u8],
    ) -> Result<reqwest::blocking::Response> {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .context("cannot build SigV4 parameters")?
            .into();
        let request = SignableRequest::new(
            method,
            url.as_str(),
            std::iter::empty(),
            SignableBody::Bytes(body),
        )
        .context("cannot sign the S3 request")?;
        let (instructions, _) = sign(request, &params)
            .context("cannot sign the S3 request")?
            .into_parts();
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut builder = self.client.request(method, url.clone());
        for (name, value) in instructions.headers() {
            builder = builder.header(name, value);
        }
        builder
            .body(body.to_vec())
            .send()
            .map_err(|e| crate::http::Trust::configured().explain(url.as_str(), &e))
    }

    fn object(&self, name: &str) -> Result<reqwest::Url> {
        self.base
            .join(name)
            .with_context(|| format!("bad object name {name}"))
    }
}

impl Blobs for Bucket {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let response = self.send("GET", self.object(name)?, &[])?;
        match response.status().as_u16() {
            200 => Ok(Some(response.bytes()?.to_vec())),
            404 => Ok(None),
            _ => Err(refused("GetObject", name, response)),
        }
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let response = self.send("PUT", self.object(name)?, bytes)?;
        match response.status().as_u16() {
            200 => Ok(()),
            _ => Err(refused("PutObject", name, response)),
        }
    }
}

/// Why the bucket refused `op` on `name`, from S3's error document (its `<Code>`), with the
/// remedy: credentials the bucket does not accept are not the same fault as a policy that denies.
fn refused(op: &str, name: &str, response: reqwest::blocking::Response) -> anyhow::Error {
    let status = response.status().as_u16();
    let body = response.text().unwrap_or_default();
    let code = element(&body, "Code");
    let remedy = match (code, op) {
        (
            Some(
                "SignatureDoesNotMatch"
                | "InvalidAccessKeyId"
                | "ExpiredToken"
                | "InvalidToken"
                | "TokenRefreshRequired",
            ),
            _,
        ) => {
            ": the bucket does not accept these AWS credentials; check AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY (or the profile, or the role CI assumes)"
        }
        (Some("NoSuchBucket"), _) => ": the bucket does not exist; check [cache] shared",
        (Some("AccessDenied") | None, "GetObject") if status == 403 => {
            ": access denied; the credentials need s3:GetObject and s3:ListBucket on the bucket"
        }
        (Some("AccessDenied") | None, _) if status == 403 => {
            ": access denied; the writer's credentials need s3:PutObject"
        }
        _ => "",
    };
    let code = code.map(|c| format!(" {c}")).unwrap_or_default();
    anyhow::anyhow!("{op} {name}: HTTP {status}{code}{remedy}")
}

/// The text of the first `<tag>` element of an XML document, if any.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..start + len].trim())
}

fn credentials(region: &str, trust: &crate::http::Trust) -> Result<Credentials> {
    crate::block_on(async {
        let config = crate::aws_config(region, None, trust).await?;
        crate::credentials(&config, "the shared cache").await
    })
}
