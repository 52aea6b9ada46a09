//! The CloudShare dialect: REST API v3 training classes, as CloudShare's SDKs speak it —
//! `cs_sha1` signed requests, `/api/v3/…` paths matched case-insensitively with or without
//! a trailing slash, lenient JSON in, camelCase JSON out, `{"message","code"}` errors.
//! This crate only translates; the rules live in the core (`classhub_core::lab`).

mod auth;
mod catalog;
mod classes;
pub mod ids;
mod login;
mod people;
mod wire;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use classhub_core::UserId;
use classhub_core::user::UserKind;
use classhub_store::ops::security::{Admission, AdmitSignature, SignatureGate};
use classhub_web::fastapi::query_params;
use classhub_web::{AppState, Deadline, PeerAddr, RequestId, deadline, read_body};
use http::{HeaderMap, Method, StatusCode, header};

/// How a client signs a request (`cs_sha1`); the benchmark signs its requests with it.
pub use auth::signature;
pub use wire::CsError;
use wire::Input;

pub const PREFIX: &str = "/api/v3";

/// The CloudShare routes: the API under `/api/v3` and the login page of sponsored links.
pub fn router(state: AppState) -> Router {
    let limit = Deadline { limit: state.config.request_timeout, respond: || timeout().into_response() };
    Router::new()
        .route(PREFIX, any(dispatch))
        .route("/api/v3/", any(dispatch))
        .route("/api/v3/{*rest}", any(dispatch))
        .route("/Class/{short_id}", get(login::sponsored))
        .route("/class/{short_id}", get(login::sponsored))
        .layer(from_fn_with_state(limit, deadline))
        .with_state(state)
}

fn timeout() -> CsError {
    CsError::new(StatusCode::REQUEST_TIMEOUT, "the request took too long")
}

/// Whether a path belongs to this dialect whatever its case (`/API/v3/...`), for the
/// server's fallback to send here.
pub fn handles(path: &str) -> bool {
    path.len() >= PREFIX.len()
        && path[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
        && matches!(path.as_bytes().get(PREFIX.len()), None | Some(b'/'))
}

/// Answers a request of another case (`/API/V3/Class`) as [`dispatch`] does.
pub async fn dispatch_request(state: AppState, req: Request) -> Response {
    dispatch(State(state), req).await
}

/// What a handler gets: the state, the caller, the parameters and the request's context.
pub(crate) struct Cx {
    pub app: AppState,
    pub caller: UserId,
    pub input: Input,
    pub request: RequestId,
}

impl Cx {
    pub fn ctx(&self) -> classhub_core::audit::Context {
        self.request.context(Some(self.caller))
    }
}

async fn dispatch(State(app): State<AppState>, req: Request) -> Response {
    match handle(app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(app: AppState, req: Request) -> Result<Response, CsError> {
    let request = req.extensions().get::<RequestId>().cloned().unwrap_or_else(|| RequestId(String::new()));
    let peer = PeerAddr::of(req.extensions());
    // Methods as CloudShare's own server reads them: in any case (`cscurl -m get`).
    let method = Method::from_bytes(req.method().as_str().to_ascii_uppercase().as_bytes())
        .unwrap_or_else(|_| req.method().clone());
    let (uri, headers) = (req.uri().clone(), req.headers().clone());
    let path = uri.path().to_string();
    let rest = path.get(PREFIX.len()..).unwrap_or("");
    let segments: Vec<String> = rest.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let words: Vec<&str> = lower.iter().map(String::as_str).collect();
    let caller = authenticate(&app, &headers, &uri, peer).await?;
    let bytes: Bytes = read_body(req, &app).await.map_err(|e| match e {
        classhub_web::BodyError::TooLarge => {
            CsError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large")
        }
        classhub_web::BodyError::Unreadable => CsError::bad_request("the request body could not be read"),
    })?;
    let input = Input::read(&bytes, &query_params(uri.query()))?;
    let cx = Cx { app, caller, input, request };
    route(&cx, &method, &words, &segments).await
}

/// The endpoint for a method and path (literal segments compared case-insensitively,
/// ids as given).
async fn route(cx: &Cx, method: &Method, words: &[&str], seg: &[String]) -> Result<Response, CsError> {
    use Method as M;
    if out_of_scope(words) {
        return Err(CsError::out_of_scope());
    }
    let known = |allowed: &[Method]| -> Result<Response, CsError> {
        let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        Err(CsError::new(StatusCode::METHOD_NOT_ALLOWED, format!("use {} on this path", names.join(" or "))))
    };
    match (words, method) {
        // Integrations call ping to test credentials: it is signed like everything else.
        (["ping"], &M::GET) => Ok(wire::ok(&serde_json::json!({"result": "Pong"}))),
        (["timezones"], &M::GET) => catalog::timezones(),
        (["regions"], &M::GET) => catalog::regions(),
        (["projects"], &M::GET) => catalog::projects(cx).await,
        (["projects", _], &M::GET) => catalog::project(cx, &seg[1]).await,
        (["projects", _, "blueprints"], &M::GET) => catalog::blueprints(cx, &seg[1]).await,
        (["projects", _, "blueprints", _], &M::GET) => catalog::blueprint(cx, &seg[1], &seg[3]).await,
        (["projects", _, "policies"], &M::GET) => catalog::policies(cx, &seg[1]).await,
        (["class"], &M::GET) => classes::list(cx).await,
        (["class"], &M::POST) => classes::create(cx).await,
        (["class"], &M::PUT) => classes::modify(cx, None).await,
        (["class", "actions", "getdetailed"], &M::GET) => classes::detailed(cx).await,
        (["class", "actions", "countries"], &M::GET) => catalog::countries(cx),
        (["class", "actions", "instructors"], &M::GET) => catalog::instructors(cx).await,
        (["class", "actions", "customfields"], &M::GET) => catalog::custom_fields(cx).await,
        (["class", "actions", "sendinvitations"], &M::POST) => people::send_invitations(cx).await,
        (["class", "sponsoredlink"], &M::POST) => people::sponsored_link(cx).await,
        (["class", "disablesponsoredlink"], &M::POST) => people::disable_sponsored_link(cx).await,
        (["class", _], &M::GET) => classes::get(cx, &seg[1]).await,
        (["class", _], &M::PUT) => classes::modify(cx, Some(&seg[1])).await,
        (["class", _], &M::DELETE) => classes::delete(cx, &seg[1]).await,
        (["class", _, "students"], &M::GET) => people::students(cx, &seg[1]).await,
        (["class", _, "students"], &M::POST) => people::add_student(cx, &seg[1]).await,
        (["class", _, "students", _], &M::GET) => people::student(cx, &seg[1], &seg[3]).await,
        (["class", _, "students", _], &M::PUT) => people::update_student(cx, &seg[1], &seg[3]).await,
        (["class", _, "students", _], &M::DELETE) => people::remove_student(cx, &seg[1], &seg[3]).await,
        (["instructors", "class"], &M::GET) => people::instructors(cx).await,
        (["instructors"], &M::POST) => people::add_instructor(cx).await,
        (["instructors", _], &M::DELETE) => people::remove_instructor(cx, &seg[1]).await,
        (["policies"], &M::POST) => catalog::create_policy(cx).await,
        (["ping" | "timezones" | "regions" | "projects"], _) => known(&[M::GET]),
        (["class"], _) => known(&[M::GET, M::POST, M::PUT]),
        (["instructors" | "policies"], _) => known(&[M::POST]),
        (["class", _], _) | (["class", _, "students", _], _) => known(&[M::GET, M::PUT, M::DELETE]),
        _ => Err(CsError::not_found(&format!("endpoint {} {PREFIX}/{}", method, seg.join("/")))),
    }
}

/// Environments, VMs and snapshots: classhub manages rosters, not labs' machines.
fn out_of_scope(words: &[&str]) -> bool {
    matches!(words.first(), Some(&("envs" | "vms" | "snapshots" | "templates")))
        || words.iter().any(|w| w.contains("environment"))
}

/// Checks the `cs_sha1` header: parts, API id, freshness, nonce, signature, replay — in
/// that order; each failure answers 401 saying which check failed. Failures count per API
/// id at an address and per address, and nonces are recorded, in the store every process
/// shares: a signed request is accepted at most once by the whole deployment.
async fn authenticate(app: &AppState, headers: &HeaderMap, uri: &http::Uri, peer: PeerAddr) -> Result<UserId, CsError> {
    let header_value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let signed = auth::parse(header_value);
    let identity = signed.as_ref().ok().map(|s| format!("api:{}", s.api_id));
    let keys = classhub_web::throttle::keys(app.config.signature_policy(), identity.as_deref(), peer.0);
    let now = jiff::Timestamp::now();
    let api_id = signed.as_ref().map_or("", |s| s.api_id);
    let (credential, open) = app.store.read(SignatureGate { api_id, keys: keys.clone(), now }).await?;
    open?;
    let verified = verify(app, headers, uri, signed, credential.as_ref(), now);
    let nonce = verified.as_ref().ok().map(|n| n.0);
    let admission = app.store.write(AdmitSignature { keys, nonce, now }).await?;
    match (admission, verified) {
        (Admission::Admitted, Ok((_, caller))) => Ok(caller),
        (Admission::Replayed, _) => Err(CsError::unauthorized(auth::AuthFailure::Replay.message())),
        (_, Err(failure)) => Err(CsError::unauthorized(failure.message())),
        (_, Ok(_)) => Err(CsError::unauthorized(auth::AuthFailure::Replay.message())),
    }
}

/// The checks that need no writing: the header's parts, the API id, freshness, the nonce's
/// form and the signature. Returns the nonce to record (and until when) and the caller.
fn verify(
    app: &AppState,
    headers: &HeaderMap,
    uri: &http::Uri,
    signed: Result<auth::Signed<'_>, auth::AuthFailure>,
    credential: Option<&classhub_store::engine::ApiCredential>,
    now: jiff::Timestamp,
) -> Result<(([u8; 32], jiff::Timestamp), UserId), auth::AuthFailure> {
    let signed = signed?;
    let credential = credential.filter(|c| c.principal.kind == UserKind::ProjectMember);
    let credential = credential.ok_or(auth::AuthFailure::UnknownApiId)?;
    let skew = app.config.signature_skew.as_secs();
    if now.as_second().abs_diff(signed.timestamp) > skew {
        return Err(auth::AuthFailure::Stale { skew_secs: skew });
    }
    if !auth::token_ok(signed.token) {
        return Err(auth::AuthFailure::BadToken);
    }
    let Some(key) = app.config.secrets.open(&credential.sealed_key).and_then(|k| String::from_utf8(k).ok()) else {
        tracing::error!(api_id = signed.api_id, "an API key cannot be opened with this server key");
        return Err(auth::AuthFailure::UnknownApiId);
    };
    let host =
        headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(uri.authority().map(|a| a.as_str())).unwrap_or("");
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let urls = auth::candidate_urls(host, target, Some(app.config.public_base_url.as_str()));
    if !auth::signs_any(signed.hmac, &key, &urls, signed.timestamp, signed.token) {
        return Err(auth::AuthFailure::BadSignature);
    }
    // The nonce is kept while its timestamp could still pass the freshness check.
    let expires = jiff::Timestamp::from_second(signed.timestamp.saturating_add(skew as i64 + 1)).unwrap_or(now);
    Ok(((auth::nonce_key(signed.api_id, signed.timestamp, signed.token), expires), credential.principal.user_id))
}

/// The CloudShare API's OpenAPI description.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = classes::Doc::openapi();
    doc.merge(people::Doc::openapi());
    doc.merge(catalog::Doc::openapi());
    doc.merge(login::Doc::openapi());
    doc
}
