//! Watching a Deployment's rollout with kube: the Deployment's conditions and replica counts,
//! its pods' container states and the namespace's events, streamed to the progress display.
//! It fails fast and says why — `ProgressDeadlineExceeded`, a container in `CrashLoopBackOff`
//! or `ImagePullBackOff` — where helm's `--wait` only times out.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};

/// How a rollout ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every replica runs the new template and is available.
    Ready { replicas: i32 },
    /// The rollout cannot succeed; the reason names the condition, pod or container.
    Failed(String),
}

/// Where a Deployment's rollout stands.
#[derive(Debug, PartialEq, Eq)]
enum State {
    Done(i32),
    Progressing(String),
    Failed(String),
}

/// Reads the Deployment's status the way `kubectl rollout status` does.
fn assess(d: &Deployment) -> State {
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(status) = &d.status else {
        return State::Progressing("no status yet".to_owned());
    };
    if let Some(c) = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    }) {
        return State::Failed(format!(
            "ProgressDeadlineExceeded: {}",
            c.message
                .as_deref()
                .unwrap_or("the rollout made no progress in time")
        ));
    }
    if status.observed_generation.unwrap_or(0) < generation {
        return State::Progressing("waiting for the controller to see the new template".to_owned());
    }
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if updated < wanted {
        return State::Progressing(format!("{updated} of {wanted} replicas updated"));
    }
    if total > updated {
        return State::Progressing(format!(
            "{} old replicas pending termination",
            total - updated
        ));
    }
    if available < updated {
        return State::Progressing(format!(
            "{available} of {updated} updated replicas available"
        ));
    }
    State::Done(available)
}

/// A container that will not start by itself: `pod/container: reason (message)`.
fn stuck_container(pods: &[Pod]) -> Option<String> {
    const STUCK: [&str; 5] = [
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "InvalidImageName",
    ];
    pods.iter().find_map(|pod| {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
        statuses.iter().find_map(|c| {
            let waiting = c.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref()?;
            STUCK.contains(&reason).then(|| {
                format!(
                    "{reason}: pod {name}, container {} (restarts {}){}",
                    c.name,
                    c.restart_count,
                    waiting
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                )
            })
        })
    })
}

fn selector(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Watches `name` in `namespace` until it is rolled out, fails, or `timeout` passes; every new
/// event about it or its pods goes to `say`.
pub async fn watch(
    client: kube::Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    say: &dyn Fn(&str),
) -> Result<Outcome> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let events: Api<Event> = Api::namespaced(client, namespace);
    let deadline = Instant::now() + timeout;
    let mut seen = BTreeSet::new();
    let mut deployment = deployments
        .get(name)
        .await
        .with_context(|| format!("cannot read deployment/{name} in {namespace}"))?;
    loop {
        match assess(&deployment) {
            State::Done(replicas) => return Ok(Outcome::Ready { replicas }),
            State::Failed(why) => return Ok(Outcome::Failed(why)),
            State::Progressing(what) => say(&format!("deployment/{name}: {what}")),
        }
        let listed = pods
            .list(&ListParams::default().labels(&selector(&deployment)))
            .await
            .with_context(|| format!("cannot list the pods of deployment/{name}"))?;
        stream_events(&events, name, &mut seen, say).await?;
        if let Some(stuck) = stuck_container(&listed.items) {
            return Ok(Outcome::Failed(stuck));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Outcome::Failed(format!(
                "deployment/{name} was not rolled out within {}s",
                timeout.as_secs()
            )));
        }
        let version = deployment
            .metadata
            .resource_version
            .clone()
            .unwrap_or_else(|| "0".to_owned());
        let params = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(left.as_secs().clamp(1, 10) as u32);
        let mut stream = deployments
            .watch(&params, &version)
            .await
            .with_context(|| format!("cannot watch deployment/{name}"))?
            .boxed();
        while let Some(event) = stream.next().await {
            match event.with_context(|| format!("watching deployment/{name}"))? {
                WatchEvent::Added(d) | WatchEvent::Modified(d) => {
                    deployment = d;
                    break;
                }
                WatchEvent::Deleted(_) => {
                    return Ok(Outcome::Failed(format!("deployment/{name} was deleted")));
                }
                WatchEvent::Bookmark(_) => {}
                WatchEvent::Error(e) if e.code == 410 => {
                    // The resource version expired: read it afresh.
                    deployment = deployments.get(name).await?;
                    break;
                }
                WatchEvent::Error(e) => anyhow::bail!("watching deployment/{name}: {}", e.message),
            }
        }
    }
}

/// Records why the Deployment changed as `kubernetes.io/change-cause` (a JSON merge patch of
/// its annotations; `kubectl rollout history` shows it). The pod template is untouched, so no
/// rollout starts.
pub async fn annotate(
    client: kube::Client,
    namespace: &str,
    name: &str,
    cause: &str,
) -> Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(client, namespace);
    let patch = serde_json::json!({"metadata": {"annotations": {CHANGE_CAUSE: cause}}});
    deployments
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("cannot annotate deployment/{name} in {namespace}"))?;
    Ok(())
}

/// The annotation `kubectl rollout history` lists.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// Says each event not said before whose object is the Deployment or one of its pods.
async fn stream_events(
    events: &Api<Event>,
    name: &str,
    seen: &mut BTreeSet<String>,
    say: &dyn Fn(&str),
) -> Result<()> {
    let listed = events
        .list(&ListParams::default())
        .await
        .context("cannot list events")?;
    for e in listed.items {
        let object = e.involved_object.name.clone().unwrap_or_default();
        let uid = e.metadata.uid.clone().unwrap_or_default();
        if !object.starts_with(name) || !seen.insert(uid) {
            continue;
        }
        say(&format!(
            "event {} {}/{}: {} {}",
            e.type_.as_deref().unwrap_or("Normal"),
            e.involved_object.kind.as_deref().unwrap_or("?"),
            object,
            e.reason.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("")
        ));
    }
    Ok(())
}
