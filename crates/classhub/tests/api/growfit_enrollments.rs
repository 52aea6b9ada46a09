//! GrowFit parity for invite codes, enrollments, the student side and a partner's students:
//! every route's status and whole body, and the refusals of bad input in the original's
//! status and words, with nothing changed (the audit history says so).

use serde_json::{Value, json};

use crate::engine_tests;
use crate::support::{Person, TestApp};

fn enrollment(id: &Value, class_id: &Value, student: &Person, code_id: &Value, status: &str) -> Value {
    json!({"id": id, "class_id": class_id, "student_id": student.id, "invite_code_id": code_id, "status": status,
           "enrolled_at": "$ts", "completed_at": null})
}

fn students(p: &Person) -> String {
    format!("/partner/{}/student", p.id)
}

fn validation(kind: &str, loc: Value, msg: &str, input: Value, ctx: Option<Value>) -> Value {
    let mut item = json!({"type": kind, "loc": loc, "msg": msg, "input": input});
    if let Some(ctx) = ctx {
        item["ctx"] = ctx;
    }
    item
}

fn value_error(field: &str, error: &str, input: Value) -> Value {
    validation(
        "value_error",
        json!(["body", field]),
        &format!("Value error, {error}"),
        input,
        Some(json!({"error": error})),
    )
}

async fn redeem_answers_an_enrollment(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "Six", "capacity": 3})).await;
    let code = &c["invite_codes"][0];
    let value = code["code"].as_str().unwrap();
    assert_eq!(value.len(), 6, "GrowFit's six boxes");
    let s = app.student().await;
    // Codes as typed: any case, spaces and dashes.
    let typed = format!(" {}-{} ", value[..3].to_lowercase(), &value[3..]);
    let r = app.redeem(&s, &typed).await;
    r.expect(201, enrollment(&json!("$any"), &c["id"], &s, &code["id"], "active"));
    let first = r.body.clone();
    // A repeat (GrowFit's dashboard sends two per click) answers the same enrollment and
    // consumes no use.
    app.redeem(&s, value).await.expect(200, first.clone());

    // The original's refusals: what cannot be a code, and a code that names nothing.
    let other = app.person("students", "Otto", "otto@example.com").await;
    let format = json!({"detail": "invalid_code_format"});
    for bad in ["ABCDEFG", "ABCDE", "ABCDE1", "", "ABCDEFGH"] {
        app.redeem(&other, bad).await.expect(400, format.clone());
    }
    app.redeem(&other, "ZZZZZZ").await.expect(400, json!({"detail": "invalid_or_expired_code"}));
    let url = "/user/class/invites/redeem";
    let r = app.post(url).token(&other.token).json(json!({"code": 5})).send().await;
    r.expect(422, json!({"detail": [validation("string_type", json!(["body", "code"]), "Input should be a valid string", json!(5), None)]}));
    let r = app.post(url).token(&other.token).json(json!({})).send().await;
    r.expect(
        422,
        json!({"detail": [validation("missing", json!(["body", "code"]), "Field required", json!({}), None)]}),
    );
    let r =
        app.post(url).token(&other.token).raw(b"{\"code\": ").header("content-type", "application/json").send().await;
    assert_eq!((r.status, &r.body["detail"][0]["type"]), (422, &json!("json_invalid")), "{}", r.text);
    app.post(url).json(json!({"code": value})).send().await.expect(401, json!({"detail": "unauthorized"}));
    // Nothing of that changed anything.
    let r = app.get(&format!("/partner/{}/classes/{}", p.id, c["id"])).token(&p.token).send().await;
    assert_eq!(r.body["invite_codes"][0]["used_count"], 1);
    assert_eq!(
        app.actions(&p, c["id"].as_i64().unwrap()).await,
        ["class.create", "invite_code.create", "membership.create"]
    );

    // The partner's own token redeems too, as GrowFit's front end does after creating a class.
    let r = app.redeem(&p, value).await;
    r.expect(201, enrollment(&json!("$any"), &c["id"], &p, &code["id"], "active"));
    assert_eq!(app.redeem(&other, value).await.status, 201);
    app.redeem(&app.student().await, value).await.expect(409, json!({"detail": "class is full"}));
    app.patch(&format!("/partner/{}/classes/{}", p.id, c["id"]))
        .token(&p.token)
        .json(json!({"status": "ended"}))
        .send()
        .await;
    app.redeem(&app.student().await, value).await.expect(409, json!({"detail": "class has ended"}));
}

async fn a_students_classes_and_leaving(app: TestApp) {
    let p = app.partner().await;
    let model = app.model("gpt-4o-mini").await;
    let course = app.course(&p).await;
    let c = app
        .class(
            &p,
            json!({"name": "Evening", "start_at": "2030-03-02T19:00:00Z", "end_at": "2030-03-09T19:00:00Z",
                   "course_id": course, "allowed_model_ids": [model]}),
        )
        .await;
    let bare = app.class(&p, json!({"name": "Bare"})).await;
    let s = app.student().await;
    let e1 = app.redeem(&s, c["invite_codes"][0]["code"].as_str().unwrap()).await.body["id"].clone();
    let e2 = app.redeem(&s, bare["invite_codes"][0]["code"].as_str().unwrap()).await.body["id"].clone();
    let item = |e: &Value, class: &Value, status: &str| {
        json!({"enrollment_id": e, "class_id": class["id"], "class_title": class["name"],
               "primary_model_id": class["primary_model_id"], "allowed_model_ids": class["allowed_model_ids"],
               "course_title": if class["course_id"].is_null() { json!(null) } else { json!("Course") },
               "org_name": null, "teacher_name": "Pat Partner", "class_start_at": class["start_at"],
               "class_end_at": class["end_at"], "enrollment_status": status, "enrolled_at": "$ts",
               "completed_at": null, "last_activity_at": null})
    };
    assert_eq!(c["primary_model_id"], json!(model));
    let r = app.get("/user/classes").token(&s.token).send().await;
    r.expect(
        200,
        json!({"items": [item(&e2, &bare, "active"), item(&e1, &c, "active")], "total": 2, "page": 1, "size": 50}),
    );
    let r = app.get("/user/classes?limit=1&offset=1").token(&s.token).send().await;
    r.expect(200, json!({"items": [item(&e1, &c, "active")], "total": 2, "page": 2, "size": 1}));

    // Dropped enrollments are left out unless asked for; completed ones are listed.
    let drop = format!("{}/enrollments/{}/drop", students(&p), e2);
    assert_eq!(app.post(&drop).token(&p.token).send().await.status, 200);
    let complete = format!("{}/enrollments/{}/complete", students(&p), e1);
    let done = app.post(&complete).token(&p.token).send().await;
    assert_eq!((done.status, &done.body["status"]), (200, &json!("completed")));
    let r = app.get("/user/classes").token(&s.token).send().await;
    let mut completed = item(&e1, &c, "completed");
    completed["completed_at"] = json!("$ts");
    r.expect(200, json!({"items": [completed.clone()], "total": 1, "page": 1, "size": 50}));
    let r = app.get("/user/classes?status=dropped").token(&s.token).send().await;
    r.expect(200, json!({"items": [item(&e2, &bare, "dropped")], "total": 1, "page": 1, "size": 50}));
    let r = app.get("/user/classes?status=gone&limit=0").token(&s.token).send().await;
    let expected = "'active', 'inactive', 'completed' or 'dropped'";
    r.expect(422, json!({"detail": [
        validation("enum", json!(["query", "status"]), &format!("Input should be {expected}"), json!("gone"), Some(json!({"expected": expected}))),
        validation("greater_than_equal", json!(["query", "limit"]), "Input should be greater than or equal to 1", json!("0"), Some(json!({"ge": 1}))),
    ]}));

    // Leaving: one's own enrollment only; the seat is free again.
    let other = app.person("students", "Otto", "otto@example.com").await;
    let leave = format!("/user/class/enrollments/{e1}");
    let not_found = json!({"detail": "enrollment not found"});
    app.delete(&leave).token(&other.token).send().await.expect(404, not_found.clone());
    app.delete(&leave).token(&p.token).send().await.expect(404, not_found.clone());
    app.delete("/user/class/enrollments/999999").token(&s.token).send().await.expect(404, not_found.clone());
    app.delete("/user/class/enrollments/abc").token(&s.token).send().await.expect(
        422,
        json!({"detail": [validation("int_parsing", json!(["path", "enrollment_id"]),
            "Input should be a valid integer, unable to parse string as an integer", json!("abc"), None)]}),
    );
    let r = app.delete(&leave).token(&s.token).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    app.delete(&leave).token(&s.token).send().await.expect(404, not_found);
    app.get("/user/classes")
        .token(&s.token)
        .send()
        .await
        .expect(200, json!({"items": [], "total": 0, "page": 1, "size": 50}));
    assert_eq!(
        app.actions(&p, c["id"].as_i64().unwrap()).await,
        ["class.create", "invite_code.create", "membership.create", "membership.update", "membership.delete"]
    );
    // The classic route stays: leaving by class.
    let r = app.delete(&format!("/user/classes/{}", bare["id"])).token(&s.token).send().await;
    assert_eq!(r.status, 204);
}

async fn a_partners_students(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "Alpha", "capacity": 2})).await;
    let c2 = app.class(&p, json!({"name": "Beta", "capacity": 1})).await;
    let s = app.student().await;
    let e = app.redeem(&s, c["invite_codes"][0]["code"].as_str().unwrap()).await.body.clone();
    let base = students(&p);
    let record = |fields: Value| {
        let mut r = json!({"id": s.id, "partner_id": p.id, "full_name": "Sam Student", "email": "sam@example.com",
                           "status": "active", "joined_at": "$ts", "primary_contact": null, "notes": null, "user_id": s.id});
        for (k, v) in fields.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    app.get(&base).token(&p.token).send().await.expect(200, json!([record(json!({}))]));
    app.get(&format!("{base}/stats")).token(&p.token).send().await.expect(
        200,
        json!({"total_students": 1, "active_students": 1, "completed_students": 0, "engagement_rate": "100.0"}),
    );
    app.get(&format!("{base}/detail")).token(&p.token).send().await.expect(
        200,
        json!([{"id": s.id, "partner_id": p.id, "full_name": "Sam Student", "email": "sam@example.com",
                "status": "active", "joined_at": "$ts", "primary_contact": null, "user_id": s.id,
                "enrollments": [{"enrollment_id": e["id"], "class_id": c["id"], "class_name": "Alpha", "enrollment_status": "active"}],
                "conversation_count": 0, "total_cost": "0", "last_activity_at": null}]),
    );
    let one = format!("{base}/{}", s.id);
    app.get(&one).token(&p.token).send().await.expect(200, record(json!({})));
    app.get(&format!("{base}/999999")).token(&p.token).send().await.expect(404, json!({"detail": "student not found"}));

    // Changes, and the original's refusals of bad ones (nothing changes).
    let r = app
        .patch(&one)
        .token(&p.token)
        .json(json!({"full_name": "Sam S", "primary_contact": "010-1234", "notes": "keen", "user_id": s.id}))
        .send()
        .await;
    r.expect(200, record(json!({"full_name": "Sam S", "primary_contact": "010-1234", "notes": "keen"})));
    app.patch(&one)
        .token(&p.token)
        .json(json!({"full_name": null}))
        .send()
        .await
        .expect(409, json!({"detail": "student conflict within partner"}));
    let expected = "'active', 'inactive' or 'archived'";
    app.patch(&one).token(&p.token).json(json!({"status": "gone", "email": "bad"})).send().await.expect(
        422,
        json!({"detail": [
            value_error("email", "value is not a valid email address", json!("bad")),
            validation("enum", json!(["body", "status"]), &format!("Input should be {expected}"), json!("gone"), Some(json!({"expected": expected}))),
        ]}),
    );
    app.patch(&one)
        .token(&p.token)
        .json(json!({"user_id": 999}))
        .send()
        .await
        .expect(422, json!({"detail": [value_error("user_id", "cannot be changed", json!(999))]}));
    let changed = record(json!({"full_name": "Sam S", "primary_contact": "010-1234", "notes": "keen"}));
    app.get(&one).token(&p.token).send().await.expect(200, changed.clone());
    let mut inactive = changed.clone();
    inactive["status"] = json!("inactive");
    app.post(&format!("{one}/deactivate")).token(&p.token).send().await.expect(200, inactive);
    let mut archived = changed.clone();
    archived["status"] = json!("archived");
    app.post(&format!("{one}/archive")).token(&p.token).send().await.expect(200, archived.clone());
    app.get(&format!("{base}?status=archived&q=SAM%20s")).token(&p.token).send().await.expect(200, json!([archived]));
    app.get(&format!("{base}?q=nobody")).token(&p.token).send().await.expect(200, json!([]));
    app.get(&format!("{base}?limit=501")).token(&p.token).send().await.expect(
        422,
        json!({"detail": [validation("less_than_equal", json!(["query", "limit"]), "Input should be less than or equal to 500", json!("501"), Some(json!({"le": 500})))]}),
    );

    // Enrollments: listed, added (an existing one answers as it is), changed.
    let enrollments = format!("{one}/enrollments");
    let first = enrollment(&e["id"], &c["id"], &s, &c["invite_codes"][0]["id"], "active");
    app.get(&enrollments).token(&p.token).send().await.expect(200, json!([first.clone()]));
    let r = app.post(&enrollments).token(&p.token).json(json!({"class_id": c2["id"], "student_id": s.id})).send().await;
    r.expect(201, enrollment(&json!("$any"), &c2["id"], &s, &Value::Null, "active"));
    let second = r.body.clone();
    app.post(&enrollments)
        .token(&p.token)
        .json(json!({"class_id": c2["id"], "student_id": s.id}))
        .send()
        .await
        .expect(200, second.clone());
    let r = app.post(&enrollments).token(&p.token).json(json!({})).send().await;
    r.expect(
        422,
        json!({"detail": [
            validation("missing", json!(["body", "class_id"]), "Field required", json!({}), None),
            validation("missing", json!(["body", "student_id"]), "Field required", json!({}), None),
        ]}),
    );
    let statuses = "'active', 'inactive', 'completed' or 'dropped'";
    let r = app
        .post(&enrollments)
        .token(&p.token)
        .json(json!({"class_id": c2["id"], "student_id": s.id, "status": "paused"}))
        .send()
        .await;
    r.expect(422, json!({"detail": [validation("enum", json!(["body", "status"]), &format!("Input should be {statuses}"), json!("paused"), Some(json!({"expected": statuses})))]}));
    // A class without a free seat.
    let other = app.person("students", "Otto", "otto@example.com").await;
    assert_eq!(app.redeem(&other, c["invite_codes"][0]["code"].as_str().unwrap()).await.status, 201);
    app.post(&format!("{base}/{}/enrollments", other.id))
        .token(&p.token)
        .json(json!({"class_id": c2["id"], "student_id": other.id}))
        .send()
        .await
        .expect(409, json!({"detail": "class is full"}));

    let one_enrollment = |id: &Value| format!("{base}/enrollments/{id}");
    let r = app.patch(&one_enrollment(&e["id"])).token(&p.token).json(json!({"status": "inactive"})).send().await;
    r.expect(200, enrollment(&e["id"], &c["id"], &s, &c["invite_codes"][0]["id"], "inactive"));
    let r = app
        .patch(&one_enrollment(&e["id"]))
        .token(&p.token)
        .json(json!({"class_id": 999, "status": null}))
        .send()
        .await;
    r.expect(422, json!({"detail": [value_error("class_id", "cannot be changed", json!(999)), value_error("status", "must not be null", Value::Null)]}));
    let r = app
        .patch(&one_enrollment(&e["id"]))
        .token(&p.token)
        .json(json!({"enrolled_at": "2030-01-02T00:00:00Z", "completed_at": "2030-01-01T00:00:00Z"}))
        .send()
        .await;
    r.expect(422, json!({"detail": [value_error("completed_at", "must not be before enrolled_at", json!("2030-01-01T00:00:00Z"))]}));
    let r = app.post(&format!("{}/complete", one_enrollment(&e["id"]))).token(&p.token).send().await;
    let mut done = enrollment(&e["id"], &c["id"], &s, &c["invite_codes"][0]["id"], "completed");
    done["completed_at"] = json!("$ts");
    r.expect(200, done);
    app.get(&format!("{base}/stats")).token(&p.token).send().await.expect(
        200,
        json!({"total_students": 2, "active_students": 1, "completed_students": 1, "engagement_rate": "50.0"}),
    );
    let r = app.post(&format!("{}/drop", one_enrollment(&second["id"]))).token(&p.token).send().await;
    r.expect(200, enrollment(&second["id"], &c2["id"], &s, &Value::Null, "dropped"));
    let r = app.get(&format!("{enrollments}?status=dropped")).token(&p.token).send().await;
    r.expect(200, json!([enrollment(&second["id"], &c2["id"], &s, &Value::Null, "dropped")]));
    let r = app.delete(&one_enrollment(&second["id"])).token(&p.token).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let not_found = json!({"detail": "enrollment not found"});
    app.delete(&one_enrollment(&second["id"])).token(&p.token).send().await.expect(404, not_found.clone());
    app.post(&format!("{}/drop", one_enrollment(&json!(999999)))).token(&p.token).send().await.expect(404, not_found);

    // Deleting the student takes their enrollments in the partner's classes.
    let r = app.delete(&one).token(&p.token).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    app.get(&one).token(&p.token).send().await.expect(404, json!({"detail": "student not found"}));
    app.delete(&one).token(&p.token).send().await.expect(404, json!({"detail": "student not found"}));
    app.get("/user/classes?status=completed")
        .token(&s.token)
        .send()
        .await
        .expect(200, json!({"items": [], "total": 0, "page": 1, "size": 50}));
    assert_eq!(
        app.actions(&p, c["id"].as_i64().unwrap()).await,
        [
            "class.create",
            "invite_code.create",
            "membership.create",
            "membership.create",
            "membership.update",
            "membership.update",
            "membership.delete"
        ]
    );
    assert_eq!(
        app.actions(&p, c2["id"].as_i64().unwrap()).await,
        ["class.create", "invite_code.create", "membership.create", "membership.update", "membership.delete"]
    );
}

/// Another partner's students, classes and enrollments are not found, as absent ones; the
/// callers the routes are not for are refused in GrowFit's words; nothing changes.
async fn other_partners_are_strangers(app: TestApp) {
    let p = app.partner().await;
    let q = app.person("partners", "Quinn", "quinn@example.com").await;
    let mine = app.class(&p, json!({"name": "Mine"})).await;
    let theirs = app.class(&q, json!({"name": "Theirs-secret"})).await;
    let s = app.student().await;
    let t = app.person("students", "Tia", "tia@example.com").await;
    let e = app.redeem(&s, mine["invite_codes"][0]["code"].as_str().unwrap()).await.body.clone();
    let te = app.redeem(&t, theirs["invite_codes"][0]["code"].as_str().unwrap()).await.body.clone();
    let base = students(&p);
    let student_nf = json!({"detail": "student not found"});
    let enrollment_nf = json!({"detail": "enrollment not found"});
    // Their student under one's own path.
    app.get(&format!("{base}/{}", t.id)).token(&p.token).send().await.expect(404, student_nf.clone());
    app.patch(&format!("{base}/{}", t.id))
        .token(&p.token)
        .json(json!({"notes": "x"}))
        .send()
        .await
        .expect(404, student_nf.clone());
    app.post(&format!("{base}/{}/archive", t.id)).token(&p.token).send().await.expect(404, student_nf.clone());
    app.delete(&format!("{base}/{}", t.id)).token(&p.token).send().await.expect(404, student_nf.clone());
    app.get(&format!("{base}/{}/enrollments", t.id)).token(&p.token).send().await.expect(404, student_nf.clone());
    // One's own student into their class; their enrollment.
    let r = app
        .post(&format!("{base}/{}/enrollments", s.id))
        .token(&p.token)
        .json(json!({"class_id": theirs["id"], "student_id": s.id}))
        .send()
        .await;
    r.expect(404, json!({"detail": "Class not found"}));
    let their_enrollment = format!("{base}/enrollments/{}", te["id"]);
    app.patch(&their_enrollment)
        .token(&p.token)
        .json(json!({"status": "inactive"}))
        .send()
        .await
        .expect(404, enrollment_nf.clone());
    app.post(&format!("{their_enrollment}/complete")).token(&p.token).send().await.expect(404, enrollment_nf.clone());
    app.post(&format!("{their_enrollment}/drop")).token(&p.token).send().await.expect(404, enrollment_nf.clone());
    app.delete(&their_enrollment).token(&p.token).send().await.expect(404, enrollment_nf.clone());
    // Their path; a student's token; no token.
    let theirs_path = format!("{}/{}", students(&q), t.id);
    app.get(&theirs_path).token(&p.token).send().await.expect(403, json!({"detail": "forbidden"}));
    app.get(&base).token(&s.token).send().await.expect(403, json!({"detail": "not_a_partner"}));
    let r = app.get(&base).send().await;
    r.expect(401, json!({"detail": "unauthorized"}));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // Their students are not in one's lists.
    let r = app.get(&format!("{base}/detail")).token(&p.token).send().await;
    assert!(!r.text.contains("Theirs-secret") && !r.text.contains("tia@example.com"), "{}", r.text);
    // Nothing changed.
    let q_view = app.get(&format!("{}/{}", students(&q), t.id)).token(&q.token).send().await;
    assert_eq!((q_view.status, &q_view.body["status"], &q_view.body["notes"]), (200, &json!("active"), &json!(null)));
    let r = app.get(&format!("{}/{}/enrollments", students(&q), t.id)).token(&q.token).send().await;
    r.expect(200, json!([enrollment(&te["id"], &theirs["id"], &t, &theirs["invite_codes"][0]["id"], "active")]));
    assert_eq!(
        app.actions(&q, theirs["id"].as_i64().unwrap()).await,
        ["class.create", "invite_code.create", "membership.create"]
    );
    assert_eq!(
        app.actions(&p, mine["id"].as_i64().unwrap()).await,
        ["class.create", "invite_code.create", "membership.create"]
    );
    assert_eq!(e["status"], "active");
}

engine_tests!(
    redeem_answers_an_enrollment,
    a_students_classes_and_leaving,
    a_partners_students,
    other_partners_are_strangers
);
