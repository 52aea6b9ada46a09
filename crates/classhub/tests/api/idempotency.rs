//! `Idempotency-Key` on the posts that create or join, in every dialect: a repeat replays
//! the first answer and changes nothing; another request under the same key is refused; a
//! refused request gives its key back; a hundred concurrent retries make one change.

use http::Method;
use serde_json::{Value, json};

use crate::cloudshare::class_body;
use crate::engine_tests;
use crate::ocariot::World;
use crate::support::{Resp, TestApp};

const REPLAYED: &str = "idempotent-replayed";

/// The second answer is the first, replayed: status, body and the headers describing it.
fn replays(first: &Resp, again: &Resp) {
    assert_eq!((again.status, &again.body), (first.status, &first.body), "{}", again.text);
    assert_eq!(again.header(REPLAYED), Some("true"));
    assert_eq!(first.header(REPLAYED), None);
    for h in ["content-type", "etag", "location"] {
        assert_eq!(again.header(h), first.header(h), "{h}");
    }
    assert_ne!(again.header("x-request-id"), first.header("x-request-id"));
}

/// A hundred sendings of one request under one key, at once: each answer is the first
/// answer (made or replayed) or a 409 while the first is still running.
fn one_answer(answers: &[Resp], made: u16, in_flight: &Value) -> Value {
    let made: Vec<&Resp> = answers.iter().filter(|r| r.status == made).collect();
    assert!(!made.is_empty());
    assert_eq!(made.iter().filter(|r| r.header(REPLAYED).is_none()).count(), 1, "made once");
    assert!(made.iter().all(|r| r.body == made[0].body));
    for r in answers.iter().filter(|r| r.status != made[0].status) {
        assert_eq!((r.status, &r.body), (409, in_flight), "{}", r.text);
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    made[0].body.clone()
}

async fn partner_posts_take_keys(app: TestApp) {
    let p = app.partner().await;
    let url = format!("/partner/{}/classes", p.id);
    let send = |key: &str, body: Value| app.post(&url).token(&p.token).header("idempotency-key", key).json(body);
    // The draft's form (a quoted string) and the bare text are the same key.
    let first = send("\"k-1\"", json!({"name": "once"})).send().await;
    assert_eq!(first.status, 201, "{}", first.text);
    replays(&first, &send("k-1", json!({"name": "once"})).send().await);
    let list = app.get(&url).token(&p.token).send().await;
    assert_eq!(list.body["total"], 1);
    send("k-1", json!({"name": "other"}))
        .send()
        .await
        .expect(422, json!({"detail": "this Idempotency-Key was used with a different request"}));
    let malformed = json!({"detail": "Idempotency-Key must be a string of 1 to 255 visible ASCII characters"});
    for bad in ["\"a\"b\"", "", &"k".repeat(256)] {
        send(bad, json!({"name": "x"})).send().await.expect(400, malformed.clone());
    }
    // A refused request changed nothing and gives its key back.
    assert_eq!(send("k-2", json!({"name": ""})).send().await.status, 422);
    let fixed = send("k-2", json!({"name": "fixed"})).send().await;
    assert_eq!((fixed.status, fixed.header(REPLAYED)), (201, None));
    // Keys are the client's own: another partner's k-1 is another key.
    let q = app.partner().await;
    let theirs = app
        .post(&format!("/partner/{}/classes", q.id))
        .token(&q.token)
        .header("idempotency-key", "k-1")
        .json(json!({"name": "once"}))
        .send()
        .await;
    assert_eq!((theirs.status, theirs.header(REPLAYED)), (201, None));
    // A request without a valid token is refused as without a key, and keeps nothing.
    let stranger = app.post(&url).token("nope").header("idempotency-key", "k-1").json(json!({"name": "once"}));
    assert_eq!(stranger.send().await.status, 401);
    // Joining: a student's redemption under a key enrolls once.
    let s = app.student().await;
    let code = first.body["invite_codes"][0]["code"].as_str().unwrap().to_string();
    let join = || {
        app.post("/user/class/invites/redeem")
            .token(&s.token)
            .header("idempotency-key", "join")
            .json(json!({"code": code}))
    };
    let joined = join().send().await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    replays(&joined, &join().send().await);
}

async fn partner_retries_at_once_make_one_class(app: TestApp) {
    let p = app.partner().await;
    let url = format!("/partner/{}/classes", p.id);
    let send = || app.post(&url).token(&p.token).header("idempotency-key", "storm").json(json!({"name": "one"})).send();
    let answers = futures::future::join_all((0..100).map(|_| send())).await;
    let in_flight = json!({"detail": "a request with this Idempotency-Key is still being processed; retry later"});
    let made = one_answer(&answers, 201, &in_flight);
    let list = app.get(&url).token(&p.token).send().await;
    assert_eq!((list.body["total"].clone(), list.body["items"][0]["id"].clone()), (json!(1), made["id"].clone()));
    assert_eq!(send().await.body, made);
}

async fn ocariot_posts_take_keys(app: TestApp) {
    let w = World::new(&app).await;
    let (edu, token) = w.owner("educators", "edu").await;
    let child = w.child("kid").await;
    let url = format!("/v1/educators/{edu}/children/groups");
    let send = || {
        app.post(&url)
            .token(&token)
            .header("idempotency-key", "g")
            .json(json!({"name": "G", "children": [child]}))
            .send()
    };
    let answers = futures::future::join_all((0..100).map(|_| send())).await;
    let in_flight =
        json!({"code": 409, "message": "a request with this Idempotency-Key is still being processed; retry later"});
    let made = one_answer(&answers, 201, &in_flight);
    let first = answers.iter().find(|r| r.status == 201 && r.header(REPLAYED).is_none()).unwrap();
    replays(first, &send().await);
    let list = app.get(&url).token(&token).send().await;
    assert_eq!((list.body.as_array().unwrap().len(), &list.body[0]["id"]), (1, &made["id"]));
    let other = app.post(&url).token(&token).header("idempotency-key", "g").json(json!({"name": "H", "children": []}));
    other
        .send()
        .await
        .expect(422, json!({"code": 422, "message": "this Idempotency-Key was used with a different request"}));
}

async fn cloudshare_posts_take_keys(app: TestApp) {
    let p = app.cs_project("acme").await;
    let body = class_body(&p, json!({}));
    // Each sending is signed anew (a new nonce), as a client's retry is.
    let send = |key: &str, body: &Value| {
        app.call(Method::POST, "/api/v3/class")
            .header("idempotency-key", key)
            .json(body.clone())
            .signed(&p.instructor)
            .send()
    };
    let answers = futures::future::join_all((0..100).map(|_| send("c", &body))).await;
    let in_flight = json!({"message": "a request with this Idempotency-Key is still being processed; retry later", "code": "0x409"});
    let made = one_answer(&answers, 200, &in_flight);
    let first = answers.iter().find(|r| r.status == 200 && r.header(REPLAYED).is_none()).unwrap();
    replays(first, &send("c", &body).await);
    let list = app.get("/api/v3/class").signed(&p.instructor).send().await;
    let ids: Vec<&Value> = list.body.as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, [&made["id"]]);
    let other = class_body(&p, json!({"name": "another"}));
    let r = send("c", &other).await;
    assert_eq!((r.status, &r.body["message"]), (422, &json!("this Idempotency-Key was used with a different request")));
    // Adding a student under a key adds one.
    let students = format!("/api/v3/class/{}/students", made["id"].as_str().unwrap());
    let add = || {
        app.call(Method::POST, &students)
            .header("idempotency-key", "stu")
            .json(json!({"email": "stu@example.com"}))
            .signed(&p.instructor)
            .send()
    };
    let added = add().await;
    assert_eq!(added.status, 200, "{}", added.text);
    replays(&added, &add().await);
    let roster = app.get(&students).signed(&p.instructor).send().await;
    assert_eq!(roster.body.as_array().unwrap().len(), 1);
}

engine_tests!(
    partner_posts_take_keys,
    partner_retries_at_once_make_one_class,
    ocariot_posts_take_keys,
    cloudshare_posts_take_keys,
);
