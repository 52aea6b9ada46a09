//! The admin API.

use serde_json::json;

use crate::engine_tests;
use crate::support::{ADMIN, Setup, TestApp};

async fn creates_people_models_and_courses(app: TestApp) {
    let r = app
        .post("/admin/v1/partners")
        .token(ADMIN)
        .json(json!({"name": " Ada ", "email": "ada@example.com"}))
        .send()
        .await;
    r.expect(201, json!({"id": 1, "name": "Ada", "email": "ada@example.com", "token": "$any"}));
    let partner_token = r.body["token"].as_str().unwrap().to_string();
    assert!(partner_token.starts_with("chk_") && partner_token.len() == 47);
    let r =
        app.post("/admin/v1/students").token(ADMIN).json(json!({"name": "Bo", "email": "bo@example.com"})).send().await;
    r.expect(201, json!({"id": 2, "name": "Bo", "email": "bo@example.com", "token": "$any"}));
    assert_ne!(r.body["token"], partner_token);
    let r = app.post("/admin/v1/models").token(ADMIN).json(json!({"name": "gpt", "provider": "openai"})).send().await;
    r.expect(
        201,
        json!({"id": 1, "name": "gpt", "provider": "openai", "modality": "chat", "supports_parallel": false,
               "default_pricing": null, "is_active": true, "created_at": "$ts", "updated_at": "$ts"}),
    );
    let r = app.post("/admin/v1/courses").token(ADMIN).json(json!({"partner_id": 1, "title": "Intro"})).send().await;
    r.expect(
        201,
        json!({"id": 1, "partner_id": 1, "title": "Intro", "course_key": "course-1", "status": "draft",
               "start_date": null, "end_date": null, "description": null, "created_at": "$ts", "updated_at": "$ts"}),
    );
    let full = json!({"partner_id": 1, "title": "Spring", "course_key": "SPR", "status": "active",
                      "start_date": "2026-03-02", "end_date": "2026-06-30", "description": "d"});
    let r = app.post("/admin/v1/courses").token(ADMIN).json(full).send().await;
    r.expect(
        201,
        json!({"id": 2, "partner_id": 1, "title": "Spring", "course_key": "SPR", "status": "active",
               "start_date": "2026-03-02", "end_date": "2026-06-30", "description": "d", "created_at": "$ts",
               "updated_at": "$ts"}),
    );
    let r = app
        .post("/admin/v1/courses")
        .token(ADMIN)
        .json(json!({"partner_id": 1, "title": "Again", "course_key": "SPR"}))
        .send()
        .await;
    r.expect(409, json!({"detail": "course_key \"SPR\" is already used by another course of this partner"}));
    // The partner's token works on the partner API.
    let r = app.get("/partner/1/classes").token(&partner_token).send().await;
    assert_eq!(r.status, 200);
}

async fn courses_need_a_partner(app: TestApp) {
    app.student().await;
    for id in [1, 99] {
        let r = app.post("/admin/v1/courses").token(ADMIN).json(json!({"partner_id": id, "title": "t"})).send().await;
        r.expect(404, json!({"detail": "Partner not found"}));
    }
}

async fn bodies_are_validated(app: TestApp) {
    let r = app.post("/admin/v1/partners").token(ADMIN).json(json!({"name": 5})).send().await;
    r.expect(
        422,
        json!({"detail": [
            {"type": "string_type", "loc": ["body", "name"], "msg": "Input should be a valid string", "input": 5},
            {"type": "missing", "loc": ["body", "email"], "msg": "Field required", "input": {"name": 5}},
        ]}),
    );
    let r = app.post("/admin/v1/partners").token(ADMIN).json(json!({"name": " ", "email": "nope"})).send().await;
    r.expect(422, json!({"detail": [
        {"type": "string_too_short", "loc": ["body", "name"], "msg": "String should have at least 1 character", "input": " ", "ctx": {"min_length": 1}},
        {"type": "value_error", "loc": ["body", "email"], "msg": "Value error, value is not a valid email address", "input": "nope",
         "ctx": {"error": "value is not a valid email address"}},
    ]}));
    let r = app.post("/admin/v1/courses").token(ADMIN).json(json!({"partner_id": "x", "title": ""})).send().await;
    assert_eq!(r.status, 422);
    let r = app.post("/admin/v1/models").token(ADMIN).raw(b"nope").send().await;
    assert_eq!((r.status, &r.body["detail"][0]["type"]), (422, &json!("json_invalid")));
}

async fn tokens_can_be_revoked(app: TestApp) {
    let p = app.partner().await;
    let r = app.post("/admin/v1/tokens/revoke").token(ADMIN).json(json!({"token": p.token})).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    app.get(&format!("/partner/{}/classes", p.id))
        .token(&p.token)
        .send()
        .await
        .expect(401, json!({"detail": "unauthorized"}));
    let r = app.post("/admin/v1/tokens/revoke").token(ADMIN).json(json!({"token": p.token})).send().await;
    r.expect(404, json!({"detail": "Token not found"}));
}

async fn admin_token_is_required(app: TestApp) {
    let body = json!({"name": "x", "email": "x@example.com"});
    let r = app.post("/admin/v1/partners").json(body.clone()).send().await;
    r.expect(401, json!({"detail": "Not authenticated"}));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    app.post("/admin/v1/partners")
        .token("wrong")
        .json(body.clone())
        .send()
        .await
        .expect(401, json!({"detail": "Not authenticated"}));
    let p = app.partner().await;
    app.post("/admin/v1/partners")
        .token(&p.token)
        .json(body)
        .send()
        .await
        .expect(401, json!({"detail": "Not authenticated"}));
}

#[tokio::test]
async fn without_an_admin_token_the_admin_api_is_absent() {
    let mut setup = Setup::default();
    setup.config.admin_token = None;
    let app = TestApp::sqlite_with(setup).await;
    let r =
        app.post("/admin/v1/partners").token(ADMIN).json(json!({"name": "x", "email": "x@example.com"})).send().await;
    r.expect(404, json!({"detail": "Not Found"}));
}

engine_tests!(
    creates_people_models_and_courses,
    courses_need_a_partner,
    bodies_are_validated,
    tokens_can_be_revoked,
    admin_token_is_required,
);
