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

/// A user as the admin API shows them.
fn user(id: i64, kind: &str, name: &str, email: &str) -> serde_json::Value {
    json!({"id": id, "kind": kind, "name": name, "email": email, "username": null, "first_name": null,
           "last_name": null, "created_at": "$ts", "disabled_at": null})
}

async fn users_are_listed_filtered_and_shown(app: TestApp) {
    app.person("partners", "Ada", "ada@example.com").await;
    app.person("students", "Bo", "bo@example.com").await;
    app.person("partners", "Cy", "cy@example.org").await;
    let (ada, bo, cy) = (
        user(1, "partner", "Ada", "ada@example.com"),
        user(2, "student", "Bo", "bo@example.com"),
        user(3, "partner", "Cy", "cy@example.org"),
    );
    let all = app.get("/admin/v1/users").token(ADMIN).send().await;
    all.expect(200, json!({"items": [ada, bo, cy], "total": 3, "limit": 100, "offset": 0}));
    let r = app.get("/admin/v1/partners?limit=1&offset=1").token(ADMIN).send().await;
    r.expect(200, json!({"items": [cy], "total": 2, "limit": 1, "offset": 1}));
    let r = app.get("/admin/v1/students").token(ADMIN).send().await;
    r.expect(200, json!({"items": [bo], "total": 1, "limit": 100, "offset": 0}));
    // Text in the name or email, ignoring case; `%` is no wildcard.
    let r = app.get("/admin/v1/users?q=EXAMPLE.ORG").token(ADMIN).send().await;
    r.expect(200, json!({"items": [cy], "total": 1, "limit": 100, "offset": 0}));
    let r = app.get("/admin/v1/users?q=%25&kind=partner").token(ADMIN).send().await;
    r.expect(200, json!({"items": [], "total": 0, "limit": 100, "offset": 0}));
    let r = app.get("/admin/v1/users?disabled=true").token(ADMIN).send().await;
    r.expect(200, json!({"items": [], "total": 0, "limit": 100, "offset": 0}));
    let r = app.get("/admin/v1/users?kind=teacher&limit=0").token(ADMIN).send().await;
    assert_eq!(r.status, 422, "{}", r.text);
    let locs: Vec<&serde_json::Value> = r.body["detail"].as_array().unwrap().iter().map(|e| &e["loc"]).collect();
    assert_eq!(locs, [&json!(["query", "limit"]), &json!(["query", "kind"])], "{}", r.text);
    app.get("/admin/v1/users/2").token(ADMIN).send().await.expect(200, user(2, "student", "Bo", "bo@example.com"));
    app.get("/admin/v1/users/99").token(ADMIN).send().await.expect(404, json!({"detail": "User not found"}));
    app.get("/admin/v1/users").send().await.expect(401, json!({"detail": "Not authenticated"}));
}

async fn a_disabled_user_has_no_working_credential(app: TestApp) {
    let r = app
        .post("/admin/v1/partners")
        .token(ADMIN)
        .json(json!({"name": "Ada", "email": "ada@example.com", "password": "pw-ada"}))
        .send()
        .await;
    let token = r.body["token"].as_str().unwrap().to_string();
    let login = json!({"email": "ada@example.com", "password": "pw-ada"});
    let session = app.post("/user/login").json(login.clone()).send().await;
    let session = session.body["access_token"].as_str().unwrap().to_string();
    let r = app.patch("/admin/v1/users/1").token(ADMIN).json(json!({"disabled": true})).send().await;
    r.expect(
        200,
        json!({"id": 1, "kind": "partner", "name": "Ada", "email": "ada@example.com", "username": null,
                         "first_name": null, "last_name": null, "created_at": "$ts", "disabled_at": "$ts"}),
    );
    for t in [&token, &session] {
        app.get("/partner/1/classes").token(t).send().await.expect(401, json!({"detail": "unauthorized"}));
    }
    app.post("/user/login").json(login.clone()).send().await.expect(401, json!({"detail": "invalid credentials"}));
    let r = app.get("/admin/v1/users?disabled=true").token(ADMIN).send().await;
    assert_eq!((r.body["total"].clone(), r.body["items"][0]["id"].clone()), (json!(1), json!(1)), "{}", r.text);
    // Enabled again, every credential works again.
    let r = app.patch("/admin/v1/users/1").token(ADMIN).json(json!({"disabled": false})).send().await;
    r.expect(200, user(1, "partner", "Ada", "ada@example.com"));
    for t in [&token, &session] {
        assert_eq!(app.get("/partner/1/classes").token(t).send().await.status, 200);
    }
    assert_eq!(app.post("/user/login").json(login).send().await.status, 200);
}

async fn a_disabled_cloudshare_member_cannot_sign(app: TestApp) {
    let project = app.cs_project("Labs").await;
    let r = app.get("/admin/v1/users?kind=project_member").token(ADMIN).send().await;
    let id = r.body["items"][0]["id"].as_i64().unwrap();
    assert_eq!(app.get("/api/v3/projects").signed(&project.instructor).send().await.status, 200);
    let disable = |disabled: bool| {
        app.patch(&format!("/admin/v1/users/{id}")).token(ADMIN).json(json!({"disabled": disabled})).send()
    };
    assert_eq!(disable(true).await.status, 200);
    assert_eq!(app.get("/api/v3/projects").signed(&project.instructor).send().await.status, 401);
    assert_eq!(disable(false).await.status, 200);
    assert_eq!(app.get("/api/v3/projects").signed(&project.instructor).send().await.status, 200);
}

async fn cloudshare_api_keys_are_rotated(app: TestApp) {
    let project = app.cs_project("Labs").await;
    let r = app.get("/admin/v1/users?kind=project_member").token(ADMIN).send().await;
    let id = r.body["items"][0]["id"].as_i64().unwrap();
    let r = app.post(&format!("/admin/v1/users/{id}/api-key")).token(ADMIN).send().await;
    r.expect(201, json!({"id": id, "api_id": "$any", "api_key": "$any"}));
    let fresh = crate::support::CsCreds {
        api_id: r.body["api_id"].as_str().unwrap().to_string(),
        api_key: r.body["api_key"].as_str().unwrap().to_string(),
        ..project.instructor.clone()
    };
    assert_ne!(fresh.api_id, project.instructor.api_id);
    assert_eq!(app.get("/api/v3/projects").signed(&project.instructor).send().await.status, 401);
    assert_eq!(app.get("/api/v3/projects").signed(&fresh).send().await.status, 200);
    // Only project members hold API keys.
    let p = app.partner().await;
    let r = app.post(&format!("/admin/v1/users/{}/api-key", p.id)).token(ADMIN).send().await;
    r.expect(404, json!({"detail": "Project member not found"}));
}

async fn courses_and_models_are_looked_after(app: TestApp) {
    let a = app.partner().await;
    let b = app.person("partners", "Bea", "bea@example.com").await;
    let post = |body: serde_json::Value| app.post("/admin/v1/courses").token(ADMIN).json(body).send();
    let first = post(json!({"partner_id": a.id, "title": "Prompting", "course_key": "P1"})).await.body.clone();
    let second = post(json!({"partner_id": b.id, "title": "Vision"})).await.body.clone();
    let r = app.get("/admin/v1/courses").token(ADMIN).send().await;
    r.expect(200, json!({"items": [second, first], "total": 2, "limit": 100, "offset": 0}));
    let r = app.get(&format!("/admin/v1/courses?partner_id={}&q=PROMPT", a.id)).token(ADMIN).send().await;
    r.expect(200, json!({"items": [first], "total": 1, "limit": 100, "offset": 0}));
    app.get("/admin/v1/courses/2").token(ADMIN).send().await.expect(200, second.clone());
    app.get("/admin/v1/courses/9").token(ADMIN).send().await.expect(404, json!({"detail": "Course not found"}));
    // Archived, renamed; a key the partner's other course has is refused.
    post(json!({"partner_id": a.id, "title": "Other", "course_key": "P2"})).await;
    let r =
        app.patch("/admin/v1/courses/1").token(ADMIN).json(json!({"status": "archived", "title": "Old"})).send().await;
    assert_eq!((r.status, r.body["status"].clone(), r.body["title"].clone()), (200, json!("archived"), json!("Old")));
    let r = app.patch("/admin/v1/courses/1").token(ADMIN).json(json!({"course_key": "P2"})).send().await;
    r.expect(409, json!({"detail": "course_key \"P2\" is already used by another course of this partner"}));
    // Deleted: its classes stay, without a course.
    let class = app.class(&a, json!({"name": "In the course", "course_id": 1})).await;
    let r = app.delete("/admin/v1/courses/1").token(ADMIN).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    app.get("/admin/v1/courses/1").token(ADMIN).send().await.expect(404, json!({"detail": "Course not found"}));
    let r = app.get(&format!("/partner/{}/classes/{}", a.id, class["id"])).token(&a.token).send().await;
    assert_eq!((r.status, r.body["course_id"].clone()), (200, serde_json::Value::Null));
    // Models, newest first: every one, or the active ones.
    app.post("/admin/v1/models").token(ADMIN).json(json!({"name": "on", "provider": "acme"})).send().await;
    app.post("/admin/v1/models")
        .token(ADMIN)
        .json(json!({"name": "off", "provider": "acme", "is_active": false}))
        .send()
        .await;
    let names = |r: &crate::support::Resp| -> Vec<String> {
        r.body["items"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect()
    };
    let r = app.get("/admin/v1/models").token(ADMIN).send().await;
    assert_eq!(
        (names(&r), r.body["total"].clone()),
        (vec!["off".to_string(), "on".to_string()], json!(2)),
        "{}",
        r.text
    );
    let r = app.get("/admin/v1/models?active=true").token(ADMIN).send().await;
    assert_eq!(names(&r), ["on"]);
    // Shown, changed, disabled and enabled; provider and name stay unique.
    let on = app.get("/admin/v1/models/1").token(ADMIN).send().await.body.clone();
    assert_eq!((on["name"].clone(), on["is_active"].clone()), (json!("on"), json!(true)));
    let patch = json!({"name": "on-2", "default_pricing": {"daily_fee_per_student": "1500"}, "is_active": false});
    let r = app.patch("/admin/v1/models/1").token(ADMIN).json(patch).send().await;
    r.expect(
        200,
        json!({"id": 1, "name": "on-2", "provider": "acme", "modality": "chat", "supports_parallel": false,
                         "default_pricing": {"daily_fee_per_student": "1500"}, "is_active": false,
                         "created_at": on["created_at"], "updated_at": "$ts"}),
    );
    let r = app.get("/models").send().await;
    assert!(!r.text.contains("on-2"), "a disabled model leaves the class form: {}", r.text);
    let r = app
        .patch("/admin/v1/models/1")
        .token(ADMIN)
        .json(json!({"is_active": true, "default_pricing": null}))
        .send()
        .await;
    assert_eq!((r.body["is_active"].clone(), r.body["default_pricing"].clone()), (json!(true), json!(null)));
    let r = app.patch("/admin/v1/models/1").token(ADMIN).json(json!({"name": "off"})).send().await;
    r.expect(409, json!({"detail": "model already exists"}));
    let r = app
        .patch("/admin/v1/models/1")
        .token(ADMIN)
        .json(json!({"modality": "smell", "default_pricing": 3}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    app.get("/admin/v1/models/9").token(ADMIN).send().await.expect(404, json!({"detail": "Model not found"}));
}

async fn cloudshare_projects_are_listed_and_shown(app: TestApp) {
    let project = app.cs_project("Labs").await;
    let r = app.get("/admin/v1/cloudshare/projects").token(ADMIN).send().await;
    r.expect(200, json!({"items": [{"id": project.id, "name": "Labs", "is_active": true}], "total": 1, "limit": 100, "offset": 0}));
    let r = app.get(&format!("/admin/v1/cloudshare/projects/{}", project.id)).token(ADMIN).send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["id"].clone(), r.body["name"].clone()), (json!(project.id), json!("Labs")));
    assert_eq!(r.body["policies"][0]["id"], json!(project.policy), "{}", r.text);
    assert_eq!(r.body["blueprints"][0]["id"], json!(project.blueprint), "{}", r.text);
    let member = &r.body["members"][0];
    assert_eq!(
        (member["vup_id"].clone(), member["can_instruct"].clone()),
        (json!(project.instructor.vup), json!(true))
    );
    assert!(!r.text.contains(&project.instructor.api_key), "no API key is shown");
    let r = app.get("/admin/v1/cloudshare/projects/PRnosuchproject").token(ADMIN).send().await;
    r.expect(404, json!({"detail": "Project not found"}));
}

async fn names_and_emails_are_changed_with_the_account(app: TestApp) {
    app.post("/admin/v1/partners")
        .token(ADMIN)
        .json(json!({"name": "Ada", "email": "ada@example.com", "password": "pw-ada"}))
        .send()
        .await;
    app.post("/admin/v1/students")
        .token(ADMIN)
        .json(json!({"name": "Bo", "email": "bo@example.com", "password": "pw-bo"}))
        .send()
        .await;
    let r = app
        .patch("/admin/v1/users/1")
        .token(ADMIN)
        .json(json!({"name": " Ada L ", "email": "ADA@new.example"}))
        .send()
        .await;
    r.expect(200, user(1, "partner", "Ada L", "ADA@new.example"));
    // The account signs in with the new email, not the old one.
    let login = |email: &str| json!({"email": email, "password": "pw-ada"});
    assert_eq!(app.post("/user/login").json(login("ada@new.example")).send().await.status, 200);
    assert_eq!(app.post("/user/login").json(login("ada@example.com")).send().await.status, 401);
    let r = app.patch("/admin/v1/users/1").token(ADMIN).json(json!({"email": "bo@example.com"})).send().await;
    r.expect(409, json!({"detail": "email already exists"}));
    let r = app
        .patch("/admin/v1/users/1")
        .token(ADMIN)
        .json(json!({"name": " ", "email": "nope", "disabled": "maybe"}))
        .send()
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    app.patch("/admin/v1/users/9")
        .token(ADMIN)
        .json(json!({"name": "X"}))
        .send()
        .await
        .expect(404, json!({"detail": "User not found"}));
    app.get("/admin/v1/users/1").token(ADMIN).send().await.expect(200, user(1, "partner", "Ada L", "ADA@new.example"));
}

async fn tokens_are_rotated(app: TestApp) {
    let p = app.partner().await;
    let r = app.post("/admin/v1/users/1/token").token(ADMIN).send().await;
    r.expect(201, json!({"id": 1, "token": "$any"}));
    let fresh = r.body["token"].as_str().unwrap().to_string();
    assert!(fresh.starts_with("chk_") && fresh != p.token);
    app.get("/partner/1/classes").token(&p.token).send().await.expect(401, json!({"detail": "unauthorized"}));
    assert_eq!(app.get("/partner/1/classes").token(&fresh).send().await.status, 200);
    app.post("/admin/v1/users/7/token").token(ADMIN).send().await.expect(404, json!({"detail": "User not found"}));
}

async fn deleting_a_user_frees_their_seats(app: TestApp) {
    let p = app.partner().await;
    let s = app.student().await;
    let class = app.class(&p, json!({"name": "One seat", "capacity": 1})).await;
    let code = class["invite_codes"][0]["code"].as_str().unwrap().to_string();
    assert_eq!(app.redeem(&s, &code).await.status, 201);
    let other = app.person("students", "Oz", "oz@example.com").await;
    app.redeem(&other, &code).await.expect(409, json!({"detail": "class is full"}));
    let r = app.delete(&format!("/admin/v1/users/{}", s.id)).token(ADMIN).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    app.get(&format!("/admin/v1/users/{}", s.id))
        .token(ADMIN)
        .send()
        .await
        .expect(404, json!({"detail": "User not found"}));
    assert_eq!(app.redeem(&other, &code).await.status, 201);
    // A partner goes with their classes.
    let r = app.delete(&format!("/admin/v1/users/{}", p.id)).token(ADMIN).send().await;
    assert_eq!(r.status, 204);
    let r = app.get("/admin/v1/users").token(ADMIN).send().await;
    assert_eq!(r.body["total"], json!(1), "{}", r.text);
    app.delete("/admin/v1/users/99").token(ADMIN).send().await.expect(404, json!({"detail": "User not found"}));
}

async fn cloudshare_catalogs_are_changed_and_deleted(app: TestApp) {
    let p = app.cs_project("Labs").await;
    let at = |rest: &str| format!("/admin/v1/cloudshare/projects/{}{rest}", p.id);
    let patch = |path: String, body: serde_json::Value| app.patch(&path).token(ADMIN).json(body).send();
    let delete = |path: String| app.delete(&path).token(ADMIN).send();
    patch(at(""), json!({"name": "Labs 2"}))
        .await
        .expect(200, json!({"id": p.id, "name": "Labs 2", "is_active": true}));
    let policy = at(&format!("/policies/{}", p.policy));
    patch(policy.clone(), json!({"name": "1 hour", "default_duration_minutes": 60})).await.expect(
        200,
        json!({"id": p.policy, "name": "1 hour", "default_duration_minutes": 60, "allow_environment_creation": true}),
    );
    let r = patch(policy.clone(), json!({"default_duration_minutes": 0})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let blueprint = at(&format!("/blueprints/{}", p.blueprint));
    patch(blueprint.clone(), json!({"description": null}))
        .await
        .expect(200, json!({"id": p.blueprint, "name": "Linux lab", "description": null, "token": p.blueprint_token}));
    let field = app
        .admin_post(&at("/custom-fields"), json!({"name": "Cost centre", "order": 1, "type": 0, "is_required": false}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let field_path = at(&format!("/custom-fields/{field}"));
    let r = patch(field_path.clone(), json!({"regex": "["})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    patch(field_path.clone(), json!({"is_required": true, "regex": "^[0-9]+$", "default_value": "42"})).await.expect(
        200,
        json!({"id": field, "name": "Cost centre", "order": 1, "type": 0, "is_required": true,
               "regex": "^[0-9]+$", "default_value": "42"}),
    );
    let member = at(&format!("/members/{}", p.instructor.vup));
    let r = patch(member.clone(), json!({"can_manage": true})).await;
    r.expect(
        200,
        json!({"vup_id": p.instructor.vup, "user_id": "$any", "name": "Ida Instructor", "email": "ida@Labs.example",
               "can_instruct": true, "can_manage": true}),
    );
    // Entries are found only in their own project.
    let other = app.cs_project("Other").await;
    let r = patch(format!("/admin/v1/cloudshare/projects/{}/policies/{}", other.id, p.policy), json!({})).await;
    r.expect(404, json!({"detail": "Policy not found"}));
    delete(at("/policies/POnope")).await.expect(404, json!({"detail": "Policy not found"}));

    // What a class uses cannot go; a disabled project takes no new class.
    let class =
        crate::cloudshare::create_class(&app, &p, json!({"customFieldsValues": [{"id": field, "value": "7"}]})).await;
    delete(policy.clone()).await.expect(409, json!({"detail": "policy is used by 1 class(es)"}));
    delete(blueprint.clone()).await.expect(409, json!({"detail": "blueprint is used by 1 class(es)"}));
    delete(at("")).await.expect(409, json!({"detail": "project is used by 1 class(es)"}));
    patch(at(""), json!({"is_active": false}))
        .await
        .expect(200, json!({"id": p.id, "name": "Labs 2", "is_active": false}));
    let creatable = || app.get("/api/v3/projects?WhereUserCanCreateClass=true").signed(&p.instructor).send();
    creatable().await.expect(200, json!([]));
    let body = crate::cloudshare::class_body(&p, json!({"customFieldsValues": [{"id": field, "value": "7"}]}));
    let r = app.post("/api/v3/class").json(body).signed(&p.instructor).send().await;
    assert_eq!((r.status, r.body["message"].as_str().unwrap_or("").contains("not active")), (400, true), "{}", r.text);
    patch(at(""), json!({"is_active": true})).await;
    assert_eq!(creatable().await.body.as_array().map(Vec::len), Some(1));

    // A custom field and a member go; the class stays and no longer shows the field.
    assert_eq!(delete(field_path.clone()).await.status, 204);
    let class_path = format!("/api/v3/class/{}", class["id"].as_str().unwrap());
    let r = app.get(&class_path).signed(&p.instructor).send().await;
    assert_eq!((r.status, r.body["customFieldsValues"].clone()), (200, json!([])), "{}", r.text);
    assert_eq!(delete(member.clone()).await.status, 204);
    app.get("/api/v3/projects").signed(&p.instructor).send().await.expect(200, json!([]));
    delete(member).await.expect(404, json!({"detail": "Project member not found"}));
    let r = app.get(&at("")).token(ADMIN).send().await;
    assert_eq!((r.body["members"].clone(), r.body["custom_fields"].clone()), (json!([]), json!([])), "{}", r.text);

    // Without its class, the project goes with all it holds.
    let manager = app.cs_manager(&p.id, "Max Manager", "max@labs.example").await;
    let r = app.call(http::Method::DELETE, &class_path).signed(&manager).send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(delete(policy).await.status, 204);
    assert_eq!(delete(at("")).await.status, 204);
    app.get(&at("")).token(ADMIN).send().await.expect(404, json!({"detail": "Project not found"}));
    delete(blueprint).await.expect(404, json!({"detail": "Blueprint not found"}));
}

async fn models_leave_the_catalog_and_their_classes(app: TestApp) {
    let a = app.partner().await;
    let (m1, m2) = (app.model("first").await, app.model("second").await);
    let class =
        app.class(&a, json!({"name": "Two models", "primary_model_id": m1, "allowed_model_ids": [m1, m2]})).await;
    let class_path = format!("/partner/{}/classes/{}", a.id, class["id"]);
    let etag = |r: &crate::support::Resp| r.header("etag").map(str::to_string);
    let before = etag(&app.get(&class_path).token(&a.token).send().await);
    let r = app.delete(&format!("/admin/v1/models/{m1}")).token(ADMIN).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let r = app.get(&class_path).token(&a.token).send().await;
    assert_eq!((r.body["primary_model_id"].clone(), r.body["allowed_model_ids"].clone()), (json!(m2), json!([m2])));
    assert_ne!(etag(&r), before, "a new version of the class");
    let r = app.get(&format!("{class_path}/history")).token(&a.token).send().await;
    assert_eq!(r.body["items"][0]["action"], json!("class.update"), "{}", r.text);
    app.get(&format!("/admin/v1/models/{m1}"))
        .token(ADMIN)
        .send()
        .await
        .expect(404, json!({"detail": "Model not found"}));
    let r = app.delete(&format!("/admin/v1/models/{m1}")).token(ADMIN).send().await;
    r.expect(404, json!({"detail": "Model not found"}));
    let r = app.delete(&format!("/admin/v1/models/{m2}")).token(ADMIN).send().await;
    assert_eq!(r.status, 204);
    let r = app.get(&class_path).token(&a.token).send().await;
    assert_eq!((r.body["primary_model_id"].clone(), r.body["allowed_model_ids"].clone()), (json!(null), json!([])));
}

engine_tests!(
    creates_people_models_and_courses,
    courses_need_a_partner,
    bodies_are_validated,
    tokens_can_be_revoked,
    admin_token_is_required,
    users_are_listed_filtered_and_shown,
    a_disabled_user_has_no_working_credential,
    names_and_emails_are_changed_with_the_account,
    tokens_are_rotated,
    a_disabled_cloudshare_member_cannot_sign,
    cloudshare_api_keys_are_rotated,
    courses_and_models_are_looked_after,
    cloudshare_projects_are_listed_and_shown,
    deleting_a_user_frees_their_seats,
    cloudshare_catalogs_are_changed_and_deleted,
    models_leave_the_catalog_and_their_classes,
);
