//! GrowFit's catalogue, courses and classes: the public model and course lists, a
//! partner's courses, what GrowFit's front end sends when it creates and edits classes,
//! budgets, class cards (`/summary`) and the cost estimate. Status and whole bodies.

use serde_json::{Value, json};

use crate::engine_tests;
use crate::support::{ADMIN, Person, TestApp, assert_json};

fn item(kind: &str, loc: Value, msg: &str, input: Value) -> Value {
    json!({"type": kind, "loc": loc, "msg": msg, "input": input})
}

fn item_ctx(kind: &str, loc: Value, msg: &str, input: Value, ctx: Value) -> Value {
    json!({"type": kind, "loc": loc, "msg": msg, "input": input, "ctx": ctx})
}

fn value_error(loc: Value, input: Value, error: &str) -> Value {
    item_ctx("value_error", loc, &format!("Value error, {error}"), input, json!({"error": error}))
}

/// A model made through the admin API.
async fn model(app: &TestApp, body: Value) -> Value {
    app.admin_post("/admin/v1/models", body).await
}

/// A model as `GET /models` shows it, from the admin API's answer.
fn listed(m: &Value) -> Value {
    json!({
        "id": m["id"], "provider": m["provider"], "model_name": m["name"], "modality": m["modality"],
        "supports_parallel": m["supports_parallel"], "default_pricing": m["default_pricing"],
        "is_active": m["is_active"], "created_at": "$ts", "updated_at": "$ts",
    })
}

/// A course body in GrowFit's order: defaults, with `fields` replacing them in place.
fn course(id: i64, fields: Value) -> Value {
    let mut body = json!({
        "title": "$any", "course_key": "$any", "status": "draft", "start_date": null, "end_date": null,
        "description": null, "id": id, "created_at": "$ts", "updated_at": "$ts",
    });
    for (k, v) in fields.as_object().unwrap() {
        assert!(body.get(k).is_some(), "unknown course field {k}");
        body[k] = v.clone();
    }
    body
}

/// A class body (the seed's order, `budget_limit` after `allowed_model_ids`) with one
/// default code, `fields` replacing the defaults.
fn class(partner: &Person, id: i64, fields: Value) -> Value {
    let mut body = json!({
        "name": "$any", "id": id, "partner_id": partner.id, "created_at": "$ts", "updated_at": "$ts",
        "status": "planned", "description": null, "start_at": null, "end_at": null, "capacity": null,
        "timezone": null, "location": null, "online_url": null, "invite_only": null,
        "primary_model_id": null, "allowed_model_ids": [], "budget_limit": null, "course_id": null,
        "invite_codes": [{
            "id": "$any", "partner_id": partner.id, "class_id": id, "code": "$code", "target_role": "student",
            "used_count": 0, "status": "active", "created_at": "$ts", "expires_at": null, "max_uses": null,
            "created_by": partner.id,
        }],
    });
    for (k, v) in fields.as_object().unwrap() {
        assert!(body.get(k).is_some(), "unknown class field {k}");
        body[k] = v.clone();
    }
    body
}

fn classes(p: &Person) -> String {
    format!("/partner/{}/classes", p.id)
}

fn courses(p: &Person) -> String {
    format!("/partner/{}/course", p.id)
}

/// GrowFit front end's fallback catalogue, in its ids: 1 gpt-4o-mini, 2 gemini-2.5-flash,
/// 3 exaone-4.0, 4 claude-3-haiku (always ticked).
async fn front_end_models(app: &TestApp) -> Vec<Value> {
    let mut made = Vec::new();
    for (name, provider) in [
        ("gpt-4o-mini", "openai"),
        ("gemini-2.5-flash", "google"),
        ("exaone-4.0", "lg"),
        ("claude-3-haiku", "anthropic"),
    ] {
        made.push(model(app, json!({"name": name, "provider": provider})).await);
    }
    made
}

// ---- models ----------------------------------------------------------------------------

async fn admin_models_take_growfit_fields(app: TestApp) {
    let full = json!({
        "name": "claude-3-haiku", "provider": "anthropic", "modality": "chat", "supports_parallel": true,
        "default_pricing": {"daily_fee_per_student": "2000.50", "per_1k_token_usd": 0.00025}, "is_active": false,
    });
    let r = app.post("/admin/v1/models").token(ADMIN).json(full.clone()).send().await;
    r.expect(
        201,
        json!({
            "id": 1, "name": "claude-3-haiku", "provider": "anthropic", "modality": "chat", "supports_parallel": true,
            "default_pricing": {"daily_fee_per_student": "2000.50", "per_1k_token_usd": 0.00025}, "is_active": false,
            "created_at": "$ts", "updated_at": "$ts",
        }),
    );
    let r =
        app.post("/admin/v1/models").token(ADMIN).json(json!({"name": " e5 ", "provider": "intfloat"})).send().await;
    r.expect(
        201,
        json!({
            "id": 2, "name": "e5", "provider": "intfloat", "modality": "chat", "supports_parallel": false,
            "default_pricing": null, "is_active": true, "created_at": "$ts", "updated_at": "$ts",
        }),
    );
    // One model per provider and name.
    let r = app.post("/admin/v1/models").token(ADMIN).json(json!({"name": "e5", "provider": "intfloat"})).send().await;
    r.expect(409, json!({"detail": "model already exists"}));
    let r = app.post("/admin/v1/models").token(ADMIN).json(json!({"name": "e5", "provider": "other"})).send().await;
    assert_eq!(r.status, 201);

    let bad = json!({
        "name": "x", "provider": "y", "modality": "video", "supports_parallel": "maybe", "default_pricing": [1],
        "is_active": 2,
    });
    let r = app.post("/admin/v1/models").token(ADMIN).json(bad).send().await;
    r.expect(
        422,
        json!({"detail": [
            item_ctx("enum", json!(["body", "modality"]), "Input should be 'chat', 'embedding', 'stt', 'image', 'tts' or 'rerank'",
                json!("video"), json!({"expected": "'chat', 'embedding', 'stt', 'image', 'tts' or 'rerank'"})),
            item("bool_parsing", json!(["body", "supports_parallel"]), "Input should be a valid boolean, unable to interpret input", json!("maybe")),
            item("dict_type", json!(["body", "default_pricing"]), "Input should be a valid dictionary", json!([1])),
            item("bool_type", json!(["body", "is_active"]), "Input should be a valid boolean", json!(2)),
        ]}),
    );
    // The price the cost estimate reads is an amount.
    for (fee, error) in [
        (json!("cheap"), "daily_fee_per_student: must be a decimal number"),
        (json!("1.005"), "daily_fee_per_student: must have at most 2 decimal places"),
        (json!(-1), "daily_fee_per_student: must be greater than or equal to 0"),
    ] {
        let pricing = json!({"daily_fee_per_student": fee});
        let r = app
            .post("/admin/v1/models")
            .token(ADMIN)
            .json(json!({"name": "z", "provider": "z", "default_pricing": pricing}))
            .send()
            .await;
        r.expect(422, json!({"detail": [value_error(json!(["body", "default_pricing"]), pricing, error)]}));
    }
}

async fn models_are_listed_without_credentials(app: TestApp) {
    let haiku = model(
        &app,
        json!({"name": "claude-3-haiku", "provider": "anthropic", "default_pricing": {"daily_fee_per_student": 2000}}),
    )
    .await;
    let mini = model(&app, json!({"name": "gpt-4o-mini", "provider": "openai", "supports_parallel": true})).await;
    let gemini = model(&app, json!({"name": "gemini-2.5-flash", "provider": "google"})).await;
    let embedding =
        model(&app, json!({"name": "text-embedding-3-small", "provider": "openai", "modality": "embedding"})).await;
    let retired = model(&app, json!({"name": "gpt-3.5", "provider": "openai", "is_active": false})).await;
    let exaone = model(&app, json!({"name": "exaone-4.0", "provider": "lg"})).await;

    // Active chat models by provider, then name; no credentials needed, none looked at.
    let page = |items: Vec<&Value>, total: usize, page: usize, size: usize| json!({"items": items.into_iter().map(listed).collect::<Vec<_>>(), "total": total, "page": page, "size": size});
    let active = vec![&haiku, &gemini, &exaone, &mini];
    app.get("/models").send().await.expect(200, page(active.clone(), 4, 1, 50));
    app.get("/models").token("not a token").send().await.expect(200, page(active.clone(), 4, 1, 50));
    app.get("/models?page=2&size=1").send().await.expect(200, page(vec![&gemini], 4, 2, 1));
    app.get("/models?page=9&size=200").send().await.expect(200, page(vec![], 4, 9, 200));
    app.get("/models?provider=openai").send().await.expect(200, page(vec![&mini], 1, 1, 50));
    app.get("/models?modality=embedding").send().await.expect(200, page(vec![&embedding], 1, 1, 50));
    app.get("/models?modality=video").send().await.expect(200, page(vec![], 0, 1, 50));
    let everything = vec![&haiku, &gemini, &exaone, &retired, &mini];
    app.get("/models?only_active=false").send().await.expect(200, page(everything, 5, 1, 50));
    // `q` is a substring of the name, ASCII letters in any case; empty, it filters nothing.
    app.get("/models?q=GPT").send().await.expect(200, page(vec![&mini], 1, 1, 50));
    app.get("/models?q=").send().await.expect(200, page(active, 4, 1, 50));
    app.get("/models?q=%25").send().await.expect(200, page(vec![], 0, 1, 50));

    let r = app.get("/models?page=0&size=201&only_active=maybe").send().await;
    r.expect(
        422,
        json!({"detail": [
            item_ctx("greater_than_equal", json!(["query", "page"]), "Input should be greater than or equal to 1", json!("0"), json!({"ge": 1})),
            item_ctx("less_than_equal", json!(["query", "size"]), "Input should be less than or equal to 200", json!("201"), json!({"le": 200})),
            item("bool_parsing", json!(["query", "only_active"]), "Input should be a valid boolean, unable to interpret input", json!("maybe")),
        ]}),
    );
    let r = app.get("/models?size=ten").send().await;
    r.expect(
        422,
        json!({"detail": [item("int_parsing", json!(["query", "size"]), "Input should be a valid integer, unable to parse string as an integer", json!("ten"))]}),
    );
}

// ---- courses ---------------------------------------------------------------------------

/// A course made through the partner API; returns its body.
async fn new_course(app: &TestApp, p: &Person, body: Value) -> Value {
    let r = app.post(&courses(p)).token(&p.token).json(body).send().await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn courses_are_listed_without_credentials(app: TestApp) {
    let (a, b) = (app.partner().await, app.person("partners", "Bea", "bea@example.com").await);
    let algebra = new_course(&app, &a, json!({"title": "Algebra", "course_key": "ALG-1"})).await;
    let active = new_course(&app, &b, json!({"title": "Prompting", "course_key": "P-101", "status": "active"})).await;
    // A course made by the admin API gets a key of its own.
    let made = app.admin_post("/admin/v1/courses", json!({"partner_id": a.id, "title": "무소속 과정"})).await;
    assert_eq!((&made["course_key"], &made["status"]), (&json!("course-2"), &json!("draft")));
    let admin = app.get(&format!("{}/{}", courses(&a), made["id"])).token(&a.token).send().await.body;

    // Everyone's courses, newest first, in GrowFit's page (`items` first).
    let all = json!({"items": [admin.clone(), active.clone(), algebra.clone()], "total": 3, "page": 1, "size": 50});
    app.get("/course").send().await.expect(200, all);
    app.get("/course?status=active")
        .send()
        .await
        .expect(200, json!({"items": [active], "total": 1, "page": 1, "size": 50}));
    app.get("/course?status=open").send().await.expect(200, json!({"items": [], "total": 0, "page": 1, "size": 50}));
    // `search` finds titles or keys, ASCII letters in any case.
    let found = json!({"items": [algebra], "total": 1, "page": 1, "size": 50});
    app.get("/course?search=alg-").send().await.expect(200, found.clone());
    app.get("/course?search=ALGEB").send().await.expect(200, found);
    app.get("/course?search=%EB%AC%B4%EC%86%8C%EC%86%8D")
        .send()
        .await
        .expect(200, json!({"items": [admin], "total": 1, "page": 1, "size": 50}));
    app.get("/course?limit=1&offset=1")
        .send()
        .await
        .expect(200, json!({"items": [active], "total": 3, "page": 2, "size": 1}));
    let r = app.get("/course?limit=0&offset=-1").send().await;
    r.expect(
        422,
        json!({"detail": [
            item_ctx("greater_than_equal", json!(["query", "limit"]), "Input should be greater than or equal to 1", json!("0"), json!({"ge": 1})),
            item_ctx("greater_than_equal", json!(["query", "offset"]), "Input should be greater than or equal to 0", json!("-1"), json!({"ge": 0})),
        ]}),
    );
}

async fn partners_manage_their_courses(app: TestApp) {
    let (p, other) = (app.partner().await, app.person("partners", "Bea", "bea@example.com").await);
    let full = json!({
        "title": " Spring term ", "course_key": "SPR-26", "status": "active", "start_date": "2026-03-02",
        "end_date": "2026-06-30T00:00:00", "description": "d", "id": 99, "unknown": true,
    });
    let r = app.post(&courses(&p)).token(&p.token).json(full).send().await;
    let spring = course(
        1,
        json!({"title": "Spring term", "course_key": "SPR-26", "status": "active", "start_date": "2026-03-02",
               "end_date": "2026-06-30", "description": "d"}),
    );
    r.expect(201, spring.clone());
    let spring_id = 1;
    let r = app.post(&courses(&p)).token(&p.token).json(json!({"title": "Intro", "course_key": "INTRO"})).send().await;
    r.expect(201, course(2, json!({"title": "Intro", "course_key": "INTRO"})));

    // Required fields, types and formats, reported together in the body's order.
    let r = app.post(&courses(&p)).token(&p.token).json(json!({})).send().await;
    r.expect(
        422,
        json!({"detail": [
            item("missing", json!(["body", "title"]), "Field required", json!({})),
            item("missing", json!(["body", "course_key"]), "Field required", json!({})),
        ]}),
    );
    let bad = json!({
        "title": null, "course_key": 5, "status": "open", "start_date": "2026-13-01",
        "end_date": "2026-03-02T10:00:00", "description": ["d"],
    });
    let r = app.post(&courses(&p)).token(&p.token).json(bad).send().await;
    r.expect(
        422,
        json!({"detail": [
            item("string_type", json!(["body", "title"]), "Input should be a valid string", json!(null)),
            item("string_type", json!(["body", "course_key"]), "Input should be a valid string", json!(5)),
            item_ctx("enum", json!(["body", "status"]), "Input should be 'draft', 'active' or 'archived'", json!("open"),
                json!({"expected": "'draft', 'active' or 'archived'"})),
            item("date_from_datetime_parsing", json!(["body", "start_date"]), "Input should be a valid date or datetime, invalid date separator", json!("2026-13-01")),
            item("date_from_datetime_inexact", json!(["body", "end_date"]), "Datetimes provided to dates should have zero time - e.g. be exact dates", json!("2026-03-02T10:00:00")),
            item("string_type", json!(["body", "description"]), "Input should be a valid string", json!(["d"])),
        ]}),
    );
    let r = app.post(&courses(&p)).token(&p.token).json(json!({"title": " ", "course_key": "k\u{0}"})).send().await;
    assert_eq!((r.status, r.body["detail"].as_array().map(Vec::len)), (422, Some(2)));
    // A key the partner uses is a 409 naming it (GrowFit answered 500); another partner may
    // use it.
    let r =
        app.post(&courses(&p)).token(&p.token).json(json!({"title": "Again", "course_key": " SPR-26 "})).send().await;
    r.expect(409, json!({"detail": "course_key \"SPR-26\" is already used by another course of this partner"}));
    let r = app
        .post(&courses(&other))
        .token(&other.token)
        .json(json!({"title": "Theirs", "course_key": "SPR-26"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let theirs = r.body["id"].as_i64().unwrap();

    // Reads: the partner's own courses only.
    let url = format!("{}/{spring_id}", courses(&p));
    app.get(&url).token(&p.token).send().await.expect(200, spring.clone());
    let not_found = json!({"detail": "Course not found"});
    for missing in [theirs, 999] {
        let path = format!("{}/{missing}", courses(&p));
        app.get(&path).token(&p.token).send().await.expect(404, not_found.clone());
        app.patch(&path).token(&p.token).json(json!({"title": "x"})).send().await.expect(404, not_found.clone());
        app.delete(&path).token(&p.token).send().await.expect(404, not_found.clone());
    }
    let r = app.get(&format!("{}/0", courses(&p))).token(&p.token).send().await;
    r.expect(422, json!({"detail": [item_ctx("greater_than_equal", json!(["path", "course_id"]), "Input should be greater than or equal to 1", json!("0"), json!({"ge": 1}))]}));
    let r = app.get(&courses(&p)).token(&p.token).send().await;
    assert_eq!((r.status, &r.body["total"]), (200, &json!(2)));
    assert_json(&r.body["items"][1], &spring);
    let r = app.get(&format!("{}?search=intro&limit=1", courses(&p))).token(&p.token).send().await;
    r.expect(200, json!({"items": [course(2, json!({"title": "Intro", "course_key": "INTRO"}))], "total": 1, "page": 1, "size": 1}));

    // PATCH: absent or null keeps (as in GrowFit); a value sets.
    let r = app
        .patch(&url)
        .token(&p.token)
        .json(json!({"title": "Spring", "description": null, "status": null}))
        .send()
        .await;
    let renamed = course(
        1,
        json!({"title": "Spring", "course_key": "SPR-26", "status": "active", "start_date": "2026-03-02",
               "end_date": "2026-06-30", "description": "d"}),
    );
    r.expect(200, renamed.clone());
    let r = app.patch(&url).token(&p.token).json(json!({"end_date": "2026-03-01"})).send().await;
    r.expect(422, json!({"detail": [value_error(json!(["body", "end_date"]), json!("2026-03-01"), "end_date must not be before start_date")]}));
    let r = app.patch(&url).token(&p.token).json(json!({"course_key": "INTRO"})).send().await;
    r.expect(409, json!({"detail": "course_key \"INTRO\" is already used by another course of this partner"}));
    let r = app.patch(&url).token(&p.token).json(json!({"status": "archived", "end_date": "2026-03-02"})).send().await;
    assert_eq!((r.status, &r.body["status"], &r.body["end_date"]), (200, &json!("archived"), &json!("2026-03-02")));

    // DELETE: the classes in the course stay, without it; each is a change of the class.
    let k = app.class(&p, json!({"name": "in spring", "course_id": spring_id})).await;
    let k_url = format!("{}/{}", classes(&p), k["id"]);
    let r = app.delete(&url).token(&p.token).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let r = app.get(&k_url).token(&p.token).send().await;
    assert_eq!((&r.body["course_id"], r.header("etag")), (&json!(null), Some("\"2\"")));
    assert_eq!(
        app.actions(&p, k["id"].as_i64().unwrap()).await,
        ["class.create", "invite_code.create", "class.update"]
    );
    app.get(&url).token(&p.token).send().await.expect(404, not_found.clone());
    app.delete(&url).token(&p.token).send().await.expect(404, not_found);
}

// ---- classes as GrowFit's front end writes them -----------------------------------------

async fn the_front_end_creates_and_edits_classes(app: TestApp) {
    let p = app.partner().await;
    let models = front_end_models(&app).await;
    let [gpt, gemini, _, haiku] = [0, 1, 2, 3].map(|i| models[i]["id"].as_i64().unwrap());
    let c =
        app.admin_post("/admin/v1/courses", json!({"partner_id": p.id, "title": "RAG"})).await["id"].as_i64().unwrap();
    // The create form's body, exactly: dates alone, placeholders, model 4 appended.
    let body = json!({
        "name": "Rag 구축", "description": "", "status": "active", "start_at": "2026-03-02", "end_at": "2026-03-02",
        "capacity": 30, "timezone": "UTC", "location": "string", "online_url": "string", "invite_only": false,
        "allowed_model_ids": [gpt, gemini, haiku], "course_id": c,
    });
    let r = app.post(&format!("{}?course_id={c}", classes(&p))).token(&p.token).json(body).send().await;
    let created = class(
        &p,
        1,
        json!({
            "name": "Rag 구축", "status": "active", "description": "", "start_at": "2026-03-02T00:00:00Z",
            "end_at": "2026-03-02T00:00:00Z", "capacity": 30, "timezone": "UTC", "invite_only": false,
            "primary_model_id": gpt, "allowed_model_ids": [gpt, gemini, haiku], "course_id": c,
        }),
    );
    r.expect(201, created.clone());
    let url = format!("{}/1", classes(&p));
    // The edit form's body, exactly: instants with milliseconds and `Z`, the placeholders
    // again (they keep what is stored), primary model 4.
    let edit = json!({
        "name": "Rag 구축 (2)", "status": "active", "description": "",
        "start_at": "2026-03-02T00:00:00.000Z", "end_at": "2026-03-04T23:59:59.000Z", "capacity": 25,
        "timezone": "UTC", "location": "string", "online_url": "string", "invite_only": false, "course_id": c,
        "primary_model_id": haiku, "allowed_model_ids": [gpt, haiku],
    });
    let r = app.patch(&url).token(&p.token).json(edit.clone()).send().await;
    let mut edited = created.clone();
    for (k, v) in [
        ("name", json!("Rag 구축 (2)")),
        ("end_at", json!("2026-03-04T23:59:59Z")),
        ("capacity", json!(25)),
        ("primary_model_id", json!(haiku)),
        ("allowed_model_ids", json!([gpt, haiku])),
        ("updated_at", json!("$ts")),
    ] {
        edited[k] = v;
    }
    r.expect(200, edited.clone());
    assert_eq!(r.header("etag"), Some("\"2\""));
    // Sent again, it changes nothing.
    let r = app.patch(&url).token(&p.token).json(edit).send().await;
    assert_eq!((r.status, r.header("etag")), (200, Some("\"2\"")));
    // A stored location and URL are kept by the placeholders, not overwritten.
    let r = app
        .patch(&url)
        .token(&p.token)
        .json(json!({"location": "Room 1", "online_url": "https://meet.example/x"}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let r = app.patch(&url).token(&p.token).json(json!({"location": "string", "online_url": "string"})).send().await;
    assert_eq!(
        (r.header("etag"), &r.body["location"], &r.body["online_url"]),
        (Some("\"3\""), &json!("Room 1"), &json!("https://meet.example/x"))
    );

    // `course_id` 0 is no course, in the query and in the body; a date alone is midnight in
    // the class's zone.
    let body = json!({"name": "no course", "course_id": 0, "timezone": "Asia/Seoul", "start_at": "2026-03-02"});
    let r = app.post(&format!("{}?course_id=0", classes(&p))).token(&p.token).json(body).send().await;
    assert_eq!(
        (r.status, &r.body["course_id"], &r.body["start_at"]),
        (201, &json!(null), &json!("2026-03-01T15:00:00Z"))
    );
    let r = app.patch(&url).token(&p.token).json(json!({"course_id": 0})).send().await;
    assert_eq!((r.status, &r.body["course_id"], r.header("etag")), (200, &json!(null), Some("\"4\"")));
    // Any partner's course may be named: the form lists every course of `GET /course`.
    let other = app.person("partners", "Bea", "bea@example.com").await;
    let theirs = app.admin_post("/admin/v1/courses", json!({"partner_id": other.id, "title": "무소속 과정"})).await;
    let theirs = theirs["id"].as_i64().unwrap();
    let r = app.patch(&url).token(&p.token).json(json!({"course_id": theirs})).send().await;
    assert_eq!((r.status, &r.body["course_id"]), (200, &json!(theirs)));
    let r = app
        .post(&format!("{}?course_id={theirs}", classes(&p)))
        .token(&p.token)
        .json(json!({"name": "x"}))
        .send()
        .await;
    assert_eq!((r.status, &r.body["course_id"]), (201, &json!(theirs)));
}

async fn classes_refuse_what_growfit_would_misstore(app: TestApp) {
    let p = app.partner().await;
    let models = front_end_models(&app).await;
    let gpt = models[0]["id"].as_i64().unwrap();
    // A course that does not exist (GrowFit: a foreign key error, 500), where it was given.
    let r = app.post(&format!("{}?course_id=77", classes(&p))).token(&p.token).json(json!({"name": "x"})).send().await;
    r.expect(422, json!({"detail": [value_error(json!(["query", "course_id"]), json!("77"), "course 77 not found")]}));
    let body = json!({"name": "x", "course_id": 78, "allowed_model_ids": [gpt, 99], "primary_model_id": 98});
    let r = app.post(&classes(&p)).token(&p.token).json(body).send().await;
    r.expect(
        422,
        json!({"detail": [
            value_error(json!(["body", "course_id"]), json!(78), "course 78 not found"),
            value_error(json!(["body", "primary_model_id"]), json!(98), "unknown model id 98"),
            value_error(json!(["body", "allowed_model_ids", 1]), json!(99), "unknown model id 99"),
        ]}),
    );
    // An end before the start; a URL that is no placeholder and no URL.
    let body = json!({"name": "x", "start_at": "2026-03-02", "end_at": "2026-03-01"});
    let r = app.post(&classes(&p)).token(&p.token).json(body).send().await;
    r.expect(
        422,
        json!({"detail": [value_error(json!(["body", "end_at"]), json!("2026-03-01"), "end_at must not be before start_at")]}),
    );
    let r = app.post(&classes(&p)).token(&p.token).json(json!({"name": "x", "online_url": "zoom link"})).send().await;
    r.expect(
        422,
        json!({"detail": [item_ctx("url_parsing", json!(["body", "online_url"]), "Input should be a valid URL, relative URL without a base",
            json!("zoom link"), json!({"error": "relative URL without a base"}))]}),
    );
    // Nothing was created.
    let r = app.get(&classes(&p)).token(&p.token).send().await;
    assert_eq!((r.status, &r.body["total"]), (200, &json!(0)));
}

// ---- budgets ---------------------------------------------------------------------------

async fn budgets_are_amounts(app: TestApp) {
    let p = app.partner().await;
    for (given, shown) in
        [(json!(100), "100.00"), (json!("250.5"), "250.50"), (json!(0), "0.00"), (json!(12.25), "12.25")]
    {
        let r = app.post(&classes(&p)).token(&p.token).json(json!({"name": "b", "budget_limit": given})).send().await;
        assert_eq!((r.status, &r.body["budget_limit"]), (201, &json!(shown)), "{given}");
    }
    let url = format!("{}/1", classes(&p));
    let r = app.patch(&url).token(&p.token).json(json!({"budget_limit": "1000.10"})).send().await;
    assert_eq!((r.status, &r.body["budget_limit"], r.header("etag")), (200, &json!("1000.10"), Some("\"2\"")));
    // The same amount written otherwise is no change.
    let r = app.patch(&url).token(&p.token).json(json!({"budget_limit": 1000.1})).send().await;
    assert_eq!((r.status, r.header("etag")), (200, Some("\"2\"")));
    let r = app.patch(&url).token(&p.token).json(json!({"name": "renamed"})).send().await;
    assert_eq!((&r.body["budget_limit"], r.header("etag")), (&json!("1000.10"), Some("\"3\"")));
    let r = app.patch(&url).token(&p.token).json(json!({"budget_limit": null})).send().await;
    assert_eq!((&r.body["budget_limit"], r.header("etag")), (&json!(null), Some("\"4\"")));
    let r = app.get(&format!("{url}/history?limit=1")).token(&p.token).send().await;
    assert_eq!(
        (&r.body["items"][0]["before"]["budget_limit"], &r.body["items"][0]["after"]["budget_limit"]),
        (&json!("1000.10"), &json!(null))
    );

    let loc = json!(["body", "budget_limit"]);
    let cases = [
        (
            json!(-1),
            item_ctx(
                "greater_than_equal",
                loc.clone(),
                "Input should be greater than or equal to 0",
                json!(-1),
                json!({"ge": 0}),
            ),
        ),
        (
            json!("1.001"),
            item_ctx(
                "decimal_max_places",
                loc.clone(),
                "Decimal input should have no more than 2 decimal places",
                json!("1.001"),
                json!({"decimal_places": 2}),
            ),
        ),
        (
            json!("1000000000000"),
            item_ctx(
                "decimal_whole_digits",
                loc.clone(),
                "Decimal input should have no more than 12 digits before the decimal point",
                json!("1000000000000"),
                json!({"whole_digits": 12}),
            ),
        ),
        (json!("lots"), item("decimal_parsing", loc.clone(), "Input should be a valid decimal", json!("lots"))),
        (json!("NaN"), item("finite_number", loc.clone(), "Input should be a finite number", json!("NaN"))),
        (
            json!(true),
            item(
                "decimal_type",
                loc.clone(),
                "Decimal input should be an integer, float, string or Decimal object",
                json!(true),
            ),
        ),
        (
            json!([1]),
            item(
                "decimal_type",
                loc.clone(),
                "Decimal input should be an integer, float, string or Decimal object",
                json!([1]),
            ),
        ),
    ];
    for (given, error) in cases {
        let r = app.patch(&url).token(&p.token).json(json!({"budget_limit": given})).send().await;
        r.expect(422, json!({"detail": [error]}));
    }
    let r = app.post(&classes(&p)).token(&p.token).json(json!({"budget_limit": -5})).send().await;
    assert_eq!((r.status, r.body["detail"].as_array().map(Vec::len)), (422, Some(2)), "name and budget together");
}

// ---- class cards and the cost estimate ---------------------------------------------------

fn card(class: &Value, fields: Value) -> Value {
    let mut body = json!({
        "id": class["id"], "name": class["name"], "status": class["status"], "description": class["description"],
        "start_at": class["start_at"], "end_at": class["end_at"], "capacity": class["capacity"],
        "budget_limit": class["budget_limit"], "student_count": 0, "conversation_count": 0, "total_cost": "0",
        "days_remaining": null, "budget_used": "0", "budget_percent": "0", "budget_status": "ok",
        "invite_code": class["invite_codes"][0]["code"], "created_at": class["created_at"],
    });
    for (k, v) in fields.as_object().unwrap() {
        assert!(body.get(k).is_some(), "unknown card field {k}");
        body[k] = v.clone();
    }
    body
}

async fn summaries_are_class_cards(app: TestApp) {
    let p = app.partner().await;
    let other = app.person("partners", "Bea", "bea@example.com").await;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let in_three_days = format!("{}T12:00:00Z", today.checked_add(jiff::Span::new().days(3)).unwrap());
    let ago = format!("{}T12:00:00Z", today.checked_sub(jiff::Span::new().days(2)).unwrap());
    let running = app
        .class(&p, json!({"name": "running", "status": "active", "capacity": 10, "budget_limit": "50", "end_at": in_three_days}))
        .await;
    let over = app.class(&p, json!({"name": "over", "status": "ended", "start_at": ago.clone(), "end_at": ago})).await;
    let planned = app.class(&p, json!({"name": "planned", "description": "d"})).await;
    app.class(&other, json!({"name": "theirs"})).await;
    let s = app.student().await;
    assert_eq!(app.redeem(&s, running["invite_codes"][0]["code"].as_str().unwrap()).await.status, 201);
    let running = app.get(&format!("{}/{}", classes(&p), running["id"])).token(&p.token).send().await.body;

    let summary = format!("{}/summary", classes(&p));
    let cards = json!([
        card(&planned, json!({})),
        card(&over, json!({"days_remaining": -2})),
        card(&running, json!({"student_count": 1, "days_remaining": 3})),
    ]);
    app.get(&summary).token(&p.token).send().await.expect(200, cards.clone());
    app.get(&format!("{summary}?status=")).token(&p.token).send().await.expect(200, cards);
    app.get(&format!("{summary}?status=active"))
        .token(&p.token)
        .send()
        .await
        .expect(200, json!([card(&running, json!({"student_count": 1, "days_remaining": 3}))]));
    // GrowFit compares the status as text: one that is no status matches nothing.
    app.get(&format!("{summary}?status=gone")).token(&p.token).send().await.expect(200, json!([]));
    app.get(&format!("{summary}?limit=1&offset=1"))
        .token(&p.token)
        .send()
        .await
        .expect(200, json!([card(&over, json!({"days_remaining": -2}))]));
    // A disabled code is not the card's code.
    let code_id = planned["invite_codes"][0]["id"].as_i64().unwrap();
    let r = app
        .patch(&format!("{}/{}/invite-codes/{code_id}", classes(&p), planned["id"]))
        .token(&p.token)
        .json(json!({"status": "disabled"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(&format!("{summary}?limit=1")).token(&p.token).send().await;
    assert_eq!((r.status, &r.body[0]["invite_code"]), (200, &json!(null)));
    let r = app.get(&format!("{summary}?limit=101")).token(&p.token).send().await;
    r.expect(422, json!({"detail": [item_ctx("less_than_equal", json!(["query", "limit"]), "Input should be less than or equal to 100", json!("101"), json!({"le": 100}))]}));
    // Another partner sees their own cards only.
    let r = app.get(&format!("{}/summary", classes(&other))).token(&other.token).send().await;
    assert_eq!((r.status, r.body.as_array().map(Vec::len), &r.body[0]["name"]), (200, Some(1), &json!("theirs")));
}

async fn cost_estimates_use_the_catalogue(app: TestApp) {
    let p = app.partner().await;
    let url = format!("{}/cost-estimate", classes(&p));
    // Without prices in the catalogue: GrowFit's constants, digits and all.
    let r =
        app.post(&url).token(&p.token).json(json!({"expected_students": 10, "model_count": 1, "days": 5})).send().await;
    r.expect(200, json!({"platform_fee": "50000", "api_fee_estimate": "52500.0", "total": "102500.0"}));
    // Lax integers, as pydantic reads them.
    let r = app
        .post(&url)
        .token(&p.token)
        .json(json!({"expected_students": "10", "model_count": 1.0, "days": 5}))
        .send()
        .await;
    r.expect(200, json!({"platform_fee": "50000", "api_fee_estimate": "52500.0", "total": "102500.0"}));
    // Priced models: the dearest first; a slot the catalogue cannot fill costs 1500.
    let priced = |name: &str, fee: &str, extra: Value| {
        let mut body = json!({"name": name, "provider": "acme", "default_pricing": {"daily_fee_per_student": fee}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    model(&app, priced("a", "2000", json!({}))).await;
    model(&app, priced("b", "1000.50", json!({}))).await;
    model(&app, priced("retired", "9999", json!({"is_active": false}))).await;
    model(&app, priced("embedder", "8888", json!({"modality": "embedding"}))).await;
    model(&app, json!({"name": "unpriced", "provider": "acme"})).await;
    let r =
        app.post(&url).token(&p.token).json(json!({"expected_students": 2, "model_count": 3, "days": 1})).send().await;
    // (2000.00 + 1000.50 + 1500) × 2 students × 1 day × 0.7
    r.expect(200, json!({"platform_fee": "10000", "api_fee_estimate": "6300.700", "total": "16300.700"}));
    let r =
        app.post(&url).token(&p.token).json(json!({"expected_students": 1, "model_count": 1, "days": 30})).send().await;
    r.expect(200, json!({"platform_fee": "5000", "api_fee_estimate": "42000.000", "total": "47000.000"}));

    let r = app.post(&url).token(&p.token).json(json!({})).send().await;
    r.expect(
        422,
        json!({"detail": [
            item("missing", json!(["body", "expected_students"]), "Field required", json!({})),
            item("missing", json!(["body", "model_count"]), "Field required", json!({})),
            item("missing", json!(["body", "days"]), "Field required", json!({})),
        ]}),
    );
    let body = json!({"expected_students": 0, "model_count": "x", "days": 36601});
    let r = app.post(&url).token(&p.token).json(body).send().await;
    r.expect(
        422,
        json!({"detail": [
            item_ctx("greater_than_equal", json!(["body", "expected_students"]), "Input should be greater than or equal to 1", json!(0), json!({"ge": 1})),
            item("int_parsing", json!(["body", "model_count"]), "Input should be a valid integer, unable to parse string as an integer", json!("x")),
            item_ctx("less_than_equal", json!(["body", "days"]), "Input should be less than or equal to 36600", json!(36601), json!({"le": 36600})),
        ]}),
    );
    let r = app.post(&url).token(&p.token).raw(b"{").send().await;
    assert_eq!((r.status, &r.body["detail"][0]["type"]), (422, &json!("json_invalid")));
}

engine_tests!(
    admin_models_take_growfit_fields,
    models_are_listed_without_credentials,
    courses_are_listed_without_credentials,
    partners_manage_their_courses,
    the_front_end_creates_and_edits_classes,
    classes_refuse_what_growfit_would_misstore,
    budgets_are_amounts,
    summaries_are_class_cards,
    cost_estimates_use_the_catalogue,
);
