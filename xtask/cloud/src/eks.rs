//! Access to an EKS cluster the way `aws eks get-token` gives it: `DescribeCluster` for the API
//! endpoint and CA, and a bearer token that is a presigned STS `GetCallerIdentity` URL
//! (`k8s-aws-v1.` + base64url, the cluster name signed in as `x-k8s-aws-id`, valid 60 s), which
//! the cluster's authenticator calls to learn who we are. Credentials and region come from the
//! standard AWS chain; endpoints follow `AWS_ENDPOINT_URL_EKS` / `AWS_ENDPOINT_URL_STS`.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use base64::Engine as _;

/// The cluster's API server, as `DescribeCluster` reports it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Cluster {
    pub name: String,
    pub endpoint: String,
    /// The CA bundle, PEM (EKS returns it base64-encoded).
    #[serde(skip)]
    pub ca_pem: Vec<u8>,
    pub status: String,
}

/// The header naming the cluster, signed into the token so it is valid for that cluster only.
pub const CLUSTER_HEADER: &str = "x-k8s-aws-id";
/// Presigned tokens are valid this long (the authenticator refuses longer ones).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(60);
const PREFIX: &str = "k8s-aws-v1.";

/// `DescribeCluster`: the endpoint and CA of `name`, which must be ACTIVE, and the credentials
/// the token is signed with — both from one SDK configuration. `local` (an emulator's URL)
/// replaces the endpoint and uses static test credentials.
pub fn access(
    name: &str,
    region: &str,
    local: Option<&str>,
    trust: &crate::http::Trust,
) -> Result<(Cluster, Credentials)> {
    crate::block_on(async {
        let config = crate::aws_config(region, local, trust).await?;
        let credentials = crate::credentials(&config, "the EKS token").await?;
        let eks = aws_sdk_eks::Client::new(&config);
        Ok((describe(&eks, name, region).await?, credentials))
    })
}

async fn describe(eks: &aws_sdk_eks::Client, name: &str, region: &str) -> Result<Cluster> {
    let out = eks.describe_cluster().name(name).send().await.map_err(|e| {
        anyhow::anyhow!(
            "DescribeCluster {name} in {region}: {}; are AWS credentials for the cluster's account set (AWS_PROFILE, GitHub's OIDC role)?",
            aws_sdk_eks::error::DisplayErrorContext(&e)
        )
    })?;
    let cluster = out
        .cluster()
        .with_context(|| format!("DescribeCluster {name} returned no cluster"))?;
    let status = cluster
        .status()
        .map_or("UNKNOWN".to_owned(), |s| s.as_str().to_owned());
    if status != "ACTIVE" {
        anyhow::bail!("cluster {name} in {region} is {status}, not ACTIVE");
    }
    let endpoint = cluster
        .endpoint()
        .with_context(|| format!("cluster {name} has no endpoint"))?
        .to_owned();
    let ca = cluster
        .certificate_authority()
        .and_then(|c| c.data())
        .with_context(|| format!("cluster {name} has no certificate authority data"))?;
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(ca.trim())
        .with_context(|| format!("cluster {name}: certificate authority data is not base64"))?;
    Ok(Cluster {
        name: name.to_owned(),
        endpoint,
        ca_pem,
        status,
    })
}

/// The STS endpoint tokens are presigned for: `AWS_ENDPOINT_URL_STS`, else the regional one.
pub fn sts_endpoint(region: &str) -> String {
    std::env::var("AWS_ENDPOINT_URL_STS")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| format!("https://sts.{region}.amazonaws.com"))
}

/// The bearer token for `cluster`: `k8s-aws-v1.` + base64url(presigned GetCallerIdentity URL).
pub fn token(
    cluster: &str,
    region: &str,
    sts: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<String> {
    let url = format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15",
        sts.trim_end_matches('/')
    );
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let identity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .context("cannot build SigV4 parameters")?
        .into();
    let headers = [(CLUSTER_HEADER, cluster)];
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .context("cannot presign the STS URL")?;
    let (instructions, _) = sign(request, &params)
        .context("cannot presign the STS URL")?
        .into_parts();
    let mut presigned = reqwest::Url::parse(&url).context("bad STS endpoint")?;
    {
        let mut query = presigned.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
    }
    Ok(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned.as_str())
    ))
}

/// The presigned URL inside a token (what the authenticator calls).
pub fn token_url(token: &str) -> Result<String> {
    let encoded = token
        .strip_prefix(PREFIX)
        .with_context(|| format!("an EKS token starts with {PREFIX}"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .context("an EKS token is base64url without padding")?;
    String::from_utf8(bytes).context("an EKS token holds a URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(url: &str) -> std::collections::BTreeMap<String, String> {
        reqwest::Url::parse(url)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn the_token_is_a_presigned_get_caller_identity_bound_to_the_cluster() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let signed = token(
            "prod",
            "eu-west-1",
            "https://sts.eu-west-1.amazonaws.com",
            &creds,
            at,
        )
        .unwrap();
        assert!(signed.starts_with("k8s-aws-v1."), "{signed}");
        assert!(!signed.contains('='), "no padding");
        let url = token_url(&signed).unwrap();
        assert!(
            url.starts_with("https://sts.eu-west-1.amazonaws.com/?"),
            "{url}"
        );
        let q = query(&url);
        assert_eq!(q["Action"], "GetCallerIdentity");
        assert_eq!(q["Version"], "2011-06-15");
        assert_eq!(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(q["X-Amz-Expires"], "60");
        assert_eq!(q["X-Amz-Date"], "20231114T221320Z");
        assert_eq!(
            q["X-Amz-Credential"],
            "AKIDEXAMPLE/20231114/eu-west-1/sts/aws4_request"
        );
        assert_eq!(q["X-Amz-SignedHeaders"], "host;x-k8s-aws-id");
        assert_eq!(q["X-Amz-Signature"].len(), 64);
        // Another cluster is another signature: the token cannot be replayed elsewhere.
        let other = token(
            "staging",
            "eu-west-1",
            "https://sts.eu-west-1.amazonaws.com",
            &creds,
            at,
        )
        .unwrap();
        assert_ne!(
            query(&token_url(&other).unwrap())["X-Amz-Signature"],
            q["X-Amz-Signature"]
        );
    }

    #[test]
    fn a_session_token_is_signed_in() {
        let creds = Credentials::new("AKID", "secret", Some("session/+=".into()), None, "test");
        let signed = token(
            "c",
            "us-east-1",
            "https://sts.us-east-1.amazonaws.com",
            &creds,
            SystemTime::now(),
        )
        .unwrap();
        let q = query(&token_url(&signed).unwrap());
        assert_eq!(q["X-Amz-Security-Token"], "session/+=");
    }
}
