//! Text that one engine could store and the other could not: a NUL character anywhere
//! (PostgreSQL refuses it), and text longer than a field's documented limit (a unique index
//! on PostgreSQL holds about 2,700 bytes). Every dialect refuses both, on both engines, in
//! its own envelope, and nothing changes.

use serde_json::{Value, json};

use crate::engine_tests;
use crate::ocariot::World;
use crate::support::{ADMIN, TestApp};

const NUL: &str = "a\u{0}b";

fn fastapi_nul(field: &str, input: &str) -> Value {
    json!({"detail": [{"type": "value_error", "loc": ["body", field],
        "msg": "Value error, must not contain the NUL character", "input": input,
        "ctx": {"error": "must not contain the NUL character"}}]})
}

async fn partner_refuses_nul(app: TestApp) {
    let p = app.partner().await;
    let class = app.class(&p, json!({"name": "Kept"})).await;
    let url = format!("/partner/{}/classes/{}", p.id, class["id"]);
    let r = app.post(&format!("/partner/{}/classes", p.id)).token(&p.token).json(json!({"name": NUL})).send().await;
    r.expect(422, fastapi_nul("name", NUL));
    for field in ["description", "location"] {
        let r = app.patch(&url).token(&p.token).json(json!({ field: NUL })).send().await;
        r.expect(422, fastapi_nul(field, NUL));
    }
    let url_nul = "https://example.com/\u{0}";
    let r = app.patch(&url).token(&p.token).json(json!({"online_url": url_nul})).send().await;
    r.expect(422, fastapi_nul("online_url", url_nul));
    let zone = "Asia/Seoul\u{0}";
    let r = app.patch(&url).token(&p.token).json(json!({"timezone": zone})).send().await;
    r.expect(
        422,
        json!({"detail": [{"type": "value_error", "loc": ["body", "timezone"],
            "msg": "Value error, unknown time zone \"Asia/Seoul\\0\"", "input": zone,
            "ctx": {"error": "unknown time zone \"Asia/Seoul\\0\""}}]}),
    );
    // A code with a NUL cannot be a code: GrowFit's 400, as any malformed code.
    let s = app.student().await;
    app.redeem(&s, "ABCD\u{0}EFG").await.expect(400, json!({"detail": "invalid_code_format"}));
    // Nothing of that changed the class.
    assert_eq!(app.actions(&p, class["id"].as_i64().unwrap()).await, ["class.create", "invite_code.create"]);
    let r = app.get(&url).token(&p.token).send().await;
    assert_eq!((r.status, &r.body["description"], r.header("etag")), (200, &Value::Null, Some("\"1\"")));
}

async fn admin_refuses_nul(app: TestApp) {
    let cases = [
        ("/admin/v1/partners", json!({"name": NUL, "email": "a@example.com"}), "name"),
        ("/admin/v1/students", json!({"name": "Ann", "email": "a\u{0}@example.com"}), "email"),
        ("/admin/v1/models", json!({"name": "m", "provider": NUL}), "provider"),
        ("/admin/v1/cloudshare/projects", json!({"name": NUL}), "name"),
    ];
    for (path, body, field) in cases {
        let r = app.post(path).token(ADMIN).json(body.clone()).send().await;
        assert_eq!(r.status, 422, "{path}: {}", r.text);
        assert_eq!(r.body["detail"][0]["loc"], json!(["body", field]), "{path}: {}", r.text);
    }
    let p = app.partner().await;
    let r = app.post("/admin/v1/courses").token(ADMIN).json(json!({"partner_id": p.id, "title": NUL})).send().await;
    r.expect(422, fastapi_nul("title", NUL));
    let project =
        app.admin_post("/admin/v1/cloudshare/projects", json!({"name": "P"})).await["id"].as_str().unwrap().to_string();
    let r = app
        .post(&format!("/admin/v1/cloudshare/projects/{project}/blueprints"))
        .token(ADMIN)
        .json(json!({"name": "Linux", "description": NUL}))
        .send()
        .await;
    r.expect(422, fastapi_nul("description", NUL));
}

fn cs_error(message: &str) -> Value {
    json!({"message": message, "code": "0x400"})
}

async fn cloudshare_refuses_nul(app: TestApp) {
    let p = app.cs_project("nul").await;
    let c = &p.instructor;
    let body = |extra: Value| {
        let mut b = json!({"name": "Lab", "projectId": p.id, "blueprintId": p.blueprint, "policyId": p.policy,
            "instructorVupId": c.vup, "startDate": "03/02/2031 09:00 AM", "timeZoneId": "UTC",
            "studentPassphrase": "pw", "limitEarlyAccess": 0});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    for (extra, message) in [
        (json!({"name": NUL}), "name: must not contain the NUL character"),
        (json!({"studentPassphrase": NUL}), "studentPassphrase: must not contain the NUL character"),
        (json!({"address": {"city": NUL}}), "address: must not contain the NUL character"),
        (
            json!({"useCustomInvitationEmail": true, "customInvitationEmailSubject": NUL, "customInvitationEmailBody": "b"}),
            "customInvitationEmailSubject: must not contain the NUL character",
        ),
        (json!({"name": "x".repeat(201)}), "name: must have at most 200 characters"),
    ] {
        let r = app.post("/api/v3/class").signed(c).json(body(extra)).send().await;
        r.expect(400, cs_error(message));
    }
    let r = app.post("/api/v3/class").signed(c).json(body(json!({}))).send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let students = format!("/api/v3/class/{id}/students");
    for (student, message) in [
        (json!({"email": "a\u{0}@example.com"}), "email: must not contain the NUL character"),
        (json!({"email": "a@example.com", "firstName": NUL}), "firstName: must not contain the NUL character"),
        (json!({"email": format!("{}@example.com", "a".repeat(250))}), "email: must have at most 254 characters"),
    ] {
        app.post(&students).signed(c).json(student).send().await.expect(400, cs_error(message));
    }
    let link = json!({"classId": id, "studentEmail": "b\u{0}@example.com", "preRegisterStudent": true});
    let r = app.post("/api/v3/class/sponsoredlink").signed(c).json(link).send().await;
    r.expect(400, cs_error("studentEmail: must not contain the NUL character"));
    let r = app.get("/Class/ab%00cd?token=x").send().await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Nothing registered.
    let r = app.get(&students).signed(c).send().await;
    r.expect(200, json!([]));
}

async fn ocariot_refuses_nul_and_long_names(app: TestApp) {
    let w = World::new(&app).await;
    let kid = w.child("kid").await;
    let (edu, token) = w.owner("educators", "edu").await;
    let groups = format!("/v1/educators/{edu}/children/groups");
    let invalid =
        |d: &str| json!({"code": 400, "message": "One or more request fields are invalid...", "description": d});
    for (body, description) in [
        (json!({"name": NUL, "children": [kid]}), "name must not contain the NUL character!"),
        (json!({"name": "x".repeat(3000), "children": [kid]}), "name must have at most 200 characters!"),
        (
            json!({"name": "ok", "school_class": NUL, "children": [kid]}),
            "school_class must not contain the NUL character!",
        ),
    ] {
        app.post(&groups).token(&token).json(body).send().await.expect(400, invalid(description));
    }
    let r = app.post(&groups).token(&token).json(json!({"name": "Kept", "children": [kid]})).send().await;
    assert_eq!(r.status, 201, "{}", r.text);
    let group = format!("{groups}/{}", r.body["id"].as_str().unwrap());
    let r = app.patch(&group).token(&token).json(json!({"name": NUL})).send().await;
    r.expect(400, invalid("name must not contain the NUL character!"));
    let r = w.post("/v1/institutions", json!({"type": "School", "name": NUL})).await;
    r.expect(400, invalid("name must not contain the NUL character!"));
    let r = w
        .post(
            "/v1/children",
            json!({"username": NUL, "password": "pw", "institution_id": w.institution, "gender": "male", "age": 9}),
        )
        .await;
    r.expect(400, invalid("username must not contain the NUL character!"));
    // Signing in with a name nobody can have is a wrong name, not a fault.
    let r = app.post("/v1/auth").json(json!({"username": NUL, "password": "pw"})).send().await;
    r.expect(401, json!({"code": 401, "message": "Invalid username or password!"}));
    // Nothing changed: one group, named as it was made.
    let r = app.get(&groups).token(&token).send().await;
    assert_eq!((r.status, r.body.as_array().map(Vec::len), &r.body[0]["name"]), (200, Some(1), &json!("Kept")));
}

engine_tests!(partner_refuses_nul, admin_refuses_nul, cloudshare_refuses_nul, ocariot_refuses_nul_and_long_names);
