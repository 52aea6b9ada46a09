//! The classhub server: composes the dialects over one store, and the command line.

pub mod cli;
pub mod config;
pub mod demo;
pub mod serve;
pub mod server;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use classhub_web::fastapi::ApiError;
use classhub_web::{AppState, json, observe};
use http::StatusCode;
use serde_json::json;
use utoipa_swagger_ui::SwaggerUi;

/// Every route of every dialect, plus operations endpoints, behind the request-id, log
/// and metrics middleware and the body size limit.
pub fn app(state: AppState, body_limit: usize) -> Router {
    let for_fallback = state.clone();
    Router::new()
        .merge(classhub_partner::router(state.clone()))
        .merge(classhub_admin::router(state.clone()))
        .merge(classhub_cloudshare::router(state.clone()))
        .merge(classhub_ocariot::router(state.clone()))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(state))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()))
        .fallback(move |req: axum::extract::Request| fallback(for_fallback.clone(), req))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(observe))
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
    doc
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
