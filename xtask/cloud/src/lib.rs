//! The platforms' own APIs as gatehouse uses them: AWS (one SDK configuration for STS, ECR and
//! EKS: `aws`, `ecr`, `eks`; the shared cache's bucket: `s3`) and GitHub releases (`github`).
//! Kubernetes itself is reached through kube in `gatehouse-deploy`.

pub mod aws;
pub mod ecr;
pub mod eks;
pub mod github;
pub mod s3;

use gatehouse_engine::{config, exit, http, settings};

use anyhow::{Context, Result};

/// Runs one future of an async SDK (aws-sdk-ecr, octocrab) to completion on a current-thread
/// runtime: the rest of xtask is synchronous.
pub fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the AWS and GitHub clients")?
        .block_on(future)
}

/// The AWS SDK configuration for `region`: the standard chain, or with `local` (an
/// emulator's URL, e.g. moto) that endpoint and static test credentials.
pub async fn aws_config(
    region: &str,
    local: Option<&str>,
    trust: &http::Trust,
) -> Result<aws_config::SdkConfig> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .http_client(aws_http_client(trust)?);
    if let Some(url) = local {
        loader =
            loader
                .endpoint_url(url)
                .credentials_provider(aws_credential_types::Credentials::new(
                    "testing", "testing", None, None, "emulator",
                ));
    }
    Ok(loader.load().await)
}

/// The credentials `config`'s chain resolves now; `purpose` says what for when there are none.
pub async fn credentials(
    config: &aws_config::SdkConfig,
    purpose: &str,
) -> Result<aws_credential_types::Credentials> {
    use aws_credential_types::provider::ProvideCredentials as _;
    config
        .credentials_provider()
        .context("no AWS credentials provider is configured")?
        .provide_credentials()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "no AWS credentials for {purpose}: {e}; set AWS_PROFILE, the OIDC role or AWS_ACCESS_KEY_ID"
            )
        })
}

/// The SDK's HTTPS client (rustls on aws-lc-rs) trusting the platform's roots and `trust`'s CAs.
fn aws_http_client(
    trust: &http::Trust,
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    use aws_smithy_http_client::tls;
    let mut store = tls::TrustStore::default();
    let extra = trust.pem();
    if !extra.is_empty() {
        store = store.with_pem_certificate(extra.into_bytes());
    }
    // A trust store the SDK cannot use is an error, never a silent fall-back to fewer roots.
    let context = tls::TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| anyhow::anyhow!("the AWS SDK cannot use the configured CAs: {e}"))?;
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context);
    Ok(builder.build_https())
}
