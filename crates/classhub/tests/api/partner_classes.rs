//! The partner class endpoints: every rule of partner.md, success and failure.

use serde_json::{Value, json};

use crate::engine_tests;
use crate::support::{Person, TestApp, assert_json};

/// The whole expected class body: defaults in the seed's order, with `fields` replacing
/// them in place.
fn class(partner: &Person, id: i64, fields: Value) -> Value {
    let mut body = json!({
        "name": "$any", "id": id, "partner_id": partner.id, "created_at": "$ts", "updated_at": "$ts",
        "status": "planned", "description": null, "start_at": null, "end_at": null, "capacity": null,
        "timezone": null, "location": null, "online_url": null, "invite_only": null,
        "primary_model_id": null, "allowed_model_ids": [], "budget_limit": null, "course_id": null,
        "invite_codes": [default_code(partner, id)],
    });
    for (k, v) in fields.as_object().unwrap() {
        assert!(body.get(k).is_some(), "unknown class field {k}");
        body[k] = v.clone();
    }
    body
}

fn default_code(partner: &Person, class_id: i64) -> Value {
    json!({
        "id": "$any", "partner_id": partner.id, "class_id": class_id, "code": "$code", "target_role": "student",
        "used_count": 0, "status": "active", "created_at": "$ts", "expires_at": null, "max_uses": null,
        "created_by": partner.id,
    })
}

fn path(p: &Person) -> String {
    format!("/partner/{}/classes", p.id)
}

fn item(kind: &str, loc: Value, msg: &str, input: Value) -> Value {
    json!({"type": kind, "loc": loc, "msg": msg, "input": input})
}

fn item_ctx(kind: &str, loc: Value, msg: &str, input: Value, ctx: Value) -> Value {
    json!({"type": kind, "loc": loc, "msg": msg, "input": input, "ctx": ctx})
}

async fn create_minimal_class(app: TestApp) {
    let p = app.partner().await;
    let r = app.post(&path(&p)).token(&p.token).json(json!({"name": "  Intro  "})).send().await;
    r.expect(201, class(&p, 1, json!({"name": "Intro"})));
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body["created_at"], r.body["updated_at"]);
    assert_eq!(r.body["invite_codes"][0]["created_at"], r.body["created_at"]);
    assert_eq!(app.actions(&p, 1).await, ["class.create", "invite_code.create"]);
}

async fn create_full_class(app: TestApp) {
    let p = app.partner().await;
    let (m1, m2, m3) = (app.model("a").await, app.model("b").await, app.model("c").await);
    let course = app.course(&p).await;
    let body = json!({
        "name": "Evening", "status": "active", "description": "d", "start_at": "2030-03-02T19:00:00",
        "end_at": "2030-03-02T21:30:00.25+09:00", "capacity": 20, "timezone": "asia/seoul", "location": "Room 1",
        "online_url": "https://meet.example.com/x", "invite_only": true, "course_id": course,
        "primary_model_id": m3, "allowed_model_ids": [m2, m1, m2],
        "id": 999, "partner_id": 999, "invite_codes": [], "unknown": {"nested": true},
    });
    let r = app.post(&path(&p)).token(&p.token).json(body).send().await;
    r.expect(
        201,
        class(
            &p,
            1,
            json!({
                "name": "Evening", "status": "active", "description": "d",
                // wall-clock 19:00 in Seoul; the end had an explicit offset
                "start_at": "2030-03-02T10:00:00Z", "end_at": "2030-03-02T12:30:00.250000Z",
                "capacity": 20, "timezone": "Asia/Seoul", "location": "Room 1",
                "online_url": "https://meet.example.com/x", "invite_only": true,
                "primary_model_id": m3, "allowed_model_ids": [m2, m1, m3], "course_id": course,
            }),
        ),
    );
}

async fn create_takes_course_from_query(app: TestApp) {
    let p = app.partner().await;
    let (c1, c2) = (app.course(&p).await, app.course(&p).await);
    let r = app
        .post(&format!("{}?course_id={c2}", path(&p)))
        .token(&p.token)
        .json(json!({"name": "x", "course_id": c1}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["course_id"], c2);
    let r = app.post(&format!("{}?course_id=x", path(&p))).token(&p.token).json(json!({})).send().await;
    r.expect(
        422,
        json!({"detail": [
            item("int_parsing", json!(["query", "course_id"]), "Input should be a valid integer, unable to parse string as an integer", json!("x")),
            item("missing", json!(["body", "name"]), "Field required", json!({})),
        ]}),
    );
}

async fn create_reports_every_invalid_field(app: TestApp) {
    let p = app.partner().await;
    let body = json!({
        "status": "draft", "capacity": 0, "timezone": "Mars/Olympus", "location": "x".repeat(501),
        "online_url": "ftp://example.com", "invite_only": "perhaps", "allowed_model_ids": [1, "two"],
        "start_at": "soon", "description": 5,
    });
    let r = app.post(&path(&p)).token(&p.token).json(body.clone()).send().await;
    r.expect(
        422,
        json!({"detail": [
            item("missing", json!(["body", "name"]), "Field required", body.clone()),
            item_ctx("enum", json!(["body", "status"]), "Input should be 'planned', 'active' or 'ended'", json!("draft"),
                json!({"expected": "'planned', 'active' or 'ended'"})),
            item("string_type", json!(["body", "description"]), "Input should be a valid string", json!(5)),
            item("datetime_parsing", json!(["body", "start_at"]), "Input should be a valid datetime, invalid datetime format", json!("soon")),
            item_ctx("greater_than_equal", json!(["body", "capacity"]), "Input should be greater than or equal to 1", json!(0), json!({"ge": 1})),
            item_ctx("value_error", json!(["body", "timezone"]), "Value error, unknown time zone \"Mars/Olympus\"", json!("Mars/Olympus"),
                json!({"error": "unknown time zone \"Mars/Olympus\""})),
            item_ctx("string_too_long", json!(["body", "location"]), "String should have at most 500 characters", json!("x".repeat(501)),
                json!({"max_length": 500})),
            item_ctx("url_scheme", json!(["body", "online_url"]), "URL scheme should be 'http' or 'https'", json!("ftp://example.com"),
                json!({"expected_schemes": "'http' or 'https'"})),
            item("bool_parsing", json!(["body", "invite_only"]), "Input should be a valid boolean, unable to interpret input", json!("perhaps")),
            item("int_parsing", json!(["body", "allowed_model_ids", 1]), "Input should be a valid integer, unable to parse string as an integer", json!("two")),
        ]}),
    );
    // Files of the tz database that are not zones are not time zones.
    for zone in ["localtime", "posixrules", "Factory"] {
        let r = app.post(&path(&p)).token(&p.token).json(json!({"name": "x", "timezone": zone})).send().await;
        let error = format!("unknown time zone \"{zone}\"");
        r.expect(
            422,
            json!({"detail": [item_ctx("value_error", json!(["body", "timezone"]), &format!("Value error, {error}"),
                json!(zone), json!({"error": error}))]}),
        );
    }
    // Nothing was created.
    app.get(&path(&p))
        .token(&p.token)
        .send()
        .await
        .expect(200, json!({"total": 0, "items": [], "page": 1, "size": 50}));
}

async fn names_are_checked(app: TestApp) {
    let p = app.partner().await;
    let cases = [
        (
            json!({"name": "   "}),
            item_ctx(
                "string_too_short",
                json!(["body", "name"]),
                "String should have at least 1 character",
                json!("   "),
                json!({"min_length": 1}),
            ),
        ),
        (
            json!({"name": "n".repeat(201)}),
            item_ctx(
                "string_too_long",
                json!(["body", "name"]),
                "String should have at most 200 characters",
                json!("n".repeat(201)),
                json!({"max_length": 200}),
            ),
        ),
        (
            json!({"name": null}),
            item("string_type", json!(["body", "name"]), "Input should be a valid string", json!(null)),
        ),
        (json!({"name": 7}), item("string_type", json!(["body", "name"]), "Input should be a valid string", json!(7))),
    ];
    for (body, error) in cases {
        app.post(&path(&p)).token(&p.token).json(body).send().await.expect(422, json!({"detail": [error]}));
    }
    let r = app.post(&path(&p)).token(&p.token).json(json!({"name": "é".repeat(200)})).send().await;
    assert_eq!(r.status, 201);
}

async fn schedule_rules(app: TestApp) {
    let p = app.partner().await;
    let c =
        app.class(&p, json!({"name": "x", "timezone": "America/New_York", "start_at": "2030-01-02T00:00:00Z"})).await;
    let url = format!("{}/{}", path(&p), c["id"]);
    let end_error = |input: &str| {
        item_ctx(
            "value_error",
            json!(["body", "end_at"]),
            "Value error, end_at must not be before start_at",
            json!(input),
            json!({"error": "end_at must not be before start_at"}),
        )
    };
    let end = "2030-01-01T23:59:59Z";
    app.patch(&url)
        .token(&p.token)
        .json(json!({"end_at": end}))
        .send()
        .await
        .expect(422, json!({"detail": [end_error(end)]}));
    // A one-day class may end as it starts (GrowFit's form sends the same date twice).
    let r = app.patch(&url).token(&p.token).json(json!({"end_at": "2030-01-02T00:00:00Z"})).send().await;
    assert_eq!((r.status, &r.body["end_at"]), (200, &json!("2030-01-02T00:00:00Z")));
    let r = app.patch(&url).token(&p.token).json(json!({"end_at": null})).send().await;
    assert_eq!(r.status, 200);
    // In New York 02:30 on 2030-03-10 does not exist and 01:30 on 2030-11-03 happens twice.
    let gap = "2030-03-10T02:30:00";
    let r = app.patch(&url).token(&p.token).json(json!({"start_at": gap})).send().await;
    let msg = "2030-03-10T02:30:00 does not exist in America/New_York (it falls in a daylight-saving gap)";
    r.expect(422, json!({"detail": [item_ctx("value_error", json!(["body", "start_at"]), &format!("Value error, {msg}"), json!(gap), json!({"error": msg}))]}));
    let fold = "2030-11-03T01:30:00";
    let r = app.patch(&url).token(&p.token).json(json!({"start_at": fold})).send().await;
    let msg = "2030-11-03T01:30:00 is ambiguous in America/New_York (it occurs twice when daylight saving ends)";
    r.expect(422, json!({"detail": [item_ctx("value_error", json!(["body", "start_at"]), &format!("Value error, {msg}"), json!(fold), json!({"error": msg}))]}));
    // A wall-clock time is read in the zone given in the same request.
    let r = app
        .patch(&url)
        .token(&p.token)
        .json(json!({"timezone": "Europe/Paris", "start_at": "2030-06-01T10:00:00", "end_at": "2030-06-01T12:00"}))
        .send()
        .await;
    assert_eq!(
        (r.status, &r.body["start_at"], &r.body["end_at"]),
        (200, &json!("2030-06-01T08:00:00Z"), &json!("2030-06-01T10:00:00Z"))
    );
    // Clearing the zone reads wall-clock times as UTC; a date alone is midnight.
    let r = app
        .patch(&url)
        .token(&p.token)
        .json(json!({"timezone": null, "start_at": "2030-06-01", "end_at": null}))
        .send()
        .await;
    assert_eq!(
        (r.status, &r.body["start_at"], &r.body["timezone"]),
        (200, &json!("2030-06-01T00:00:00Z"), &json!(null))
    );
    let r = app.patch(&url).token(&p.token).json(json!({"start_at": 1900000000})).send().await;
    assert_eq!(r.body["start_at"], "2030-03-17T17:46:40Z");
    let r = app.patch(&url).token(&p.token).json(json!({"start_at": [1]})).send().await;
    r.expect(422, json!({"detail": [item("datetime_type", json!(["body", "start_at"]), "Input should be a valid datetime", json!([1]))]}));
}

async fn urls_are_checked(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let url = format!("{}/{}", path(&p), c["id"]);
    let long = format!("https://example.com/{}", "a".repeat(2030));
    let cases = [
        (
            "/relative",
            item_ctx(
                "url_parsing",
                json!(["body", "online_url"]),
                "Input should be a valid URL, relative URL without a base",
                json!("/relative"),
                json!({"error": "relative URL without a base"}),
            ),
        ),
        (
            "mailto:a@b.c",
            item_ctx(
                "url_scheme",
                json!(["body", "online_url"]),
                "URL scheme should be 'http' or 'https'",
                json!("mailto:a@b.c"),
                json!({"expected_schemes": "'http' or 'https'"}),
            ),
        ),
        (
            long.as_str(),
            item_ctx(
                "url_too_long",
                json!(["body", "online_url"]),
                "URL should have at most 2048 characters",
                json!(long),
                json!({"max_length": 2048}),
            ),
        ),
    ];
    for (u, error) in cases {
        app.patch(&url)
            .token(&p.token)
            .json(json!({"online_url": u}))
            .send()
            .await
            .expect(422, json!({"detail": [error]}));
    }
    let r = app.patch(&url).token(&p.token).json(json!({"online_url": "http://zoom.example/j/1?pwd=x"})).send().await;
    assert_eq!(r.body["online_url"], "http://zoom.example/j/1?pwd=x");
}

async fn catalog_references_are_checked(app: TestApp) {
    let p = app.partner().await;
    let m = app.model("m").await;
    let missing = 77;
    let c = app.class(&p, json!({"name": "x"})).await;
    let url = format!("{}/{}", path(&p), c["id"]);
    let before = app.get(&url).token(&p.token).send().await;
    let r = app
        .patch(&url)
        .token(&p.token)
        .json(json!({"allowed_model_ids": [m, 404], "primary_model_id": 405, "course_id": missing}))
        .send()
        .await;
    r.expect(422, json!({"detail": [
        item_ctx("value_error", json!(["body", "course_id"]), &format!("Value error, course {missing} not found"), json!(missing), json!({"error": format!("course {missing} not found")})),
        item_ctx("value_error", json!(["body", "primary_model_id"]), "Value error, unknown model id 405", json!(405), json!({"error": "unknown model id 405"})),
        item_ctx("value_error", json!(["body", "allowed_model_ids", 1]), "Value error, unknown model id 404", json!(404), json!({"error": "unknown model id 404"})),
    ]}));
    // The rejected write changed nothing.
    let after = app.get(&url).token(&p.token).send().await;
    assert_json(&after.body, &before.body);
    assert_eq!(after.header("etag"), Some("\"1\""));
    assert_eq!(app.actions(&p, 1).await, ["class.create", "invite_code.create"]);
    // The primary joins the list; clearing the list keeps only the primary.
    let r = app.patch(&url).token(&p.token).json(json!({"primary_model_id": m})).send().await;
    assert_eq!((&r.body["primary_model_id"], &r.body["allowed_model_ids"]), (&json!(m), &json!([m])));
    let r = app.patch(&url).token(&p.token).json(json!({"allowed_model_ids": null})).send().await;
    assert_eq!((&r.body["primary_model_id"], &r.body["allowed_model_ids"]), (&json!(m), &json!([m])));
    let r =
        app.patch(&url).token(&p.token).json(json!({"primary_model_id": null, "allowed_model_ids": null})).send().await;
    assert_eq!((&r.body["primary_model_id"], &r.body["allowed_model_ids"]), (&json!(null), &json!([])));
}

async fn patch_is_a_merge_patch(app: TestApp) {
    let p = app.partner().await;
    let m = app.model("m").await;
    let course = app.course(&p).await;
    let full = json!({
        "name": "Full", "status": "active", "description": "d", "start_at": "2030-01-01T00:00:00Z",
        "end_at": "2030-01-02T00:00:00Z", "capacity": 5, "timezone": "UTC", "location": "here",
        "online_url": "https://x.example", "invite_only": false, "course_id": course, "primary_model_id": m,
        "allowed_model_ids": [m],
    });
    let c = app.class(&p, full.clone()).await;
    let url = format!("{}/{}", path(&p), c["id"]);
    // Absent keeps, read-only and unknown fields are ignored.
    let r = app
        .patch(&url)
        .token(&p.token)
        .json(json!({"id": 77, "created_at": "2000-01-01T00:00:00Z", "what": 1}))
        .send()
        .await;
    r.expect(200, c.clone());
    assert_eq!(r.header("etag"), Some("\"1\""), "a patch that changes nothing is no write");
    // Null clears every nullable field.
    let cleared = json!({
        "status": null, "description": null, "start_at": null, "end_at": null, "capacity": null, "timezone": null,
        "location": null, "online_url": null, "invite_only": null, "course_id": null, "primary_model_id": null,
        "allowed_model_ids": null,
    });
    let r = app.patch(&url).token(&p.token).json(cleared.clone()).send().await;
    let mut expected = class(&p, 1, json!({"name": "Full"}));
    expected["status"] = json!(null);
    r.expect(200, expected);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_ne!(r.body["updated_at"], c["updated_at"]);
    assert_eq!(r.body["created_at"], c["created_at"]);
    // And values set.
    let r = app.patch(&url).token(&p.token).json(full.clone()).send().await;
    r.expect(
        200,
        c.clone()
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), if k == "updated_at" { json!("$ts") } else { v.clone() }))
            .collect(),
    );
    assert_eq!(r.header("etag"), Some("\"3\""));
    assert_eq!(app.actions(&p, 1).await, ["class.create", "invite_code.create", "class.update", "class.update"]);
}

async fn status_moves(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let url = format!("{}/{}", path(&p), c["id"]);
    for (to, status, detail) in [
        ("planned", 200, None),
        ("active", 200, None),
        ("active", 200, None),
        ("planned", 409, Some("cannot change status from active to planned")),
        ("ended", 200, None),
        ("planned", 409, Some("cannot change status from ended to planned")),
        ("active", 200, None),
        ("ended", 200, None),
    ] {
        let r = app.patch(&url).token(&p.token).json(json!({"status": to})).send().await;
        match detail {
            Some(d) => r.expect(status, json!({"detail": d})),
            None => {
                assert_eq!((r.status, r.body["status"].as_str()), (status, Some(to)));
                &r
            }
        };
    }
    let c = app.class(&p, json!({"name": "y", "status": "ended"})).await;
    assert_eq!(c["status"], "ended");
}

async fn if_match_guards_writes(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let url = format!("{}/{}", path(&p), c["id"]);
    let r = app.patch(&url).token(&p.token).header("if-match", "\"1\"").json(json!({"name": "y"})).send().await;
    assert_eq!((r.status, r.header("etag")), (200, Some("\"2\"")));
    let r = app.patch(&url).token(&p.token).header("if-match", "\"1\"").json(json!({"name": "z"})).send().await;
    r.expect(412, json!({"detail": "class was modified (current version 2)"}));
    assert_eq!(r.header("etag"), Some("\"2\""));
    let r =
        app.patch(&url).token(&p.token).header("if-match", "W/\"9\", \"2\"").json(json!({"name": "z"})).send().await;
    assert_eq!((r.status, r.header("etag")), (200, Some("\"3\"")));
    let r = app.patch(&url).token(&p.token).header("if-match", "*").json(json!({"name": "w"})).send().await;
    assert_eq!(r.status, 200);
    let r = app.delete(&url).token(&p.token).header("if-match", "\"1\"").send().await;
    r.expect(412, json!({"detail": "class was modified (current version 4)"}));
    let r = app.get(&url).token(&p.token).send().await;
    assert_eq!((r.status, &r.body["name"]), (200, &json!("w")));
    let r = app.delete(&url).token(&p.token).header("if-match", "\"4\"").send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
}

async fn bad_bodies(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let url = format!("{}/{}", path(&p), c["id"]);
    let r = app.patch(&url).token(&p.token).raw(b"{\"name\": }").send().await;
    r.expect(422, json!({"detail": [item_ctx("json_invalid", json!(["body", 9]), "JSON decode error", json!({}), json!({"error": "expected value"}))]}));
    let r = app.patch(&url).token(&p.token).raw(b"[1]").send().await;
    r.expect(422, json!({"detail": [item("model_attributes_type", json!(["body"]), "Input should be a valid dictionary or object to extract fields from", json!([1]))]}));
    let r = app.patch(&url).token(&p.token).send().await;
    r.expect(422, json!({"detail": [item("missing", json!(["body"]), "Field required", json!(null))]}));
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let r = app.patch(&url).token(&p.token).raw(format!("{{\"name\": {deep}}}").as_bytes()).send().await;
    assert_eq!((r.status, &r.body["detail"][0]["type"]), (422, &json!("json_invalid")));
    assert_eq!(app.actions(&p, 1).await, ["class.create", "invite_code.create"]);
}

async fn auth_and_tenancy(app: TestApp) {
    let p = app.partner().await;
    let other = app.person("partners", "Other", "o@example.com").await;
    let s = app.student().await;
    let c = app.class(&p, json!({"name": "mine"})).await;
    let url = format!("{}/{}", path(&p), c["id"]);
    let not_auth = json!({"detail": "unauthorized"});
    let r = app.get(&url).send().await;
    r.expect(401, not_auth.clone());
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    app.get(&url).token("chk_nope").send().await.expect(401, not_auth.clone());
    app.get(&url).header("authorization", "Basic Zm9vOmJhcg==").send().await.expect(401, not_auth.clone());
    // Another partner's path, and a student's token: 403, in GrowFit's words.
    let forbidden = json!({"detail": "forbidden"});
    app.get(&url).token(&other.token).send().await.expect(403, forbidden.clone());
    app.get(&url).token(&s.token).send().await.expect(403, json!({"detail": "not_a_partner"}));
    app.patch(&url).token(&other.token).json(json!({"name": 5})).send().await.expect(403, forbidden.clone());
    // Another partner's class under their own path: 404, as if it did not exist.
    let theirs = format!("{}/{}", path(&other), c["id"]);
    let not_found = json!({"detail": "Class not found"});
    app.get(&theirs).token(&other.token).send().await.expect(404, not_found.clone());
    app.patch(&theirs).token(&other.token).json(json!({"name": "stolen"})).send().await.expect(404, not_found.clone());
    app.delete(&theirs).token(&other.token).send().await.expect(404, not_found.clone());
    app.get(&format!("{theirs}/history")).token(&other.token).send().await.expect(404, not_found.clone());
    app.get(&path(&other))
        .token(&other.token)
        .send()
        .await
        .expect(200, json!({"total": 0, "items": [], "page": 1, "size": 50}));
    app.get(&format!("{}/999", path(&p))).token(&p.token).send().await.expect(404, not_found);
    // A revoked token stops working.
    let r =
        app.post("/admin/v1/tokens/revoke").token(crate::support::ADMIN).json(json!({"token": p.token})).send().await;
    assert_eq!(r.status, 204);
    app.get(&url).token(&p.token).send().await.expect(401, not_auth);
}

async fn path_parameters_are_validated(app: TestApp) {
    let p = app.partner().await;
    let int_parsing = |loc: &str, input: &str| {
        item(
            "int_parsing",
            json!(["path", loc]),
            "Input should be a valid integer, unable to parse string as an integer",
            json!(input),
        )
    };
    let r = app.get("/partner/abc/classes/1").token(&p.token).send().await;
    r.expect(422, json!({"detail": [int_parsing("partner_id", "abc")]}));
    let r = app.get(&format!("/partner/{}/classes/0", p.id)).token(&p.token).send().await;
    r.expect(422, json!({"detail": [item_ctx("greater_than_equal", json!(["path", "class_id"]), "Input should be greater than or equal to 1", json!("0"), json!({"ge": 1}))]}));
    let r = app.get(&format!("/partner/{}/classes/99999999999999999999", p.id)).token(&p.token).send().await;
    assert_eq!(r.status, 404, "an id beyond 64 bits is simply unknown");
    // Path and body problems come together.
    let r = app.patch("/partner/x/classes/y").token(&p.token).json(json!({"capacity": "many"})).send().await;
    r.expect(422, json!({"detail": [
        int_parsing("partner_id", "x"), int_parsing("class_id", "y"),
        item("int_parsing", json!(["body", "capacity"]), "Input should be a valid integer, unable to parse string as an integer", json!("many")),
    ]}));
    // Authentication comes first.
    app.get("/partner/abc/classes/1").send().await.expect(401, json!({"detail": "unauthorized"}));
}

async fn delete_removes_the_class(app: TestApp) {
    let p = app.partner().await;
    let a = app.class(&p, json!({"name": "a"})).await;
    let b = app.class(&p, json!({"name": "b"})).await;
    let url = format!("{}/{}", path(&p), a["id"]);
    let r = app.delete(&url).token(&p.token).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    app.get(&url).token(&p.token).send().await.expect(404, json!({"detail": "Class not found"}));
    app.delete(&url).token(&p.token).send().await.expect(404, json!({"detail": "Class not found"}));
    app.get(&format!("{url}/history")).token(&p.token).send().await.expect(404, json!({"detail": "Class not found"}));
    let r = app.get(&path(&p)).token(&p.token).send().await;
    assert_eq!((r.body["total"].as_i64(), r.body["items"][0]["id"].clone()), (Some(1), b["id"].clone()));
}

async fn lists_page_and_filter(app: TestApp) {
    let p = app.partner().await;
    let other = app.person("partners", "Other", "o@example.com").await;
    let course = app.course(&p).await;
    for i in 1..=5 {
        let status = if i % 2 == 0 { "active" } else { "planned" };
        let course = if i <= 2 { json!(course) } else { json!(null) };
        app.class(&p, json!({"name": format!("c{i}"), "status": status, "course_id": course})).await;
    }
    app.class(&other, json!({"name": "theirs"})).await;
    let names = |r: &crate::support::Resp| -> Vec<String> {
        r.body["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    };
    let r = app.get(&format!("{}?limit=2", path(&p))).token(&p.token).send().await;
    assert_eq!(
        (r.status, names(&r), &r.body["total"], &r.body["page"], &r.body["size"]),
        (200, vec!["c5".into(), "c4".into()], &json!(5), &json!(1), &json!(2))
    );
    assert_json(&r.body["items"][0], &class(&p, 5, json!({"name": "c5"})));
    let r = app.get(&format!("{}?limit=2&offset=2", path(&p))).token(&p.token).send().await;
    assert_eq!((names(&r), &r.body["page"]), (vec!["c3".into(), "c2".into()], &json!(2)));
    let r = app.get(&format!("{}?limit=2&offset=4", path(&p))).token(&p.token).send().await;
    assert_eq!((names(&r), &r.body["page"]), (vec!["c1".into()], &json!(3)));
    let r = app.get(&format!("{}?offset=7", path(&p))).token(&p.token).send().await;
    assert_eq!((names(&r), &r.body["total"]), (Vec::<String>::new(), &json!(5)));
    let r = app.get(&format!("{}?status=active", path(&p))).token(&p.token).send().await;
    assert_eq!((names(&r), &r.body["total"]), (vec!["c4".into(), "c2".into()], &json!(2)));
    let r = app.get(&format!("{}?course_id={course}&status=planned", path(&p))).token(&p.token).send().await;
    assert_eq!((names(&r), &r.body["total"]), (vec!["c1".into()], &json!(1)));
    let r = app.get(&format!("{}?limit=0&offset=-1&status=gone", path(&p))).token(&p.token).send().await;
    r.expect(422, json!({"detail": [
        item_ctx("greater_than_equal", json!(["query", "limit"]), "Input should be greater than or equal to 1", json!("0"), json!({"ge": 1})),
        item_ctx("greater_than_equal", json!(["query", "offset"]), "Input should be greater than or equal to 0", json!("-1"), json!({"ge": 0})),
        item_ctx("enum", json!(["query", "status"]), "Input should be 'planned', 'active' or 'ended'", json!("gone"), json!({"expected": "'planned', 'active' or 'ended'"})),
    ]}));
    let r = app.get(&format!("{}?limit=101", path(&p))).token(&p.token).send().await;
    r.expect(422, json!({"detail": [item_ctx("less_than_equal", json!(["query", "limit"]), "Input should be less than or equal to 100", json!("101"), json!({"le": 100}))]}));
    let r = app.get(&format!("{}?limit=ten", path(&p))).token(&p.token).send().await;
    assert_eq!(r.body["detail"][0]["type"], "int_parsing");
}

async fn history_records_writes(app: TestApp) {
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let url = format!("{}/{}", path(&p), c["id"]);
    let r = app.patch(&url).token(&p.token).header("x-request-id", "req-42").json(json!({"capacity": 9})).send().await;
    assert_eq!(r.header("x-request-id"), Some("req-42"));
    let r = app.get(&format!("{url}/history?limit=1")).token(&p.token).send().await;
    assert_eq!((r.status, &r.body["total"], &r.body["size"]), (200, &json!(3), &json!(1)));
    let e = &r.body["items"][0];
    assert_json(
        e,
        &json!({"id": "$any", "at": "$ts", "actor_id": p.id, "action": "class.update", "before": "$any", "after": "$any", "request_id": "req-42"}),
    );
    assert_eq!((&e["before"]["capacity"], &e["after"]["capacity"]), (&json!(null), &json!(9)));
    assert_eq!((&e["before"]["version"], &e["after"]["version"]), (&json!(1), &json!(2)));
    let r = app.get(&format!("{url}/history?offset=1")).token(&p.token).send().await;
    let actions: Vec<&str> =
        r.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["invite_code.create", "class.create"]);
    assert_eq!(r.body["items"][1]["before"], json!(null));
    assert_eq!(r.body["items"][1]["after"]["name"], "x");
}

async fn lists_continue_after_a_cursor(app: TestApp) {
    let p = app.partner().await;
    for i in 1..=5 {
        let status = if i % 2 == 0 { "active" } else { "planned" };
        app.class(&p, json!({"name": format!("c{i}"), "status": status})).await;
    }
    let base = path(&p);
    let names = |r: &crate::support::Resp| -> Vec<String> {
        r.body["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    };
    let next = |r: &crate::support::Resp| -> Option<String> {
        let link = r.header("link")?;
        let (target, rel) = link.strip_prefix('<')?.split_once('>')?;
        assert_eq!(rel, "; rel=\"next\"", "{link}");
        Some(target.to_string())
    };
    let r = app.get(&format!("{base}?limit=2")).token(&p.token).send().await;
    assert_eq!((names(&r), &r.body["page"]), (vec!["c5".into(), "c4".into()], &json!(1)));
    let link = next(&r).unwrap();
    assert!(link.starts_with(&format!("{base}?limit=2&after=")), "{link}");
    // A class made meanwhile: an offset would show c4 again; the cursor goes on after it.
    app.class(&p, json!({"name": "c6"})).await;
    let r = app.get(&link).token(&p.token).send().await;
    assert_eq!(
        (r.status, names(&r), &r.body["page"], &r.body["size"], &r.body["total"]),
        (200, vec!["c3".into(), "c2".into()], &json!(2), &json!(2), &json!(6))
    );
    let r = app.get(&next(&r).unwrap()).token(&p.token).send().await;
    assert_eq!((names(&r), &r.body["page"], next(&r)), (vec!["c1".into()], &json!(3), None));
    // Filters go on in the link.
    let mut seen = Vec::new();
    let mut url = Some(format!("{base}?status=planned&limit=1"));
    while let Some(u) = url {
        let r = app.get(&u).token(&p.token).send().await;
        seen.extend(names(&r));
        url = next(&r);
        assert!(url.as_ref().is_none_or(|u| u.contains("status=planned")), "{url:?}");
    }
    assert_eq!(seen, ["c6", "c5", "c3", "c1"]);
    // What is not a cursor of this list, or a cursor with an offset, is refused.
    let r = app.get(&format!("{base}?after=nope")).token(&p.token).send().await;
    r.expect(422, json!({"detail": [item_ctx("value_error", json!(["query", "after"]), "Value error, not a cursor of this list", json!("nope"), json!({"error": "not a cursor of this list"}))]}));
    let after = link.split("after=").nth(1).unwrap();
    let r = app.get(&format!("{base}?after={after}&offset=0")).token(&p.token).send().await;
    assert_eq!(
        (r.status, r.body["detail"][0]["msg"].clone()),
        (422, json!("Value error, offset and after cannot be combined"))
    );
    // A page that ends the list names no next one.
    let r = app.get(&format!("{base}?limit=6")).token(&p.token).send().await;
    assert_eq!((names(&r).len(), next(&r)), (6, None));
}

engine_tests!(
    create_minimal_class,
    create_full_class,
    create_takes_course_from_query,
    create_reports_every_invalid_field,
    names_are_checked,
    schedule_rules,
    urls_are_checked,
    catalog_references_are_checked,
    patch_is_a_merge_patch,
    status_moves,
    if_match_guards_writes,
    bad_bodies,
    auth_and_tenancy,
    path_parameters_are_validated,
    delete_removes_the_class,
    lists_page_and_filter,
    lists_continue_after_a_cursor,
    history_records_writes,
);
