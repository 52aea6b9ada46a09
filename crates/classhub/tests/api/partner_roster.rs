//! Redeeming invite codes, rosters, and the seat guarantees under concurrency.

use serde_json::{Value, json};

use crate::engine_tests;
use crate::support::{Person, TestApp};

fn enrollment(class_id: &Value, student: &Person, code_id: &Value) -> Value {
    json!({"id": "$any", "class_id": class_id, "student_id": student.id, "invite_code_id": code_id, "status": "active",
           "enrolled_at": "$ts", "completed_at": null})
}

fn invalid_or_expired() -> Value {
    json!({"detail": "invalid_or_expired_code"})
}

fn class_url(p: &Person, class: &Value) -> String {
    format!("/partner/{}/classes/{}", p.id, class["id"])
}

async fn redeem_outcomes(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x", "capacity": 2})).await;
    let code = &c["invite_codes"][0];
    let value = code["code"].as_str().unwrap();
    let s = app.student().await;
    // New member: 201. Case, spaces and dashes do not matter.
    let typed = format!(" {}-{} ", value[..3].to_lowercase(), &value[3..]);
    let r = app.redeem(&s, &typed).await;
    r.expect(201, enrollment(&c["id"], &s, &code["id"]));
    let first = r.body.clone();
    // Already a member: 200 with the same enrollment, no use consumed.
    app.redeem(&s, value).await.expect(200, first.clone());
    let r = app.get(&class_url(&p, &c)).token(&p.token).send().await;
    assert_eq!(r.body["invite_codes"][0]["used_count"], 1);
    // Unknown codes, and what cannot be a code (a length no code has, other characters).
    let other = app.student().await;
    app.redeem(&other, "ZZZZZZ").await.expect(400, invalid_or_expired());
    for bad in ["ZZZZZZZZ", "ZZZZZZZ", "", "0O1I", "ZZZZZ0", &"A".repeat(5000)] {
        app.redeem(&other, bad).await.expect(400, json!({"detail": "invalid_code_format"}));
    }
    // Full.
    let third = app.student().await;
    assert_eq!(app.redeem(&other, value).await.status, 201);
    app.redeem(&third, value).await.expect(409, json!({"detail": "class is full"}));
    // The student sees the class as GrowFit lists it.
    let r = app.get("/user/classes").token(&s.token).send().await;
    assert_eq!((r.status, &r.body["total"], &r.body["items"][0]["class_title"]), (200, &json!(1), &json!("x")));
    assert_eq!(r.body["items"][0].as_object().unwrap().len(), 14);
    let actions = app.actions(&p, 1).await;
    assert_eq!(actions.iter().filter(|a| *a == "membership.create").count(), 2);
}

async fn unusable_codes_and_ended_classes(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let codes = format!("{}/invite-codes", class_url(&p, &c));
    let code = &c["invite_codes"][0];
    let value = code["code"].as_str().unwrap();
    let s = app.student().await;
    app.patch(&format!("{codes}/{}", code["id"])).token(&p.token).json(json!({"status": "disabled"})).send().await;
    app.redeem(&s, value).await.expect(400, invalid_or_expired());
    let r = app.post(&codes).token(&p.token).json(json!({"max_uses": 1})).send().await;
    let once = r.body["code"].as_str().unwrap().to_string();
    assert_eq!(app.redeem(&app.student().await, &once).await.status, 201);
    app.redeem(&s, &once).await.expect(400, invalid_or_expired());
    // An ended class takes nobody, even with a good code; a member still gets 409.
    let r = app.post(&codes).token(&p.token).send().await;
    let open = r.body["code"].as_str().unwrap().to_string();
    assert_eq!(app.redeem(&s, &open).await.status, 201);
    app.patch(&class_url(&p, &c)).token(&p.token).json(json!({"status": "ended"})).send().await;
    app.redeem(&app.student().await, &open).await.expect(409, json!({"detail": "class has ended"}));
    app.redeem(&s, &open).await.expect(409, json!({"detail": "class has ended"}));
    // Codes of a deleted class are gone.
    app.patch(&class_url(&p, &c)).token(&p.token).json(json!({"status": "active"})).send().await;
    app.delete(&class_url(&p, &c)).token(&p.token).send().await;
    app.redeem(&app.student().await, &open).await.expect(400, invalid_or_expired());
}

/// Redeeming takes a student's token or a partner's (a partner's account is also a
/// student's, as in GrowFit): the partner's enrollment takes a seat like anyone's.
async fn redeem_takes_a_student_or_a_partner(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x", "capacity": 2})).await;
    let value = c["invite_codes"][0]["code"].as_str().unwrap();
    let r = app.post("/user/class/invites/redeem").json(json!({"code": value})).send().await;
    r.expect(401, json!({"detail": "unauthorized"}));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let s = app.student().await;
    let r = app.post("/user/class/invites/redeem").token(&s.token).json(json!({"code": 12345678})).send().await;
    r.expect(422, json!({"detail": [{"type": "string_type", "loc": ["body", "code"], "msg": "Input should be a valid string", "input": 12345678}]}));
    let r = app.post("/user/class/invites/redeem").token(&s.token).json(json!({})).send().await;
    r.expect(
        422,
        json!({"detail": [{"type": "missing", "loc": ["body", "code"], "msg": "Field required", "input": {}}]}),
    );
    // Nothing was consumed by any of that.
    let r = app.get(&class_url(&p, &c)).token(&p.token).send().await;
    assert_eq!(r.body["invite_codes"][0]["used_count"], 0);
    app.redeem(&p, value).await.expect(201, enrollment(&c["id"], &p, &c["invite_codes"][0]["id"]));
    let r = app.get("/user/classes").token(&p.token).send().await;
    assert_eq!(
        (r.status, &r.body["total"], &r.body["items"][0]["teacher_name"]),
        (200, &json!(1), &json!("Pat Partner"))
    );
    assert_eq!(app.redeem(&s, value).await.status, 201);
    app.redeem(&app.student().await, value).await.expect(409, json!({"detail": "class is full"}));
    // A student's token does not open the partner API.
    app.get(&format!("/partner/{}/classes", p.id))
        .token(&s.token)
        .send()
        .await
        .expect(403, json!({"detail": "not_a_partner"}));
}

/// Guesses count per student at an address, and per address with ten times the budget:
/// a guesser is refused at their address; they elsewhere, and their neighbours at the same
/// address, are not, until the address itself has guessed its budget away.
async fn failed_redemptions_are_rate_limited(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let value = c["invite_codes"][0]["code"].as_str().unwrap();
    let guesser = app.student().await;
    let redeem = |s: &Person, code: &str, peer: &str| {
        app.post("/user/class/invites/redeem").token(&s.token).peer(peer).json(json!({"code": code}))
    };
    for _ in 0..10 {
        assert_eq!(redeem(&guesser, "WRONGONE", "10.0.0.1:1000").send().await.status, 400);
    }
    let r = redeem(&guesser, value, "10.0.0.1:1001").send().await;
    r.expect(429, json!({"detail": "too many failed redemptions; try again later"}));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((599..=600).contains(&wait), "{wait}");
    assert_eq!(r.header("ratelimit-policy"), Some("\"redeem\";q=10;w=600"));
    assert_eq!(redeem(&guesser, value, "10.0.0.9:1000").send().await.status, 201, "the guesser elsewhere");
    let neighbour = app.student().await;
    assert_eq!(redeem(&neighbour, value, "10.0.0.1:2000").send().await.status, 201, "a neighbour at that address");
    // Successes and "already a member" count nothing.
    for _ in 0..12 {
        assert_eq!(redeem(&neighbour, value, "10.0.0.1:2001").send().await.status, 200);
    }
    // An address whose students have guessed 100 times is refused for anyone.
    for i in 0..9 {
        let s = app.person("students", "S", &format!("s{i}@example.com")).await;
        for _ in 0..10 {
            assert_eq!(redeem(&s, "WRONGONE", "10.0.0.1:3000").send().await.status, 400);
        }
    }
    let late = app.person("students", "Late", "late@example.com").await;
    let r = redeem(&late, value, "10.0.0.1:4000").send().await;
    assert_eq!((r.status, r.header("ratelimit-policy")), (429, Some("\"redeem-address\";q=100;w=600")));
}

async fn rosters(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x", "capacity": 1})).await;
    let code = &c["invite_codes"][0];
    let value = code["code"].as_str().unwrap();
    let a = app.person("students", "Ann", "ann@example.com").await;
    let b = app.person("students", "Ben", "ben@example.com").await;
    assert_eq!(app.redeem(&a, value).await.status, 201);
    app.redeem(&b, value).await.expect(409, json!({"detail": "class is full"}));
    let students = format!("{}/students", class_url(&p, &c));
    let r = app.get(&students).token(&p.token).send().await;
    r.expect(200, json!({"total": 1, "items": [
        {"user_id": a.id, "name": "Ann", "email": "ann@example.com", "role": "student", "joined_at": "$ts", "invite_code_id": code["id"]},
    ], "page": 1, "size": 50}));
    // Removing frees the seat.
    let r = app.delete(&format!("{students}/{}", a.id)).token(&p.token).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    app.delete(&format!("{students}/{}", a.id))
        .token(&p.token)
        .send()
        .await
        .expect(404, json!({"detail": "Student not found"}));
    assert_eq!(app.redeem(&b, value).await.status, 201);
    app.get("/user/classes")
        .token(&a.token)
        .send()
        .await
        .expect(200, json!({"items": [], "total": 0, "page": 1, "size": 50}));
    // Leaving frees it as well.
    let leave = format!("/user/classes/{}", c["id"]);
    let r = app.delete(&leave).token(&b.token).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    app.delete(&leave).token(&b.token).send().await.expect(404, json!({"detail": "Class not found"}));
    app.delete("/user/classes/x").token(&b.token).send().await.expect(422, json!({"detail": [
        {"type": "int_parsing", "loc": ["path", "class_id"], "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "x"}
    ]}));
    assert_eq!(app.redeem(&a, value).await.status, 201);
    let actions = app.actions(&p, 1).await;
    assert_eq!(actions.iter().filter(|x| *x == "membership.create").count(), 3);
    assert_eq!(actions.iter().filter(|x| *x == "membership.delete").count(), 2);
    // Someone else's class roster is not found.
    let stranger = app.person("partners", "S", "s@example.com").await;
    let theirs = format!("/partner/{}/classes/{}/students", stranger.id, c["id"]);
    app.get(&theirs).token(&stranger.token).send().await.expect(404, json!({"detail": "Class not found"}));
    app.delete(&format!("{theirs}/{}", a.id))
        .token(&stranger.token)
        .send()
        .await
        .expect(404, json!({"detail": "Class not found"}));
}

async fn capacity_cannot_drop_below_the_roster(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x", "capacity": 5})).await;
    let value = c["invite_codes"][0]["code"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(app.redeem(&app.student().await, value).await.status, 201);
    }
    let url = class_url(&p, &c);
    let r = app.patch(&url).token(&p.token).json(json!({"capacity": 1})).send().await;
    r.expect(409, json!({"detail": "capacity 1 is below the 2 students already enrolled"}));
    let r = app.patch(&url).token(&p.token).json(json!({"capacity": 2})).send().await;
    assert_eq!((r.status, &r.body["capacity"]), (200, &json!(2)));
    let r = app.patch(&url).token(&p.token).json(json!({"capacity": null})).send().await;
    assert_eq!((r.status, &r.body["capacity"]), (200, &json!(null)));
}

/// Redeems `code` for every student at once; returns the statuses.
async fn storm(app: &TestApp, students: &[Person], code: &str) -> Vec<u16> {
    let calls = students.iter().map(|s| app.redeem(s, code));
    futures::future::join_all(calls).await.into_iter().map(|r| r.status).collect()
}

async fn seats_are_never_oversold(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x", "capacity": 30})).await;
    let value = c["invite_codes"][0]["code"].as_str().unwrap();
    let mut students = Vec::new();
    for i in 0..200 {
        students.push(app.person("students", &format!("s{i}"), &format!("s{i}@example.com")).await);
    }
    let statuses = storm(&app, &students, value).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 30);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 170);
    let r = app.get(&format!("{}/students?limit=100", class_url(&p, &c))).token(&p.token).send().await;
    assert_eq!(r.body["total"], 30);
    let r = app.get(&class_url(&p, &c)).token(&p.token).send().await;
    assert_eq!(r.body["invite_codes"][0]["used_count"], 30);
    let actions = app.actions(&p, 1).await;
    assert_eq!(actions.iter().filter(|a| *a == "membership.create").count(), 30);
}

async fn codes_are_never_overused(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let r = app
        .post(&format!("{}/invite-codes", class_url(&p, &c)))
        .token(&p.token)
        .json(json!({"max_uses": 5}))
        .send()
        .await;
    let value = r.body["code"].as_str().unwrap().to_string();
    let mut students = Vec::new();
    for i in 0..40 {
        students.push(app.person("students", &format!("s{i}"), &format!("s{i}@example.com")).await);
    }
    let statuses = storm(&app, &students, &value).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5);
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 35);
    let r = app.get(&format!("{}/invite-codes", class_url(&p, &c))).token(&p.token).send().await;
    assert_eq!((&r.body["items"][0]["used_count"], &r.body["items"][0]["max_uses"]), (&json!(5), &json!(5)));
    let r = app.get(&format!("{}/students", class_url(&p, &c))).token(&p.token).send().await;
    assert_eq!(r.body["total"], 5);
}

engine_tests!(
    redeem_outcomes,
    unusable_codes_and_ended_classes,
    redeem_takes_a_student_or_a_partner,
    failed_redemptions_are_rate_limited,
    rosters,
    capacity_cannot_drop_below_the_roster,
    seats_are_never_oversold,
    codes_are_never_overused,
);
