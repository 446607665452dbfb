//! The kubernetes rollout watch against kube's `tower-test` mock API server: the exact requests
//! (get, list pods, list events, watch; the change-cause patch), events streamed to the progress display, and each
//! failure condition — `ProgressDeadlineExceeded`, `CrashLoopBackOff` — reported with its cause.

use std::sync::Mutex;
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use xtask::deploy::rollout::{self, Outcome};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/app/deployments/app";
const PODS: &str = "/api/v1/namespaces/app/pods?&labelSelector=app.kubernetes.io%2Finstance%3Dapp%2Capp.kubernetes.io%2Fname%3Dapp";
const EVENTS: &str = "/api/v1/namespaces/app/events?";
const WATCH: &str = "/apis/apps/v1/namespaces/app/deployments?&watch=true&timeoutSeconds=10&fieldSelector=metadata.name%3Dapp&allowWatchBookmarks=true&resourceVersion=";

fn deployment(generation: i64, status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "app", "generation": generation, "resourceVersion": format!("{generation}00")},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "app", "app.kubernetes.io/instance": "app"}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": "app", "app.kubernetes.io/instance": "app"}}, "spec": {"containers": []}}
        },
        "status": status
    })
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items})
}

fn event(uid: &str, object: &str, reason: &str, message: &str) -> Value {
    json!({
        "metadata": {"name": uid, "namespace": "app", "uid": uid},
        "involvedObject": {"kind": "Pod", "name": object, "namespace": "app"},
        "type": if reason == "BackOff" { "Warning" } else { "Normal" },
        "reason": reason,
        "message": message
    })
}

fn pod(waiting: Option<&str>) -> Value {
    let state = match waiting {
        Some(reason) => {
            json!({"waiting": {"reason": reason, "message": "back-off 40s restarting failed container"}})
        }
        None => json!({"running": {"startedAt": "2026-11-21T10:00:00Z"}}),
    };
    json!({
        "metadata": {"name": "app-7d9f-x2k4p", "namespace": "app"},
        "status": {"containerStatuses": [{
            "name": "app", "image": "img", "imageID": "", "ready": false,
            "restartCount": if waiting.is_some() { 4 } else { 0 },
            "state": state
        }]}
    })
}

/// Answers each request with the next scripted body; returns the requests as `METHOD path?query`.
async fn serve(mut handle: Handle, script: Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    for body in script {
        let Some((request, respond)) = handle.next_request().await else {
            break;
        };
        seen.push(format!(
            "{} {}",
            request.method(),
            request.uri().path_and_query().unwrap()
        ));
        respond.send_response(
            Response::builder()
                .status(200)
                .body(Body::from(body.into_bytes()))
                .unwrap(),
        );
    }
    seen
}

/// Runs the watch against the script; returns its outcome, the requests and what it said.
fn run(script: Vec<String>) -> (Outcome, Vec<String>, Vec<String>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(serve(handle, script));
        let client = kube::Client::new(service, "app");
        let said = Mutex::new(Vec::new());
        let say = |line: &str| said.lock().unwrap().push(line.to_owned());
        let outcome = tokio::time::timeout(
            Duration::from_secs(20),
            rollout::watch(client, "app", "app", Duration::from_secs(300), &say),
        )
        .await
        .expect("the watch ends when the script does")
        .unwrap();
        let seen = server.await.unwrap();
        (outcome, seen, said.into_inner().unwrap())
    })
}

fn progressing() -> Value {
    deployment(
        2,
        json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
               "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}),
    )
}

#[test]
fn a_rollout_is_watched_until_every_replica_is_updated_and_available() {
    let done = deployment(
        2,
        json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
               "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
    );
    let script = vec![
        progressing().to_string(),
        list("PodList", vec![pod(None)]).to_string(),
        list(
            "EventList",
            vec![
                event(
                    "e1",
                    "app-7d9f-x2k4p",
                    "Pulled",
                    "Successfully pulled image",
                ),
                event("e2", "other-5c4b", "Pulled", "not ours"),
            ],
        )
        .to_string(),
        format!("{}\n", json!({"type": "MODIFIED", "object": done})),
    ];
    let (outcome, seen, said) = run(script);
    assert_eq!(outcome, Outcome::Ready { replicas: 2 });
    assert_eq!(
        seen,
        [
            format!("GET {DEPLOYMENT}"),
            format!("GET {PODS}"),
            format!("GET {EVENTS}"),
            format!("GET {WATCH}200"),
        ]
    );
    assert!(
        said.contains(&"deployment/app: 1 of 2 replicas updated".to_owned()),
        "{said:?}"
    );
    assert!(
        said.contains(
            &"event Normal Pod/app-7d9f-x2k4p: Pulled Successfully pulled image".to_owned()
        ),
        "{said:?}"
    );
    assert!(!said.iter().any(|l| l.contains("not ours")), "{said:?}");
}

#[test]
fn progress_deadline_exceeded_fails_at_once_with_the_controllers_message() {
    let stalled = deployment(
        3,
        json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1,
               "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                               "message": "ReplicaSet \"app-7d9f\" has timed out progressing."}]}),
    );
    let (outcome, seen, _) = run(vec![stalled.to_string()]);
    assert_eq!(
        outcome,
        Outcome::Failed(
            "ProgressDeadlineExceeded: ReplicaSet \"app-7d9f\" has timed out progressing."
                .to_owned()
        )
    );
    assert_eq!(seen, [format!("GET {DEPLOYMENT}")]);
}

#[test]
fn a_crash_looping_container_fails_the_rollout_naming_pod_and_container() {
    let script = vec![
        progressing().to_string(),
        list("PodList", vec![pod(Some("CrashLoopBackOff"))]).to_string(),
        list(
            "EventList",
            vec![event(
                "e9",
                "app-7d9f-x2k4p",
                "BackOff",
                "Back-off restarting failed container app",
            )],
        )
        .to_string(),
    ];
    let (outcome, seen, said) = run(script);
    assert_eq!(
        outcome,
        Outcome::Failed(
            "CrashLoopBackOff: pod app-7d9f-x2k4p, container app (restarts 4): back-off 40s restarting failed container"
                .to_owned()
        )
    );
    assert_eq!(
        seen,
        [
            format!("GET {DEPLOYMENT}"),
            format!("GET {PODS}"),
            format!("GET {EVENTS}")
        ]
    );
    assert!(
        said.contains(
            &"event Warning Pod/app-7d9f-x2k4p: BackOff Back-off restarting failed container app"
                .to_owned()
        ),
        "{said:?}"
    );
}

#[test]
fn the_change_cause_is_a_merge_patch_of_the_deployments_annotations() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (seen, body, content_type) = runtime.block_on(async {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let (request, respond) = handle.next_request().await.unwrap();
            let line = format!(
                "{} {}",
                request.method(),
                request.uri().path_and_query().unwrap()
            );
            let content_type = request.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let bytes = http_body_util::BodyExt::collect(request.into_body())
                .await
                .unwrap()
                .to_bytes();
            respond.send_response(
                Response::builder()
                    .status(200)
                    .body(Body::from(progressing().to_string().into_bytes()))
                    .unwrap(),
            );
            (
                line,
                serde_json::from_slice::<Value>(&bytes).unwrap(),
                content_type,
            )
        });
        let client = kube::Client::new(service, "app");
        rollout::annotate(
            client,
            "app",
            "app",
            "gatehouse promote staging 1.4.2 sha256:ab",
        )
        .await
        .unwrap();
        server.await.unwrap()
    });
    assert_eq!(seen, format!("PATCH {DEPLOYMENT}?"));
    assert_eq!(content_type, "application/merge-patch+json");
    assert_eq!(
        body,
        json!({"metadata": {"annotations": {"kubernetes.io/change-cause": "gatehouse promote staging 1.4.2 sha256:ab"}}})
    );
}
