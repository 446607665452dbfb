//! The router and the OpenAPI document agree: every documented operation is served, and every
//! method a path does not document is refused with 405.

use reqwest::Method;

use crate::helpers::{body, spawn_app};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else_on_its_path() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json").await).await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (template, item) in paths {
        let path = template.replace("{id}", &uuid::Uuid::new_v4().to_string());
        assert!(
            !path.contains('{'),
            "unhandled path parameter in {template}"
        );
        for method in METHODS {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.request(m, &path).send().await.unwrap();
            let status = response.status().as_u16();
            let message = if matches!(status, 404 | 405) {
                body(response).await["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                String::new()
            };
            if item.get(method).is_some() {
                assert_ne!(
                    status, 405,
                    "{method} {template} is documented but not served"
                );
                assert_ne!(
                    message, "no such route",
                    "{method} {template} is documented but not routed"
                );
                checked += 1;
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {template} is served but not documented"
                );
            }
        }
    }
    assert_eq!(checked, 16, "every documented operation was probed");
}
