//! The CloudShare dialect: REST API v3 training classes, as CloudShare's SDKs speak it —
//! `cs_sha1` signed requests, `/api/v3/…` paths matched case-insensitively with or without
//! a trailing slash, lenient JSON in, camelCase JSON out, `{"message","code"}` errors.
//! This crate only translates; the rules live in the core (`classhub_core::lab`).

mod auth;
mod bodies;
mod catalog;
mod classes;
pub mod ids;
mod login;
mod people;
mod wire;

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::extract::{Request, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use classhub_core::UserId;
use classhub_core::user::UserKind;
use classhub_store::ops::security::{Admission, AdmitSignature, SignatureGate};
use classhub_web::fastapi::query_params;
use classhub_web::{AppState, Deadline, PeerAddr, RequestId, deadline, idempotency, read_body};
use http::{HeaderMap, Method, StatusCode, header};
use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};
use tower::ServiceExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

fn body_error(e: classhub_web::BodyError) -> CsError {
    match e {
        classhub_web::BodyError::TooLarge => {
            CsError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large")
        }
        classhub_web::BodyError::Unreadable => CsError::bad_request("the request body could not be read"),
    }
}

/// CloudShare's `Idempotency-Key`s: held per API id's user, on the posts that create or add
/// (a class, a student, an instructor, a policy).
struct Keys;

impl idempotency::Keyed for Keys {
    const NAME: &'static str = "cloudshare";

    fn refuse(refusal: idempotency::KeyRefusal) -> Response {
        match refusal {
            idempotency::KeyRefusal::Store(e) => CsError::from(e),
            idempotency::KeyRefusal::Body(e) => body_error(e),
        }
        .into_response()
    }
}

/// The segments (after `/api/v3`) of a post that creates or adds.
fn takes_key(segments: &[String]) -> bool {
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    matches!(lower.as_slice(), ["class"] | ["class", _, "students"] | ["instructors"] | ["policies"])
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
    /// The path's segments after `/api/v3`, as the client wrote them (for messages).
    segments: Vec<String>,
}

impl Cx {
    pub fn ctx(&self) -> classhub_core::audit::Context {
        self.request.context(Some(self.caller))
    }
}

/// The authenticated request, as endpoints extract it.
#[derive(Clone)]
pub(crate) struct Cs(Arc<Cx>);

impl std::ops::Deref for Cs {
    type Target = Cx;
    fn deref(&self) -> &Cx {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Cs {
    type Rejection = CsError;
    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, CsError> {
        // Only `dispatch` reaches the endpoints, and it always puts the context there.
        parts.extensions.get::<Cs>().cloned().ok_or_else(|| CsError::unauthorized("the request is not signed"))
    }
}

async fn dispatch(State(app): State<AppState>, req: Request) -> Response {
    match handle(app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Signature first (over the URL as sent), then the body, then the endpoint: the request
/// goes on to [`endpoints`] with its literal segments and its method in canonical case,
/// since CloudShare's own server reads both in any case (`cscurl -m get`, `/Class/Actions`).
async fn handle(app: AppState, req: Request) -> Result<Response, CsError> {
    let request = req.extensions().get::<RequestId>().cloned().unwrap_or_else(|| RequestId(String::new()));
    let peer = PeerAddr::of(req.extensions());
    let (uri, headers) = (req.uri().clone(), req.headers().clone());
    let rest = uri.path().get(PREFIX.len()..).unwrap_or("");
    let segments: Vec<String> = rest.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    let caller = authenticate(&app, &headers, &uri, peer).await?;
    let (mut parts, body) = req.into_parts();
    let bytes: Bytes = read_body(Request::from_parts(parts.clone(), body), &app).await.map_err(body_error)?;
    let input = Input::read(&bytes, &query_params(uri.query()))?;
    if out_of_scope(&segments) {
        return Err(CsError::out_of_scope());
    }
    parts.method = Method::from_bytes(parts.method.as_str().to_ascii_uppercase().as_bytes())
        .unwrap_or_else(|_| parts.method.clone());
    let canonical = canonical_path(&segments);
    parts.uri = match uri.query() {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical,
    }
    .parse()
    .map_err(|_| CsError::bad_request("the request URL is not valid"))?;
    let keyed = parts.method == Method::POST && takes_key(&segments);
    let cx = Cs(Arc::new(Cx { app: app.clone(), caller, input, request, segments }));
    parts.extensions.insert(cx.clone());
    let (method, path) = (parts.method.clone(), parts.uri.path().to_string());
    let route =
        |req: Request| async { ENDPOINTS.router.clone().oneshot(req).await.unwrap_or_else(|never| match never {}) };
    // The endpoints read the parsed input; the body goes along for an `Idempotency-Key`'s
    // fingerprint.
    let req = Request::from_parts(parts, axum::body::Body::from(bytes));
    let response =
        if keyed { idempotency::keyed::<Keys, _>(&app, caller.0, req, route).await } else { route(req).await };
    if cfg!(debug_assertions) {
        audit_names(&method, &path, &cx.input, response.status());
    }
    Ok(response)
}

/// The documented paths a request path matches (`{…}` segments match any one segment).
fn documented(path: &str) -> impl Iterator<Item = &'static utoipa::openapi::path::PathItem> {
    let segments: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    ENDPOINTS.doc.paths.paths.iter().filter_map(move |(template, item)| {
        let t: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
        let fits = t.len() == segments.len() && t.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s);
        fits.then_some(item)
    })
}

/// Schema and parser agree: an endpoint reads only the names its document gives (query
/// parameters and body properties), and one that succeeded read every documented name
/// the request carried. Handlers read bodies leniently by name (`wire::Input`), so this is
/// what keeps `bodies` true; a disagreement is logged as an error, which fails the
/// schemathesis run of CI. Debug builds only.
fn audit_names(method: &Method, path: &str, input: &Input, status: StatusCode) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::path::ParameterIn;
    let Some(op) = documented(path).find_map(|item| match *method {
        Method::GET => item.get.as_ref(),
        Method::POST => item.post.as_ref(),
        Method::PUT => item.put.as_ref(),
        Method::DELETE => item.delete.as_ref(),
        _ => None,
    }) else {
        return;
    };
    let mut names = BTreeSet::new();
    for p in op.parameters.iter().flatten() {
        if let RefOr::T(p) = p
            && matches!(p.parameter_in, ParameterIn::Query)
        {
            names.insert(p.name.to_ascii_lowercase());
        }
    }
    if let Some(RefOr::T(body)) = &op.request_body {
        for content in body.content.values() {
            if let RefOr::T(c) = content
                && let Some(schema) = &c.schema
            {
                properties(schema, &mut names);
            }
        }
    }
    let looked_up = input.looked_up();
    let undocumented: Vec<&String> = looked_up.difference(&names).collect();
    if !undocumented.is_empty() {
        tracing::error!(%method, path, ?undocumented, "a CloudShare endpoint read names its document lacks");
    }
    let unread: Vec<&String> = input.names().filter(|n| names.contains(*n) && !looked_up.contains(*n)).collect();
    if status.is_success() && !unread.is_empty() {
        tracing::error!(%method, path, ?unread, "a CloudShare endpoint ignored documented names it was sent");
    }
}

/// The property names of a body schema, lower-cased (through `$ref`s and `allOf`).
fn properties(schema: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>, names: &mut BTreeSet<String>) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    match schema {
        RefOr::Ref(r) => {
            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
            if let Some(s) = ENDPOINTS.doc.components.as_ref().and_then(|c| c.schemas.get(name)) {
                properties(s, names);
            }
        }
        RefOr::T(Schema::Object(o)) => names.extend(o.properties.keys().map(|k| k.to_ascii_lowercase())),
        RefOr::T(Schema::AllOf(all)) => all.items.iter().for_each(|s| properties(s, names)),
        RefOr::T(_) => {}
    }
}

/// `/api/v3` and the segments, literal ones (words of some documented path) lower-cased,
/// ids as given.
fn canonical_path(segments: &[String]) -> String {
    let mut path = PREFIX.to_string();
    for s in segments {
        path.push('/');
        let lower = s.to_ascii_lowercase();
        path.push_str(if ENDPOINTS.words.contains(&lower) { &lower } else { s });
    }
    path
}

/// The signed endpoints: their router and their document, from one declaration, and the
/// literal words of their paths.
struct Endpoints {
    router: Router,
    doc: utoipa::openapi::OpenApi,
    words: BTreeSet<String>,
}

static ENDPOINTS: LazyLock<Endpoints> = LazyLock::new(|| {
    let (router, doc) = endpoints().split_for_parts();
    let words = doc
        .paths
        .paths
        .keys()
        .flat_map(|p| p.split('/').filter(|s| !s.is_empty() && !s.starts_with('{')).map(str::to_ascii_lowercase))
        .collect();
    let router = router.fallback(unknown_endpoint).method_not_allowed_fallback(other_method);
    Endpoints { router, doc, words }
});

/// Every signed endpoint, declared once.
fn endpoints() -> OpenApiRouter {
    use utoipa::OpenApi;
    OpenApiRouter::with_openapi(catalog::Doc::openapi())
        .routes(routes!(catalog::ping))
        .routes(routes!(catalog::timezones))
        .routes(routes!(catalog::regions))
        .routes(routes!(catalog::projects))
        .routes(routes!(catalog::project))
        .routes(routes!(catalog::blueprints))
        .routes(routes!(catalog::blueprint))
        .routes(routes!(catalog::policies))
        .routes(routes!(catalog::create_policy))
        .routes(routes!(catalog::countries))
        .routes(routes!(catalog::instructors))
        .routes(routes!(catalog::custom_fields))
        .routes(routes!(classes::list, classes::create, classes::modify_by_body))
        .routes(routes!(classes::get, classes::modify, classes::delete))
        .routes(routes!(classes::detailed))
        .routes(routes!(people::send_invitations))
        .routes(routes!(people::sponsored_link))
        .routes(routes!(people::disable_sponsored_link))
        .routes(routes!(people::students, people::add_student))
        .routes(routes!(people::student, people::update_student, people::remove_student))
        .routes(routes!(people::instructors))
        .routes(routes!(people::add_instructor))
        .routes(routes!(people::remove_instructor))
}

async fn unknown_endpoint(cx: Cs, method: Method) -> CsError {
    CsError::not_found(&format!("endpoint {method} {PREFIX}/{}", cx.segments.join("/")))
}

/// A known path with another method: which ones it takes, read from the document.
async fn other_method(uri: http::Uri) -> CsError {
    let mut methods = Vec::new();
    for item in documented(uri.path()) {
        let ops = [("GET", &item.get), ("POST", &item.post), ("PUT", &item.put), ("DELETE", &item.delete)];
        methods.extend(ops.into_iter().filter(|(_, op)| op.is_some()).map(|(m, _)| m));
    }
    CsError::new(StatusCode::METHOD_NOT_ALLOWED, format!("use {} on this path", methods.join(" or ")))
}

/// Environments, VMs and snapshots: classhub manages rosters, not labs' machines.
fn out_of_scope(segments: &[String]) -> bool {
    let word = |s: &String| s.to_ascii_lowercase();
    matches!(segments.first().map(word).as_deref(), Some("envs" | "vms" | "snapshots" | "templates"))
        || segments.iter().any(|s| word(s).contains("environment"))
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
    let mut doc = ENDPOINTS.doc.clone();
    doc.merge(login::Doc::openapi());
    doc
}
