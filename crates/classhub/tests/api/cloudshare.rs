//! The CloudShare v3 dialect: cs_sha1, transport leniency, every endpoint and rule.

use http::Method;
use serde_json::{Value, json};

use crate::engine_tests;
use crate::support::{CsCreds, CsProject, TestApp};

pub(crate) fn class_body(p: &CsProject, fields: Value) -> Value {
    let mut body = json!({
        "name": "Intro lab", "projectId": p.id, "blueprintId": p.blueprint, "policyId": p.policy,
        "instructorVupId": p.instructor.vup, "startDate": "02/11/2030 09:00 AM", "timeZoneId": "Eastern Standard Time",
        "studentPassphrase": "open sesame", "limitEarlyAccess": 0,
    });
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// The whole class object the dialect shows, with `fields` replacing defaults in place.
fn class_object(p: &CsProject, fields: Value) -> Value {
    let mut o = json!({
        "id": "$any", "name": "Intro lab", "shortId": "$any", "policyId": p.policy, "policyName": "2 hours",
        "isUsingClassTypes": false, "blueprintId": p.blueprint, "blueprintName": "Linux lab",
        "blueprintToken": p.blueprint_token, "cloudName": "classhub", "timeZoneId": "Eastern Standard Time",
        "projectId": p.id, "projectName": "$any", "creatorName": "Ida Instructor", "creatorEmail": "$any",
        "instructorVupId": p.instructor.vup, "instructorName": "Ida Instructor", "defaultDurationInMinutes": 120,
        "allowStartDateEditing": true, "limitEarlyAccess": 0, "studentPassphrase": "open sesame",
        "useCustomInvitationEmail": false, "showCourseAddressField": true, "address": null,
        "customInvitationEmailSubject": null, "customInvitationEmailBody": null,
        "defaultInvitationEmailSubject": "${CourseName} - Virtual Lab Access",
        "defaultInvitationEmailBody": "You have been invited to access your own private ${BlueprintName} virtual lab (using CloudShare)",
        "showPermitAccessToNonRegisteredStudent": true, "allowEditDefaultsWhenPermitAccessToNonRegistered": true,
        "permitAccessToNonRegisteredStudent": false, "showMaxStudentsField": true, "maxStudents": null,
        "maxLimitOnMaxStudentField": 60, "customFieldsValues": [], "instructorEmail": "$any",
        "timeZoneName": "(UTC-05:00) Eastern Time (US & Canada)", "startDate": "02/11/2030 09:00 AM",
        "endDate": "02/11/2030 11:00 AM", "status": "upcoming", "selfPaced": false, "allowMultipleStudentLogin": false,
        "startDateUtcOffsetMinutes": -300, "endDateUtcOffsetMinutes": -300, "studentLoginUrl": "$any", "createDate": "$any",
    });
    for (k, v) in fields.as_object().unwrap() {
        assert!(o.get(k).is_some(), "unknown field {k}");
        o[k] = v.clone();
    }
    o
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (status, json!({"message": message, "code": format!("0x{status}")}))
}

#[track_caller]
fn expect_error(r: &crate::support::Resp, status: u16, message: &str) {
    let (s, body) = error(status, message);
    r.expect(s, body);
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
}

async fn call(app: &TestApp, creds: &CsCreds, method: Method, path: &str, body: Option<Value>) -> crate::support::Resp {
    let c = app.call(method, path);
    let c = match body {
        Some(b) => c.json(b),
        None => c,
    };
    c.signed(creds).send().await
}

pub(crate) async fn create_class(app: &TestApp, p: &CsProject, fields: Value) -> Value {
    let r = call(app, &p.instructor, Method::POST, "/api/v3/class", Some(class_body(p, fields))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn signing_is_checked(app: TestApp) {
    let p = app.cs_project("acme").await;
    let c = &p.instructor;
    let now = jiff::Timestamp::now().as_second();
    // Accepted: the spec's forms of URL, case and slashes.
    let r = app.get("/api/v3/class").signed(c).send().await;
    r.expect(200, json!([]));
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(app.get("/api/v3/Class/").signed(c).send().await.status, 200);
    assert_eq!(app.get("/API/V3/class").signed(c).send().await.status, 200);
    assert_eq!(
        app.get("/api/v3/class?")
            .signed_as(c, now, "abc12", Some("https://localhost/api/v3/class"))
            .send()
            .await
            .status,
        200
    );
    assert_eq!(
        app.get("/api/v3/class")
            .signed_as(c, now, "123456789", Some("http://localhost/api/v3/class"))
            .send()
            .await
            .status,
        200
    );
    // Refused, each saying why.
    expect_error(
        &app.get("/api/v3/class").send().await,
        401,
        "authentication required: send an Authorization header with the cs_sha1 scheme",
    );
    let bad = |h: &str| app.get("/api/v3/class").header("authorization", h);
    expect_error(&bad("Bearer abc").send().await, 401, "the Authorization header must use the cs_sha1 scheme");
    expect_error(
        &bad("cs_sha1 userapiid:A;timestamp:1;token:t").send().await,
        401,
        "the Authorization header lacks its hmac part",
    );
    expect_error(&bad("cs_sha1 userapiid:NOPE;timestamp:1;token:t;hmac:00").send().await, 401, "unknown API id");
    let stale = app.get("/api/v3/class").signed_as(c, now - 120, "tok1", None).send().await;
    expect_error(&stale, 401, "the timestamp is more than 60 seconds away from the server's clock");
    let token = app.get("/api/v3/class").signed_as(c, now, "bad-token!", None).send().await;
    expect_error(&token, 401, "the token must be 1 to 20 letters, digits, '.', '+' or '-'");
    let wrong_key = CsCreds { api_key: "not the key".into(), ..c.clone() };
    expect_error(&app.get("/api/v3/class").signed(&wrong_key).send().await, 401, "the hmac does not match the request");
    let other_path =
        app.get("/api/v3/class").signed_as(c, now, "tok2", Some("https://localhost/api/v3/projects")).send().await;
    expect_error(&other_path, 401, "the hmac does not match the request");
    // A replayed request fails; the same nonce at another second is a new request.
    assert_eq!(app.get("/api/v3/class").signed_as(c, now, "once", None).send().await.status, 200);
    expect_error(
        &app.get("/api/v3/class").signed_as(c, now, "once", None).send().await,
        401,
        "this request was already received (replayed token)",
    );
    assert_eq!(app.get("/api/v3/class").signed_as(c, now - 1, "once", None).send().await.status, 200);
    // Ping is signed like everything else: integrations call it to test their credentials.
    app.get("/api/v3/ping").signed(c).send().await.expect(200, json!({"result": "Pong"}));
    expect_error(
        &app.get("/api/v3/ping").send().await,
        401,
        "authentication required: send an Authorization header with the cs_sha1 scheme",
    );
    expect_error(&app.get("/api/v3/ping").signed(&wrong_key).send().await, 401, "the hmac does not match the request");
    let stranger = CsCreds { api_id: "NOSUCHAPIID".into(), ..c.clone() };
    expect_error(&app.get("/api/v3/ping").signed(&stranger).send().await, 401, "unknown API id");
    // A request captured and replayed as another method is a replay.
    let now = jiff::Timestamp::now().as_second();
    assert_eq!(app.get("/api/v3/class").signed_as(c, now, "captured", None).send().await.status, 200);
    expect_error(
        &app.delete("/api/v3/class").signed_as(c, now, "captured", None).send().await,
        401,
        "this request was already received (replayed token)",
    );
}

/// Bad signatures count per API id at an address (and per address): someone sending them
/// with a victim's API id is refused at their address; the victim elsewhere is not.
async fn signature_failures_are_rate_limited(app: TestApp) {
    let p = app.cs_project("acme").await;
    let wrong = CsCreds { api_key: "wrong".into(), ..p.instructor.clone() };
    for _ in 0..20 {
        assert_eq!(app.get("/api/v3/class").signed(&wrong).peer("10.1.1.1:1").send().await.status, 401);
    }
    let r = app.get("/api/v3/class").signed(&p.instructor).peer("10.1.1.1:2").send().await;
    expect_error(&r, 429, "too many failed authentications; try again later");
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.header("ratelimit-policy"), Some("\"signature\";q=20;w=600"));
    let victim = app.get("/api/v3/class").signed(&p.instructor).peer("10.2.2.2:1").send().await;
    assert_eq!(victim.status, 200, "the victim elsewhere: {}", victim.text);
}

async fn catalog_lookups(app: TestApp) {
    let p = app.cs_project("acme").await;
    let c = &p.instructor;
    let r = app.get("/api/v3/timezones").signed(c).send().await;
    let zones = r.body.as_array().unwrap();
    assert_eq!(zones.len(), 139);
    assert!(
        zones
            .contains(&json!({"id": "Eastern Standard Time", "displayName": "(UTC-05:00) Eastern Time (US & Canada)"}))
    );
    let r = app.get("/api/v3/regions").signed(c).send().await;
    r.expect(200, json!([{"id": "$any", "name": "classhub", "friendlyName": "classhub", "cloudName": "classhub"}]));
    app.get("/api/v3/projects")
        .signed(c)
        .send()
        .await
        .expect(200, json!([{"name": "acme", "isActive": true, "id": p.id}]));
    let r = app.get(&format!("/api/v3/projects/{}", p.id)).signed(c).send().await;
    r.expect(
        200,
        json!({"name": "acme", "id": p.id, "isActive": true, "regions": "$any", "teams": [], "canCreateClass": true,
            "canAddPolicy": false}),
    );
    let r = app.get(&format!("/api/v3/projects/{}/blueprints", p.id)).signed(c).send().await;
    r.expect(200, json!([{"name": "Linux lab", "description": "d", "id": p.blueprint, "token": p.blueprint_token}]));
    let r = app.get(&format!("/api/v3/projects/{}/blueprints/{}", p.id, p.blueprint)).signed(c).send().await;
    assert_eq!(r.body["token"], p.blueprint_token);
    let r = app.get(&format!("/api/v3/projects/{}/policies", p.id)).signed(c).send().await;
    r.expect(200, json!([{"name": "2 hours", "projectId": p.id, "allowEnvironmentCreation": true, "id": p.policy, "defaultDurationInMinutes": 120}]));
    let r = app.get(&format!("/api/v3/class/actions/instructors?policyId={}", p.policy)).signed(c).send().await;
    r.expect(200, json!([{"id": c.vup, "name": "Ida Instructor", "email": "ida@acme.example"}]));
    let r = app.get("/api/v3/class/actions/countries?fullCountriesList=True").signed(c).send().await;
    let us = r.body.as_array().unwrap().iter().find(|c| c["code"] == "US").unwrap().clone();
    assert_eq!(us["englishName"], "United States");
    assert_eq!(us["states"].as_array().unwrap().len(), 51);
    // Parameters may come in the body of a GET, keys in any case.
    let r = app.get("/api/v3/class/actions/instructors").json(json!({"PolicyID": p.policy})).signed(c).send().await;
    assert_eq!(r.status, 200);
    // Ids of the wrong kind, or of nothing.
    expect_error(&app.get(&format!("/api/v3/projects/{}", p.policy)).signed(c).send().await, 404, "project not found");
    expect_error(
        &app.get("/api/v3/class/actions/instructors?policyId=nope").signed(c).send().await,
        400,
        "policyId is not a valid PO id",
    );
    // Another project's member sees nothing of this one.
    let other = app.cs_project("other").await;
    expect_error(
        &app.get(&format!("/api/v3/projects/{}", p.id)).signed(&other.instructor).send().await,
        404,
        "project not found",
    );
    // Out of scope, and unknown.
    expect_error(&app.get("/api/v3/envs").signed(c).send().await, 501, "environments are not managed by classhub");
    let r = app.post("/api/v3/class/actions/suspendallenvironments").signed(c).send().await;
    expect_error(&r, 501, "environments are not managed by classhub");
    expect_error(
        &app.get("/api/v3/nothing/here").signed(c).send().await,
        404,
        "endpoint GET /api/v3/nothing/here not found",
    );
}

async fn custom_fields_are_defined_and_enforced(app: TestApp) {
    let p = app.cs_project("acme").await;
    let url = format!("/admin/v1/cloudshare/projects/{}/custom-fields", p.id);
    let field = app
        .admin_post(&url, json!({"name": "clientId", "order": 1, "type": 0, "is_required": true, "regex": "^[0-9]+$"}))
        .await;
    let field = field["id"].as_str().unwrap().to_string();
    let r = app
        .post(&url)
        .token(crate::support::ADMIN)
        .json(json!({"name": "x", "order": 2, "type": 0, "is_required": false, "regex": "("}))
        .send()
        .await;
    assert_eq!((r.status, r.body["detail"][0]["loc"].clone()), (422, json!(["body", "regex"])));
    let r =
        app.get(&format!("/api/v3/class/actions/customfields?projectId={}", p.id)).signed(&p.instructor).send().await;
    r.expect(200, json!([{"id": field, "order": 1, "name": "clientId", "type": 0, "isRequired": true, "regex": "^[0-9]+$", "defaultValue": null, "value": null}]));
    let create = |values: Value| {
        call(
            &app,
            &p.instructor,
            Method::POST,
            "/api/v3/class",
            Some(class_body(&p, json!({"customFieldsValues": values}))),
        )
    };
    expect_error(&create(json!([])).await, 400, "customFieldsValues: clientId is required");
    expect_error(
        &create(json!([{"id": field, "value": "12a"}])).await,
        400,
        "customFieldsValues[0]: clientId does not match its pattern ^[0-9]+$",
    );
    // Each entry is named where it sits, with its key as the client wrote it.
    let other = app.cs_project("other").await;
    let foreign = app
        .admin_post(
            &format!("/admin/v1/cloudshare/projects/{}/custom-fields", other.id),
            json!({"name": "f", "order": 1, "type": 0, "is_required": false}),
        )
        .await;
    expect_error(
        &create(json!([{"id": field, "value": "1"}, {"id": "TFnope", "value": "2"}])).await,
        400,
        "customFieldsValues[1].id is not a valid TF id",
    );
    expect_error(
        &create(json!([{"id": field, "value": "1"}, {"value": "2"}])).await,
        400,
        "customFieldsValues[1].id is required (a TF… id of the project)",
    );
    expect_error(
        &create(json!([{"id": field, "value": "1"}, {"id": foreign["id"], "value": 3}])).await,
        400,
        "customFieldsValues[1].id: custom field not found in the project",
    );
    expect_error(
        &create(json!([{"id": field, "value": ["1"]}])).await,
        400,
        "customFieldsValues[0].value must be a string",
    );
    // regex may come back in any shape (a GET shows it as a string, the docs send {}).
    let r = create(json!([{"id": field, "value": "1234", "regex": {}, "name": "whatever"}])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["customFieldsValues"],
        json!([{"id": field, "order": 1, "name": "clientId", "type": 0, "isRequired": true, "regex": "^[0-9]+$", "defaultValue": null, "value": "1234"}])
    );
}

async fn classes_are_created_read_changed_and_deleted(app: TestApp) {
    let p = app.cs_project("acme").await;
    let c = &p.instructor;
    // Without endDate: start + the policy's two hours; dates in the class's Windows zone.
    let r = call(&app, c, Method::POST, "/api/v3/class", Some(class_body(&p, json!({})))).await;
    r.expect(200, class_object(&p, json!({})));
    let class = r.body.clone();
    let id = class["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("CO") && id.len() == 25);
    assert!(class["shortId"].as_str().unwrap().len() == 5);
    assert_eq!(class["studentLoginUrl"], format!("http://127.0.0.1:8080/Class/{}", class["shortId"].as_str().unwrap()));
    let r = app.get(&format!("/api/v3/class/{id}")).signed(c).send().await;
    r.expect(200, class.clone());
    let r = app.get("/api/v3/class").signed(c).send().await;
    r.expect(
        200,
        json!([{"id": id, "name": "Intro lab", "shortId": class["shortId"], "regionId": "$any",
        "instructorEmail": "ida@acme.example", "timeZoneName": "(UTC-05:00) Eastern Time (US & Canada)",
        "startDate": "02/11/2030 09:00 AM", "endDate": "02/11/2030 11:00 AM", "status": "upcoming"}]),
    );
    // The official pattern: GET the class, change the name, PUT the whole object back.
    let mut edited = class.clone();
    edited["name"] = json!("Renamed lab");
    let r = call(&app, c, Method::PUT, &format!("/api/v3/class/{id}"), Some(edited)).await;
    r.expect(200, class_object(&p, json!({"name": "Renamed lab", "id": id, "shortId": class["shortId"]})));
    // PUT /class with the id in the body; keys in any case; numbers and booleans as text.
    let r = call(&app, c, Method::PUT, "/api/v3/class", Some(json!({"ID": id, "MaxStudents": "5", "SelfPaced": "True",
        "endDate": "02/11/2030 12:30 PM", "address": {"State": "Alabama", "address1": "3000 Foggy Woods", "zipCode": "002233", "city": "Gravity", "country": "United States"}}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["maxStudents"], &r.body["selfPaced"], &r.body["endDate"]),
        (&json!(5), &json!(true), &json!("02/11/2030 12:30 PM"))
    );
    assert_eq!(
        r.body["address"],
        json!({"state": "Alabama", "address1": "3000 Foggy Woods", "address2": null, "zipCode": "002233", "city": "Gravity", "country": "United States"})
    );
    assert_eq!(r.body["name"], "Renamed lab");
    // A new zone re-reads dates given in the same request.
    let r = call(&app, c, Method::PUT, &format!("/api/v3/class/{id}"), Some(json!({"id": id, "timeZoneId": "Korea Standard Time", "startDate": "02/12/2030 09:00 AM", "endDate": "02/12/2030 10:00 AM"}))).await;
    assert_eq!(
        (&r.body["timeZoneName"], &r.body["startDateUtcOffsetMinutes"]),
        (&json!("(UTC+09:00) Seoul"), &json!(540))
    );
    // Refusals, each naming the field.
    let class_path = format!("/api/v3/class/{id}");
    // The id goes in the body as well as the URL (the reference), and the two agree.
    let bare = |body: Value| call(&app, c, Method::PUT, &class_path, Some(body));
    expect_error(&bare(json!({"name": "no id"})).await, 400, "id is required");
    expect_error(&bare(json!({"id": "COother"})).await, 400, "id in the body differs from the class id of the URL");
    let put = |mut body: Value| {
        body["id"] = json!(id);
        call(&app, c, Method::PUT, &class_path, Some(body))
    };
    let other = app.cs_project("other").await;
    expect_error(&put(json!({"policyId": other.policy})).await, 400, "policyId cannot be changed");
    expect_error(&put(json!({"maxStudents": 61})).await, 400, "maxStudents: must be less than or equal to 60");
    expect_error(&put(json!({"maxStudents": 0})).await, 400, "maxStudents: must be greater than or equal to 1");
    expect_error(&put(json!({"maxStudents": "many"})).await, 400, "maxStudents must be a whole number");
    expect_error(&put(json!({"limitEarlyAccess": 3})).await, 400, "limitEarlyAccess must be 0, 1 or 2");
    expect_error(
        &put(json!({"startDate": "02/30/2030 10:00 AM"})).await,
        400,
        "startDate \"02/30/2030 10:00 AM\" is not a valid date (MM/DD/YYYY hh:mm AM/PM)",
    );
    expect_error(&put(json!({"endDate": "02/01/2030 10:00 AM"})).await, 400, "endDate must be after startDate");
    expect_error(
        &put(json!({"timeZoneId": "Mars Standard Time"})).await,
        400,
        "timeZoneId: unknown time zone id \"Mars Standard Time\"",
    );
    expect_error(
        &put(json!({"useCustomInvitationEmail": true})).await,
        400,
        "customInvitationEmailSubject is required when useCustomInvitationEmail is true; customInvitationEmailBody is required when useCustomInvitationEmail is true",
    );
    expect_error(&put(json!({"timeZoneId": "Eastern Standard Time", "startDate": "03/09/2031 02:30 AM", "endDate": "03/09/2031 05:00 AM"})).await, 400,
        "startDate: 2031-03-09T02:30:00 does not exist in America/New_York (it falls in a daylight-saving gap)");
    // Nothing of that changed the class.
    let r = app.get(&format!("/api/v3/class/{id}")).signed(c).send().await;
    assert_eq!((&r.body["maxStudents"], &r.body["timeZoneId"]), (&json!(5), &json!("Korea Standard Time")));
    // Delete.
    app.delete(&format!("/api/v3/class/{id}")).signed(c).send().await.expect(200, json!({}));
    expect_error(&app.get(&format!("/api/v3/class/{id}")).signed(c).send().await, 404, "class not found");
    expect_error(&app.get("/api/v3/class/COnotanid2").signed(c).send().await, 404, "class not found");
}

async fn create_checks_its_fields(app: TestApp) {
    let p = app.cs_project("acme").await;
    let other = app.cs_project("other").await;
    let c = &p.instructor;
    let r = call(&app, c, Method::POST, "/api/v3/class", Some(json!({}))).await;
    expect_error(
        &r,
        400,
        "name is required; projectId is required; blueprintId is required; policyId is required; instructorVupId is required; startDate is required; timeZoneId is required; studentPassphrase is required; limitEarlyAccess is required",
    );
    let r = call(
        &app,
        c,
        Method::POST,
        "/api/v3/class",
        Some(class_body(&p, json!({"blueprintId": other.blueprint, "policyId": other.policy}))),
    )
    .await;
    expect_error(&r, 400, "blueprintId: blueprint not found in the project; policyId: policy not found in the project");
    let r = call(
        &app,
        c,
        Method::POST,
        "/api/v3/class",
        Some(class_body(&p, json!({"instructorVupId": other.instructor.vup}))),
    )
    .await;
    expect_error(&r, 400, "instructorVupId: instructor is not a member of the project who can instruct");
    let r = call(&app, c, Method::POST, "/api/v3/class", Some(class_body(&p, json!({"projectId": "PRnot"})))).await;
    expect_error(&r, 400, "projectId is not a valid PR id");
    let r = call(&app, c, Method::POST, "/api/v3/class", Some(class_body(&p, json!({"projectId": other.id})))).await;
    expect_error(&r, 400, "projectId: project not found");
    let r = call(&app, c, Method::POST, "/api/v3/class", Some(json!("text"))).await;
    expect_error(&r, 400, "the request body must be a JSON object");
    // Members who cannot instruct may read but not create.
    let reader = app.cs_member(&p.id, "Rae Reader", "rae@acme.example", false).await;
    let r = call(&app, &reader, Method::POST, "/api/v3/class", Some(class_body(&p, json!({})))).await;
    expect_error(&r, 403, "you do not have permission for this operation in this project");
    let made = create_class(&app, &p, json!({"endDate": "02/11/2030 05:00 PM", "maxStudents": 3})).await;
    assert_eq!((&made["endDate"], &made["maxStudents"]), (&json!("02/11/2030 05:00 PM"), &json!(3)));
    assert_eq!(
        app.get(&format!("/api/v3/class/{}", made["id"].as_str().unwrap())).signed(&reader).send().await.status,
        200
    );
    // Another project's member is told it does not exist.
    let r = app.get(&format!("/api/v3/class/{}", made["id"].as_str().unwrap())).signed(&other.instructor).send().await;
    expect_error(&r, 404, "class not found");
    app.get("/api/v3/class").signed(&other.instructor).send().await.expect(200, json!([]));
}

async fn students_and_seats(app: TestApp) {
    let p = app.cs_project("acme").await;
    let c = &p.instructor;
    let class = create_class(&app, &p, json!({"maxStudents": 2})).await;
    let base = format!("/api/v3/class/{}/students", class["id"].as_str().unwrap());
    let add = |email: &str| {
        call(&app, c, Method::POST, &base, Some(json!({"email": email, "firstName": "Stu", "lastName": "Dent"})))
    };
    let r = add("Stu@Example.com").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sid = r.body["studentId"].as_str().unwrap().to_string();
    assert!(sid.starts_with("SD"));
    expect_error(&add("stu@example.com").await, 400, "a student with this email is already registered in the class");
    expect_error(&add("not-an-email").await, 400, "email: \"not-an-email\" is not a valid email address");

    assert_eq!(add("two@example.com").await.status, 200);
    expect_error(&add("three@example.com").await, 409, "the class already has its maximum number of students");
    let student = json!({"id": sid, "firstName": "Stu", "lastName": "Dent", "email": "stu@example.com", "status": 1, "envStatus": null, "envId": null, "envCommands": []});
    let r = app.get(&format!("{base}?isFull=true")).signed(c).send().await;
    assert_eq!((r.status, r.body.as_array().unwrap().len()), (200, 2));
    assert_json_eq(&r.body[0], &student);
    app.get(&format!("{base}/{sid}")).signed(c).send().await.expect(200, student.clone());
    let r = call(
        &app,
        c,
        Method::PUT,
        &format!("{base}/{sid}"),
        Some(json!({"firstName": "Stella", "email": "stella@example.com"})),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["firstName"], &r.body["email"], &r.body["lastName"]),
        (200, &json!("Stella"), &json!("stella@example.com"), &json!("Dent"))
    );
    // maxStudents cannot drop below the roster.
    let r = call(
        &app,
        c,
        Method::PUT,
        &format!("/api/v3/class/{}", class["id"].as_str().unwrap()),
        Some(json!({"id": class["id"], "maxStudents": 1})),
    )
    .await;
    expect_error(&r, 400, "maxStudents 1 is below the 2 students already registered");
    // Removing frees the seat.
    app.delete(&format!("{base}/{sid}")).signed(c).send().await.expect(200, json!({}));
    expect_error(&app.get(&format!("{base}/{sid}")).signed(c).send().await, 404, "student not found");
    assert_eq!(add("three@example.com").await.status, 200);
    // getdetailed shows the class and its students.
    let r = app
        .get(&format!("/api/v3/class/actions/getdetailed?classId={}", class["id"].as_str().unwrap()))
        .signed(c)
        .send()
        .await;
    assert_eq!(
        (r.status, r.body["class"]["id"].clone(), r.body["students"].as_array().unwrap().len()),
        (200, class["id"].clone(), 2)
    );
}

fn assert_json_eq(a: &Value, e: &Value) {
    crate::support::assert_json(a, e);
}

async fn seats_hold_under_concurrency(app: TestApp) {
    let p = app.cs_project("acme").await;
    let class = create_class(&app, &p, json!({"maxStudents": 7})).await;
    let base = format!("/api/v3/class/{}/students", class["id"].as_str().unwrap());
    let calls = (0..40)
        .map(|i| call(&app, &p.instructor, Method::POST, &base, Some(json!({"email": format!("s{i}@example.com")}))));
    let statuses: Vec<u16> = futures::future::join_all(calls).await.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 7);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 33);
    let r = app.get(&base).signed(&p.instructor).send().await;
    assert_eq!(r.body.as_array().unwrap().len(), 7);
}

async fn sponsored_links_sign_students_in(app: TestApp) {
    let p = app.cs_project("acme").await;
    let c = &p.instructor;
    let class = create_class(&app, &p, json!({"maxStudents": 5})).await;
    let id = class["id"].as_str().unwrap().to_string();
    let link = |email: &str, pre: bool| {
        call(
            &app,
            c,
            Method::POST,
            "/api/v3/class/sponsoredlink",
            Some(json!({"classId": id, "studentEmail": email,
            "studentFirstName": "Lin", "studentLastName": "K", "registrationInfo": null, "preRegisterStudent": pre})),
        )
    };
    // Not registered, and the class does not let students register themselves.
    expect_error(
        &link("lin@example.com", false).await,
        400,
        "studentEmail: the student is not registered and the class does not permit non-registered students",
    );
    let r = link("lin@example.com", true).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let url = r.body["loginUrl"].as_str().unwrap().to_string();
    let prefix = format!("http://127.0.0.1:8080/Class/{}?token=", class["shortId"].as_str().unwrap());
    assert!(url.starts_with(&prefix), "{url}");
    let path = url.trim_start_matches("http://127.0.0.1:8080");
    let r = app.get(path).send().await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("Welcome, Lin. You are signed in to Intro lab."), "{}", r.text);
    let students = app.get(&format!("/api/v3/class/{id}/students")).signed(c).send().await;
    assert_eq!(students.body[0]["status"], 2);
    // Signed in: the email can no longer change.
    let sid = students.body[0]["id"].as_str().unwrap().to_string();
    let r = call(
        &app,
        c,
        Method::PUT,
        &format!("/api/v3/class/{id}/students/{sid}"),
        Some(json!({"email": "new@example.com"})),
    )
    .await;
    expect_error(&r, 400, "email cannot change after the student has logged in");
    // Disabled links stop working; unregistering removes the student.
    let r = call(
        &app,
        c,
        Method::POST,
        "/api/v3/class/disablesponsoredlink",
        Some(json!({"classId": id, "studentEmail": "LIN@example.com", "unregisterStudent": true})),
    )
    .await;
    r.expect(200, json!({}));
    assert_eq!(app.get(path).send().await.status, 404);
    app.get(&format!("/api/v3/class/{id}/students")).signed(c).send().await.expect(200, json!([]));
    // In a class that lets students register themselves, the link registers them.
    call(
        &app,
        c,
        Method::PUT,
        &format!("/api/v3/class/{id}"),
        Some(json!({"id": id, "permitAccessToNonRegisteredStudent": true})),
    )
    .await;
    let r = link("walk-in@example.com", false).await;
    let students = app.get(&format!("/api/v3/class/{id}/students")).signed(c).send().await;
    assert_eq!(
        (students.body[0]["email"].clone(), students.body[0]["status"].clone()),
        (json!("walk-in@example.com"), json!(1))
    );
    let path = r.body["loginUrl"].as_str().unwrap().trim_start_matches("http://127.0.0.1:8080").to_string();
    assert_eq!(app.get(&path).send().await.status, 200);
    let students = app.get(&format!("/api/v3/class/{id}/students")).signed(c).send().await;
    assert_eq!(students.body[0]["status"], 2);
    // A student removed after the link was made signs up again on using it.
    let sid = students.body[0]["id"].as_str().unwrap().to_string();
    app.delete(&format!("/api/v3/class/{id}/students/{sid}")).signed(c).send().await.expect(200, json!({}));
    assert_eq!(app.get(&path).send().await.status, 200);
    let students = app.get(&format!("/api/v3/class/{id}/students")).signed(c).send().await;
    assert_eq!(
        (students.body[0]["email"].clone(), students.body[0]["status"].clone()),
        (json!("walk-in@example.com"), json!(2))
    );
    assert_eq!(
        app.get(&format!("/Class/{}?token=forged", class["shortId"].as_str().unwrap())).send().await.status,
        404
    );
}

async fn invitations_are_queued(app: TestApp) {
    let p = app.cs_project("acme").await;
    let c = &p.instructor;
    let class = create_class(&app, &p, json!({})).await;
    let id = class["id"].as_str().unwrap().to_string();
    let r = call(
        &app,
        c,
        Method::POST,
        &format!("/api/v3/class/{id}/students"),
        Some(json!({"email": "a@example.com", "firstName": "Ann"})),
    )
    .await;
    let sid = r.body["studentId"].as_str().unwrap().to_string();
    let r = call(
        &app,
        c,
        Method::POST,
        "/api/v3/class/actions/sendinvitations?isMultiple=true",
        Some(json!({"classId": id, "studentIds": [sid]})),
    )
    .await;
    r.expect(200, json!({}));
    let r = app.get(&format!("/api/v3/class/{id}/students/{sid}")).signed(c).send().await;
    assert_eq!(r.body["status"], 0, "invited");
    let r = call(
        &app,
        c,
        Method::POST,
        "/api/v3/class/actions/sendinvitations",
        Some(json!({"classId": id, "studentIds": ["SDnope"]})),
    )
    .await;
    expect_error(&r, 404, "student not found");
    // The email waits in the outbox, rendered.
    let claimed = app
        .store
        .write(classhub_store::ops::outbox::ClaimOutbox {
            now: jiff::Timestamp::now(),
            hold_until: jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let email = &claimed[0].email;
    assert_eq!((email.to.as_str(), email.subject.as_str()), ("a@example.com", "Intro lab - Virtual Lab Access"));
    let link = email.text.split_whitespace().find(|w| w.contains("/Class/")).unwrap().to_string();
    let base = app.config().public_base_url.clone();
    assert_eq!(
        email.text,
        format!(
            "You have been invited to access your own private Linux lab virtual lab (using CloudShare)\n\n\
             Sign in to Intro lab: {link}\nPassphrase: open sesame\n\
             Starts: 02/11/2030 09:00 AM (UTC-05:00) Eastern Time (US & Canada)\n"
        )
    );
    assert!(link.starts_with(&format!("{base}/Class/{}?token=", class["shortId"].as_str().unwrap())), "{link}");
    let html = email.html.as_deref().unwrap();
    assert!(html.contains(&format!("<a href=\"{link}\">Sign in to Intro lab</a>")), "{html}");
    // The link is the student's own: it signs Ann in.
    let r = app.get(link.strip_prefix(&base).unwrap()).send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Welcome, Ann. You are signed in to Intro lab."), "{}", r.text);
    let r = app.get(&format!("/api/v3/class/{id}/students/{sid}")).signed(c).send().await;
    assert_eq!(r.body["status"], 2, "signed in");
}

async fn instructors_of_a_class(app: TestApp) {
    let p = app.cs_project("acme").await;
    let c = &p.instructor;
    let second = app.cs_member(&p.id, "Sam Second", "sam@acme.example", true).await;
    let class = create_class(&app, &p, json!({})).await;
    let id = class["id"].as_str().unwrap().to_string();
    let url = format!("/api/v3/instructors/class?classId={id}");
    let r = app.get(&url).signed(c).send().await;
    r.expect(
        200,
        json!([{"id": "$any", "vupId": c.vup, "email": "ida@acme.example", "name": "Ida Instructor",
        "isLeadInstructor": true, "isInvited": false, "isEnvCreationDisabled": false}]),
    );
    let lead = r.body[0]["id"].as_str().unwrap().to_string();
    assert!(lead.starts_with("CI"));
    // The documented body: the instructor's invitation is queued, environment creation off.
    let body = json!({"instructorVupId": second.vup, "classId": id, "sendInviteNow": true, "disableEnvCreation": true});
    let r = call(&app, c, Method::POST, "/api/v3/instructors", Some(body.clone())).await;
    let sam = json!({"id": "$any", "vupId": second.vup, "email": "sam@acme.example", "name": "Sam Second",
        "isLeadInstructor": false, "isInvited": true, "isEnvCreationDisabled": true});
    r.expect(200, sam.clone());
    let added = r.body["id"].as_str().unwrap().to_string();
    let listed = app.get(&url).signed(c).send().await;
    assert_eq!((listed.body.as_array().unwrap().len(), &listed.body[1]), (2, &r.body));
    let claimed = app
        .store
        .write(classhub_store::ops::outbox::ClaimOutbox {
            now: jiff::Timestamp::now(),
            hold_until: jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60),
            limit: 10,
        })
        .await
        .unwrap();
    let email = &claimed[0].email;
    assert_eq!(
        (claimed.len(), email.to.as_str(), email.subject.as_str()),
        (1, "sam@acme.example", "Intro lab - Instructor Access")
    );
    assert!(email.text.starts_with("Sam Second, you have been added as an instructor of Intro lab (Linux lab virtual lab), starting 02/11/2030 09:00 AM (UTC-05:00) Eastern Time (US & Canada)."), "{}", email.text);
    // Twice is a conflict; nothing changes.
    let r = call(&app, c, Method::POST, "/api/v3/instructors", Some(body)).await;
    expect_error(&r, 409, "instructor already exists");
    // Refusals name the field as sent.
    let r = call(&app, c, Method::POST, "/api/v3/instructors", Some(json!({"classId": id}))).await;
    expect_error(&r, 400, "instructorVupId is required");
    let r = call(&app, c, Method::POST, "/api/v3/instructors", Some(json!({"classId": id, "instructorVupId": "VPx"})))
        .await;
    expect_error(&r, 400, "instructorVupId is not a valid VP id");
    let r = call(
        &app,
        c,
        Method::POST,
        "/api/v3/instructors",
        Some(json!({"classId": id, "instructorVupId": second.vup, "sendInviteNow": "perhaps"})),
    )
    .await;
    expect_error(&r, 400, "sendInviteNow must be true or false");
    app.delete(&format!("/api/v3/instructors/{added}")).signed(c).send().await.expect(200, json!({}));
    // `vupId` is read too, and without the switches nothing is queued.
    let r = call(&app, c, Method::POST, "/api/v3/instructors", Some(json!({"classId": id, "vupId": second.vup}))).await;
    r.expect(
        200,
        json!({"id": "$any", "vupId": second.vup, "email": "sam@acme.example", "name": "Sam Second",
        "isLeadInstructor": false, "isInvited": false, "isEnvCreationDisabled": false}),
    );
    let added = r.body["id"].as_str().unwrap().to_string();
    app.delete(&format!("/api/v3/instructors/{added}")).signed(c).send().await.expect(200, json!({}));
    expect_error(
        &app.delete(&format!("/api/v3/instructors/{lead}")).signed(c).send().await,
        400,
        "a class needs at least one instructor",
    );
    // The lead can be replaced through the class.
    let r = call(
        &app,
        c,
        Method::PUT,
        &format!("/api/v3/class/{id}"),
        Some(json!({"id": id, "instructorVupId": second.vup})),
    )
    .await;
    assert_eq!((&r.body["instructorVupId"], &r.body["instructorName"]), (&json!(second.vup), &json!("Sam Second")));
}

/// Project managers make policies (the Go SDK's `CreateProjectPolicy`); the runtime lease
/// is the default duration of the policy's classes.
async fn policies_are_made_by_managers(app: TestApp) {
    let p = app.cs_project("acme").await;
    let manager = app.cs_manager(&p.id, "Meg Manager", "meg@acme.example").await;
    let body = json!({"name": "3 days", "projectId": p.id, "runtimeLeaseMinutes": 4320, "storageLeaseMinutes": 4320,
        "inactivityHandlingType": "SuspendTheEnvironment", "inactivityThresholdTime": 15});
    let r = call(&app, &manager, Method::POST, "/api/v3/policies", Some(body.clone())).await;
    r.expect(
        200,
        json!({"name": "3 days", "projectId": p.id, "allowEnvironmentCreation": true, "id": "$any",
        "defaultDurationInMinutes": 4320}),
    );
    let policy = r.body["id"].as_str().unwrap().to_string();
    assert!(policy.starts_with("PO"));
    let listed = app.get(&format!("/api/v3/projects/{}/policies", p.id)).signed(&p.instructor).send().await;
    assert_eq!(listed.body.as_array().unwrap().iter().filter(|x| x["id"] == policy.as_str()).count(), 1);
    // Its classes last three days unless told otherwise.
    let class = create_class(&app, &p, json!({"policyId": policy})).await;
    assert_eq!((&class["endDate"], &class["defaultDurationInMinutes"]), (&json!("02/14/2030 09:00 AM"), &json!(4320)));
    // Managers are who the manager filter shows, and whom the project tells they may add policies.
    let managed = |c: &CsCreds| app.get("/api/v3/projects?WhereUserIsProjectManager=true").signed(c).send();
    assert_eq!(managed(&manager).await.body.as_array().unwrap().len(), 1);
    managed(&p.instructor).await.expect(200, json!([]));
    let detail = app.get(&format!("/api/v3/projects/{}", p.id)).signed(&manager).send().await;
    assert_eq!(detail.body["canAddPolicy"], true);
    // Others are refused; nothing is made.
    let r = call(&app, &p.instructor, Method::POST, "/api/v3/policies", Some(body.clone())).await;
    expect_error(&r, 403, "you do not have permission for this operation in this project");
    let stranger = app.cs_project("other").await.instructor;
    let r = call(&app, &stranger, Method::POST, "/api/v3/policies", Some(body)).await;
    expect_error(&r, 400, "projectId: unknown project");
    let bad = |body: Value| call(&app, &manager, Method::POST, "/api/v3/policies", Some(body));
    expect_error(&bad(json!({})).await, 400, "projectId is required");
    expect_error(&bad(json!({"projectId": p.id})).await, 400, "name is required; runtimeLeaseMinutes is required");
    expect_error(
        &bad(json!({"projectId": p.id, "name": "x", "runtimeLeaseMinutes": 0, "storageLeaseMinutes": -1})).await,
        400,
        "runtimeLeaseMinutes: must be greater than or equal to 1; storageLeaseMinutes: must be greater than or equal to 0",
    );
    expect_error(
        &bad(json!({"projectId": p.id, "name": "x", "runtimeLeaseMinutes": 60, "inactivityThresholdTime": "soon"}))
            .await,
        400,
        "inactivityThresholdTime must be a whole number",
    );
    let listed = app.get(&format!("/api/v3/projects/{}/policies", p.id)).signed(&p.instructor).send().await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2, "the project's own and the manager's");
}

engine_tests!(
    policies_are_made_by_managers,
    signing_is_checked,
    signature_failures_are_rate_limited,
    catalog_lookups,
    custom_fields_are_defined_and_enforced,
    classes_are_created_read_changed_and_deleted,
    create_checks_its_fields,
    students_and_seats,
    seats_hold_under_concurrency,
    sponsored_links_sign_students_in,
    invitations_are_queued,
    instructors_of_a_class,
);
