//! Accounts as GrowFit's front end uses them: sign-up with an emailed code, sign-in, the
//! caller's account and profile, refresh, and the admin API's passwords — with every
//! refusal of the "Bad input": wrong passwords (throttled, no enumeration),
//! expired, reused and wrong codes, attempt limits, duplicate emails, unverified sign-ups.

use classhub_core::account::{self, CODE_TTL, VERIFIED_TTL};
use classhub_core::audit::Context;
use classhub_core::user::{NewUser, UserKind};
use classhub_store::ops::accounts::{SendEmailCode, VerifyEmailCode};
use classhub_store::ops::outbox::ClaimOutbox;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::time::Duration;

use crate::engine_tests;
use crate::support::{ADMIN, Resp, TestApp};

pub const PASSWORD: &str = "correct horse battery";

/// The emails waiting in the outbox (each is returned once).
pub async fn outbox(app: &TestApp) -> Vec<classhub_core::lab::Email> {
    let now = Timestamp::now();
    let claim = ClaimOutbox { now, hold_until: now + SignedDuration::from_secs(60), limit: 100 };
    app.store.write(claim).await.unwrap().into_iter().map(|m| m.email).collect()
}

/// The code of the one verification email waiting for `to`.
pub async fn emailed_code(app: &TestApp, to: &str) -> String {
    let mails = outbox(app).await;
    let mail = mails.iter().rev().find(|m| m.to == to).unwrap_or_else(|| panic!("no email to {to}: {mails:?}"));
    assert_eq!(mail.subject, "Your classhub verification code");
    let at = mail.text.find("code is ").expect("a code") + "code is ".len();
    mail.text[at..at + 6].to_string()
}

pub async fn send_code(app: &TestApp, email: &str, peer: &str) -> Resp {
    app.post("/user/email/send-code").peer(peer).json(json!({"email": email})).send().await
}

pub async fn verify(app: &TestApp, email: &str, code: &str, token: &str) -> Resp {
    app.post("/user/email/verify-code")
        .json(json!({"email": email, "code": code, "verification_token": token}))
        .send()
        .await
}

/// Sends a code to `email` and verifies it; returns the verified token.
pub async fn verified(app: &TestApp, email: &str) -> String {
    let r = send_code(app, email, "10.9.9.9:1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["verification_token"].as_str().unwrap().to_string();
    let code = emailed_code(app, email.trim()).await;
    let r = verify(app, email, &code, &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["email_verified_token"].as_str().unwrap().to_string()
}

/// The body the front end signs up with.
pub fn signup_body(email: &str, name: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "full_name": name, "status": "active", "default_role": "member",
           "referral_source": "search"})
}

/// Signs a verified email up; returns the new user's id.
pub async fn sign_up(app: &TestApp, email: &str, name: &str) -> i64 {
    verified(app, email).await;
    let r = app.post("/user/signup").json(signup_body(email, name)).send().await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["user_id"].as_i64().unwrap()
}

pub async fn login_from(app: &TestApp, email: &str, password: &str, peer: &str) -> Resp {
    app.post("/user/login").peer(peer).json(json!({"email": email, "password": password})).send().await
}

/// Signs in; returns the token triple.
pub async fn tokens(app: &TestApp, email: &str, password: &str) -> Value {
    let r = login_from(app, email, password, "10.8.8.8:1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn detail(text: &str) -> Value {
    json!({ "detail": text })
}

fn user_response(id: i64, email: &str, role: &str, partner_id: Option<i64>, logged_in: bool) -> Value {
    json!({"user_id": id, "email": email, "status": "active", "default_role": role, "partner_id": partner_id,
           "last_login_at": if logged_in { json!("$ts") } else { Value::Null }, "created_at": "$ts", "updated_at": "$ts"})
}

fn missing(field: &str, input: Value) -> Value {
    json!({"type": "missing", "loc": ["body", field], "msg": "Field required", "input": input})
}

fn not_an_email(field: &str, input: &str, reason: &str) -> Value {
    json!({"type": "value_error", "loc": ["body", field], "msg": format!("value is not a valid email address: {reason}"),
           "input": input, "ctx": {"reason": reason}})
}

fn string_type(field: &str, input: Value) -> Value {
    json!({"type": "string_type", "loc": ["body", field], "msg": "Input should be a valid string", "input": input})
}

// ---- the front end's flows -----------------------------------------------------------------

async fn a_student_signs_up_with_the_emailed_code_and_signs_in(app: TestApp) {
    let r = send_code(&app, " Ann@Example.com ", "10.1.0.1:1").await;
    r.expect(200, json!({"email": "Ann@Example.com", "verification_token": "$any"}));
    let token = r.body["verification_token"].as_str().unwrap().to_string();
    assert!(account::plausible_secret(&token, "chv_"), "{token}");
    // The email: ours, in English, with six digits.
    let mails = outbox(&app).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(
        (mail.to.as_str(), mail.subject.as_str(), mail.html.as_deref()),
        ("Ann@Example.com", "Your classhub verification code", None)
    );
    let at = mail.text.find("code is ").unwrap() + 8;
    let code = mail.text[at..at + 6].to_string();
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{}", mail.text);
    assert_eq!(
        mail.text,
        format!(
            "Your verification code is {code}.\n\nEnter it on the sign-up page within 10 minutes.\n\
             If you did not ask for it, ignore this email: nothing happens\nwithout the code.\n"
        )
    );
    // Case does not matter; the email is shown as sent.
    let r = verify(&app, "ann@example.com", &code, &token).await;
    r.expect(200, json!({"email": "ann@example.com", "email_verified_token": "$any"}));
    assert!(r.body["email_verified_token"].as_str().unwrap().starts_with("che_"));

    // The front end's body, extra fields and all.
    let r = app.post("/user/signup").json(signup_body("Ann@Example.com", "Ann Lee")).send().await;
    r.expect(201, user_response(r.body["user_id"].as_i64().unwrap_or(0), "Ann@Example.com", "member", None, false));
    let id = r.body["user_id"].as_i64().unwrap();

    // Sign-in: any case of the email.
    let r = login_from(&app, "ANN@example.com", PASSWORD, "10.1.0.1:2").await;
    r.expect(200, json!({"access_token": "$any", "refresh_token": "$any", "token_type": "bearer"}));
    let access = r.body["access_token"].as_str().unwrap().to_string();
    assert!(access.starts_with("chk_") && r.body["refresh_token"].as_str().unwrap().starts_with("chr_"));
    let me = app.get("/user/my").token(&access).send().await;
    me.expect(200, user_response(id, "Ann@Example.com", "member", None, true));
    app.get("/user/my/profile").token(&access).send().await.expect(
        200,
        json!({"user_id": id, "full_name": "Ann Lee", "job_title": null, "department": null, "phone_number": null,
               "location": null, "bio": null, "avatar_url": null, "avatar_initials": null, "updated_at": "$ts"}),
    );
    // A student's token: the student routes take it.
    assert_eq!(app.get("/user/classes").token(&access).send().await.status, 200);

    // The email is taken now: whoever proved it in the last 30 minutes learns so; verified
    // again, too.
    let r = app.post("/user/signup").json(signup_body("ann@example.com", "Other")).send().await;
    r.expect(409, detail("email already exists"));
    verified(&app, "ann@example.COM").await;
    let r = app.post("/user/signup").json(signup_body("ann@example.com", "Other")).send().await;
    r.expect(409, detail("email already exists"));
}

async fn a_partner_made_by_the_admin_signs_in_and_is_a_partner(app: TestApp) {
    let r = app
        .post("/admin/v1/partners")
        .token(ADMIN)
        .json(json!({"name": "Pat Partner", "email": "Pat@Example.com", "password": PASSWORD}))
        .send()
        .await;
    r.expect(201, json!({"id": "$any", "name": "Pat Partner", "email": "Pat@Example.com", "token": "$any"}));
    let id = r.body["id"].as_i64().unwrap();
    let t = tokens(&app, "pat@example.com", PASSWORD).await;
    let access = t["access_token"].as_str().unwrap();
    app.get("/user/my")
        .token(access)
        .send()
        .await
        .expect(200, user_response(id, "Pat@Example.com", "partner", Some(id), true));
    // The partner id of `/user/my` is the partner path's: the signed-in token manages classes.
    assert_eq!(app.get(&format!("/partner/{id}/classes")).token(access).send().await.status, 200);
    app.get("/user/my/profile").token(access).send().await.expect(
        200,
        json!({"user_id": id, "full_name": "Pat Partner", "job_title": null, "department": null, "phone_number": null,
               "location": null, "bio": null, "avatar_url": null, "avatar_initials": null, "updated_at": "$ts"}),
    );
    // A partner without a password has no account, but its token reads its own.
    let bare = app.partner().await;
    app.get("/user/my")
        .token(&bare.token)
        .send()
        .await
        .expect(200, user_response(bare.id, "pat@example.com", "partner", Some(bare.id), false));
    // One account per email, whatever its case: the second is refused, and nothing is made.
    let r = app
        .post("/admin/v1/students")
        .token(ADMIN)
        .json(json!({"name": "Copy", "email": "PAT@example.com", "password": "x"}))
        .send()
        .await;
    r.expect(409, detail("email already exists"));
    // Nobody who has not proved the address learns that it has an account.
    let r = app.post("/user/signup").json(signup_body("pat@example.com", "Impostor")).send().await;
    r.expect(400, detail("email not verified"));
}

// ---- sign-in ---------------------------------------------------------------------------------

async fn wrong_passwords_are_throttled_without_telling_emails_apart(app: TestApp) {
    sign_up(&app, "ann@example.com", "Ann").await;
    let here = "10.3.0.1:1";
    // Unknown email and wrong password: one answer.
    let unknown = login_from(&app, "nobody@example.com", PASSWORD, here).await;
    let wrong = login_from(&app, "ann@example.com", "wrong", here).await;
    unknown.expect(401, detail("invalid credentials"));
    wrong.expect(401, detail("invalid credentials"));
    assert_eq!(unknown.header("www-authenticate"), None);
    // The budget (10 per email at an address) is the same for both.
    for i in 0..9 {
        login_from(&app, "ann@example.com", &format!("wrong{i}"), here)
            .await
            .expect(401, detail("invalid credentials"));
    }
    for i in 0..9 {
        login_from(&app, "nobody@example.com", &format!("wrong{i}"), here)
            .await
            .expect(401, detail("invalid credentials"));
    }
    for email in ["ann@example.com", "nobody@example.com", "ANN@example.com"] {
        let r = login_from(&app, email, PASSWORD, here).await;
        r.expect(429, detail("too many failed attempts; try again later"));
        let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=600).contains(&wait), "{wait}");
        assert_eq!(r.header("ratelimit-policy"), Some("\"account-login\";q=10;w=600"));
        assert_eq!(r.header("ratelimit"), Some(format!("\"account-login\";r=0;t={wait}").as_str()));
    }
    // The real user elsewhere is not locked out.
    login_from(&app, "ann@example.com", PASSWORD, "10.3.0.2:1")
        .await
        .expect(200, json!({"access_token": "$any", "refresh_token": "$any", "token_type": "bearer"}));
}

async fn sign_in_bodies_are_validated(app: TestApp) {
    let r = app.post("/user/login").json(json!({"email": "nope"})).send().await;
    r.expect(
        422,
        json!({"detail": [not_an_email("email", "nope", "An email address must have an @-sign."),
                          missing("password", json!({"email": "nope"}))]}),
    );
    let r = app.post("/user/login").json(json!({"email": "a@b@c", "password": 5})).send().await;
    r.expect(
        422,
        json!({"detail": [not_an_email("email", "a@b@c", "The email address is not valid. It must have exactly one @-sign."),
                          string_type("password", json!(5))]}),
    );
    let r = app.post("/user/login").raw(b"{").header("content-type", "application/json").send().await;
    assert_eq!((r.status, r.body["detail"][0]["type"].as_str()), (422, Some("json_invalid")));
    let r = app.post("/user/login").json(json!(["x"])).send().await;
    assert_eq!((r.status, r.body["detail"][0]["type"].as_str()), (422, Some("model_attributes_type")));
    // Overlong passwords are nobody's: refused like any wrong one.
    let r = login_from(&app, "a@example.com", &"x".repeat(10_000), "10.4.0.1:1").await;
    r.expect(401, detail("invalid credentials"));
}

// ---- codes -----------------------------------------------------------------------------------

async fn wrong_reused_and_exhausted_codes_are_refused(app: TestApp) {
    let r = send_code(&app, "bo@example.com", "10.5.0.1:1").await;
    let token = r.body["verification_token"].as_str().unwrap().to_string();
    let code = emailed_code(&app, "bo@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    // Unknown and malformed tokens, another email, a wrong code.
    verify(&app, "bo@example.com", &code, &format!("chv_{}", "A".repeat(43)))
        .await
        .expect(400, detail("invalid verification token"));
    verify(&app, "bo@example.com", &code, "forged.token").await.expect(400, detail("invalid verification token"));
    verify(&app, "al@example.com", &code, &token).await.expect(400, detail("email mismatch"));
    // Five wrong codes, and the request is dead: the right code no longer works.
    for _ in 0..account::CODE_ATTEMPTS {
        verify(&app, "bo@example.com", wrong, &token).await.expect(400, detail("invalid code"));
    }
    verify(&app, "bo@example.com", &code, &token).await.expect(400, detail("invalid verification token"));
    app.post("/user/signup")
        .json(signup_body("bo@example.com", "Bo"))
        .send()
        .await
        .expect(400, detail("email not verified"));

    // A code verifies once.
    let r = send_code(&app, "bo@example.com", "10.5.0.1:1").await;
    let token = r.body["verification_token"].as_str().unwrap().to_string();
    let code = emailed_code(&app, "bo@example.com").await;
    verify(&app, "bo@example.com", &format!(" {code} "), &token)
        .await
        .expect(200, json!({"email": "bo@example.com", "email_verified_token": "$any"}));
    verify(&app, "bo@example.com", &code, &token).await.expect(400, detail("invalid verification token"));
    // An earlier request of the same email is still its own.
    let r = send_code(&app, "cy@example.com", "10.5.0.1:1").await;
    let first = r.body["verification_token"].as_str().unwrap().to_string();
    let first_code = emailed_code(&app, "cy@example.com").await;
    let r = send_code(&app, "cy@example.com", "10.5.0.1:1").await;
    let second = r.body["verification_token"].as_str().unwrap().to_string();
    let second_code = emailed_code(&app, "cy@example.com").await;
    if first_code != second_code {
        verify(&app, "cy@example.com", &second_code, &first).await.expect(400, detail("invalid code"));
    }
    verify(&app, "cy@example.com", &second_code, &second)
        .await
        .expect(200, json!({"email": "cy@example.com", "email_verified_token": "$any"}));
}

async fn expired_codes_and_stale_verifications_are_refused(app: TestApp) {
    // A code sent 11 minutes ago: the right code is "code expired", a wrong one "invalid code".
    let past = Timestamp::now() - CODE_TTL - SignedDuration::from_mins(1);
    let op =
        SendEmailCode { to: "old@example.com".into(), email: "old@example.com".into(), throttle: vec![], now: past };
    let token = app.store.write(op).await.unwrap();
    let code = emailed_code(&app, "old@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    verify(&app, "old@example.com", wrong, &token).await.expect(400, detail("invalid code"));
    verify(&app, "old@example.com", &code, &token).await.expect(400, detail("code expired"));

    // Verified 31 minutes ago: too long ago to sign up with.
    let long_ago = Timestamp::now() - VERIFIED_TTL - SignedDuration::from_mins(1);
    let op = SendEmailCode {
        to: "late@example.com".into(),
        email: "late@example.com".into(),
        throttle: vec![],
        now: long_ago,
    };
    let token = app.store.write(op).await.unwrap();
    let code = emailed_code(&app, "late@example.com").await;
    let op = VerifyEmailCode { email: "late@example.com".into(), code, token: token.clone(), now: long_ago };
    let verified_token = app.store.write(op).await.unwrap().unwrap();
    app.post("/user/signup")
        .json(signup_body("late@example.com", "Late"))
        .send()
        .await
        .expect(400, detail("email not verified"));
    let mut body = signup_body("late@example.com", "Late");
    body["email_verified_token"] = json!(verified_token);
    app.post("/user/signup").json(body).send().await.expect(400, detail("invalid verification token"));
}

async fn codes_are_throttled_per_email_and_address(app: TestApp) {
    let here = "10.6.0.1:1";
    for _ in 0..5 {
        send_code(&app, "dee@example.com", here)
            .await
            .expect(200, json!({"email": "dee@example.com", "verification_token": "$any"}));
    }
    assert_eq!(outbox(&app).await.len(), 5);
    let r = send_code(&app, "DEE@example.com", here).await;
    r.expect(429, detail("too many codes sent; try again later"));
    assert_eq!(r.header("ratelimit-policy"), Some("\"email-code\";q=5;w=600"));
    assert!(r.header("retry-after").is_some());
    assert!(outbox(&app).await.is_empty(), "a refused send sends nothing");
    // Another email from here, and the same email from elsewhere, still get codes.
    assert_eq!(send_code(&app, "eve@example.com", here).await.status, 200);
    assert_eq!(send_code(&app, "dee@example.com", "10.6.0.2:1").await.status, 200);
    // An address may send ten times an email's budget, to any emails.
    for i in 0..44 {
        assert_eq!(send_code(&app, &format!("x{i}@example.com"), here).await.status, 200, "{i}");
    }
    let r = send_code(&app, "last@example.com", here).await;
    assert_eq!((r.status, r.header("ratelimit-policy")), (429, Some("\"email-code-address\";q=50;w=600")));
}

async fn code_bodies_are_validated(app: TestApp) {
    app.post("/user/email/send-code")
        .json(json!({}))
        .send()
        .await
        .expect(422, json!({"detail": [missing("email", json!({}))]}));
    app.post("/user/email/send-code")
        .json(json!({"email": "no at"}))
        .send()
        .await
        .expect(422, json!({"detail": [not_an_email("email", "no at", "An email address must have an @-sign.")]}));
    app.post("/user/email/send-code").json(json!({"email": "@example.com"})).send().await.expect(
        422,
        json!({"detail": [not_an_email("email", "@example.com", "There must be something before the @-sign.")]}),
    );
    app.post("/user/email/send-code")
        .json(json!({"email": 7}))
        .send()
        .await
        .expect(422, json!({"detail": [string_type("email", json!(7))]}));
    let body = json!({"code": 123456});
    app.post("/user/email/verify-code").json(body.clone()).send().await.expect(
        422,
        json!({"detail": [missing("email", body.clone()), string_type("code", json!(123456)),
                          missing("verification_token", body)]}),
    );
    assert!(outbox(&app).await.is_empty());
}

// ---- sign-up ---------------------------------------------------------------------------------

async fn sign_ups_are_refused_as_the_original_refuses_them(app: TestApp) {
    // Without a verified email.
    app.post("/user/signup")
        .json(signup_body("fay@example.com", "Fay"))
        .send()
        .await
        .expect(400, detail("email not verified"));
    // An empty password, before anything else is looked at.
    let mut body = signup_body("fay@example.com", "Fay");
    body["password"] = json!("");
    app.post("/user/signup").json(body.clone()).send().await.expect(400, detail("password required"));
    body["password"] = json!("p".repeat(257));
    app.post("/user/signup").json(body.clone()).send().await.expect(
        422,
        json!({"detail": [{"type": "string_too_long", "loc": ["body", "password"], "msg": "String should have at most 256 characters",
                           "input": "p".repeat(257), "ctx": {"max_length": 256}}]}),
    );
    app.post("/user/signup").json(json!({"password": PASSWORD, "full_name": 5, "status": 1})).send().await.expect(
        422,
        json!({"detail": [missing("email", json!({"password": PASSWORD, "full_name": 5, "status": 1})),
                          string_type("full_name", json!(5)), string_type("status", json!(1))]}),
    );
    // A token that names no verification.
    verified(&app, "fay@example.com").await;
    let mut body = signup_body("fay@example.com", "Fay");
    body["email_verified_token"] = json!("che_nothing");
    app.post("/user/signup").json(body).send().await.expect(400, detail("invalid verification token"));
    // Nothing was used up: the verification still signs Fay up, once.
    let r = app.post("/user/signup").json(signup_body("fay@example.com", "Fay")).send().await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.post("/user/signup")
        .json(signup_body("fay@example.com", "Fay"))
        .send()
        .await
        .expect(409, detail("email already exists"));

    // The verification may be named: by its verified token, or (as the front end's
    // commented-out line would send) by the code request's token.
    let token = verified(&app, "gus@example.com").await;
    let mut body = signup_body("gus@example.com", "");
    body["email_verified_token"] = json!(token);
    let r = app.post("/user/signup").json(body).send().await;
    // Without a name, the email names the user.
    let id = r.body["user_id"].as_i64().unwrap_or(0);
    r.expect(201, user_response(id, "gus@example.com", "member", None, false));
    let t = tokens(&app, "gus@example.com", PASSWORD).await;
    let profile = app.get("/user/my/profile").token(t["access_token"].as_str().unwrap()).send().await;
    assert_eq!(profile.body["full_name"], "gus@example.com");
    let r = send_code(&app, "hal@example.com", "10.7.0.1:1").await;
    let request = r.body["verification_token"].as_str().unwrap().to_string();
    let code = emailed_code(&app, "hal@example.com").await;
    assert_eq!(verify(&app, "hal@example.com", &code, &request).await.status, 200);
    let mut body = signup_body("hal@example.com", "Hal");
    body["email_verified_token"] = json!(request);
    assert_eq!(app.post("/user/signup").json(body).send().await.status, 201);
    // An email an admin gave an account is taken too.
    app.post("/admin/v1/students")
        .token(ADMIN)
        .json(json!({"name": "Ida", "email": "ida@example.com", "password": PASSWORD}))
        .send()
        .await;
    verified(&app, "IDA@example.com").await;
    app.post("/user/signup")
        .json(signup_body("Ida@example.com", "Ida"))
        .send()
        .await
        .expect(409, detail("email already exists"));
}

// ---- the caller's account ----------------------------------------------------------------------

async fn passwords_and_emails_change_and_end_other_sessions(app: TestApp) {
    let id = sign_up(&app, "jo@example.com", "Jo").await;
    let first = tokens(&app, "jo@example.com", PASSWORD).await;
    let second = tokens(&app, "jo@example.com", PASSWORD).await;
    let (t1, t2) = (first["access_token"].as_str().unwrap(), second["access_token"].as_str().unwrap());
    // status, default_role and partner_id are not the caller's to change.
    app.patch("/user/my")
        .token(t1)
        .json(json!({"status": "banned", "default_role": "admin", "partner_id": 9}))
        .send()
        .await
        .expect(200, user_response(id, "jo@example.com", "member", None, true));
    app.patch("/user/my").token(t1).json(json!({"password": ""})).send().await.expect(400, detail("password required"));
    app.patch("/user/my")
        .token(t1)
        .json(json!({"password": "new password"}))
        .send()
        .await
        .expect(200, user_response(id, "jo@example.com", "member", None, true));
    // The caller's token stays; the other session ends, with its refresh token.
    assert_eq!(app.get("/user/my").token(t1).send().await.status, 200);
    assert_eq!(app.get("/user/my").token(t2).send().await.status, 401);
    let refresh = json!({"refresh_token": second["refresh_token"]});
    app.post("/user/token/refresh").json(refresh).send().await.expect(401, detail("invalid refresh token"));
    login_from(&app, "jo@example.com", PASSWORD, "10.8.1.1:1").await.expect(401, detail("invalid credentials"));
    assert_eq!(login_from(&app, "jo@example.com", "new password", "10.8.1.1:1").await.status, 200);

    // A new email must be verified, and not another account's.
    app.patch("/user/my")
        .token(t1)
        .json(json!({"email": "joe@example.com"}))
        .send()
        .await
        .expect(400, detail("email not verified"));
    sign_up(&app, "kim@example.com", "Kim").await;
    verified(&app, "kim@example.com").await;
    app.patch("/user/my")
        .token(t1)
        .json(json!({"email": "Kim@example.com"}))
        .send()
        .await
        .expect(409, detail("email already exists"));
    app.patch("/user/my")
        .token(t1)
        .json(json!({"email": "x"}))
        .send()
        .await
        .expect(422, json!({"detail": [not_an_email("email", "x", "An email address must have an @-sign.")]}));
    verified(&app, "joe@example.com").await;
    app.patch("/user/my")
        .token(t1)
        .json(json!({"email": "Joe@example.com"}))
        .send()
        .await
        .expect(200, user_response(id, "Joe@example.com", "member", None, true));
    login_from(&app, "jo@example.com", "new password", "10.8.1.1:1").await.expect(401, detail("invalid credentials"));
    assert_eq!(login_from(&app, "joe@example.com", "new password", "10.8.1.1:1").await.status, 200);
    // The verification was used up: it does not sign anyone else up.
    app.post("/user/signup")
        .json(signup_body("joe@example.com", "Other"))
        .send()
        .await
        .expect(409, detail("email already exists"));
}

/// A new password of one's own ends one's other sign-in sessions, keeps the one making the
/// change, and leaves the API token an administrator issued.
async fn a_new_password_keeps_the_callers_session_and_api_tokens(app: TestApp) {
    let r = app
        .post("/admin/v1/partners")
        .token(ADMIN)
        .json(json!({"name": "Pia", "email": "pia@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (id, api) = (r.body["id"].as_i64().unwrap(), r.body["token"].as_str().unwrap().to_string());
    let mine = tokens(&app, "pia@example.com", PASSWORD).await;
    let other = tokens(&app, "pia@example.com", PASSWORD).await;
    let (t1, t2) = (mine["access_token"].as_str().unwrap(), other["access_token"].as_str().unwrap());
    app.patch("/user/my")
        .token(t1)
        .json(json!({"password": "new password"}))
        .send()
        .await
        .expect(200, user_response(id, "pia@example.com", "partner", Some(id), true));
    let classes = format!("/partner/{id}/classes");
    assert_eq!(app.get(&classes).token(t1).send().await.status, 200);
    assert_eq!(app.get(&classes).token(&api).send().await.status, 200);
    app.get(&classes).token(t2).send().await.expect(401, detail("unauthorized"));
    refreshed(&app, &other).await.expect(401, detail("invalid refresh token"));
    // The kept session goes on, refresh included.
    let next = refreshed(&app, &mine).await;
    assert_eq!(next.status, 200, "{}", next.text);
    let t3 = next.body["access_token"].as_str().unwrap();
    assert_eq!(app.get(&classes).token(t3).send().await.status, 200);
    // Changed with the API token, the password ends every sign-in session; the token stays.
    app.patch("/user/my")
        .token(&api)
        .json(json!({"password": "third"}))
        .send()
        .await
        .expect(200, user_response(id, "pia@example.com", "partner", Some(id), true));
    app.get(&classes).token(t3).send().await.expect(401, detail("unauthorized"));
    refreshed(&app, &next.body).await.expect(401, detail("invalid refresh token"));
    assert_eq!(app.get(&classes).token(&api).send().await.status, 200);
}

/// Sign-ins expire (`--session-ttl`), and then answer as a revoked token does: 401
/// `unauthorized`. Their refresh tokens outlive them until they expire too
/// (`--refresh-ttl`): then `invalid refresh token`. API tokens do not expire.
async fn sessions_and_refresh_tokens_expire(app: TestApp) {
    sign_up(&app, "eve@example.com", "Eve").await;
    let api = app.student().await;
    // A server whose sign-ins last no time: each has expired by the next request.
    let fleeting = app.reconfigured(|c| c.session_ttl = Duration::ZERO);
    let first = tokens(&fleeting, "eve@example.com", PASSWORD).await;
    let expired = first["access_token"].as_str().unwrap();
    let r = app.get("/user/my").token(expired).send().await;
    r.expect(401, detail("unauthorized"));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    app.get("/user/classes").token(expired).send().await.expect(401, detail("unauthorized"));
    // Its refresh token still trades it for a pair, which lasts as long as the server that
    // issues it says.
    let again = refreshed(&fleeting, &first).await;
    again.expect(200, json!({"access_token": "$any", "refresh_token": "$any", "token_type": "bearer"}));
    let still_expired = again.body["access_token"].as_str().unwrap();
    app.get("/user/my").token(still_expired).send().await.expect(401, detail("unauthorized"));
    let lasting = refreshed(&app, &again.body).await;
    assert_eq!(lasting.status, 200, "{}", lasting.text);
    assert_eq!(app.get("/user/my").token(lasting.body["access_token"].as_str().unwrap()).send().await.status, 200);
    // A server whose refresh tokens last no time: the access token works, its refresh
    // token is refused as a used one is.
    let brief = app.reconfigured(|c| c.refresh_ttl = Duration::ZERO);
    let second = tokens(&brief, "eve@example.com", PASSWORD).await;
    assert_eq!(app.get("/user/my").token(second["access_token"].as_str().unwrap()).send().await.status, 200);
    refreshed(&app, &second).await.expect(401, detail("invalid refresh token"));
    // An administrator's API token does not expire, whatever the server's session lifetime.
    assert_eq!(fleeting.get("/user/my").token(&api.token).send().await.status, 200);
}

/// Trades a token pair's refresh token at `on`.
async fn refreshed(on: &TestApp, pair: &Value) -> Resp {
    on.post("/user/token/refresh").json(json!({"refresh_token": pair["refresh_token"]})).send().await
}

async fn refresh_tokens_work_once(app: TestApp) {
    sign_up(&app, "lu@example.com", "Lu").await;
    let t = tokens(&app, "lu@example.com", PASSWORD).await;
    let r = app.post("/user/token/refresh").json(json!({"refresh_token": t["refresh_token"]})).send().await;
    r.expect(200, json!({"access_token": "$any", "refresh_token": "$any", "token_type": "bearer"}));
    assert_ne!(r.body["access_token"], t["access_token"]);
    // The old pair is spent; the new one works.
    assert_eq!(app.get("/user/my").token(t["access_token"].as_str().unwrap()).send().await.status, 401);
    assert_eq!(app.get("/user/my").token(r.body["access_token"].as_str().unwrap()).send().await.status, 200);
    app.post("/user/token/refresh")
        .json(json!({"refresh_token": t["refresh_token"]}))
        .send()
        .await
        .expect(401, detail("invalid refresh token"));
    for bad in [json!("chr_nothing"), json!(t["access_token"])] {
        app.post("/user/token/refresh")
            .json(json!({"refresh_token": bad}))
            .send()
            .await
            .expect(401, detail("invalid refresh token"));
    }
    app.post("/user/token/refresh")
        .json(json!({}))
        .send()
        .await
        .expect(422, json!({"detail": [missing("refresh_token", json!({}))]}));
    // Revoking the access token ends its refresh token.
    let revoked =
        app.post("/admin/v1/tokens/revoke").token(ADMIN).json(json!({"token": r.body["access_token"]})).send().await;
    assert_eq!(revoked.status, 204);
    app.post("/user/token/refresh")
        .json(json!({"refresh_token": r.body["refresh_token"]}))
        .send()
        .await
        .expect(401, detail("invalid refresh token"));
}

async fn profiles_are_merge_patched(app: TestApp) {
    let s = app.student().await;
    let empty = json!({"user_id": s.id, "full_name": "Sam Student", "job_title": null, "department": null,
                       "phone_number": null, "location": null, "bio": null, "avatar_url": null,
                       "avatar_initials": null, "updated_at": "$ts"});
    app.get("/user/my/profile").token(&s.token).send().await.expect(200, empty);
    // The front end's body: every field it shows, as strings.
    let body =
        json!({"full_name": "Sam S", "job_title": "Teacher", "bio": "Hi", "phone_number": "", "department": "Math"});
    let changed = json!({"user_id": s.id, "full_name": "Sam S", "job_title": "Teacher", "department": "Math",
                         "phone_number": "", "location": null, "bio": "Hi", "avatar_url": null,
                         "avatar_initials": null, "updated_at": "$ts"});
    app.patch("/user/my/profile").token(&s.token).json(body).send().await.expect(200, changed.clone());
    app.get("/user/my/profile").token(&s.token).send().await.expect(200, changed.clone());
    let before = app.get("/user/my/profile").token(&s.token).send().await.body["updated_at"].clone();
    // Nothing new: nothing written.
    let same = app.patch("/user/my/profile").token(&s.token).json(json!({"bio": "Hi"})).send().await;
    assert_eq!(same.body["updated_at"], before);
    let mut cleared = changed.clone();
    cleared["bio"] = Value::Null;
    cleared["avatar_initials"] = json!("SS");
    app.patch("/user/my/profile")
        .token(&s.token)
        .json(json!({"bio": null, "avatar_initials": "SS", "unknown": 1}))
        .send()
        .await
        .expect(200, cleared);
    // A name cannot be removed; texts are texts.
    let body = json!({"full_name": "", "job_title": 5, "bio": "a\u{0}b"});
    app.patch("/user/my/profile").token(&s.token).json(body).send().await.expect(
        422,
        json!({"detail": [
            {"type": "string_too_short", "loc": ["body", "full_name"], "msg": "String should have at least 1 character",
             "input": "", "ctx": {"min_length": 1}},
            string_type("job_title", json!(5)),
            {"type": "value_error", "loc": ["body", "bio"], "msg": "Value error, must not contain the NUL character",
             "input": "a\u{0}b", "ctx": {"error": "must not contain the NUL character"}},
        ]}),
    );
    app.patch("/user/my/profile")
        .token(&s.token)
        .json(json!({"full_name": null}))
        .send()
        .await
        .expect(422, json!({"detail": [string_type("full_name", Value::Null)]}));
    let r = app.patch("/user/my/profile").token(&s.token).json(json!([])).send().await;
    assert_eq!(r.status, 422);
    // The new name is the user's name.
    let r = app.get("/user/my/profile").token(&s.token).send().await;
    assert_eq!(r.body["full_name"], "Sam S");
}

// ---- the admin API's passwords -------------------------------------------------------------

async fn administrators_set_passwords(app: TestApp) {
    let s = app.student().await;
    login_from(&app, "sam@example.com", PASSWORD, "10.9.1.1:1").await.expect(401, detail("invalid credentials"));
    let url = format!("/admin/v1/users/{}/password", s.id);
    let r = app.call(http::Method::PUT, &url).token(ADMIN).json(json!({"password": PASSWORD})).send().await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    assert_eq!(login_from(&app, "SAM@example.com", PASSWORD, "10.9.1.1:1").await.status, 200);
    // Again, with another password: the account's sign-in sessions end, with their refresh
    // tokens; the API token the administrator issued (an integration's) keeps working.
    let session = tokens(&app, "sam@example.com", PASSWORD).await;
    let access = session["access_token"].as_str().unwrap();
    assert_eq!(app.get("/user/my").token(access).send().await.status, 200);
    let r = app.call(http::Method::PUT, &url).token(ADMIN).json(json!({"password": "second"})).send().await;
    assert_eq!(r.status, 204);
    app.get("/user/my").token(access).send().await.expect(401, detail("unauthorized"));
    app.post("/user/token/refresh")
        .json(json!({"refresh_token": session["refresh_token"]}))
        .send()
        .await
        .expect(401, detail("invalid refresh token"));
    assert_eq!(app.get("/user/my").token(&s.token).send().await.status, 200);
    assert_eq!(login_from(&app, "sam@example.com", "second", "10.9.1.1:1").await.status, 200);

    let put = |path: String, body: Value| {
        let app = &app;
        async move { app.call(http::Method::PUT, &path).token(ADMIN).json(body).send().await }
    };
    put("/admin/v1/users/999999/password".into(), json!({"password": "x"})).await.expect(404, detail("User not found"));
    put("/admin/v1/users/x/password".into(), json!({"password": "x"})).await.expect(
        422,
        json!({"detail": [{"type": "int_parsing", "loc": ["path", "user_id"],
               "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "x"}]}),
    );
    put(url.clone(), json!({})).await.expect(422, json!({"detail": [missing("password", json!({}))]}));
    put(url.clone(), json!({"password": ""})).await.expect(
        422,
        json!({"detail": [{"type": "string_too_short", "loc": ["body", "password"], "msg": "String should have at least 1 character",
               "input": "", "ctx": {"min_length": 1}}]}),
    );
    // A partner or student without an email cannot have an account.
    let op = classhub_store::ops::users::CreateUser {
        ctx: Context::new(None, None),
        user: NewUser::named(UserKind::Student, "No Mail", None),
    };
    let (nomail, _) = app.store.write(op).await.unwrap();
    put(format!("/admin/v1/users/{}/password", nomail.id), json!({"password": "x"}))
        .await
        .expect(409, detail("user has no email"));
    // Another account has the email (in another case).
    let twin = app.person("students", "Twin", "SAM@EXAMPLE.COM").await;
    put(format!("/admin/v1/users/{}/password", twin.id), json!({"password": "x"}))
        .await
        .expect(409, detail("email already exists"));
    // Users of other kinds hold no account.
    let op = classhub_store::ops::users::CreateUser {
        ctx: Context::new(None, None),
        user: NewUser::named(UserKind::Educator, "Ed", Some("ed@example.com".into())),
    };
    let (educator, _) = app.store.write(op).await.unwrap();
    put(format!("/admin/v1/users/{}/password", educator.id), json!({"password": "x"}))
        .await
        .expect(404, detail("User not found"));
    // Creation with a password takes the same checks.
    let r = app
        .post("/admin/v1/partners")
        .token(ADMIN)
        .json(json!({"name": "P", "email": "p@example.com", "password": "x".repeat(257)}))
        .send()
        .await;
    assert_eq!((r.status, r.body["detail"][0]["type"].as_str()), (422, Some("string_too_long")));
}

engine_tests!(
    a_student_signs_up_with_the_emailed_code_and_signs_in,
    a_partner_made_by_the_admin_signs_in_and_is_a_partner,
    wrong_passwords_are_throttled_without_telling_emails_apart,
    sign_in_bodies_are_validated,
    wrong_reused_and_exhausted_codes_are_refused,
    expired_codes_and_stale_verifications_are_refused,
    codes_are_throttled_per_email_and_address,
    code_bodies_are_validated,
    sign_ups_are_refused_as_the_original_refuses_them,
    passwords_and_emails_change_and_end_other_sessions,
    a_new_password_keeps_the_callers_session_and_api_tokens,
    sessions_and_refresh_tokens_expire,
    refresh_tokens_work_once,
    profiles_are_merge_patched,
    administrators_set_passwords,
);
