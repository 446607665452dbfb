//! The `kubernetes` target (EKS through helm): what a promotion runs there. The chart takes the
//! image by digest; its pre-upgrade hook Job runs `<bin> migrate` from the same image (sqlx
//! holds PostgreSQL's advisory lock), then helm waits for the rollout.

use anyhow::Result;

use super::env::{Environment, Target};
use super::evidence::Release;
use crate::config::ServiceDef;

/// The commands a promotion to `env` runs, in order.
pub fn plan(env: &Environment, release: &Release, service: &ServiceDef) -> Result<Vec<String>> {
    let Target::Kubernetes {
        cluster,
        region,
        namespace,
        release: name,
        chart,
        timeout,
        ..
    } = &env.target
    else {
        anyhow::bail!("{} is not a kubernetes environment", env.name);
    };
    let mut helm = vec![
        "helm".to_owned(),
        "upgrade".to_owned(),
        "--install".to_owned(),
        name.clone(),
        chart.clone(),
    ];
    helm.extend(super::chart::helm_args(
        env,
        &release.name,
        &release.digest,
    )?);
    helm.extend(["--wait".to_owned(), "--timeout".to_owned(), timeout.clone()]);
    Ok(vec![
        format!(
            "aws eks describe-cluster --name {cluster} --region {region}  (endpoint and CA; a presigned STS GetCallerIdentity token, k8s-aws-v1.…)"
        ),
        format!(
            "pre-upgrade hook Job: {} migrate /{}  (expand-only, advisory lock)",
            service.bin,
            crate::release::migrations_dir_in_image(service)
        ),
        helm.join(" "),
        format!("watch deployment/{name} in {namespace}: conditions, pod readiness, events"),
        format!("on a failed judgement: helm rollback {name} --namespace {namespace} --wait"),
    ])
}
