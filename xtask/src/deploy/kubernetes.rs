//! The `kubernetes` target (EKS through helm): what a promotion runs there. The chart takes the
//! image by digest; its pre-upgrade hook Job runs `<bin> migrate` from the same image (sqlx
//! holds PostgreSQL's advisory lock), then helm waits for the rollout.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::env::{Environment, Target};
use super::evidence::Release;
use super::{eks, rollout};
use crate::config::ServiceDef;
use crate::engine::gate::{RunCtx, code};

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
        format!(
            "watch deployment/{name} in {namespace} (kube): conditions, pod readiness, events; ProgressDeadlineExceeded or CrashLoopBackOff fail it"
        ),
        format!(
            "judge: smoke {url}{{/healthz,/readyz,/openapi.json}}, goose {users} users for {duration} against {url}, SLO burn rates from {prometheus} (no data fails)",
            url = env.analysis.url.as_deref().unwrap_or("?"),
            users = env.analysis.users,
            duration = env.analysis.duration,
            prometheus = env.analysis.prometheus.as_deref().unwrap_or("?"),
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
    pub kubeconfig: PathBuf,
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

/// What `helm history -o json` lists per revision.
#[derive(Debug, serde::Deserialize)]
struct Revision {
    revision: u32,
}

impl<'a> Cluster<'a> {
    /// DescribeCluster, a token, and the kubeconfig written for them.
    pub fn connect(ctx: &'a RunCtx, env: &'a Environment, dir: &Path) -> Result<Cluster<'a>> {
        let Target::Kubernetes {
            cluster,
            region,
            namespace,
            ..
        } = &env.target
        else {
            anyhow::bail!("{} is not a kubernetes environment", env.name);
        };
        let described = eks::describe_cluster(cluster, region, None)?;
        let credentials = eks::credentials(region)?;
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
        write_private(&kubeconfig, &text)?;
        Ok(Cluster {
            ctx,
            env,
            kubeconfig,
        })
    }

    fn target(&self) -> (&str, &str, &str, &str) {
        match &self.env.target {
            Target::Kubernetes {
                namespace,
                release,
                chart,
                timeout,
                ..
            } => (namespace, release, chart, timeout),
            Target::Local { .. } => unreachable!("connect accepts kubernetes targets only"),
        }
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
        let (_, name, chart, timeout) = self.target();
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
        )?);
        args.extend([
            "--wait".to_owned(),
            "--timeout".to_owned(),
            timeout.to_owned(),
        ]);
        Ok(outcome("helm upgrade", &self.helm(args)?))
    }

    fn revisions(&self) -> Result<usize> {
        let (namespace, name, ..) = self.target();
        let out = self.helm(
            ["history", name, "--namespace", namespace, "-o", "json"]
                .map(str::to_owned)
                .to_vec(),
        )?;
        if !out.success() {
            return Ok(0);
        }
        let revisions: Vec<Revision> = serde_json::from_str(&out.stdout)
            .context("helm history -o json printed no revision list")?;
        Ok(revisions.iter().filter(|r| r.revision > 0).count())
    }

    fn rollback(&self) -> Result<Result<(), String>> {
        let (namespace, name, _, timeout) = self.target();
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
        let (namespace, name, ..) = self.target();
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        crate::release::block_on(async {
            let client = client(kubeconfig).await?;
            rollout::annotate(client, namespace, name, cause).await
        })
    }

    fn watch(&self, say: &dyn Fn(&str)) -> Result<rollout::Outcome> {
        let (namespace, name, _, timeout) = self.target();
        let timeout = humantime::parse_duration(timeout).with_context(|| {
            format!(
                "{}: target.timeout `{timeout}` is not a duration",
                self.env.file.display()
            )
        })?;
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        crate::release::block_on(async {
            let client = client(kubeconfig).await?;
            rollout::watch(client, namespace, name, timeout, say).await
        })
    }
}

/// The kube client for the kubeconfig written by [`Cluster::connect`].
async fn client(kubeconfig: kube::config::Kubeconfig) -> Result<kube::Client> {
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .context("the kubeconfig written for the cluster does not load")?;
    Ok(kube::Client::try_from(config)?)
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

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
