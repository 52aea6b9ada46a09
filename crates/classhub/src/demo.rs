//! `serve --demo`: seeds an empty database with a partner, a student, three AI models, a
//! course and a class, and a CloudShare project with a policy, a blueprint and an
//! instructor holding API credentials, and an OCARIoT institution with an educator and two
//! children; prints commands with their real credentials.

use classhub_cloudshare::ids::{self, Kind};
use classhub_core::audit::Context;
use classhub_core::class::ClassPatch;
use classhub_core::patch::Patch;
use classhub_core::user::{NewUser, UserKind};
use classhub_store::ops::catalog::{CreateBlueprint, CreatePolicy, CreateProject, CreateProjectMember};
use classhub_store::ops::catalog::{CreateCourse, CreateModel};
use classhub_store::ops::classes::CreateClass;
use classhub_store::ops::users::{CreateUser, IsEmpty};
use std::path::Path;

use classhub_web::AppState;

/// `made_admin_token`: the admin token `--demo` made because none was given; `trust`: the
/// CA file clients need (a self-signed certificate), named in every printed `export`.
pub async fn run(state: &AppState, made_admin_token: Option<&str>, trust: Option<&Path>) -> Result<(), String> {
    let store = &state.store;
    let base = state.config.public_base_url.as_str();
    let ca = trust.map(|p| format!(" CURL_CA_BUNDLE={0} SSL_CERT_FILE={0}", p.display())).unwrap_or_default();
    if let Some(token) = made_admin_token {
        println!(
            "--demo: admin token {token} (made for this run; choose one with --admin-token)\n\n  \
             export CLASSHUB={base} ADMIN_TOKEN={token}{ca}\n  \
             curl -s $CLASSHUB/admin/v1/models -X POST -H \"Authorization: Bearer $ADMIN_TOKEN\" \\\n       \
             -H 'Content-Type: application/json' -d '{{\"name\": \"o3-mini\", \"provider\": \"openai\"}}'\n"
        );
    }
    let err = |e: classhub_store::StoreError| format!("seeding demo data: {e}");
    if !store.read(IsEmpty).await.map_err(err)? {
        println!(
            "--demo: the database already holds data, so nothing was seeded. Tokens are shown only when made:\n\
             delete the database file to seed again, or make new ones with `classhub partner create`."
        );
        return Ok(());
    }
    let ctx = || Context::new(None, Some("demo".into()));
    let person =
        |kind, name: &str, email: &str| CreateUser { ctx: ctx(), user: NewUser::named(kind, name, Some(email.into())) };
    let (partner, partner_token) =
        store.write(person(UserKind::Partner, "Demo Partner", "partner@example.com")).await.map_err(err)?;
    let (student, student_token) =
        store.write(person(UserKind::Student, "Demo Student", "student@example.com")).await.map_err(err)?;
    let mut models = Vec::new();
    for (name, provider) in [("gpt-4o", "openai"), ("claude-sonnet", "anthropic"), ("gemini-pro", "google")] {
        let model = classhub_core::catalog::NewModel::named(name, provider);
        let m = store.write(CreateModel { ctx: ctx(), model }).await.map_err(err)?;
        models.push(m.id.0);
    }
    let course = store.write(CreateCourse::titled(ctx(), partner.id, "Prompting 101")).await.map_err(err)?;
    let patch = ClassPatch {
        name: Patch::Set("Demo class".into()),
        capacity: Patch::Set(30),
        timezone: Patch::Set("Asia/Seoul".into()),
        course_id: Patch::Set(course.id.0),
        allowed_model_ids: Patch::Set(models.clone()),
        ..ClassPatch::default()
    };
    let class = store
        .write(CreateClass { ctx: ctx(), owner: partner.id, patch, code_length: state.config.invite_code_length })
        .await
        .map_err(err)?;
    let (p, c) = (partner.id, class.class.id);
    let code = class.codes.first().map(|c| c.code.clone()).unwrap_or_default();
    println!(
        r#"
classhub demo data is ready.
  partner {p} (token {partner_token})
  student {} (token {student_token})
  models {models:?}, course {}, class {c} with invite code {code}

Partner classes API — paste these:

  export CLASSHUB={base} PARTNER_TOKEN={partner_token} STUDENT_TOKEN={student_token}{ca}

  # create a class
  curl -s -X POST $CLASSHUB/partner/{p}/classes -H "Authorization: Bearer $PARTNER_TOKEN" \
       -H 'Content-Type: application/json' \
       -d '{{"name": "Evening cohort", "capacity": 20, "timezone": "Asia/Seoul", "start_at": "2030-03-02T19:00:00", "allowed_model_ids": [{m0}]}}'

  # read one (note the ETag header)
  curl -si $CLASSHUB/partner/{p}/classes/{c} -H "Authorization: Bearer $PARTNER_TOKEN"

  # change it (JSON merge patch: absent keeps, null clears)
  curl -s -X PATCH $CLASSHUB/partner/{p}/classes/{c} -H "Authorization: Bearer $PARTNER_TOKEN" \
       -H 'Content-Type: application/json' -d '{{"status": "active", "description": null, "capacity": 25}}'

  # list them, newest first
  curl -s "$CLASSHUB/partner/{p}/classes?limit=10&offset=0" -H "Authorization: Bearer $PARTNER_TOKEN"

  # a new invite code for the class, good for 5 students
  curl -s -X POST $CLASSHUB/partner/{p}/classes/{c}/invite-codes -H "Authorization: Bearer $PARTNER_TOKEN" \
       -H 'Content-Type: application/json' -d '{{"max_uses": 5}}'

  # the demo student joins with the class's code (case, spaces and dashes do not matter)
  curl -s -X POST $CLASSHUB/user/class/invites/redeem -H "Authorization: Bearer $STUDENT_TOKEN" \
       -H 'Content-Type: application/json' -d '{{"code": "{code_dashed}"}}'

  # the roster, and the student's own classes
  curl -s $CLASSHUB/partner/{p}/classes/{c}/students -H "Authorization: Bearer $PARTNER_TOKEN"
  curl -s $CLASSHUB/user/classes -H "Authorization: Bearer $STUDENT_TOKEN"

  # the class's audit history
  curl -s $CLASSHUB/partner/{p}/classes/{c}/history -H "Authorization: Bearer $PARTNER_TOKEN"
"#,
        student.id,
        course.id,
        m0 = models[0],
        code_dashed = dashed(&code),
    );
    cloudshare(state, base, trust).await?;
    ocariot(state, base, &ca).await?;

    println!("API documentation: {base}/docs\n");

    Ok(())
}

/// `ABCDEFGH` as `abcd-efgh`, to show that redemption normalises what students type.
fn dashed(code: &str) -> String {
    let lower = code.to_lowercase();
    let (a, b) = lower.split_at(lower.len() / 2);
    format!("{a}-{b}")
}

/// A CloudShare project the SDK can drive, and how to drive it.
async fn cloudshare(state: &AppState, base: &str, trust: Option<&Path>) -> Result<(), String> {
    let store = &state.store;
    let err = |e: classhub_store::StoreError| format!("seeding demo data: {e}");
    let ctx = || Context::new(None, Some("demo".into()));
    let project = store.write(CreateProject { ctx: ctx(), name: "Demo project".into() }).await.map_err(err)?;
    let policy =
        CreatePolicy { ctx: ctx(), project: project.id, name: "2 hours".into(), default_duration_minutes: 120 };
    let policy = store.write(policy).await.map_err(err)?;
    let blueprint = CreateBlueprint {
        ctx: ctx(),
        project: project.id,
        name: "Linux lab".into(),
        description: Some("Ubuntu".into()),
    };
    let blueprint = store.write(blueprint).await.map_err(err)?;
    let member = CreateProjectMember {
        ctx: ctx(),
        name: "Demo Instructor".into(),
        email: "instructor@example.com".into(),
        projects: vec![project.id],
        rights: classhub_core::lab::MemberRights::new(true, true),
        secrets: state.config.secrets.clone(),
    };
    let member = store.write(member).await.map_err(err)?;
    let vup = member.memberships.values().next().map(|v| ids::encode(Kind::Member, v.0)).unwrap_or_default();
    let host = base.split_once("://").map_or(base, |(_, h)| h);
    let tls_note = if base.starts_with("https://") {
        String::new()
    } else {
        "\n  (The CloudShare SDKs speak HTTPS only: serve with --tls-cert and --tls-key, and point\n   SSL_CERT_FILE at the CA that signed the certificate; see README.md.)\n".to_string()
    };
    let python = match trust {
        Some(p) => format!("SSL_CERT_FILE={} sdk/bin/python", p.display()),
        None => "sdk/bin/python".to_string(),
    };
    println!(
        r#"CloudShare v3 API (cs_sha1) — project {project}, policy {policy}, blueprint {blueprint},
instructor {vup}, API id {api_id}, API key {api_key}
{tls_note}
  python3 -m venv sdk && sdk/bin/pip install cloudshare
  {python} - <<'PY'
import cloudshare
call = lambda method, path, **kw: cloudshare.req(hostname="{host}", method=method, apiId="{api_id}",
                                                 apiKey="{api_key}", path=path, **kw)
created = call("POST", "class", content={{"name": "Demo lab", "projectId": "{project}",
    "blueprintId": "{blueprint}", "policyId": "{policy}", "instructorVupId": "{vup}",
    "startDate": "03/02/2031 09:00 AM", "timeZoneId": "Eastern Standard Time",
    "studentPassphrase": "secret", "limitEarlyAccess": 0, "maxStudents": 10}}).content
print(created["id"], created["startDate"], created["endDate"], created["status"])
data = call("GET", "class/" + created["id"]).content
data["name"] = "Demo lab, renamed"
print(call("PUT", "class/" + created["id"], content=data).content["name"])
print(call("POST", "class/" + created["id"] + "/students", content={{"email": "ann@example.com", "firstName": "Ann"}}).content)
PY
"#,
        project = ids::encode(Kind::Project, project.id.0),
        policy = ids::encode(Kind::Policy, policy.id.0),
        blueprint = ids::encode(Kind::Blueprint, blueprint.id.0),
        api_id = member.api_id,
        api_key = member.api_key,
    );
    Ok(())
}

/// An OCARIoT institution, an educator who can sign in, and two children.
async fn ocariot(state: &AppState, base: &str, ca: &str) -> Result<(), String> {
    use classhub_core::ocariot::{ChildProfile, Institution};
    use classhub_ocariot::ids::{self as oc, Kind as OcKind};
    use classhub_store::ops::ocariot::{CreateAccount, CreateInstitution};
    let store = &state.store;
    let err = |e: classhub_store::StoreError| format!("seeding demo data: {e}");
    let ctx = || Context::new(None, Some("demo".into()));
    let institution = Institution {
        id: classhub_core::InstitutionId(0),
        kind: "School".into(),
        name: "Demo school".into(),
        address: None,
        latitude: None,
        longitude: None,
    };
    let institution = store.write(CreateInstitution { ctx: ctx(), institution }).await.map_err(err)?;
    let password = classhub_core::user::new_token(&mut rand::rng())[4..16].to_string();
    let hash = classhub_core::password::hash(&password)?;
    let account = |kind, username: &str, profile: Option<serde_json::Value>| CreateAccount {
        ctx: ctx(),
        user: NewUser {
            username: Some(username.into()),
            password_hash: Some(hash.clone()),
            institution_id: Some(institution.id),
            profile,
            ..NewUser::named(kind, username, None)
        },
        children: Vec::new(),
    };
    let educator = store.write(account(UserKind::Educator, "demo-educator", None)).await.map_err(err)?;
    let mut children = Vec::new();
    for (name, gender) in [("BR0001", "male"), ("BR0002", "female")] {
        let profile = ChildProfile { gender: gender.into(), age: "10".into(), ..ChildProfile::default() };
        let child = store.write(account(UserKind::Child, name, Some(profile.to_profile()))).await.map_err(err)?;
        children.push(oc::encode(OcKind::User, child.id.0));
    }
    let edu = oc::encode(OcKind::User, educator.id.0);
    println!(
        r#"OCARIoT children groups (JWT) — educator demo-educator (password {password}), id {edu};
children {c0} and {c1}. The admin user signs in with --ocariot-admin-password.

  export CLASSHUB={base} EDU={edu}{ca}
  TOKEN=$(curl -s -X POST $CLASSHUB/v1/auth -H 'Content-Type: application/json' \
          -d '{{"username": "demo-educator", "password": "{password}"}}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

  # create a group, then read, list and change it
  GROUP=$(curl -s -X POST $CLASSHUB/v1/educators/$EDU/children/groups -H "Authorization: Bearer $TOKEN" \
          -H 'Content-Type: application/json' \
          -d '{{"name": "Group One", "children": ["{c0}"], "school_class": "4th Grade"}}' \
          | sed -E 's/^\{{"id":"([0-9a-f]{{24}})".*/\1/')
  curl -s $CLASSHUB/v1/educators/$EDU/children/groups/$GROUP -H "Authorization: Bearer $TOKEN"
  curl -si "$CLASSHUB/v1/educators/$EDU/children/groups?sort=name" -H "Authorization: Bearer $TOKEN"
  curl -s -X PATCH $CLASSHUB/v1/educators/$EDU/children/groups/$GROUP -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' -d '{{"name": "Group One (patched)", "children": ["{c1}", "{c0}"]}}'
"#,
        c0 = children[0],
        c1 = children[1],
    );
    Ok(())
}
