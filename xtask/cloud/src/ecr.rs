//! Amazon ECR's control plane with aws-sdk-ecr: the repository exists with immutable tags,
//! scan-on-push and a lifecycle policy; `GetAuthorizationToken` gives the basic credentials for
//! the registry endpoint. Credentials and region come from the standard AWS chain; the API
//! endpoint follows `AWS_ENDPOINT_URL_ECR` / `AWS_ENDPOINT_URL` (moto in tests, a VPC endpoint
//! in production). Only the contract of real ECR is relied on.

use crate::http::Trust;
use anyhow::{Context, Result};
use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};

/// Untagged manifests (left by interrupted pushes) go after 14 days; tagged releases stay.
pub const LIFECYCLE_POLICY: &str = r#"{"rules":[{"rulePriority":1,"description":"expire untagged images 14 days after push (gatehouse)","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#;

/// What the control plane said and did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prepared {
    pub repository_uri: String,
    pub created: bool,
    /// `https://<account>.dkr.ecr.<region>.amazonaws.com`.
    pub proxy_endpoint: String,
    /// `Authorization` header value for the registry (not serialised).
    #[serde(skip)]
    pub authorization: String,
}

/// The SDK's message and, where it has one, the service's error code.
fn explain<E: std::error::Error + 'static>(e: &aws_sdk_ecr::error::SdkError<E>) -> String {
    use std::fmt::Write as _;
    let mut out = format!("{e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}

/// The SDK client (see [`super::aws_config`]).
async fn client(region: &str, local: Option<&str>, trust: &Trust) -> Result<Client> {
    Ok(Client::new(&super::aws_config(region, local, trust).await?))
}

/// Ensures the repository and returns registry credentials.
pub fn prepare(
    repository: &str,
    region: &str,
    local: Option<&str>,
    trust: &Trust,
) -> Result<Prepared> {
    super::block_on(async {
        let ecr = client(region, local, trust).await?;
        let (uri, created) = ensure_repository(&ecr, repository).await?;
        ecr.put_lifecycle_policy()
            .repository_name(repository)
            .lifecycle_policy_text(LIFECYCLE_POLICY)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("PutLifecyclePolicy on {repository}: {}", explain(&e)))?;
        let token = ecr
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GetAuthorizationToken: {}; are AWS credentials set (AWS_PROFILE, AWS_ACCESS_KEY_ID, or GitHub's OIDC role)?", explain(&e)))?;
        let data = token
            .authorization_data()
            .first()
            .context("GetAuthorizationToken returned no authorization data")?;
        Ok(Prepared {
            repository_uri: uri,
            created,
            proxy_endpoint: data.proxy_endpoint().unwrap_or_default().to_owned(),
            authorization: format!("Basic {}", data.authorization_token().unwrap_or_default()),
        })
    })
}

/// The repository's URI, created with the settings if missing, corrected if present.
async fn ensure_repository(ecr: &Client, repository: &str) -> Result<(String, bool)> {
    let scanning = ImageScanningConfiguration::builder()
        .scan_on_push(true)
        .build();
    let found = ecr
        .describe_repositories()
        .repository_names(repository)
        .send()
        .await;
    let existing = match found {
        Ok(out) => out.repositories().first().cloned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) =>
        {
            None
        }
        Err(e) => anyhow::bail!("DescribeRepositories {repository}: {}", explain(&e)),
    };
    let Some(repo) = existing else {
        let out = ecr
            .create_repository()
            .repository_name(repository)
            .image_tag_mutability(ImageTagMutability::Immutable)
            .image_scanning_configuration(scanning)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("CreateRepository {repository}: {}", explain(&e)))?;
        let uri = out
            .repository()
            .and_then(|r| r.repository_uri())
            .unwrap_or_default();
        return Ok((uri.to_owned(), true));
    };
    if repo.image_tag_mutability() != Some(&ImageTagMutability::Immutable) {
        ecr.put_image_tag_mutability()
            .repository_name(repository)
            .image_tag_mutability(ImageTagMutability::Immutable)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("PutImageTagMutability {repository}: {}", explain(&e)))?;
    }
    if !repo
        .image_scanning_configuration()
        .is_some_and(|s| s.scan_on_push())
    {
        ecr.put_image_scanning_configuration()
            .repository_name(repository)
            .image_scanning_configuration(scanning)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "PutImageScanningConfiguration {repository}: {}",
                    explain(&e)
                )
            })?;
    }
    Ok((repo.repository_uri().unwrap_or_default().to_owned(), false))
}
