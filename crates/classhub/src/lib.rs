//! The classhub server: composes the dialects over one store, and the command line.

pub mod cli;
pub mod config;
pub mod demo;
mod redoc;
pub mod serve;
pub mod server;
mod table;
mod telemetry;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use classhub_web::fastapi::ApiError;
use classhub_web::{AppState, json, observe};
use http::{Method, StatusCode};
use serde_json::json;
use utoipa_swagger_ui::SwaggerUi;

/// Every route of every dialect, plus operations endpoints, behind the request-id, log
/// and metrics middleware, the limits on heads and bodies, and the draining of request
/// bodies left unread.
pub fn app(state: AppState, body_limit: usize) -> Router {
    let for_fallback = state.clone();
    let head_limit = state.config.max_header_bytes;
    let drain = classhub_web::Drain { max_bytes: body_limit, timeout: state.config.request_timeout };
    let trusted = state.config.trusted_proxies.clone();
    let cors = cors(&state.config.cors_origin);
    let router = Router::new()
        .merge(classhub_partner::router(state.clone()))
        .merge(classhub_admin::router(state.clone()))
        .merge(classhub_cloudshare::router(state.clone()))
        .merge(classhub_ocariot::router(state.clone()))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(state))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()))
        .merge(redoc::router())
        .fallback(move |req: axum::extract::Request| fallback(for_fallback.clone(), req))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(drain, classhub_web::drain_unread_bodies))
        .layer(middleware::from_fn_with_state(head_limit, limit_heads))
        .layer(middleware::from_fn_with_state(trusted, classhub_web::forwarded_clients));
    // CORS answers preflights before any limit or route, and is still observed (logged,
    // counted, given a request id).
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
    .layer(middleware::from_fn(observe))
}

/// Browsers on these origins may call the API: preflights answered as the Fetch standard
/// says (tower-http's `CorsLayer`), and the headers clients read exposed. No credentials:
/// every dialect authenticates with a header, never a cookie.
fn cors(origins: &[http::HeaderValue]) -> Option<tower_http::cors::CorsLayer> {
    use http::header::{self, HeaderName};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") { AllowOrigin::any() } else { AllowOrigin::list(origins.to_vec()) };
    let x = HeaderName::from_static;
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                x("x-request-id"),
                x("idempotency-key"),
            ])
            .expose_headers([
                header::ETAG,
                header::RETRY_AFTER,
                header::LOCATION,
                x("x-request-id"),
                x("x-total-count"),
                x("ratelimit"),
                x("ratelimit-policy"),
                x("idempotent-replayed"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Refuses a request whose head is larger than `--max-header-bytes`, in the envelope of the
/// dialect its path belongs to (hyper itself refuses, without a body, only heads larger than
/// twice that).
async fn limit_heads(State(limit): State<usize>, req: axum::extract::Request, next: middleware::Next) -> Response {
    if classhub_web::head_bytes(&req) > limit {
        return layer_error(req.uri().path(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    next.run(req).await
}

/// An answer of the HTTP layer, in the envelope of the dialect the path belongs to.
pub fn layer_error(path: &str, status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    if classhub_cloudshare::handles(path) || path.starts_with("/Class/") || path.starts_with("/class/") {
        classhub_cloudshare::CsError::new(status, reason.to_lowercase()).into_response()
    } else if classhub_ocariot::handles(path) {
        classhub_ocariot::OcError::new(status, format!("{reason}.")).into_response()
    } else {
        ApiError::new(status, reason).into_response()
    }
}

/// The OpenAPI 3.1 description of every dialect.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("classhub")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Classes and rosters, spoken in the partner, CloudShare v3 and OCARIoT dialects."))
                .build(),
        )
        .build();
    doc.merge(classhub_partner::openapi());
    doc.merge(classhub_admin::openapi());
    doc.merge(classhub_cloudshare::openapi());
    doc.merge(classhub_ocariot::openapi());
    document_shared_responses(&mut doc);
    describe_responses(&mut doc);
    link_creates(&mut doc);
    doc
}

/// OpenAPI links from each create (a `POST` answering an object) to the operations on what
/// it made, the paths below its own: the created object's property named like the next path
/// parameter (CloudShare's `studentId`), else its `id`, fills that parameter, and the
/// create's own path parameters carry over (operations needing more are not linked). Stateful tools (schemathesis) and generated
/// clients follow them from create to read, change and delete.
fn link_creates(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::link::LinkBuilder;
    let schemas = doc.components.as_ref().map(|c| c.schemas.clone()).unwrap_or_default();
    let mut links = Vec::new();
    for (path, item) in &doc.paths.paths {
        let Some(post) = &item.post else { continue };
        let Some((status, props)) = post.responses.responses.iter().find_map(|(status, r)| match r {
            RefOr::T(r) if status.starts_with('2') => {
                let RefOr::T(content) = r.content.get("application/json")? else { return None };
                let schema = content.schema.as_ref()?;
                Some((status.clone(), object_properties(schema, &schemas)?))
            }
            _ => None,
        }) else {
            continue;
        };
        let own: Vec<&str> = path_parameters(path).collect();
        for (target, target_item) in &doc.paths.paths {
            let Some(rest) = target.strip_prefix(path.as_str()).and_then(|r| r.strip_prefix("/{")) else { continue };
            let Some(param) = rest.split('}').next() else { continue };
            let Some(property) = [param, "id"].into_iter().find(|p| props.contains(*p)) else { continue };
            // Only operations the link gives every path parameter.
            if !path_parameters(target).all(|n| n == param || own.contains(&n)) {
                continue;
            }
            let operations =
                [&target_item.get, &target_item.put, &target_item.patch, &target_item.delete, &target_item.post];
            for op in operations.into_iter().flatten() {
                let Some(id) = op.operation_id.clone() else { continue };
                let mut link =
                    LinkBuilder::new().operation_id(id.clone()).parameter(param, format!("$response.body#/{property}"));
                for name in path_parameters(target).filter(|n| own.contains(n)) {
                    link = link.parameter(name, format!("$request.path.{name}"));
                }
                links.push((path.clone(), status.clone(), id, link.build()));
            }
        }
    }
    for (path, status, id, link) in links {
        let response = doc
            .paths
            .paths
            .get_mut(&path)
            .and_then(|i| i.post.as_mut())
            .and_then(|op| op.responses.responses.get_mut(&status));
        if let Some(RefOr::T(response)) = response {
            response.links.insert(id, RefOr::T(link));
        }
    }
}

/// The `{name}`s of a path template.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
}

/// The property names of an object schema, through `$ref`s.
fn object_properties(
    schema: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    schemas: &std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
) -> Option<std::collections::BTreeSet<String>> {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    match schema {
        RefOr::Ref(r) => object_properties(schemas.get(r.ref_location.rsplit('/').next()?)?, schemas),
        RefOr::T(Schema::Object(o)) => Some(o.properties.keys().cloned().collect()),
        RefOr::T(_) => None,
    }
}

/// OpenAPI requires a description on every response: one documented by its status alone
/// gets the status's reason phrase (`Unauthorized`, `Not Found`…).
fn describe_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Response};
    let describe = |status: &str, response: &mut Response| {
        if response.description.trim().is_empty() {
            let reason = status.parse().ok().and_then(|s| StatusCode::from_u16(s).ok()?.canonical_reason());
            response.description = reason.unwrap_or("Response").to_string();
        }
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(response) = response {
                    describe(status, response);
                }
            }
        }
    }
    if let Some(components) = doc.components.as_mut() {
        for (name, response) in components.responses.iter_mut() {
            if let RefOr::T(response) = response {
                describe(name, response);
            }
        }
    }
}

/// Documents the answers every operation of a dialect can give whatever its handler does,
/// each in the dialect's envelope: 408 (`--request-timeout`), 503 (the database is
/// unreachable), 413 when the body is read (CloudShare reads every body), and for
/// CloudShare's signed operations 400 (a body that is not a JSON object, or a bad query
/// parameter) and 429 (too many failed signatures from the address or API id).
fn document_shared_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let response = |schema: &str, description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build())
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let cloudshare = path.starts_with(classhub_cloudshare::PREFIX) || path.starts_with("/Class/");
        let envelope = if cloudshare {
            "CsErrorBody"
        } else if path.starts_with("/v1/") {
            "OcError"
        } else {
            "HttpError"
        };
        let operations =
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten();
        for op in operations {
            let signed = op.security.as_ref().is_some_and(|s| !s.is_empty()) && cloudshare;
            let mut add = |status: &str, description: &str| {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| response(envelope, description).into());
            };
            add("408", "The request took longer than the request timeout");
            if !path.starts_with("/Class/") {
                add("503", "The database is unavailable; retry later");
            }
            if signed || (op.request_body.is_some() && !cloudshare) {
                add("413", "The request body is larger than the body limit");
            }
            if signed {
                add("400", "The body is not a JSON object, or a query parameter is malformed");
                add("429", "Too many failed authentications; retry later");
            }
        }
    }
}

async fn healthz() -> Response {
    json(StatusCode::OK, &json!({ "status": "ok" }))
}

async fn readyz(State(app): State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => json(StatusCode::OK, &json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            json(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": "unavailable" }))
        }
    }
}

/// Unknown routes, in the envelope of the dialect whose prefix they carry (CloudShare
/// paths match case-insensitively, so `/API/V3/…` is answered there).
async fn fallback(app: AppState, req: axum::extract::Request) -> Response {
    let path = req.uri().path().to_string();
    if classhub_cloudshare::handles(&path) {
        return classhub_cloudshare::dispatch_request(app, req).await;
    }
    if classhub_ocariot::handles(&path) {
        return classhub_ocariot::not_found(&path);
    }
    ApiError::new(StatusCode::NOT_FOUND, "Not Found").into_response()
}

async fn method_not_allowed(req: axum::extract::Request) -> Response {
    let path = req.uri().path();
    if classhub_ocariot::handles(path) {
        return classhub_ocariot::method_not_allowed(req.method().as_str(), path);
    }
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merging keeps one schema per name: two dialects naming different schemas alike would
    /// document one dialect's responses with the other's shape.
    #[test]
    fn schema_names_do_not_collide_across_dialects() {
        let merged = openapi();
        let merged = merged.components.unwrap_or_default().schemas;
        for doc in [
            classhub_partner::openapi(),
            classhub_admin::openapi(),
            classhub_cloudshare::openapi(),
            classhub_ocariot::openapi(),
        ] {
            for (name, schema) in doc.components.unwrap_or_default().schemas {
                let kept = serde_json::to_value(&merged[&name]).unwrap_or_default();
                assert_eq!(kept, serde_json::to_value(&schema).unwrap_or_default(), "schema {name} is defined twice");
            }
        }
    }

    /// What client generators and `openapi-spec-validator` need of `/openapi.json`: every
    /// operation has a readable operationId (`<dialect>_<verb>_<noun>`), unique in the
    /// document and prefixed by the dialect that serves its path, and a summary; every
    /// response has a description; every tag an operation uses is declared, with a
    /// description.
    #[test]
    fn operations_are_named_summarised_described_and_tagged() {
        use std::collections::{BTreeMap, BTreeSet};
        const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
        let dialects = [
            ("partner", classhub_partner::openapi()),
            ("admin", classhub_admin::openapi()),
            ("cloudshare", classhub_cloudshare::openapi()),
            ("ocariot", classhub_ocariot::openapi()),
        ];
        let mut dialect_of = BTreeMap::new();
        for (dialect, doc) in &dialects {
            for path in doc.paths.paths.keys() {
                assert!(dialect_of.insert(path.clone(), *dialect).is_none(), "{path} is in two dialects' documents");
            }
        }

        // The document as served.
        let doc = serde_json::to_value(openapi()).unwrap();
        let text = |v: &serde_json::Value| v.as_str().is_some_and(|s| !s.trim().is_empty());
        let declared: BTreeSet<&str> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tag| {
                let name = tag["name"].as_str().unwrap();
                assert!(text(&tag["description"]), "tag {name} has no description");
                name
            })
            .collect();
        let mut ids = BTreeMap::new();
        let mut problems = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let dialect = dialect_of.get(path).copied().unwrap_or("(none)");
            for (method, op) in item.as_object().unwrap().iter().filter(|(m, _)| METHODS.contains(&m.as_str())) {
                let name = format!("{} {path}", method.to_uppercase());
                match op["operationId"].as_str() {
                    None => problems.push(format!("{name}: no operationId")),
                    Some(id) => {
                        let readable = id.split('_').count() >= 2
                            && id.split('_').all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()));
                        if !readable || !id.starts_with(&format!("{dialect}_")) {
                            problems.push(format!("{name}: operationId {id} is not {dialect}_<verb>_<noun>"));
                        }
                        if let Some(other) = ids.insert(id.to_string(), name.clone()) {
                            problems.push(format!("{name}: operationId {id} is also {other}'s"));
                        }
                    }
                }
                if !text(&op["summary"]) {
                    problems.push(format!("{name}: no summary"));
                }
                let tags = op["tags"].as_array().map(Vec::as_slice).unwrap_or_default();
                if tags.is_empty() {
                    problems.push(format!("{name}: no tag"));
                }
                for tag in tags.iter().filter_map(|t| t.as_str()).filter(|t| !declared.contains(t)) {
                    problems.push(format!("{name}: tag {tag} is not declared"));
                }
                for (status, response) in op["responses"].as_object().unwrap() {
                    if !text(&response["description"]) && response.get("$ref").is_none() {
                        problems.push(format!("{name}: response {status} has no description"));
                    }
                }
            }
        }
        for (name, response) in doc["components"]["responses"].as_object().into_iter().flatten() {
            if !text(&response["description"]) {
                problems.push(format!("components.responses.{name} has no description"));
            }
        }
        assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
        let operations = |doc: &utoipa::openapi::OpenApi| {
            let doc = serde_json::to_value(doc).unwrap();
            let items = doc["paths"].as_object().unwrap().values().flat_map(|item| item.as_object().unwrap().keys());
            items.filter(|m| METHODS.contains(&m.as_str())).count()
        };
        let expected: usize = dialects.iter().map(|(_, doc)| operations(doc)).sum();
        assert_eq!(ids.len(), expected, "the merged document lost operations of the dialects'");
    }
}
