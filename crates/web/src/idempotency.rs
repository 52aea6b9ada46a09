//! The `Idempotency-Key` request header (IETF httpapi draft), for every dialect: a `POST`
//! that creates or joins, sent again with the same key by the same client, makes its change
//! once and gets the first answer again. The rules are in
//! [`classhub_core::idempotency`]; the keys live in the store, so they hold across processes.

use std::future::Future;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use classhub_core::DomainError;
use classhub_core::idempotency::{Claim, Key};
use classhub_store::StoreError;
use classhub_store::ops::idempotency::{Answer, ClaimKey, FinishKey, HeldKey, ReleaseKey, holding};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::{AppState, BodyError, Deadline, read_body};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Marks a replayed answer (as Stripe's API does), so a client can tell.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Why a keyed request was answered before it ran.
#[derive(Debug)]
pub enum KeyRefusal {
    Store(StoreError),
    Body(BodyError),
}

/// What a dialect tells [`keyed`].
pub trait Keyed: Send + Sync + 'static {
    /// The dialect's name, so that one client's keys in two dialects never meet.
    const NAME: &'static str;
    /// The dialect's answer to a refusal.
    fn refuse(refusal: KeyRefusal) -> Response;
}

/// What a dialect tells the [`idempotent`] middleware besides.
pub trait KeyedRoutes: Keyed {
    /// Whether a route (as matched: `/partner/{partner_id}/classes`) takes a key: routes that
    /// create or join. Routes that answer with credentials do not (their answers are not
    /// kept anywhere).
    fn takes_key(path: &str) -> bool;
    /// The client a request authenticates as, checked as the dialect checks it; `None` when
    /// it does not (the request then runs without its key, and the handler refuses it).
    fn client(app: &AppState, headers: &HeaderMap) -> impl Future<Output = Option<i64>> + Send;
}

/// A dialect's routes behind its request deadline and its keys.
pub fn guarded<D: KeyedRoutes>(routes: Router<AppState>, deadline: Deadline, state: AppState) -> Router {
    routes
        .layer(from_fn_with_state(deadline, crate::deadline))
        .layer(from_fn_with_state(state.clone(), idempotent::<D>))
        .with_state(state)
}

/// Middleware (with `from_fn_with_state`) over the routes of a dialect whose clients
/// authenticate with a header the middleware can check.
pub async fn idempotent<D: KeyedRoutes>(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if !req.headers().contains_key(IDEMPOTENCY_KEY) || req.method() != Method::POST {
        return next.run(req).await;
    }
    if !req.extensions().get::<MatchedPath>().is_some_and(|route| D::takes_key(route.as_str())) {
        return next.run(req).await;
    }
    let Some(client) = D::client(&app, req.headers()).await else { return next.run(req).await };
    keyed::<D, _>(&app, client, req, |req| next.run(req)).await
}

/// Runs a request that carries an `Idempotency-Key` on a route that takes one, for an
/// authenticated `client`: once per key, replaying the first answer to repeats.
pub async fn keyed<D: Keyed, F: Future<Output = Response>>(
    app: &AppState,
    client: i64,
    req: Request,
    run: impl FnOnce(Request) -> F,
) -> Response {
    let key = req.headers().get(IDEMPOTENCY_KEY).map(|v| v.to_str().map_err(|_| DomainError::IdempotencyKeyMalformed));
    let key = match key {
        None => return run(req).await,
        Some(text) => match text.and_then(Key::parse) {
            Ok(key) => key,
            Err(e) => return D::refuse(KeyRefusal::Store(StoreError::Domain(e))),
        },
    };
    // The body is read here (within the configured limit) and handed on as read.
    let (parts, body) = req.into_parts();
    let mut probe = Request::new(body);
    *probe.headers_mut() = parts.headers.clone();
    *probe.extensions_mut() = parts.extensions.clone();
    let bytes = match read_body(probe, &()).await {
        Ok(bytes) => bytes,
        Err(e) => return D::refuse(KeyRefusal::Body(e)),
    };
    let fingerprint = digest(&[parts.method.as_str().as_bytes(), parts.uri.to_string().as_bytes(), &bytes]);
    let held = HeldKey {
        key: digest(&[D::NAME.as_bytes(), &client.to_be_bytes(), key.as_str().as_bytes()]),
        holder: rand::random(),
    };
    let now = classhub_core::time::now();
    match app.store.write(ClaimKey { key: held, fingerprint, now }).await {
        Ok(Claim::Run) => {}
        Ok(Claim::Replay(answer)) => return replay(answer),
        Err(e) => return D::refuse(KeyRefusal::Store(e)),
    }

    let res = holding(held, run(Request::from_parts(parts, Body::from(bytes)))).await;
    // Only an answer that made the change is kept: any other (a refusal, an outage) changed
    // nothing, so the key is given back and a corrected request may use it.
    if !res.status().is_success() {
        if let Err(e) = app.store.write(ReleaseKey { key: held }).await {
            tracing::warn!(error = %e, "an idempotency key was not given back; it is taken over after its lease");
        }
        return res;
    }
    let (parts, body) = res.into_parts();
    // Answers that make a change are small JSON documents; one that cannot be read whole is
    // passed on, and its key stays applied (repeats are refused, never run twice).
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let answer = Answer { status: parts.status.as_u16(), headers: kept_headers(&parts.headers), body: bytes.to_vec() };
    match app.store.write(FinishKey { key: held, answer }).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!("an idempotency key was taken over before its answer was kept"),
        Err(e) => tracing::warn!(error = %e, "an idempotent answer was not kept; repeats of its key are refused"),
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The headers a replay repeats: what describes the answer, not this sending of it (its
/// date, length and request id are the new request's).
fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let fresh = [header::DATE, header::CONTENT_LENGTH, HeaderName::from_static("x-request-id")];
    headers
        .iter()
        .filter(|(name, _)| !fresh.contains(name))
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect()
}

fn replay(answer: Answer) -> Response {
    let mut res = Response::new(Body::from(answer.body));
    *res.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            res.headers_mut().append(name, value);
        }
    }
    res.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
    res
}
