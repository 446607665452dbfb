//! The GitHub release, with octocrab: notes from the changelog, the evidence as assets. A rerun
//! finds the release by its tag and uploads only what is missing.

use anyhow::{Context, Result};

/// One file attached to the release.
#[derive(Debug, Clone)]
pub struct Asset {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Where and as whom: `GITHUB_REPOSITORY`, `GITHUB_TOKEN`, and `GITHUB_API_URL` (GitHub
/// Enterprise, or a test server; assets go to the `upload_url` the release names).
#[derive(Debug, Clone)]
pub struct Target {
    pub owner: String,
    pub repo: String,
    pub token: String,
    pub api: Option<String>,
}

impl Target {
    /// From `repository` (`owner/name`, the config's `[release] github` or `$GITHUB_REPOSITORY`)
    /// and the environment; `None` says why there is no target.
    pub fn from_env(repository: Option<&str>) -> std::result::Result<Target, String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let repository = repository
            .map(str::to_owned)
            .or_else(|| env("GITHUB_REPOSITORY"))
            .ok_or(
                "no GitHub repository: set [release] github = \"owner/name\" or GITHUB_REPOSITORY",
            )?;
        let (owner, repo) = repository
            .split_once('/')
            .ok_or(format!("`{repository}` is not owner/name"))?;
        let token = env("GITHUB_TOKEN").ok_or("GITHUB_TOKEN is not set")?;
        let api = env("GITHUB_API_URL").filter(|u| u != "https://api.github.com");
        Ok(Target {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            token,
            api,
        })
    }
}

/// What was published.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    pub url: String,
    pub created: bool,
    pub uploaded: Vec<String>,
}

/// The octocrab client for `target` (token, and `GITHUB_API_URL` when set).
pub fn client(target: &Target) -> Result<octocrab::Octocrab> {
    client_with(target, &crate::http::Trust::configured())
}

/// The octocrab client for `target`, trusting the platform's roots and `trust`'s CAs (GitHub
/// Enterprise Server behind a company CA).
pub fn client_with(target: &Target, trust: &crate::http::Trust) -> Result<octocrab::Octocrab> {
    use octocrab::service::middleware::base_uri::BaseUriLayer;
    use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
    let api = target.api.as_deref().unwrap_or("https://api.github.com");
    let base: http::Uri = api
        .parse()
        .with_context(|| format!("GITHUB_API_URL `{api}` is not a URL"))?;
    let tls = trust.rustls_config()?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    let token = format!("Bearer {}", target.token);
    let headers = vec![
        (
            http::header::USER_AGENT,
            http::HeaderValue::from_static("gatehouse"),
        ),
        (
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&token)
                .context("GITHUB_TOKEN is not a valid header value")?,
        ),
    ];
    octocrab::OctocrabBuilder::new_empty()
        .with_service(client)
        .with_layer(&BaseUriLayer::new(base))
        .with_layer(&ExtraHeadersLayer::new(std::sync::Arc::new(headers)))
        .with_auth(octocrab::AuthState::None)
        .build()
        .context("cannot build the GitHub client")
}

/// Creates (or finds) the release of `tag` at `commit` and uploads the assets it lacks.
pub fn publish(
    target: &Target,
    tag: &str,
    commit: &str,
    notes: &str,
    assets: &[Asset],
) -> Result<Published> {
    super::block_on(async {
        let github = client(target)?;
        let repos = github.repos(&target.owner, &target.repo);
        let releases = repos.releases();
        let (release, created) = match releases.get_by_tag(tag).await {
            Ok(release) => (release, false),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 404 => {
                let release = releases
                    .create(tag)
                    .target_commitish(commit)
                    .name(tag)
                    .body(notes)
                    .draft(false)
                    .prerelease(tag.contains('-'))
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("creating the GitHub release {tag}: {e}"))?;
                (release, true)
            }
            Err(e) => anyhow::bail!(
                "reading the GitHub release {tag} of {}/{}: {e}; check GITHUB_TOKEN's `contents: write` permission",
                target.owner,
                target.repo
            ),
        };
        let present: Vec<String> = release.assets.iter().map(|a| a.name.clone()).collect();
        let mut uploaded = Vec::new();
        for asset in assets.iter().filter(|a| !present.contains(&a.name)) {
            releases
                .upload_asset(
                    release.id.into_inner(),
                    &asset.name,
                    asset.bytes.clone().into(),
                )
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("uploading {} to the release {tag}: {e}", asset.name)
                })?;
            uploaded.push(asset.name.clone());
        }
        Ok(Published {
            url: release.html_url.to_string(),
            created,
            uploaded,
        })
    })
}
