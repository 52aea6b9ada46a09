//! The page a sponsored link opens: it signs the student in to the class.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use classhub_store::ops::lab::SponsoredLogin;
use classhub_web::fastapi::query_params;
use classhub_web::{AppState, PathText, RequestId};
use http::{StatusCode, Uri};
use utoipa::OpenApi;

use classhub_core::lab::escape_html as escape;

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    );
    (status, Html(body)).into_response()
}

/// Sign in with a sponsored link (`?token=`).
#[utoipa::path(get, path = "/Class/{shortId}", operation_id = "cloudshare_sponsored_sign_in", tag = "cloudshare",
    params(("shortId" = String, Path), ("token" = String, Query)),
    responses((status = 200, description = "Signed in (HTML)", content_type = "text/html"),
        (status = 404, description = "Unknown or disabled link (HTML)", content_type = "text/html"),
        (status = 409, description = "The class is full (HTML)", content_type = "text/html"),
        (status = 503, description = "The database is unavailable (HTML)", content_type = "text/html")))]
pub async fn sponsored(State(app): State<AppState>, path: PathText, uri: Uri, request: RequestId) -> Response {
    let token = query_params(uri.query()).remove("token").unwrap_or_default();
    let op = SponsoredLogin { ctx: request.context(None), short_id: path.get("short_id").to_string(), token };
    match app.store.write(op).await {
        Ok((class, member)) => {
            let who = member.user.first_name.clone().filter(|n| !n.is_empty()).unwrap_or(member.user.name);
            page(
                StatusCode::OK,
                &class.fields.name,
                &format!("Welcome, {who}. You are signed in to {}.", class.fields.name),
            )
        }
        Err(classhub_store::StoreError::Domain(classhub_core::DomainError::ClassFull)) => {
            page(StatusCode::CONFLICT, "Class is full", "This class has no free seat left.")
        }
        Err(classhub_store::StoreError::Domain(_)) => {
            page(StatusCode::NOT_FOUND, "Link not valid", "This sign-in link is unknown or no longer active.")
        }
        Err(e) => {
            tracing::warn!(error = %e, "sponsored sign-in failed");
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The service is briefly unavailable; please try again.")
        }
    }
}

#[derive(OpenApi)]
#[openapi(paths(sponsored))]
pub struct Doc;
