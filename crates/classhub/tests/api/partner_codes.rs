//! Invite codes of a class: made, listed, changed by its partner.

use serde_json::{Value, json};

use crate::engine_tests;
use crate::support::{Person, TestApp};

fn codes_url(p: &Person, class: &Value) -> String {
    format!("/partner/{}/classes/{}/invite-codes", p.id, class["id"])
}

fn code(p: &Person, class_id: &Value, fields: Value) -> Value {
    let mut body = json!({
        "id": "$any", "partner_id": p.id, "class_id": class_id, "code": "$code", "target_role": "student",
        "used_count": 0, "status": "active", "created_at": "$ts", "expires_at": null, "max_uses": null,
        "created_by": p.id,
    });
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn codes_are_made_listed_and_changed(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x", "timezone": "Asia/Seoul"})).await;
    let url = codes_url(&p, &c);
    // An empty body makes a default student code.
    let r = app.post(&url).token(&p.token).send().await;
    r.expect(201, code(&p, &c["id"], json!({})));
    let second = r.body.clone();
    let r = app
        .post(&url)
        .token(&p.token)
        .json(json!({"target_role": "student", "max_uses": 5, "expires_at": "2031-01-01T09:00:00"}))
        .send()
        .await;
    r.expect(201, code(&p, &c["id"], json!({"max_uses": 5, "expires_at": "2031-01-01T00:00:00Z"})));
    let third = r.body.clone();
    assert_ne!(second["code"], third["code"]);
    // The class shows them newest first, and its version moved.
    let r = app.get(&format!("/partner/{}/classes/{}", p.id, c["id"])).token(&p.token).send().await;
    let codes: Vec<&Value> = r.body["invite_codes"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert_eq!(codes, [&third["id"], &second["id"], &c["invite_codes"][0]["id"]]);
    assert_eq!(r.header("etag"), Some("\"3\""));
    // Listing and paging.
    let r = app.get(&format!("{url}?limit=2")).token(&p.token).send().await;
    r.expect(200, json!({"total": 3, "items": [third.clone(), second.clone()], "page": 1, "size": 2}));
    // Disable one; active_only leaves it out.
    let one = format!("{url}/{}", second["id"]);
    let r = app.patch(&one).token(&p.token).json(json!({"status": "disabled"})).send().await;
    r.expect(200, code(&p, &c["id"], json!({"id": second["id"], "code": second["code"], "status": "disabled"})));
    let r = app.get(&format!("{url}?active_only=true")).token(&p.token).send().await;
    assert_eq!(r.body["total"], 2);
    assert!(r.body["items"].as_array().unwrap().iter().all(|c| c["status"] == "active"));
    // Re-enable, lift the limit, clear the expiry.
    let r = app.patch(&one).token(&p.token).json(json!({"status": "active", "max_uses": 2})).send().await;
    assert_eq!((&r.body["status"], &r.body["max_uses"]), (&json!("active"), &json!(2)));
    let r = app
        .patch(&format!("{url}/{}", third["id"]))
        .token(&p.token)
        .json(json!({"max_uses": null, "expires_at": null}))
        .send()
        .await;
    assert_eq!((&r.body["max_uses"], &r.body["expires_at"]), (&json!(null), &json!(null)));
    let actions = app.actions(&p, 1).await;
    assert_eq!(actions.iter().filter(|a| *a == "invite_code.create").count(), 3);
    assert_eq!(actions.iter().filter(|a| *a == "invite_code.update").count(), 3);
}

async fn code_input_is_checked(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let url = codes_url(&p, &c);
    let r = app
        .post(&url)
        .token(&p.token)
        .json(json!({"target_role": "instructor", "max_uses": 0, "expires_at": "2001-01-01T00:00:00Z"}))
        .send()
        .await;
    r.expect(422, json!({"detail": [
        {"type": "value_error", "loc": ["body", "target_role"], "msg": "Value error, only 'student' codes can be created",
         "input": "instructor", "ctx": {"error": "only 'student' codes can be created"}},
        {"type": "value_error", "loc": ["body", "expires_at"], "msg": "Value error, must be in the future",
         "input": "2001-01-01T00:00:00Z", "ctx": {"error": "must be in the future"}},
        {"type": "greater_than_equal", "loc": ["body", "max_uses"], "msg": "Input should be greater than or equal to 1",
         "input": 0, "ctx": {"ge": 1}},
    ]}));
    for max in [json!(-3), json!(1_000_001), json!(1e300)] {
        let r = app.post(&url).token(&p.token).json(json!({"max_uses": max})).send().await;
        assert_eq!(r.status, 422, "{max}");
    }
    let r = app.post(&url).token(&p.token).json(json!({"max_uses": "lots", "expires_at": "tomorrow"})).send().await;
    let kinds: Vec<&str> = r.body["detail"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["datetime_parsing", "int_parsing"]);
    let first = format!("{url}/{}", c["invite_codes"][0]["id"]);
    let r = app.patch(&first).token(&p.token).json(json!({"status": "paused"})).send().await;
    r.expect(
        422,
        json!({"detail": [{"type": "enum", "loc": ["body", "status"], "msg": "Input should be 'active' or 'disabled'",
        "input": "paused", "ctx": {"expected": "'active' or 'disabled'"}}]}),
    );
    // Nothing of that was written.
    assert_eq!(app.actions(&p, 1).await, ["class.create", "invite_code.create"]);
    // Codes and classes of others are not found.
    let other_class = app.class(&p, json!({"name": "y"})).await;
    let foreign = format!("{}/{}", codes_url(&p, &other_class), c["invite_codes"][0]["id"]);
    app.patch(&foreign)
        .token(&p.token)
        .json(json!({"status": "disabled"}))
        .send()
        .await
        .expect(404, json!({"detail": "Invite code not found"}));
    let stranger = app.person("partners", "S", "s@example.com").await;
    let theirs = format!("/partner/{}/classes/{}/invite-codes", stranger.id, c["id"]);
    app.get(&theirs).token(&stranger.token).send().await.expect(404, json!({"detail": "Class not found"}));
    app.post(&theirs).token(&stranger.token).send().await.expect(404, json!({"detail": "Class not found"}));
    app.get(&url).token(&stranger.token).send().await.expect(403, json!({"detail": "forbidden"}));
}

async fn max_uses_never_drops_below_uses(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let code = c["invite_codes"][0].clone();
    for _ in 0..2 {
        let s = app.student().await;
        assert_eq!(app.redeem(&s, code["code"].as_str().unwrap()).await.status, 201);
    }
    let url = format!("{}/{}", codes_url(&p, &c), code["id"]);
    let r = app.patch(&url).token(&p.token).json(json!({"max_uses": 1})).send().await;
    r.expect(409, json!({"detail": "max_uses 1 is below the 2 uses already made"}));
    let r = app.patch(&url).token(&p.token).json(json!({"max_uses": 2})).send().await;
    assert_eq!((r.status, &r.body["used_count"]), (200, &json!(2)));
}

async fn codes_past_their_expiry_read_expired(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_millis(800)).to_string();
    let r = app.post(&codes_url(&p, &c)).token(&p.token).json(json!({"expires_at": soon})).send().await;
    assert_eq!((r.status, &r.body["status"]), (201, &json!("active")));
    let value = r.body["code"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let r = app.get(&codes_url(&p, &c)).token(&p.token).send().await;
    assert_eq!(r.body["items"][0]["status"], "expired");
    let r = app.get(&format!("{}?active_only=1", codes_url(&p, &c))).token(&p.token).send().await;
    assert_eq!(r.body["total"], 1);
    let s = app.student().await;
    app.redeem(&s, &value).await.expect(400, json!({"detail": "invalid_or_expired_code"}));
}

engine_tests!(
    codes_are_made_listed_and_changed,
    code_input_is_checked,
    max_uses_never_drops_below_uses,
    codes_past_their_expiry_read_expired,
);
