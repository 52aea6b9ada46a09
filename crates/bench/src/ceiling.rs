//! The bare ceiling: the least any HTTP server on this stack can do for the benchmark's
//! path — axum routing and a fixed JSON body of the same size as classhub's answer, with
//! no database, no auth and no serialisation.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

pub async fn serve(listen: &str, body_bytes: usize) -> Result<(), String> {
    let body = fixed_body(body_bytes);
    let answer = move || {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, "application/json")], body) }
    };
    let app = Router::new().route("/partner/{p}/classes/{c}", get(answer.clone()).patch(answer));
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("bind {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

/// A JSON object of exactly `len` bytes (at least the 10 of its frame).
fn fixed_body(len: usize) -> axum::body::Bytes {
    let frame = r#"{"pad":""}"#.len();
    let text = format!(r#"{{"pad":"{}"}}"#, "x".repeat(len.saturating_sub(frame)));
    axum::body::Bytes::from(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_has_the_asked_size_and_is_json() {
        for len in [10, 11, 600, 1234] {
            let body = super::fixed_body(len);
            assert_eq!(body.len(), len);
            assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
        }
    }
}
