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
        "/api/v3/class GET",
        "/api/v3/class POST",
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
        "/partner/{partner_id}/classes/{class_id} DELETE",
        "/partner/{partner_id}/classes/{class_id} GET",
        "/partner/{partner_id}/classes/{class_id} PATCH",
        "/partner/{partner_id}/classes/{class_id}/history GET",
        "/partner/{partner_id}/classes/{class_id}/invite-codes GET",
        "/partner/{partner_id}/classes/{class_id}/invite-codes POST",
        "/partner/{partner_id}/classes/{class_id}/invite-codes/{code_id} PATCH",
        "/partner/{partner_id}/classes/{class_id}/students GET",
        "/partner/{partner_id}/classes/{class_id}/students/{user_id} DELETE",
        "/user/class/invites/redeem POST",
        "/user/classes GET",
        "/user/classes/{class_id} DELETE",
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

engine_tests!(health_and_readiness, request_ids, unknown_routes_and_methods, openapi_describes_every_endpoint);
