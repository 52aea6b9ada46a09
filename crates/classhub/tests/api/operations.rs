//! Operations endpoints and the rules every route shares: request ids, unknown routes,
//! body and time limits, the OpenAPI document.

use std::time::Duration;

use serde_json::json;

use crate::engine_tests;
use crate::support::{Setup, TestApp};

async fn health_and_readiness(app: TestApp) {
    app.get("/healthz").send().await.expect(200, json!({"status": "ok"}));
    app.get("/readyz").send().await.expect(200, json!({"status": "ready"}));
}

async fn request_ids(app: TestApp) {
    let r = app.get("/healthz").header("x-request-id", "abc-123").send().await;
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    let r = app.get("/healthz").send().await;
    let generated = r.header("x-request-id").unwrap();
    assert_eq!(generated.len(), 32);
    // An unusable id is replaced rather than echoed.
    let r = app.get("/healthz").header("x-request-id", &"x".repeat(300)).send().await;
    assert_eq!(r.header("x-request-id").unwrap().len(), 32);
    // Errors carry it too.
    let r = app.get("/nowhere").header("x-request-id", "e-1").send().await;
    assert_eq!(r.header("x-request-id"), Some("e-1"));
}

async fn unknown_routes_and_methods(app: TestApp) {
    app.get("/nowhere").send().await.expect(404, json!({"detail": "Not Found"}));
    // GrowFit's AI-practice features are out of scope: FastAPI's 404, whoever asks.
    let p = app.partner().await;
    for (method, path) in [
        (http::Method::GET, "/user/practice/sessions"),
        (http::Method::POST, "/user/practice/sessions/1/chat"),
        (http::Method::GET, "/user/document"),
        (http::Method::POST, "/user/document/upload"),
        (http::Method::GET, "/projects"),
        (http::Method::POST, "/projects/1/documents"),
        (http::Method::GET, "/supervisor/core/promotions/partner-requests"),
        (http::Method::POST, "/supervisor/core/promotions/partner-requests/1/approve"),
    ] {
        let r = app.call(method.clone(), path).token(&p.token).send().await;
        assert_eq!((r.status, &r.body), (404, &json!({"detail": "Not Found"})), "{method} {path}");
        app.call(method, path).send().await.expect(404, json!({"detail": "Not Found"}));
    }
    app.call(http::Method::PUT, "/partner/1/classes").send().await.expect(405, json!({"detail": "Method Not Allowed"}));
}

async fn openapi_describes_every_endpoint(app: TestApp) {
    let r = app.get("/openapi.json").send().await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = r.body["paths"].as_object().unwrap();
    let mut operations: Vec<String> = paths
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| format!("{p} {}", m.to_uppercase())))
        .collect();
    operations.sort();
    let expected = [
        "/.well-known/jwks.json GET",
        "/Class/{shortId} GET",
        "/course GET",
        "/models GET",
        "/admin/v1/cloudshare/members POST",
        "/admin/v1/cloudshare/projects POST",
        "/admin/v1/cloudshare/projects/{project_id}/blueprints POST",
        "/admin/v1/cloudshare/projects/{project_id}/custom-fields POST",
        "/admin/v1/cloudshare/projects/{project_id}/policies POST",
        "/admin/v1/courses POST",
        "/admin/v1/models POST",
        "/admin/v1/partners POST",
        "/admin/v1/students POST",
        "/admin/v1/tokens/revoke POST",
        "/admin/v1/users/{user_id}/password PUT",
        "/admin/v1/partners GET",
        "/admin/v1/students GET",
        "/admin/v1/users GET",
        "/admin/v1/users/{user_id} GET",
        "/admin/v1/users/{user_id} PATCH",
        "/admin/v1/users/{user_id} DELETE",
        "/admin/v1/users/{user_id}/token POST",
        "/admin/v1/users/{user_id}/api-key POST",
        "/admin/v1/courses GET",
        "/admin/v1/courses/{course_id} GET",
        "/admin/v1/courses/{course_id} PATCH",
        "/admin/v1/courses/{course_id} DELETE",
        "/admin/v1/models GET",
        "/admin/v1/models/{model_id} GET",
        "/admin/v1/models/{model_id} PATCH",
        "/admin/v1/models/{model_id} DELETE",
        "/admin/v1/cloudshare/projects GET",
        "/admin/v1/cloudshare/projects/{project_id} GET",
        "/admin/v1/cloudshare/projects/{project_id} PATCH",
        "/admin/v1/cloudshare/projects/{project_id} DELETE",
        "/admin/v1/cloudshare/projects/{project_id}/policies/{policy_id} PATCH",
        "/admin/v1/cloudshare/projects/{project_id}/policies/{policy_id} DELETE",
        "/admin/v1/cloudshare/projects/{project_id}/blueprints/{blueprint_id} PATCH",
        "/admin/v1/cloudshare/projects/{project_id}/blueprints/{blueprint_id} DELETE",
        "/admin/v1/cloudshare/projects/{project_id}/custom-fields/{field_id} PATCH",
        "/admin/v1/cloudshare/projects/{project_id}/custom-fields/{field_id} DELETE",
        "/admin/v1/cloudshare/projects/{project_id}/members/{vup_id} PATCH",
        "/admin/v1/cloudshare/projects/{project_id}/members/{vup_id} DELETE",
        "/api/v3/class GET",
        "/api/v3/class POST",
        "/api/v3/class PUT",
        "/api/v3/class/actions/countries GET",
        "/api/v3/class/actions/customfields GET",
        "/api/v3/class/actions/getdetailed GET",
        "/api/v3/class/actions/instructors GET",
        "/api/v3/class/actions/sendinvitations POST",
        "/api/v3/class/disablesponsoredlink POST",
        "/api/v3/class/sponsoredlink POST",
        "/api/v3/class/{classId} DELETE",
        "/api/v3/class/{classId} GET",
        "/api/v3/class/{classId} PUT",
        "/api/v3/class/{classId}/students GET",
        "/api/v3/class/{classId}/students POST",
        "/api/v3/class/{classId}/students/{studentId} DELETE",
        "/api/v3/class/{classId}/students/{studentId} GET",
        "/api/v3/class/{classId}/students/{studentId} PUT",
        "/api/v3/instructors POST",
        "/api/v3/instructors/class GET",
        "/api/v3/instructors/{ciId} DELETE",
        "/api/v3/ping GET",
        "/api/v3/policies POST",
        "/api/v3/projects GET",
        "/api/v3/projects/{projectId} GET",
        "/api/v3/projects/{projectId}/blueprints GET",
        "/api/v3/projects/{projectId}/blueprints/{blueprintId} GET",
        "/api/v3/projects/{projectId}/policies GET",
        "/api/v3/regions GET",
        "/api/v3/timezones GET",
        "/partner/{partner_id}/classes GET",
        "/partner/{partner_id}/classes POST",
        "/partner/{partner_id}/classes/cost-estimate POST",
        "/partner/{partner_id}/classes/summary GET",
        "/partner/{partner_id}/classes/{class_id} DELETE",
        "/partner/{partner_id}/classes/{class_id} GET",
        "/partner/{partner_id}/classes/{class_id} PATCH",
        "/partner/{partner_id}/classes/{class_id}/history GET",
        "/partner/{partner_id}/classes/{class_id}/invite-codes GET",
        "/partner/{partner_id}/classes/{class_id}/invite-codes POST",
        "/partner/{partner_id}/classes/{class_id}/invite-codes/{code_id} PATCH",
        "/partner/{partner_id}/classes/{class_id}/students GET",
        "/partner/{partner_id}/classes/{class_id}/students/{user_id} DELETE",
        "/partner/{partner_id}/student GET",
        "/partner/{partner_id}/student/detail GET",
        "/partner/{partner_id}/student/enrollments/{enrollment_id} DELETE",
        "/partner/{partner_id}/student/enrollments/{enrollment_id} PATCH",
        "/partner/{partner_id}/student/enrollments/{enrollment_id}/complete POST",
        "/partner/{partner_id}/student/enrollments/{enrollment_id}/drop POST",
        "/partner/{partner_id}/student/stats GET",
        "/partner/{partner_id}/student/{student_id} DELETE",
        "/partner/{partner_id}/student/{student_id} GET",
        "/partner/{partner_id}/student/{student_id} PATCH",
        "/partner/{partner_id}/student/{student_id}/archive POST",
        "/partner/{partner_id}/student/{student_id}/deactivate POST",
        "/partner/{partner_id}/student/{student_id}/enrollments GET",
        "/partner/{partner_id}/student/{student_id}/enrollments POST",
        "/partner/{partner_id}/course GET",
        "/partner/{partner_id}/course POST",
        "/partner/{partner_id}/course/{course_id} DELETE",
        "/partner/{partner_id}/course/{course_id} GET",
        "/partner/{partner_id}/course/{course_id} PATCH",
        "/user/class/enrollments/{enrollment_id} DELETE",
        "/user/class/invites/redeem POST",
        "/user/classes GET",
        "/user/classes/{class_id} DELETE",
        "/user/email/send-code POST",
        "/user/email/verify-code POST",
        "/user/login POST",
        "/user/my GET",
        "/user/my PATCH",
        "/user/my/profile GET",
        "/user/my/profile PATCH",
        "/user/signup POST",
        "/user/token/refresh POST",
        "/v1/applications POST",
        "/v1/auth POST",
        "/v1/children POST",
        "/v1/children/{child_id} PATCH",
        "/v1/educators POST",
        "/v1/educators/{educator_id} GET",
        "/v1/educators/{educator_id}/children/groups GET",
        "/v1/educators/{educator_id}/children/groups POST",
        "/v1/educators/{educator_id}/children/groups/{group_id} DELETE",
        "/v1/educators/{educator_id}/children/groups/{group_id} GET",
        "/v1/educators/{educator_id}/children/groups/{group_id} PATCH",
        "/v1/families POST",
        "/v1/healthprofessionals POST",
        "/v1/healthprofessionals/{healthprofessional_id} GET",
        "/v1/healthprofessionals/{healthprofessional_id}/children/groups GET",
        "/v1/healthprofessionals/{healthprofessional_id}/children/groups POST",
        "/v1/healthprofessionals/{healthprofessional_id}/children/groups/{group_id} DELETE",
        "/v1/healthprofessionals/{healthprofessional_id}/children/groups/{group_id} GET",
        "/v1/healthprofessionals/{healthprofessional_id}/children/groups/{group_id} PATCH",
        "/v1/institutions POST",
        "/v1/users/{user_id} DELETE",
        "/v1/users/{user_id}/password PATCH",
        "/v1/users/{user_id}/password PUT",
    ];
    let missing: Vec<&str> = expected.iter().filter(|e| !operations.iter().any(|o| o == *e)).copied().collect();
    let extra: Vec<&String> = operations.iter().filter(|o| !expected.contains(&o.as_str())).collect();
    assert!(missing.is_empty() && extra.is_empty(), "undocumented: {missing:?}; unexpected: {extra:?}");
    let r = app.get("/docs/").send().await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("swagger"), "{}", &r.text[..200.min(r.text.len())]);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let app = TestApp::sqlite_with(Setup { body_limit: 64, ..Setup::default() }).await;
    let p = app.partner_with_limit().await;
    let r = app
        .post(&format!("/partner/{}/classes", p.id))
        .token(&p.token)
        .json(json!({"name": "x".repeat(100)}))
        .send()
        .await;
    r.expect(413, json!({"detail": "Request body too large"}));
    let r = app.post(&format!("/partner/{}/classes", p.id)).token(&p.token).json(json!({"name": "x"})).send().await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn slow_requests_get_408() {
    let mut setup = Setup::default();
    setup.config.request_timeout = Duration::from_millis(200);
    let app = TestApp::sqlite_with(setup).await;
    let p = app.partner().await;
    // A client whose body never finishes arriving.
    let r = app.post(&format!("/partner/{}/classes", p.id)).token(&p.token).stalled_body().send().await;
    r.expect(408, json!({"detail": "Request timeout"}));
    let r = app.post("/admin/v1/models").token(crate::support::ADMIN).stalled_body().send().await;
    r.expect(408, json!({"detail": "Request timeout"}));
}

/// Browsers on a configured origin may call the API: preflights answered, the headers
/// clients read exposed; other origins get no CORS headers (the browser blocks them).
#[tokio::test]
async fn cors_lets_configured_origins_in() {
    let mut setup = Setup::default();
    setup.config.cors_origin = vec![http::HeaderValue::from_static("http://localhost:3000")];
    let app = TestApp::sqlite_with(setup).await;
    let p = app.partner().await;
    let classes = format!("/partner/{}/classes", p.id);
    let preflight = |origin: &str| {
        app.call(http::Method::OPTIONS, &classes)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let r = preflight("http://localhost:3000").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("http://localhost:3000"));
    let methods = r.header("access-control-allow-methods").unwrap().to_ascii_uppercase();
    assert!(["GET", "POST", "PUT", "PATCH", "DELETE"].iter().all(|m| methods.contains(m)), "{methods}");
    let headers = r.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type") && headers.contains("if-match"));
    assert!(headers.contains("idempotency-key"), "{headers}");
    assert_eq!(r.header("access-control-allow-credentials"), None);
    let r = preflight("http://evil.example").await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    // The request itself: allowed, with the headers a client reads exposed.
    let r = app
        .post(&classes)
        .token(&p.token)
        .header("origin", "http://localhost:3000")
        .json(json!({"name": "x"}))
        .send()
        .await;
    assert_eq!((r.status, r.header("access-control-allow-origin")), (201, Some("http://localhost:3000")));
    let exposed = r.header("access-control-expose-headers").unwrap().to_ascii_lowercase();
    for h in ["etag", "x-request-id", "retry-after", "x-total-count", "idempotent-replayed"] {
        assert!(exposed.contains(h), "{h} in {exposed}");
    }
    // Without configured origins there is no CORS at all.
    let plain = TestApp::sqlite().await;
    let r = plain.get("/healthz").header("origin", "http://localhost:3000").send().await;
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, None));
}

/// The router and the document come from one declaration: every path the router serves is
/// documented (operations endpoints and the documentation's own pages aside), every
/// documented operation is served, and a documented path answers 405 to every method its
/// document does not list. CloudShare's endpoints sit behind the signature check, so they
/// are called signed.
async fn routes_and_document_agree(app: TestApp) {
    const NOT_API: [&str; 8] = [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/docs",
        "/docs/",
        "/docs/{*rest}",
        "/redoc",
        "/redoc/redoc.standalone.js",
    ];
    // The fallback's own entries (axum lists them among the paths).
    const FALLBACK: [&str; 2] = ["/", "/{*__private__axum_fallback}"];
    // CloudShare: the signed catch-all (its endpoints are routed behind the signature
    // check, and probed below) and the sponsored link's page in both cases.
    const CLOUDSHARE: [&str; 5] = ["/api/v3", "/api/v3/", "/api/v3/{*rest}", "/Class/{short_id}", "/class/{short_id}"];
    let doc = app.get("/openapi.json").send().await.body;
    let documented = doc["paths"].as_object().unwrap();
    let param = regex::Regex::new(r"\{[^}]*\}").unwrap();
    let shape = |p: &str| param.replace_all(&p.to_ascii_lowercase(), "{}").to_string();
    let documented_shapes: Vec<String> = documented.keys().map(|p| shape(p)).collect();
    let served = app.served_paths();
    assert!(served.len() > 50, "the router's paths could not be read: {served:?}");
    let undocumented: Vec<&String> = served
        .iter()
        .filter(|p| ![&NOT_API[..], &CLOUDSHARE, &FALLBACK].concat().contains(&p.as_str()))
        .filter(|p| !documented_shapes.contains(&shape(p)))
        .collect();
    assert!(undocumented.is_empty(), "served but not documented: {undocumented:?}");
    let served_shapes: Vec<String> = served.iter().map(|p| shape(p)).collect();
    let unserved: Vec<&String> =
        documented.keys().filter(|p| !p.starts_with("/api/v3/") && !served_shapes.contains(&shape(p))).collect();
    assert!(unserved.is_empty(), "documented but not served: {unserved:?}");

    // Every documented method is routed; every other method is 405.
    let cs = app.cs_project("routes").await.instructor;
    let oc_id = "5f1d5f1d5f1d5f1d5f1d5f1d";
    for (path, item) in documented {
        let methods: Vec<String> = item.as_object().unwrap().keys().map(|m| m.to_ascii_uppercase()).collect();
        let id = if path.starts_with("/v1/") {
            oc_id
        } else if path.starts_with("/api/v3/") {
            "CL1"
        } else {
            "1"
        };
        let concrete = param.replace_all(path, id).to_string();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let call = app.call(method.parse().unwrap(), &concrete);
            let r = if path.starts_with("/api/v3/") { call.signed(&cs) } else { call }.send().await;
            let unrouted = r.status == 405
                || (r.status == 404
                    && (r.body == json!({"detail": "Not Found"})
                        || r.body["message"].as_str().is_some_and(|m| m.starts_with("endpoint "))
                        || r.body["description"].as_str().is_some_and(|d| d.starts_with("Specified resource"))));
            if methods.iter().any(|m| m == method) {
                assert!(!unrouted, "{method} {path} is documented but not routed: {} {}", r.status, r.text);
            } else {
                assert_eq!(r.status, 405, "{method} {path} is not documented, yet answers {}", r.text);
            }
        }
    }
}

engine_tests!(
    health_and_readiness,
    request_ids,
    unknown_routes_and_methods,
    openapi_describes_every_endpoint,
    routes_and_document_agree
);
