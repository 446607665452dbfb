//! The routes and their OpenAPI 3.1 document, built together so they cannot disagree.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ErrorBody, ErrorEnvelope};
use crate::startup::AppState;
use crate::{admin, auth, ops, tasks};

#[derive(OpenApi)]
#[openapi(
    info(title = "gatehouse reference service", description = "A production-grade tasks API: the service every gatehouse gate is proven on."),
    components(schemas(ErrorEnvelope, ErrorBody)),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Accounts, tokens, signing keys"),
        (name = "tasks", description = "Your tasks"),
        (name = "admin", description = "Audit log and roles (admin only)"),
        (name = "ops", description = "Probes and this document"),
    )
)]
struct ApiDoc;

/// Every route of the API listener, documented.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(auth::routes::register))
        .routes(routes!(auth::routes::login))
        .routes(routes!(auth::routes::refresh))
        .routes(routes!(auth::routes::logout))
        .routes(routes!(auth::routes::jwks))
        .routes(routes!(tasks::routes::list, tasks::routes::create))
        .routes(routes!(
            tasks::routes::get,
            tasks::routes::patch,
            tasks::routes::delete
        ))
        .routes(routes!(tasks::routes::complete))
        .routes(routes!(admin::audit_events))
        .routes(routes!(admin::put_roles))
}

/// The router and its complete document.
pub fn split() -> (axum::Router<AppState>, Document) {
    let (router, mut doc) = routes().split_for_parts();
    complete_responses(&mut doc);
    (router, doc)
}

/// The document alone (for `app openapi` and `cargo xtask codegen`).
pub fn document() -> Document {
    split().1
}

/// The document as served, serialised once per process.
static DOCUMENT_JSON: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec(&document()).unwrap_or_default());

#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "This API's OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT_JSON.as_slice(),
    )
}

/// The `bearer` security scheme the protected operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut Document) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Statuses any operation can answer, added to every operation so the document is complete:
/// 500 and 503 everywhere; 400/413/415/422 with a body; 401/403 behind a token. Applied after the
/// routes are collected (modifiers run before `routes!` adds paths).
fn complete_responses(doc: &mut Document) {
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            let mut add = |code: &str, text: &str| {
                op.responses
                    .responses
                    .entry(code.to_owned())
                    .or_insert_with(|| error_response(text));
            };
            add(
                "500",
                "Internal error (`internal`), or an injected fault (`injected_fault`)",
            );
            add("503", "The request timed out (`timeout`)");
            if op.request_body.is_some() {
                add("400", "The body is not JSON (`malformed_json`)");
                add(
                    "413",
                    "The body is larger than the limit (`payload_too_large`)",
                );
                add(
                    "415",
                    "The body is not `application/json` (`unsupported_media_type`)",
                );
                add(
                    "422",
                    "The body does not match the schema (`validation_failed`)",
                );
            }
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add(
                    "401",
                    "Missing or invalid access token (`unauthorized`, with `WWW-Authenticate`)",
                );
                add("403", "The token lacks the permission (`forbidden`)");
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))),
        )
        .build()
        .into()
}
