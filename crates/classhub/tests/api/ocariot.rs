//! The OCARIoT dialect: every message byte for byte, every role's token, both owner kinds,
//! paging and sorting, cascades.

use serde_json::{Value, json};

use crate::engine_tests;
use crate::support::{OCARIOT_ADMIN, Resp, TestApp, test_jwt};

const ID_DESC: &str = "A 24-byte hex ID similar to this: 507f191e810c19729de860ea is expected.";

fn err(code: u16, message: &str) -> Value {
    json!({"code": code, "message": message})
}

fn err_d(code: u16, message: &str, description: &str) -> Value {
    json!({"code": code, "message": message, "description": description})
}

fn unauthorized(description: &str) -> Value {
    json!({"code": 401, "message": "UNAUTHORIZED", "description": description, "redirect_link": "/auth"})
}

fn forbidden() -> Value {
    err_d(403, "FORBIDDEN", "Authorization failed due to insufficient permissions.")
}

fn invalid(description: &str) -> Value {
    err_d(400, "One or more request fields are invalid...", description)
}

/// An OCARIoT world: the admin's token and an institution.
pub(crate) struct World<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) admin: String,
    pub(crate) institution: String,
}

impl<'a> World<'a> {
    pub(crate) async fn new(app: &'a TestApp) -> World<'a> {
        let admin = login(app, "admin", OCARIOT_ADMIN).await;
        let r =
            app.post("/v1/institutions").token(&admin).json(json!({"type": "School", "name": "Escola A"})).send().await;
        assert_eq!(r.status, 201, "{}", r.text);
        World { app, admin, institution: r.body["id"].as_str().unwrap().to_string() }
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Resp {
        self.app.post(path).token(&self.admin).json(body).send().await
    }

    pub(crate) async fn child(&self, username: &str) -> String {
        let body = json!({"username": username, "password": "pw", "institution_id": self.institution, "gender": "male", "age": 11});
        let r = self.post("/v1/children", body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// An educator or health professional, with their token.
    pub(crate) async fn owner(&self, kind: &str, username: &str) -> (String, String) {
        let r = self
            .post(
                &format!("/v1/{kind}"),
                json!({"username": username, "password": "pw", "institution_id": self.institution}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        (r.body["id"].as_str().unwrap().to_string(), login(self.app, username, "pw").await)
    }
}

pub(crate) async fn login(app: &TestApp, username: &str, password: &str) -> String {
    let r = app.post("/v1/auth").json(json!({"username": username, "password": password})).send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["access_token"].as_str().unwrap().to_string()
}

fn child_json(id: &str, username: &str, institution: &str) -> Value {
    json!({"id": id, "username": username, "institution_id": institution, "gender": "male", "age": "11", "fitbit_status": "none"})
}

fn claims(token: &str) -> Value {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&["ocariot"]);
    test_jwt().check::<Value>(token, v).unwrap()
}

/// A token of `claims` signed with the server's own key.
pub(crate) fn forged(claims: Value) -> String {
    test_jwt().sign(&claims).unwrap()
}

/// A token of `claims` signed with an HS256 secret that is not the server's (RS256) key.
pub(crate) fn forged_elsewhere(claims: Value, secret: &[u8]) -> String {
    classhub_web::jwt::JwtKeys::hs256(secret).unwrap().sign(&claims).unwrap()
}

async fn sign_in_and_tokens(app: TestApp) {
    let w = World::new(&app).await;
    let (edu, edu_token) = w.owner("educators", "teacher").await;
    let c = claims(&edu_token);
    assert_eq!((&c["sub"], &c["sub_type"], &c["iss"]), (&json!(edu), &json!("educator"), &json!("ocariot")));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 86400);
    assert!(c["scope"].as_str().unwrap().split(' ').any(|s| s == "childrengroups:update"));
    let admin = claims(&w.admin);
    assert_eq!(admin["sub_type"], "admin");
    assert_eq!(
        admin["scope"],
        "institutions:create children:create children:update educators:create educators:read healthprofessionals:create healthprofessionals:read families:create applications:create users:delete"
    );
    // Wrong credentials, missing and malformed fields.
    let auth = |body: Value| app.post("/v1/auth").json(body);
    auth(json!({"username": "teacher", "password": "nope"}))
        .send()
        .await
        .expect(401, err(401, "Invalid username or password!"));
    auth(json!({"username": "nobody", "password": "pw"}))
        .send()
        .await
        .expect(401, err(401, "Invalid username or password!"));
    auth(json!({"username": "admin", "password": "pw"}))
        .send()
        .await
        .expect(401, err(401, "Invalid username or password!"));
    auth(json!({}))
        .send()
        .await
        .expect(400, err_d(400, "Required fields were not provided...", "username, password are required!"));
    auth(json!({"username": "x"}))
        .send()
        .await
        .expect(400, err_d(400, "Required fields were not provided...", "password are required!"));
    auth(json!({"username": "", "password": "pw"}))
        .send()
        .await
        .expect(400, invalid("username must have at least one character!"));
    auth(json!({"username": 5, "password": "pw"})).send().await.expect(400, invalid("username must be a string!"));
    let r = app.post("/v1/auth").raw(b"{not json").send().await;
    r.expect(
        400,
        err_d(
            400,
            "Unable to process request body!",
            "Please verify that the JSON provided in the request body has a valid format and try again.",
        ),
    );
    // Tokens the gateway refuses, each with its reason.
    let groups = format!("/v1/educators/{edu}/children/groups");
    app.get(&groups)
        .send()
        .await
        .expect(401, unauthorized("Authentication failed for lack of authentication credentials."));
    app.get(&groups)
        .header("authorization", "Bearer ")
        .send()
        .await
        .expect(401, unauthorized("Authentication failed for lack of authentication credentials."));
    app.get(&groups)
        .token("garbage")
        .send()
        .await
        .expect(401, unauthorized("Authentication failed due to access token issues."));
    let now = jiff::Timestamp::now().as_second();
    let mut expired = c.clone();
    expired["exp"] = json!(now - 10);
    app.get(&groups)
        .token(&forged(expired))
        .send()
        .await
        .expect(401, unauthorized("Authentication failed because access token is expired."));
    let mut foreign = c.clone();
    foreign["iss"] = json!("someone-else");
    app.get(&groups)
        .token(&forged(foreign))
        .send()
        .await
        .expect(401, unauthorized("Authentication failed because the access token contains invalid parameters."));
    app.get(&groups)
        .token(&forged_elsewhere(c.clone(), b"another key entirely, not ours!!"))
        .send()
        .await
        .expect(401, unauthorized("Authentication failed due to access token issues."));
    // A deleted user's token stops working.
    let r = app.delete(&format!("/v1/users/{edu}")).token(&w.admin).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    app.get(&groups)
        .token(&edu_token)
        .send()
        .await
        .expect(401, unauthorized("The token user is not properly registered as a consumer at the gateway."));
}

/// Failed sign-ins count per username at an address (and per address, ten times more
/// generously): the guesser's address is refused, with the RateLimit fields, while the
/// real user signs in from elsewhere.
async fn failed_logins_are_rate_limited(app: TestApp) {
    let w = World::new(&app).await;
    w.owner("educators", "teacher").await;
    let sign_in = |peer: &str, password: &str| {
        app.post("/v1/auth").peer(peer).json(json!({"username": "teacher", "password": password})).send()
    };
    for _ in 0..10 {
        assert_eq!(sign_in("10.9.9.9:1", "wrong").await.status, 401);
    }
    let r = sign_in("10.9.9.9:2", "pw").await;
    r.expect(429, err_d(429, "Too many failed login attempts!", "Wait a while before trying again."));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((599..=600).contains(&wait), "{wait}");
    assert_eq!(r.header("ratelimit-policy"), Some("\"login\";q=10;w=600"));
    assert_eq!(r.header("ratelimit"), Some(format!("\"login\";r=0;t={wait}").as_str()));
    assert_eq!(sign_in("10.8.8.8:1", "pw").await.status, 200, "the real user, elsewhere");
    // The shared state the metrics read: one counter refuses (the name at 10.9.9.9) of
    // those kept (every sign-in's name and address).
    let now = jiff::Timestamp::now();
    let state = app.store.read(classhub_store::ops::security::ThrottleState { now }).await.unwrap();
    assert_eq!(state.blocked, 1);
    assert!(state.tracked >= 3, "{state:?}");

    // Behind a trusted load balancer, the client is the address it forwarded for: one
    // client's guesses do not refuse another, and a client cannot choose its address by
    // writing X-Forwarded-For itself.
    let via_proxy = |client: &str, password: &str| {
        app.post("/v1/auth")
            .peer("10.200.0.1:443")
            .header("x-forwarded-for", client)
            .json(json!({"username": "teacher", "password": password}))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(via_proxy("203.0.113.5", "wrong").await.status, 401);
    }
    assert_eq!(via_proxy("203.0.113.5", "pw").await.status, 429);
    assert_eq!(via_proxy("198.51.100.7, 203.0.113.5", "pw").await.status, 429, "a forged first hop");
    assert_eq!(via_proxy("198.51.100.7", "pw").await.status, 200, "another client of the proxy");
    // An untrusted peer's X-Forwarded-For is its own claim, not believed.
    let r = app
        .post("/v1/auth")
        .peer("10.9.9.9:3")
        .header("x-forwarded-for", "198.51.100.8")
        .json(json!({"username": "teacher", "password": "pw"}))
        .send()
        .await;
    assert_eq!(r.status, 429);
}

async fn institutions_and_people(app: TestApp) {
    let w = World::new(&app).await;
    let r = w
        .post(
            "/v1/institutions",
            json!({"type": "School", "name": "Escola B", "address": "Rua 1", "latitude": -7.2, "longitude": "-35.9"}),
        )
        .await;
    r.expect(201, json!({"id": "$any", "type": "School", "name": "Escola B", "address": "Rua 1", "latitude": "-7.2", "longitude": "-35.9"}));
    w.post("/v1/institutions", json!({"type": "Other", "name": "Escola B"}))
        .await
        .expect(409, err(409, "Institution is already registered..."));
    w.post("/v1/institutions", json!({}))
        .await
        .expect(400, err_d(400, "Required fields were not provided...", "name, type are required!"));
    w.post("/v1/institutions", json!({"name": "X", "type": 3})).await.expect(400, invalid("type must be a string!"));
    // Children.
    let r = w.post("/v1/children", json!({"username": "BR0001", "password": "pw", "institution_id": w.institution, "gender": "female", "age": "9", "age_calc_date": "2024-01-31"})).await;
    r.expect(201, json!({"id": "$any", "username": "BR0001", "institution_id": w.institution, "gender": "female", "age": "9", "age_calc_date": "2024-01-31", "fitbit_status": "none"}));
    let child = r.body["id"].as_str().unwrap().to_string();
    let c = |body: Value| w.post("/v1/children", body);
    c(json!({})).await.expect(
        400,
        err_d(
            400,
            "Required fields were not provided...",
            "username, password, institution, gender, age are required!",
        ),
    );
    c(json!({"username": "x", "password": "y", "institution_id": w.institution, "gender": "other", "age": 1}))
        .await
        .expect(400, invalid("The names of the allowed genders are: male, female."));
    c(json!({"username": "x", "password": "y", "institution_id": w.institution, "gender": "male", "age": 0}))
        .await
        .expect(400, invalid("Age cannot be less than or equal to zero!"));
    c(json!({"username": "x", "password": "y", "institution_id": w.institution, "gender": "male", "age": null}))
        .await
        .expect(400, invalid("age must be a string!"));
    c(json!({"username": "x", "password": "y", "institution_id": w.institution, "gender": "male", "age": 5, "age_calc_date": "2019-13-01"})).await
        .expect(400, err_d(400, "Date: 2019-13-01, is not in valid ISO 8601 format.", "Date must be in the format: yyyy-MM-dd"));
    c(json!({"username": "x", "password": "y", "institution_id": "123", "gender": "male", "age": 5}))
        .await
        .expect(400, err_d(400, "Parameter {institution_id} is not in valid format!", ID_DESC));
    c(json!({"username": "x", "password": "y", "institution_id": "507f191e810c19729de860ea", "gender": "male", "age": 5})).await
        .expect(400, err_d(400, "The institution provided does not have a registration.", "It is necessary that the institution be registered before trying again."));
    c(json!({"username": "BR0001", "password": "y", "institution_id": w.institution, "gender": "male", "age": 5}))
        .await
        .expect(409, err(409, "Child is already registered..."));
    // Changing a child.
    let r = app
        .patch(&format!("/v1/children/{child}"))
        .token(&w.admin)
        .json(json!({"age": 10, "gender": "male"}))
        .send()
        .await;
    assert_eq!((r.status, &r.body["age"], &r.body["gender"]), (200, &json!("10"), &json!("male")));
    let r = app.patch(&format!("/v1/children/{child}")).token(&w.admin).json(json!({"password": "new"})).send().await;
    r.expect(400, err_d(400, "This parameter could not be updated.", &format!("A specific route to update user password already exists.Access: PATCH /users/{child}/password to update your password.")));
    app.patch("/v1/children/123")
        .token(&w.admin)
        .json(json!({}))
        .send()
        .await
        .expect(400, err_d(400, "Parameter {child_id} is not in valid format!", ID_DESC));
    app.patch("/v1/children/507f191e810c19729de860ea").token(&w.admin).json(json!({"age": 3})).send().await.expect(
        404,
        err_d(
            404,
            "Child not found!",
            "Child not found or already removed. A new operation for the same resource is not required.",
        ),
    );
    // Educators, health professionals, families, applications.
    let r =
        w.post("/v1/educators", json!({"username": "edu", "password": "pw", "institution_id": w.institution})).await;
    r.expect(201, json!({"id": "$any", "username": "edu", "institution_id": w.institution, "children_groups": []}));
    w.post("/v1/educators", json!({"username": "edu", "password": "pw", "institution_id": w.institution}))
        .await
        .expect(409, err(409, "Educator is already registered..."));
    w.post("/v1/healthprofessionals", json!({"username": "hp", "password": "pw"}))
        .await
        .expect(400, err_d(400, "Required fields were not provided...", "institution are required!"));
    w.post("/v1/healthprofessionals", json!({"username": "hp", "password": "pw", "institution_id": w.institution}))
        .await;
    w.post("/v1/healthprofessionals", json!({"username": "hp", "password": "pw", "institution_id": w.institution}))
        .await
        .expect(409, err(409, "Health Professional is already registered..."));
    let r = w
        .post(
            "/v1/families",
            json!({"username": "fam", "password": "pw", "institution_id": w.institution, "children": [child]}),
        )
        .await;
    r.expect(201, json!({"id": "$any", "username": "fam", "institution_id": w.institution, "children": [
        {"id": child, "username": "BR0001", "institution_id": w.institution, "gender": "male", "age": "10", "age_calc_date": "2024-01-31", "fitbit_status": "none"}]}));
    let r = w.post("/v1/applications", json!({"username": "app", "password": "pw", "application_name": "Sync"})).await;
    r.expect(201, json!({"id": "$any", "username": "app", "application_name": "Sync"}));
    w.post("/v1/applications", json!({"password": "pw"}))
        .await
        .expect(400, err_d(400, "Required fields were not provided...", "username, application_name are required!"));
    // Signing in sets a child's last_login.
    login(&app, "BR0001", "pw").await;
    let r = app.patch(&format!("/v1/children/{child}")).token(&w.admin).json(json!({})).send().await;
    assert!(r.body["last_login"].as_str().unwrap().ends_with('Z'));
}

async fn roles_and_scopes(app: TestApp) {
    let w = World::new(&app).await;
    let (edu, edu_token) = w.owner("educators", "edu").await;
    let (other_edu, other_token) = w.owner("educators", "edu2").await;
    let (hp, hp_token) = w.owner("healthprofessionals", "hp").await;
    let child = w.child("kid").await;
    w.post("/v1/families", json!({"username": "fam", "password": "pw", "institution_id": w.institution})).await;
    w.post("/v1/applications", json!({"username": "app", "password": "pw", "application_name": "A"})).await;
    let child_token = login(&app, "kid", "pw").await;
    let family_token = login(&app, "fam", "pw").await;
    let app_token = login(&app, "app", "pw").await;
    let groups = format!("/v1/educators/{edu}/children/groups");
    // Only educators and health professionals hold group scopes.
    for token in [&w.admin, &child_token, &family_token, &app_token] {
        app.get(&groups).token(token).send().await.expect(403, forbidden());
        app.post(&groups)
            .token(token)
            .json(json!({"name": "g", "children": [child]}))
            .send()
            .await
            .expect(403, forbidden());
    }
    // Another educator, or a health professional on an educator's path: forbidden.
    app.get(&groups).token(&other_token).send().await.expect(403, forbidden());
    app.get(&groups).token(&hp_token).send().await.expect(403, forbidden());
    app.get(&format!("/v1/healthprofessionals/{hp}/children/groups"))
        .token(&edu_token)
        .send()
        .await
        .expect(403, forbidden());
    // The ownership check applies to anything shaped like an id; else the format answers.
    app.get("/v1/educators/zzzzzzzzzzzzzzzzzzzzzzzz/children/groups")
        .token(&edu_token)
        .send()
        .await
        .expect(403, forbidden());
    app.get("/v1/educators/123/children/groups")
        .token(&edu_token)
        .send()
        .await
        .expect(400, err_d(400, "Parameter {educator_id} is not in valid format!", ID_DESC));
    app.get(&groups).token(&edu_token).send().await.expect(200, json!([]));
    // Admin-only endpoints refuse everyone else.
    for token in [&edu_token, &child_token, &family_token, &app_token, &hp_token] {
        app.post("/v1/children").token(token).json(json!({})).send().await.expect(403, forbidden());
        app.delete(&format!("/v1/users/{child}")).token(token).send().await.expect(403, forbidden());
    }
    // An educator may read themself, not another; the admin reads anyone.
    assert_eq!(app.get(&format!("/v1/educators/{edu}")).token(&edu_token).send().await.status, 200);
    app.get(&format!("/v1/educators/{other_edu}")).token(&edu_token).send().await.expect(403, forbidden());
    assert_eq!(app.get(&format!("/v1/educators/{other_edu}")).token(&w.admin).send().await.status, 200);
    app.get("/v1/educators/507f191e810c19729de860ea").token(&w.admin).send().await.expect(
        404,
        err_d(
            404,
            "Educator not found!",
            "Educator not found or already removed. A new operation for the same resource is not required.",
        ),
    );
    app.get("/v1/nothing").send().await.expect(
        404,
        err_d(404, "/v1/nothing not found.", "Specified resource: /v1/nothing was not found or does not exist."),
    );
}

/// Group endpoints for one owner kind: the whole round trip.
async fn groups_round_trip(app: &TestApp, kind: &str, owner_label: &str) {
    let w = World::new(app).await;
    let (owner, token) = w.owner(kind, "owner").await;
    let (a, b, c) = (w.child("kid-a").await, w.child("kid-b").await, w.child("kid-c").await);
    let base = format!("/v1/{kind}/{owner}/children/groups");
    // Create: children in the order given, duplicates dropped, ids or objects.
    let r = app
        .post(&base)
        .token(&token)
        .json(json!({"name": "Group One", "children": [b, {"id": a}, b], "school_class": "4th Grade"}))
        .send()
        .await;
    r.expect(201, json!({"id": "$any", "name": "Group One", "children": [child_json(&b, "kid-b", &w.institution), child_json(&a, "kid-a", &w.institution)], "school_class": "4th Grade"}));
    let g1 = r.body["id"].as_str().unwrap().to_string();
    // school_class absent when never set.
    let r = app.post(&base).token(&token).json(json!({"name": "group 10", "children": [c]})).send().await;
    r.expect(201, json!({"id": "$any", "name": "group 10", "children": [child_json(&c, "kid-c", &w.institution)]}));
    let g2 = r.body["id"].as_str().unwrap().to_string();
    app.post(&base).token(&token).json(json!({"name": "Group 2", "children": [a]})).send().await;
    // Lists: newest first; X-Total-Count; sort=name (natural, case-insensitive); paging; filters.
    let names = |r: &Resp| {
        r.body.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let r = app.get(&base).token(&token).send().await;
    assert_eq!(
        (r.status, names(&r), r.header("x-total-count")),
        (200, vec!["Group 2".into(), "group 10".into(), "Group One".into()], Some("3"))
    );
    let r = app.get(&format!("{base}?sort=name")).token(&token).send().await;
    assert_eq!(names(&r), ["Group 2", "group 10", "Group One"]);
    let r = app.get(&format!("{base}?sort=-name&limit=2")).token(&token).send().await;
    assert_eq!(names(&r), ["Group One", "group 10"]);
    let r = app.get(&format!("{base}?sort=name&limit=2&page=2x")).token(&token).send().await;
    assert_eq!((names(&r), r.header("x-total-count")), (vec!["Group One".to_string()], Some("3")));
    let r = app.get(&format!("{base}?limit=abc&page=0")).token(&token).send().await;
    assert_eq!(names(&r).len(), 3);
    let r = app.get(&format!("{base}?name=group%2010")).token(&token).send().await;
    assert_eq!((names(&r), r.header("x-total-count")), (vec!["group 10".to_string()], Some("3")));
    // Read one; a child's later change shows.
    app.patch(&format!("/v1/children/{a}")).token(&w.admin).json(json!({"age": 12})).send().await;
    let r = app.get(&format!("{base}/{g1}")).token(&token).send().await;
    assert_eq!((&r.body["children"][1]["id"], &r.body["children"][1]["age"]), (&json!(a), &json!("12")));
    // PATCH replaces the children list and keeps what is absent.
    let r = app.patch(&format!("{base}/{g1}")).token(&token).json(json!({"children": [c, a]})).send().await;
    assert_eq!((r.status, &r.body["name"], &r.body["school_class"]), (200, &json!("Group One"), &json!("4th Grade")));
    let ids: Vec<&str> = r.body["children"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [c.as_str(), a.as_str()]);
    let r = app
        .patch(&format!("{base}/{g1}"))
        .token(&token)
        .json(json!({"name": "Renamed", "school_class": "5th"}))
        .send()
        .await;
    assert_eq!((&r.body["name"], &r.body["school_class"]), (&json!("Renamed"), &json!("5th")));
    app.patch(&format!("{base}/{g1}"))
        .token(&token)
        .json(json!({"name": "group 10"}))
        .send()
        .await
        .expect(409, err(409, "Children Group is already registered..."));
    // Deleting a child takes it out of every group.
    app.delete(&format!("/v1/users/{c}")).token(&w.admin).send().await;
    let r = app.get(&format!("{base}/{g1}")).token(&token).send().await;
    assert_eq!(r.body["children"].as_array().unwrap().len(), 1);
    let r = app.get(&format!("{base}/{g2}")).token(&token).send().await;
    assert_eq!(r.body["children"], json!([]));
    // Delete a group: 204, also when it does not exist.
    let r = app.delete(&format!("{base}/{g2}")).token(&token).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    assert_eq!(app.delete(&format!("{base}/{g2}")).token(&token).send().await.status, 204);
    let gone = err_d(
        404,
        "Children Group not found!",
        "Children Group not found or already removed. A new operation for the same resource is not required.",
    );
    app.get(&format!("{base}/{g2}")).token(&token).send().await.expect(404, gone.clone());
    // Deleting the owner deletes their groups.
    let (owner2, token2) = w.owner(kind, "owner2").await;
    let base2 = format!("/v1/{kind}/{owner2}/children/groups");
    app.post(&base2).token(&token2).json(json!({"name": "Doomed", "children": [a]})).send().await;
    app.delete(&format!("/v1/users/{owner2}")).token(&w.admin).send().await;
    let r = app.get(&format!("/v1/{kind}/{owner}")).token(&w.admin).send().await;
    assert_eq!(
        r.body["children_groups"].as_array().unwrap().len(),
        2,
        "{owner_label}: the other owner's groups are untouched"
    );
    assert_eq!(r.body["children_groups"][0]["name"], "Group 2");
}

async fn educator_groups(app: TestApp) {
    groups_round_trip(&app, "educators", "educator").await;
}

async fn health_professional_groups(app: TestApp) {
    groups_round_trip(&app, "healthprofessionals", "health professional").await;
}

async fn group_validation_in_order(app: TestApp) {
    let w = World::new(&app).await;
    let (edu, token) = w.owner("educators", "edu").await;
    let child = w.child("kid").await;
    let base = format!("/v1/educators/{edu}/children/groups");
    let post = |body: Value| app.post(&base).token(&token).json(body);
    // Step 1: id formats.
    app.get(&format!("{base}/123"))
        .token(&token)
        .send()
        .await
        .expect(400, err_d(400, "Parameter {group_id} is not in valid format!", ID_DESC));
    app.patch(&format!("{base}/xyz"))
        .token(&token)
        .json(json!({"name": 1}))
        .send()
        .await
        .expect(400, err_d(400, "Parameter {group_id} is not in valid format!", ID_DESC));
    // Step 3: the body.
    post(json!({"name": null, "children": [child]})).send().await.expect(400, invalid("name must be a string!"));
    post(json!({"name": "", "children": [child]}))
        .send()
        .await
        .expect(400, invalid("name must have at least one character!"));
    post(json!({"name": "g", "school_class": 4, "children": [child]}))
        .send()
        .await
        .expect(400, invalid("school_class must be a string!"));
    post(json!({"name": "g", "school_class": "", "children": [child]}))
        .send()
        .await
        .expect(400, invalid("school_class must have at least one character!"));
    post(json!({"name": "g", "children": "x"})).send().await.expect(400, invalid("children must be an array!"));
    let invalid_ids = "Children field contains invalid IDs. It is expected that each item in the array is a 24-byte hex string like this: 507f191e810c19729de860ea";
    for items in [json!([null]), json!([1]), json!([{}]), json!([""])] {
        post(json!({"name": "g", "children": items})).send().await.expect(400, invalid(invalid_ids));
    }
    post(json!({"name": "g", "children": ["123", "123a", child]}))
        .send()
        .await
        .expect(400, invalid("The following IDs from children attribute are not in valid format: 123, 123a"));
    // Step 4 (create): required fields; bad ids outrank them.
    post(json!({})).send().await.expect(
        400,
        err_d(400, "Required fields were not provided...", "name, Collection with children IDs are required!"),
    );
    post(json!({"children": []})).send().await.expect(
        400,
        err_d(400, "Required fields were not provided...", "name, Collection with children IDs are required!"),
    );
    post(json!({"name": "g"}))
        .send()
        .await
        .expect(400, err_d(400, "Required fields were not provided...", "Collection with children IDs are required!"));
    post(json!({"children": [child]}))
        .send()
        .await
        .expect(400, err_d(400, "Required fields were not provided...", "name are required!"));
    post(json!({"children": ["123"]}))
        .send()
        .await
        .expect(400, invalid("The following IDs from children attribute are not in valid format: 123"));
    // Step 5 before step 6: a duplicate name, then unregistered children.
    assert_eq!(post(json!({"name": "taken", "children": [child]})).send().await.status, 201);
    let stranger = "507f191e810c19729de860ea";
    post(json!({"name": "taken", "children": [stranger]}))
        .send()
        .await
        .expect(409, err(409, "Children Group is already registered..."));
    post(json!({"name": "new", "children": [child, stranger, edu]})).send().await.expect(
        400,
        err_d(
            400,
            "It is necessary for children to be registered before proceeding.",
            &format!("The following IDs were verified without registration: {stranger}, {edu}"),
        ),
    );
    // Malformed JSON.
    app.post(&base).token(&token).raw(b"{").send().await.expect(
        400,
        err_d(
            400,
            "Unable to process request body!",
            "Please verify that the JSON provided in the request body has a valid format and try again.",
        ),
    );
    // Step 7, and the fix: another educator's group is not found for GET and PATCH, and a
    // DELETE of it answers as for a group that does not exist (204) and deletes nothing.
    let (other, other_token) = w.owner("educators", "other").await;
    let r = app
        .post(&format!("/v1/educators/{other}/children/groups"))
        .token(&other_token)
        .json(json!({"name": "theirs", "children": [child]}))
        .send()
        .await;
    let theirs = r.body["id"].as_str().unwrap().to_string();
    let gone = err_d(
        404,
        "Children Group not found!",
        "Children Group not found or already removed. A new operation for the same resource is not required.",
    );
    app.get(&format!("{base}/{theirs}")).token(&token).send().await.expect(404, gone.clone());
    app.patch(&format!("{base}/{theirs}"))
        .token(&token)
        .json(json!({"name": "mine now"}))
        .send()
        .await
        .expect(404, gone.clone());
    for group in [theirs.clone(), "f".repeat(24)] {
        let r = app.delete(&format!("{base}/{group}")).token(&token).send().await;
        assert_eq!((r.status, r.text.as_str()), (204, ""), "{group}");
    }
    app.patch(&format!("{base}/{stranger}")).token(&token).json(json!({"children": [stranger]})).send().await.expect(
        400,
        err_d(
            400,
            "It is necessary for children to be registered before proceeding.",
            &format!("The following IDs were verified without registration: {stranger}"),
        ),
    );
    app.patch(&format!("{base}/{stranger}")).token(&token).json(json!({"name": "x"})).send().await.expect(404, gone);
    let r = app.get(&format!("/v1/educators/{other}/children/groups/{theirs}")).token(&other_token).send().await;
    assert_eq!(r.body["name"], "theirs", "untouched");
}

/// `PATCH` (or `PUT`) `/v1/users/{id}/password`: the user with their current password, or
/// the administrator for another user; the original's messages, in its order.
async fn passwords_are_changed_with_the_current_one(app: TestApp) {
    let w = World::new(&app).await;
    let (educator, token) = w.owner("educators", "teacher").await;
    let (other, other_token) = w.owner("healthprofessionals", "doctor").await;
    let change = |who: &str, id: &str, body: Value, put: bool| {
        let method = if put { http::Method::PUT } else { http::Method::PATCH };
        app.call(method, &format!("/v1/users/{id}/password")).token(who).json(body).send()
    };
    let body = json!({"old_password": "pw", "new_password": "new-pw"});
    change(&other_token, &educator, body.clone(), false).await.expect(403, forbidden());
    change(&w.admin, "123", body.clone(), false)
        .await
        .expect(400, err_d(400, "Parameter {user_id} is not in valid format!", ID_DESC));
    change(&token, &educator, json!({}), false).await.expect(
        400,
        err_d(
            400,
            "Required fields were not provided...",
            "Change password validation failed: old_password, new_password is required!",
        ),
    );
    change(&token, &educator, json!({"old_password": "pw"}), false).await.expect(
        400,
        err_d(
            400,
            "Required fields were not provided...",
            "Change password validation failed: new_password is required!",
        ),
    );
    change(&token, &educator, json!({"old_password": "", "new_password": ""}), false).await.expect(
        400,
        err_d(400, "Old password field is invalid...", "The old password must have at least one character."),
    );
    change(&token, &educator, json!({"old_password": "pw", "new_password": ""}), false).await.expect(
        400,
        err_d(400, "New password field is invalid...", "The new password must have at least one character."),
    );
    let mismatch = err_d(
        400,
        "Password does not match!",
        "The old password parameter does not match with the actual user password.",
    );
    change(&token, &educator, json!({"old_password": "wrong", "new_password": "x"}), false)
        .await
        .expect(400, mismatch.clone());
    let r = change(&token, &educator, body.clone(), false).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let r = app.post("/v1/auth").json(json!({"username": "teacher", "password": "pw"})).send().await;
    r.expect(401, err(401, "Invalid username or password!"));
    login(&app, "teacher", "new-pw").await;
    change(&token, &educator, body, true).await.expect(400, mismatch);
    // The administrator, for another user (knowing their password); not for itself.
    let r = change(&w.admin, &other, json!({"old_password": "pw", "new_password": "doc-2"}), true).await;
    assert_eq!(r.status, 204, "{}", r.text);
    login(&app, "doctor", "doc-2").await;
    let admin_id = claims(&w.admin)["sub"].as_str().unwrap().to_string();
    change(&w.admin, &admin_id, json!({"old_password": "a", "new_password": "b"}), false)
        .await
        .expect(403, forbidden());
    change(&w.admin, "5a62be07de34500146d9c544", json!({"old_password": "a", "new_password": "b"}), false)
        .await
        .expect(
            404,
            err_d(
                404,
                "User not found!",
                "User not found or already removed. A new operation for the same resource is not required.",
            ),
        );
}

engine_tests!(
    passwords_are_changed_with_the_current_one,
    sign_in_and_tokens,
    failed_logins_are_rate_limited,
    institutions_and_people,
    roles_and_scopes,
    educator_groups,
    health_professional_groups,
    group_validation_in_order,
);
