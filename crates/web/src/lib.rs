//! What every dialect's HTTP layer shares: application state, request ids, access logs
//! and metrics, timeouts answered in the dialect's own envelope, bodies within the size
//! limit, bearer tokens, `If-Match`, and FastAPI-style errors (partner and admin).

pub mod cursor;
pub mod fastapi;
pub mod idempotency;
pub mod jwt;
pub mod throttle;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use classhub_core::UserId;
use classhub_core::audit::Context;
use classhub_core::class::IfMatch;
use classhub_store::Store;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use ipnet::IpNet;
use rand::Rng;
use serde::Serialize;

/// State every dialect's handlers receive. Nothing in it decides anything another
/// process would decide differently: counters and nonces are in the store.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub config: Arc<ApiConfig>,
}

impl AppState {
    pub fn new(store: Arc<Store>, config: ApiConfig) -> AppState {
        AppState { store, config: Arc::new(config) }
    }
}

/// Settings of the HTTP API. Not `Debug`: it holds secrets.
#[derive(Clone)]
pub struct ApiConfig {
    /// Length of generated invite codes (6..=16).
    pub invite_code_length: usize,
    /// Bearer token of the admin API; without one the admin API answers 404.
    pub admin_token: Option<String>,
    /// Longest a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Largest request head (request line and headers) before it is answered 431.
    pub max_header_bytes: usize,
    /// Failed redemptions allowed per student and per client address within `redeem_window`.
    pub redeem_failures: u32,
    pub redeem_window: Duration,
    /// Failed `cs_sha1` authentications allowed per API id and per address per window.
    pub signature_failures: u32,
    pub signature_window: Duration,
    /// Largest difference allowed between a `cs_sha1` timestamp and the server's clock.
    pub signature_skew: Duration,
    /// Base of links shown to users (`https://classes.example.com`).
    pub public_base_url: String,
    /// Seals secrets kept at rest (CloudShare API keys).
    pub secrets: classhub_core::secret::SecretBox,
    /// Argon2id hash of the OCARIoT `admin` user's password; without one it cannot sign in.
    pub ocariot_admin_hash: Option<String>,
    /// Keys that sign and check OCARIoT tokens.
    pub jwt: jwt::JwtKeys,
    /// Failed OCARIoT logins allowed per username and per address within the window.
    pub login_failures: u32,
    pub login_window: Duration,
    /// Proxies whose `X-Forwarded-For` names the client ([`forwarded_clients`]).
    pub trusted_proxies: Arc<[IpNet]>,
    /// Origins whose pages may call the API from a browser (`*`: any); none by default.
    pub cors_origin: Vec<HeaderValue>,
    /// Failed partner-API (GrowFit) sign-ins allowed per email and per address within the window.
    pub account_login_failures: u32,
    pub account_login_window: Duration,
    /// Verification codes sent per email and per address within the window.
    pub email_code_sends: u32,
    pub email_code_window: Duration,
    /// How long a sign-in's access token lasts (`POST /user/login`, a refresh).
    pub session_ttl: Duration,
    /// How long the refresh token issued with it lasts.
    pub refresh_ttl: Duration,
}

impl ApiConfig {
    fn policy(name: &'static str, limit: u32, window: Duration) -> classhub_core::throttle::Policy {
        let window = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::from_hours(1));
        classhub_core::throttle::Policy { name, limit: limit.max(1), window }
    }

    /// Failed redemptions per student at an address.
    pub fn redeem_policy(&self) -> classhub_core::throttle::Policy {
        ApiConfig::policy("redeem", self.redeem_failures, self.redeem_window)
    }

    /// Failed `cs_sha1` authentications per API id at an address.
    pub fn signature_policy(&self) -> classhub_core::throttle::Policy {
        ApiConfig::policy("signature", self.signature_failures, self.signature_window)
    }

    /// Failed sign-ins per username at an address.
    pub fn login_policy(&self) -> classhub_core::throttle::Policy {
        ApiConfig::policy("login", self.login_failures, self.login_window)
    }

    /// Failed partner-API sign-ins per email at an address.
    pub fn account_login_policy(&self) -> classhub_core::throttle::Policy {
        ApiConfig::policy("account-login", self.account_login_failures, self.account_login_window)
    }

    /// Verification codes sent per email at an address.
    pub fn email_code_policy(&self) -> classhub_core::throttle::Policy {
        ApiConfig::policy("email-code", self.email_code_sends, self.email_code_window)
    }

    /// How long sign-ins last. A lifetime beyond what a duration holds is zero: sessions are
    /// born expired rather than immortal.
    pub fn sessions(&self) -> classhub_core::account::SessionTtl {
        let ttl = |d: Duration| jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::ZERO);
        classhub_core::account::SessionTtl { access: ttl(self.session_ttl), refresh: ttl(self.refresh_ttl) }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            invite_code_length: classhub_core::invite::CODE_LEN_DEFAULT,
            admin_token: None,
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            redeem_failures: 10,
            redeem_window: Duration::from_secs(600),
            signature_failures: 20,
            signature_window: Duration::from_secs(600),
            signature_skew: Duration::from_secs(60),
            public_base_url: "http://127.0.0.1:8080".into(),
            secrets: classhub_core::secret::SecretBox::new(&classhub_core::secret::SecretBox::generate_key(
                &mut rand::rng(),
            )),
            ocariot_admin_hash: None,
            // A fresh HS256 secret: cheap to make; `serve` sets RS256 keys.
            jwt: jwt::JwtKeys::hs256(&rand::rng().random::<[u8; 32]>()).unwrap_or_else(|e| unreachable!("{e}")),
            login_failures: 10,
            login_window: Duration::from_secs(600),
            trusted_proxies: Arc::new([]),
            cors_origin: Vec::new(),
            account_login_failures: 10,
            account_login_window: Duration::from_secs(600),
            email_code_sends: 5,
            email_code_window: Duration::from_secs(600),
            session_ttl: classhub_core::account::SESSION_TTL_DEFAULT.unsigned_abs(),
            refresh_ttl: classhub_core::account::REFRESH_TTL_DEFAULT.unsigned_abs(),
        }
    }
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: the client's `X-Request-Id` when it is sane, else a fresh one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable_request_id(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(s)
}

/// A valid W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`, lower case, ids not
/// all zeros; a later version may add fields, version `ff` is invalid).
struct TraceParent<'a> {
    trace_id: &'a str,
    parent_id: &'a str,
    flags: &'a str,
}

fn traceparent(headers: &HeaderMap) -> Option<TraceParent<'_>> {
    let value = headers.get("traceparent")?.to_str().ok()?.trim();
    let mut parts = value.split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let not_zero = |s: &str| s.bytes().any(|b| b != b'0');
    let valid = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace, 32)
        && not_zero(trace)
        && hex(parent, 16)
        && not_zero(parent)
        && hex(flags, 2);
    valid.then_some(TraceParent { trace_id: trace, parent_id: parent, flags })
}

/// The caller's span as the parent of ours: spans exported to a collector continue the
/// caller's trace (nothing happens when no exporter is installed).
fn remote_parent(p: &TraceParent<'_>) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
    let flags = TraceFlags::new(u8::from_str_radix(p.flags, 16).ok()? & TraceFlags::SAMPLED.to_u8());
    let trace = TraceId::from_hex(p.trace_id).ok()?;
    let span = SpanId::from_hex(p.parent_id).ok()?;
    let remote = SpanContext::new(trace, span, flags, true, TraceState::default());
    Some(opentelemetry::Context::new().with_remote_span_context(remote))
}

fn new_request_id() -> String {
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestId>().cloned().unwrap_or_else(|| RequestId(new_request_id())))
    }
}

impl RequestId {
    /// The write context of this request: who acts, the request id, now.
    pub fn context(&self, actor: Option<UserId>) -> Context {
        Context::new(actor, Some(self.0.clone()))
    }
}

/// The client's address, when the server recorded it: the TCP peer, or the address a
/// trusted proxy forwarded for ([`forwarded_clients`]).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub Option<IpAddr>);

impl PeerAddr {
    pub fn of(extensions: &http::Extensions) -> PeerAddr {
        let forwarded = extensions.get::<ForwardedFor>().map(|f| f.0);
        PeerAddr(forwarded.or_else(|| extensions.get::<ConnectInfo<SocketAddr>>().map(|i| i.0.ip())))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr::of(&parts.extensions))
    }
}

/// The client a trusted proxy forwarded a request for.
#[derive(Debug, Clone, Copy)]
struct ForwardedFor(IpAddr);

/// Middleware (with `from_fn_with_state`, given the trusted proxies' networks): a request
/// whose TCP peer is a trusted proxy is the client's that `X-Forwarded-For` names.
pub async fn forwarded_clients(State(trusted): State<Arc<[IpNet]>>, mut req: Request, next: Next) -> Response {
    if let Some(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|i| i.0.ip()) {
        let client = forwarded_client(peer, req.headers(), &trusted);
        req.extensions_mut().insert(ForwardedFor(client));
    }
    next.run(req).await
}

/// `X-Forwarded-For` read from the right, past every trusted proxy: the first address no
/// trusted proxy has, which is the last one a client could not have written itself. A peer
/// that is not trusted is the client, whatever it sends.
pub fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if !is_trusted(&peer) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The path's parameters as text, percent-decoded (lossily: a dialect validates them).
#[derive(Debug, Clone, Default)]
pub struct PathText(pub Vec<(String, String)>);

impl PathText {
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = match RawPathParams::from_request_parts(parts, state).await {
            Ok(raw) => raw.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            Err(_) => Vec::new(),
        };
        Ok(PathText(params))
    }
}

/// Outermost middleware: assigns the request id, echoes it, records metrics by route and
/// status, and writes one structured log line per request (no headers, no query: they
/// may carry secrets). Everything logged while the request is handled is inside its span,
/// so every line carries the request id.
pub async fn observe(mut req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let started = Instant::now();
    let id = match req.headers().get(REQUEST_ID).and_then(acceptable_request_id) {
        Some(s) => s.to_string(),
        None => new_request_id(),
    };
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let method = req.method().as_str().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    // The caller's W3C trace, when it sends one, else a trace of its own (the exporter's,
    // when spans are exported): log lines of one request carry the trace id a tracing
    // system or a gateway's logs know it by.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        trace_id = tracing::field::Empty,
        method = %method,
        route = %route,
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.response.status_code = tracing::field::Empty,
    );
    let parent = traceparent(req.headers());
    if let Some(cx) = parent.as_ref().and_then(remote_parent) {
        let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&span, cx);
    }
    let exported = {
        use opentelemetry::trace::TraceContextExt as _;
        let cx = tracing_opentelemetry::OpenTelemetrySpanExt::context(&span);
        let trace = cx.span().span_context().trace_id();
        (trace != opentelemetry::trace::TraceId::INVALID).then(|| trace.to_string())
    };
    let trace = match (parent, exported) {
        (Some(p), _) => p.trace_id.to_string(),
        (None, Some(t)) => t,
        (None, None) => new_request_id(),
    };
    span.record("trace_id", trace.as_str());
    let mut res = next.run(req).instrument(span.clone()).await;
    let _entered = span.enter();
    span.record("http.response.status_code", res.status().as_u16());
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    metrics::counter!("classhub_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("classhub_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(elapsed.as_secs_f64());
    if status >= 500 {
        tracing::warn!(status, micros = elapsed.as_micros() as u64, "request");
    } else {
        tracing::info!(status, micros = elapsed.as_micros() as u64, "request");
    }
    res
}

/// A request body that, dropped before its end, hands what is left of it back to
/// [`drain_unread_bodies`].
struct Tracked {
    inner: Body,
    done: bool,
    unread: Option<tokio::sync::oneshot::Sender<Body>>,
}

impl axum::body::HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            self.done = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.done
            && !self.inner.is_end_stream()
            && let Some(unread) = self.unread.take()
        {
            let _ = unread.send(std::mem::take(&mut self.inner));
        }
    }
}

/// How much of a request body left unread [`drain_unread_bodies`] reads, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// Middleware (with `from_fn_with_state`): when an answer is given before the request's
/// body was read (a refusal of the credentials, say), the rest of the body is read and
/// dropped before the answer goes, so that the kept-alive connection stays usable; a body
/// too large or too slow for that gets `Connection: close` instead. Either way an HTTP/1.1
/// client never sends its next request into a connection the server is about to close.
pub async fn drain_unread_bodies(State(drain): State<Drain>, req: Request, next: Next) -> Response {
    if req.version() >= http::Version::HTTP_2 || req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let req = req.map(|inner| Body::new(Tracked { inner, done: false, unread: Some(tx) }));
    let mut res = next.run(req).await;
    let Ok(rest) = rx.try_recv() else { return res };
    let announced = rest.size_hint().exact().map_or(0, |n| n as usize);
    let drained = announced <= drain.max_bytes
        && matches!(tokio::time::timeout(drain.timeout, axum::body::to_bytes(rest, drain.max_bytes)).await, Ok(Ok(_)));
    if !drained {
        res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// The size of a request's head as HTTP/1.1 sends it: the request line and every header.
pub fn head_bytes(req: &Request) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 11;
    line + req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>()
}

/// A dialect's request time limit and the answer it gives when the limit passes.
#[derive(Clone, Copy)]
pub struct Deadline {
    pub limit: Duration,
    pub respond: fn() -> Response,
}

/// Middleware (with `from_fn_with_state`) that answers `deadline.respond()` when a request
/// takes longer than its limit. A write already handed to the store still commits.
pub async fn deadline(State(deadline): State<Deadline>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline.limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => (deadline.respond)(),
    }
}

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads the whole body within the configured limit (axum's `DefaultBodyLimit`).
pub async fn read_body<S: Send + Sync>(req: Request<Body>, state: &S) -> Result<Bytes, BodyError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE { BodyError::TooLarge } else { BodyError::Unreadable }
    })
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares secrets in constant time.
pub fn secrets_match(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// `If-Match` as the core understands it. Entity tags that are not ours can match nothing.
pub fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    let mut versions = Vec::new();
    let mut any_header = false;
    for v in headers.get_all(header::IF_MATCH) {
        any_header = true;
        for tag in v.to_str().unwrap_or("").split(',').map(str::trim) {
            if tag == "*" {
                return Some(IfMatch::Any);
            }
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            if let Some(n) = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).and_then(|t| t.parse().ok()) {
                versions.push(n);
            }
        }
    }
    any_header.then_some(IfMatch::OneOf(versions))
}

/// The `ETag` of a class version.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

pub const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON response with the given content type.
pub fn json_with<T: Serialize + ?Sized>(status: StatusCode, body: &T, content_type: HeaderValue) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut res = (status, bytes).into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, content_type);
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "serialising a response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A JSON response (`application/json`).
pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    json_with(status, body, JSON)
}

/// `RFC 3339` in UTC with `Z`, fractional seconds (microseconds) only when non-zero.
pub fn rfc3339(ts: jiff::Timestamp) -> String {
    if ts.subsec_nanosecond() == 0 {
        ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// Serialises an instant with [`rfc3339`] (for `#[serde(serialize_with)]`).
pub fn ser_rfc3339<S: serde::Serializer>(ts: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ts))
}

/// Serialises an optional instant with [`rfc3339`].
pub fn ser_opt_rfc3339<S: serde::Serializer>(ts: &Option<jiff::Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// Declares the `bearer` security scheme used by bearer-token operations.
pub struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_forms() {
        let of = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("traceparent", HeaderValue::from_static(v));
            traceparent(&h).map(|p| p.trace_id.to_string())
        };
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(), Some(trace));
        // A later version may carry more fields; version 00 may not.
        assert_eq!(of("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").as_deref(), Some(trace));
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(of(bad), None, "{bad}");
        }
        assert!(traceparent(&HeaderMap::new()).is_none());
    }

    #[test]
    fn if_match_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h), None);
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"3\", W/\"4\", \"x\""));
        assert_eq!(if_match(&h), Some(IfMatch::OneOf(vec![3, 4])));
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&h), Some(IfMatch::Any));
        h.insert(header::IF_MATCH, HeaderValue::from_static("garbage"));
        assert_eq!(if_match(&h), Some(IfMatch::OneOf(vec![])));
    }

    #[test]
    fn forwarded_for_is_read_past_trusted_proxies_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "192.168.1.1/32".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let with = |values: &[&'static str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", HeaderValue::from_static(v));
            }
            h
        };
        // A client's own claim, before the proxies' additions, is not believed.
        let h = with(&["6.6.6.6, 203.0.113.7", "10.1.1.1"]);
        assert_eq!(forwarded_client(ip("192.168.1.1"), &h, &trusted), ip("203.0.113.7"));
        // An untrusted peer is the client, whatever it says.
        assert_eq!(forwarded_client(ip("198.51.100.1"), &h, &trusted), ip("198.51.100.1"));
        // Only proxies: the farthest; nothing usable: the peer.
        assert_eq!(forwarded_client(ip("10.0.0.2"), &with(&["10.0.0.9"]), &trusted), ip("10.0.0.9"));
        assert_eq!(forwarded_client(ip("10.0.0.2"), &with(&["unknown"]), &trusted), ip("10.0.0.2"));
        assert_eq!(forwarded_client(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        assert_eq!(forwarded_client(ip("10.0.0.2"), &with(&["2001:db8::1"]), &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339("2023-11-07T05:31:56Z".parse().unwrap()), "2023-11-07T05:31:56Z");
        assert_eq!(rfc3339("2023-11-07T05:31:56.5Z".parse().unwrap()), "2023-11-07T05:31:56.500000Z");
    }

    #[test]
    fn secrets() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abc", "abd"));
        assert!(!secrets_match("ab", "abc"));
    }
}
