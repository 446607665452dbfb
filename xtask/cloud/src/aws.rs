//! `cargo xtask aws identity`: who the standard AWS credential chain authenticates as — the
//! identity `release` (ECR) and `promote` (EKS) act as, through the same SDK configuration.

use anyhow::Result;
use serde::Serialize;

use crate::config::Config;
use crate::exit::Exit;
use crate::settings::{Format, Settings};

/// What a credential kind needs, named when STS refuses or no credentials are found.
const REMEDY: &str = "are AWS credentials set? AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, \
     AWS_PROFILE (after `aws sso login` for an SSO profile; a credential_process must print \
     credentials JSON), or AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (GitHub OIDC)";

/// STS's answer about the caller.
#[derive(Debug, Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

/// `GetCallerIdentity` with the standard chain in `region` (never the emulator's static keys).
pub fn identity(region: &str) -> Result<Identity> {
    crate::block_on(async {
        let trust = crate::http::Trust::configured();
        let config = crate::aws_config(region, None, &trust).await?;
        let out = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                // The chain of causes, without the SDK's debug dump.
                let cause = anyhow::Error::new(e);
                anyhow::anyhow!("STS GetCallerIdentity in {region}: {cause:#}; {REMEDY}")
            })?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_owned(),
            arn: out.arn().unwrap_or_default().to_owned(),
            user_id: out.user_id().unwrap_or_default().to_owned(),
        })
    })
}

/// The command: `--region`, else `[release] region`, else `us-east-1` (as `release` does).
pub fn identity_command(
    settings: &Settings,
    config: &Config,
    region: Option<&str>,
) -> Result<Exit> {
    let configured = config.release.as_ref().and_then(|r| r.region.as_deref());
    let region = region.or(configured).unwrap_or("us-east-1");
    let who = identity(region)?;
    if settings.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&who)?);
    } else {
        println!(
            "{} (account {}, user id {})",
            who.arn, who.account, who.user_id
        );
    }
    Ok(Exit::Ok)
}
