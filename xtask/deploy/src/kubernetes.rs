//! The `kubernetes` target (EKS through helm): what a promotion runs there. The chart takes the
//! image by digest; its pre-upgrade hook Job runs `<bin> migrate` from the same image (sqlx
//! holds PostgreSQL's advisory lock), then helm waits for the rollout.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::env::{Environment, Kube};
use super::evidence::Release;
use super::promote::Service;
use super::{DeployTarget, Deployed, Endpoints, eks, rollout};
use crate::engine::gate::{RunCtx, code};

/// The commands a promotion to `env` runs, in order.
pub fn plan(env: &Environment, release: &Release, svc: &Service<'_>) -> Result<Vec<String>> {
    let service = svc.service;
    let Kube {
        cluster,
        region,
        namespace,
        release: name,
        chart,
        timeout,
        ..
    } = env.kubernetes()?;
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
        &release.version,
    )?);
    helm.extend(["--wait".to_owned(), "--timeout".to_owned(), timeout.clone()]);
    Ok(vec![
        format!(
            "aws eks describe-cluster --name {cluster} --region {region}  (endpoint and CA; a presigned STS GetCallerIdentity token, k8s-aws-v1.…)"
        ),
        format!(
            "pre-upgrade hook Job: {} {} /{}  (expand-only, advisory lock)",
            service.bin,
            service.migrate.as_deref().unwrap_or_default().join(" "),
            svc.image_migrations
        ),
        helm.join(" "),
        format!(
            "watch deployment/{name} in {namespace} (kube): conditions, pod readiness, events; ProgressDeadlineExceeded or CrashLoopBackOff fail it"
        ),
        format!(
            "judge: smoke {url}{{{smoke}}}, goose {users} users for {duration} against {url}, SLO error ratios from {prometheus} over only the series with {label}=\"{version}\" since the judgement began (no data fails)",
            url = env.analysis.url.as_deref().unwrap_or("?"),
            smoke = service.smoke_paths().join(","),
            users = env.analysis.users,
            duration = env.analysis.duration,
            prometheus = env.analysis.prometheus.as_deref().unwrap_or("?"),
            label = env.analysis.version_label.as_deref().unwrap_or("?"),
            version = super::chart::label_value(&release.version),
        ),
        format!(
            "on a failed rollout or judgement: helm rollback {name} --namespace {namespace} --wait --timeout {timeout}, then the same watch and smoke"
        ),
    ])
}

/// A connection to an environment's EKS cluster: a kubeconfig (0600, under the environment's
/// state directory) holding the endpoint, CA and a fresh token, used by helm and kube alike.
#[derive(Debug)]
pub struct Cluster<'a> {
    ctx: &'a RunCtx,
    env: &'a Environment,
    target: &'a Kube,
    /// `target.timeout`, for the rollout watch.
    timeout: std::time::Duration,
    /// The file helm reads, and the same config parsed once for kube.
    pub kubeconfig: PathBuf,
    config: kube::config::Kubeconfig,
}

/// What a promotion does to a helm release (the decisions around it are tested on a fake).
pub trait HelmRelease {
    /// `helm upgrade --install … --wait`; `Err` says why helm failed.
    fn upgrade(&self, release: &Release) -> Result<Result<(), String>>;
    /// How many revisions helm keeps of the release (a rollback needs two).
    fn revisions(&self) -> Result<usize>;
    /// `helm rollback` to the previous revision, waiting for it.
    fn rollback(&self) -> Result<Result<(), String>>;
    /// The rollout watch on the release's Deployment.
    fn watch(&self, say: &dyn Fn(&str)) -> Result<rollout::Outcome>;
    /// Records on the Deployment why it changed (`kubernetes.io/change-cause`).
    fn annotate(&self, cause: &str) -> Result<()>;
}

impl<'a> Cluster<'a> {
    /// DescribeCluster, a token, and the kubeconfig written for them.
    pub fn connect(ctx: &'a RunCtx, env: &'a Environment, dir: &Path) -> Result<Cluster<'a>> {
        let target = env.kubernetes()?;
        let Kube {
            cluster,
            region,
            namespace,
            ..
        } = target;
        let (described, credentials) =
            eks::access(cluster, region, None, &crate::http::Trust::configured())?;
        let token = eks::token(
            cluster,
            region,
            &eks::sts_endpoint(region),
            &credentials,
            std::time::SystemTime::now(),
        )?;
        std::fs::create_dir_all(dir)?;
        let kubeconfig = dir.join("kubeconfig");
        let text = kubeconfig_yaml(&described, namespace, &token);
        launcher::write_private(&kubeconfig, &text)?;
        Ok(Cluster {
            ctx,
            env,
            target,
            timeout: target.timeout()?,
            kubeconfig,
            config: kube::config::Kubeconfig::from_yaml(&text)
                .context("the kubeconfig written for the cluster does not parse")?,
        })
    }

    /// A kube client on the current runtime (each `block_on` has its own).
    async fn client(&self) -> Result<kube::Client> {
        let config = kube::Config::from_custom_kubeconfig(self.config.clone(), &Default::default())
            .await
            .context("the kubeconfig written for the cluster does not load")?;
        Ok(kube::Client::try_from(config)?)
    }

    fn helm(&self, mut args: Vec<String>) -> Result<crate::process::Output> {
        let ctx = self.ctx;
        args.extend([
            "--kubeconfig".to_owned(),
            self.kubeconfig.to_string_lossy().into_owned(),
        ]);
        ctx.exec(&super::chart::helm(&ctx.root, args))
    }
}

impl HelmRelease for Cluster<'_> {
    /// The pre-upgrade Job migrates, then the new pods roll out.
    fn upgrade(&self, release: &Release) -> Result<Result<(), String>> {
        let Kube {
            release: name,
            chart,
            timeout,
            ..
        } = self.target;
        let mut args = vec![
            "upgrade".to_owned(),
            "--install".to_owned(),
            name.to_owned(),
            chart.to_owned(),
        ];
        args.extend(super::chart::helm_args(
            self.env,
            &release.name,
            &release.digest,
            &release.version,
        )?);
        args.extend([
            "--wait".to_owned(),
            "--timeout".to_owned(),
            timeout.to_owned(),
        ]);
        Ok(outcome("helm upgrade", &self.helm(args)?))
    }

    fn revisions(&self) -> Result<usize> {
        let Kube {
            namespace,
            release: name,
            ..
        } = self.target;
        let out = self.helm(
            ["history", name, "--namespace", namespace, "-o", "json"]
                .map(str::to_owned)
                .to_vec(),
        )?;
        if !out.success() {
            return Ok(0);
        }
        let revisions: Vec<serde_json::Value> = serde_json::from_str(&out.stdout)
            .context("helm history -o json printed no revision list")?;
        Ok(revisions.len())
    }

    fn rollback(&self) -> Result<Result<(), String>> {
        let Kube {
            namespace,
            release: name,
            timeout,
            ..
        } = self.target;
        let out = self.helm(
            [
                "rollback",
                name,
                "--namespace",
                namespace,
                "--wait",
                "--timeout",
                timeout,
            ]
            .map(str::to_owned)
            .to_vec(),
        )?;
        Ok(outcome("helm rollback", &out))
    }

    fn annotate(&self, cause: &str) -> Result<()> {
        let Kube {
            namespace, release, ..
        } = self.target;
        crate::release::block_on(async {
            let client = self.client().await?;
            rollout::annotate(client, namespace, release, cause).await
        })
    }

    fn watch(&self, say: &dyn Fn(&str)) -> Result<rollout::Outcome> {
        let Kube {
            namespace, release, ..
        } = self.target;
        crate::release::block_on(async {
            let client = self.client().await?;
            rollout::watch(client, namespace, release, self.timeout, say).await
        })
    }
}

/// A helm command's result: `Err` with its exit and stderr when it failed.
fn outcome(what: &str, out: &crate::process::Output) -> Result<(), String> {
    if out.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            code(out),
            out.stderr.trim()
        ))
    }
}

/// A kubeconfig for one cluster with a bearer token.
fn kubeconfig_yaml(cluster: &eks::Cluster, namespace: &str, token: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(&cluster.ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: gatehouse\n  user:\n    token: {token}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: gatehouse\n    namespace: {namespace}\ncurrent-context: {name}\n",
        name = cluster.name,
        server = cluster.endpoint,
    )
}

/// One promotion on a kubernetes environment: helm upgrade (the chart's pre-upgrade hook
/// migrates), the rollout watch; back is `helm rollback` and the same watch.
pub struct KubeTarget<'a> {
    pub helm: &'a dyn HelmRelease,
    pub release: &'a Release,
    /// `kubernetes.io/change-cause` on the Deployment.
    pub cause: String,
    /// Where the judgement reaches the service (`analysis.url`, `analysis.prometheus`).
    pub at: Endpoints,
}

impl std::fmt::Debug for KubeTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTarget")
            .field("release", &self.release.version)
            .finish_non_exhaustive()
    }
}

impl KubeTarget<'_> {
    fn watched(
        &self,
        done: std::result::Result<(), String>,
        what: &str,
        say: &dyn Fn(&str),
    ) -> Result<std::result::Result<Deployed, String>> {
        Ok(match (done, self.helm.watch(say)?) {
            (Ok(()), rollout::Outcome::Ready { replicas }) => Ok(Deployed {
                at: self.at.clone(),
                note: format!("{what}: {replicas} replicas available"),
            }),
            (Err(why), _) | (_, rollout::Outcome::Failed(why)) => Err(why),
        })
    }
}

impl DeployTarget for KubeTarget<'_> {
    fn migrate(&mut self) -> Result<()> {
        // The chart's pre-upgrade hook applies them as part of the upgrade.
        Ok(())
    }

    fn deploy(&mut self, say: &dyn Fn(&str)) -> Result<std::result::Result<Deployed, String>> {
        let upgraded = self.helm.upgrade(self.release)?;
        if upgraded.is_ok() {
            self.helm.annotate(&self.cause)?;
        }
        let what = format!("{} rolled out", self.release.version);
        self.watched(upgraded, &what, say)
    }

    fn can_roll_back(&mut self) -> Result<bool> {
        Ok(self.helm.revisions()? >= 2)
    }

    fn roll_back(&mut self, say: &dyn Fn(&str)) -> Result<std::result::Result<Deployed, String>> {
        let back = self.helm.rollback()?;
        self.watched(back, "rolled back to the previous helm revision", say)
    }

    fn previous(&self) -> (String, String) {
        ("the previous helm revision".to_owned(), String::new())
    }
}
