//! `/redoc`: the OpenAPI document in ReDoc, served with its script (vendored in
//! `assets/redoc`), so that it works without reaching any other site, as `/docs` does.

use axum::Router;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use http::header;

const PAGE: &str = r#"<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>classhub API</title>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script>
</body>
</html>
"#;

const SCRIPT: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js");

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/redoc", get(|| async { Html(PAGE) })).route(
        "/redoc/redoc.standalone.js",
        get(|| async {
            (
                [
                    (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=86400"),
                ],
                SCRIPT,
            )
                .into_response()
        }),
    )
}
