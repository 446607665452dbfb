//! The router and the OpenAPI document agree: every routed path is documented and every
//! documented path is routed; on each path, every documented method is served and every other
//! method is refused with 405. The same check is run on deliberately broken routers, to prove it
//! catches a route added without the document.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use app::startup;
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request};
use axum::routing::{get, post};
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::{body, spawn_app};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The path templates a router serves. axum has no route listing, so this reads its `Debug`
/// form (`path_router: … RouteId(n): "/path"`, before `fallback_router`); the test fails loudly
/// if that form ever changes.
fn routed_paths(router: &Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let (routes, _fallbacks) = debug
        .split_once("fallback_router:")
        .expect("axum's Router Debug names its fallback router");
    routes
        .split("RouteId(")
        .skip(1)
        .filter_map(|rest| {
            let quoted = rest.split_once("): \"")?.1;
            Some(quoted.split_once('"')?.0.to_owned())
        })
        .filter(|p| !p.contains("__private__axum"))
        .collect()
}

/// Every disagreement between `router` (the API routes) and the OpenAPI document, one line each.
async fn violations(router: Router, doc: &Value) -> Vec<String> {
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("the document has paths")
        .keys()
        .cloned()
        .collect();
    let routed = routed_paths(&router);
    let mut out: Vec<String> = routed
        .difference(&documented)
        .map(|p| format!("{p} is served but not in the OpenAPI document"))
        .chain(
            documented
                .difference(&routed)
                .map(|p| format!("{p} is documented but not routed")),
        )
        .collect();
    let router = router.layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 9))));
    for template in &documented {
        let path = template.replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in METHODS {
            let request = Request::builder()
                .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                .uri(&path)
                .body(Body::empty())
                .unwrap();
            let status = router.clone().oneshot(request).await.unwrap().status();
            let is_documented = doc["paths"][template].get(method).is_some();
            if is_documented && status == 405 {
                out.push(format!("{method} {template} is documented but not served"));
            }
            if !is_documented && status != 405 {
                out.push(format!(
                    "{method} {template} is served ({status}) but not documented"
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json").await).await;
    let routes = startup::api_routes(app.state.clone());
    assert!(
        routed_paths(&routes).contains("/v1/tasks/{id}"),
        "axum's Debug form still lists routes: {:?}",
        routed_paths(&routes)
    );
    assert_eq!(violations(routes, &doc).await, Vec::<String>::new());
    assert_eq!(
        doc["paths"].as_object().unwrap().len(),
        routed_paths(&startup::api_routes(app.state.clone())).len()
    );
    // The transport layers around the API routes add no route of their own.
    assert_eq!(
        routed_paths(&startup::router(app.state.clone())),
        BTreeSet::new()
    );
}

/// Broken fixtures: routes added beside the `OpenApiRouter`, so the document does not know them.
#[tokio::test]
async fn a_route_added_without_the_document_is_caught() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json").await).await;
    let new_path =
        startup::api_routes(app.state.clone()).route("/v1/undocumented", get(|| async { "hi" }));
    assert_eq!(
        violations(new_path, &doc).await,
        vec!["/v1/undocumented is served but not in the OpenAPI document"]
    );
    let new_method =
        startup::api_routes(app.state.clone()).route("/healthz", post(|| async { "hi" }));
    assert_eq!(
        violations(new_method, &doc).await,
        vec!["post /healthz is served (200 OK) but not documented"]
    );
}
