//! Properties of merge-patch bodies (`PATCH /partner/…/classes/{id}` and
//! `…/invite-codes/{id}`): an absent field keeps, `null` clears, a value sets, a value of
//! the wrong type is a 422 item at its field and changes nothing; no body panics.

use std::fmt::Debug;

use classhub_core::catalog::Decimal;
use classhub_core::class::{ClassPatch, ClassStatus};
use classhub_core::invite::CodeRequest;
use classhub_core::patch::Patch;
use classhub_core::time::WhenInput;
use classhub_web::fastapi::{Errors, Loc, json_object};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::classes::{FIELDS, class_patch, read_patch};
use crate::codes::code_request;

/// One field of a body: its JSON (None when absent), the patch it must read as, and
/// whether it must be reported.
type Field<T> = (Option<Value>, Patch<T>, bool);

fn field<T: Clone + Debug + 'static>(
    valid: impl Strategy<Value = (Value, T)> + 'static,
    invalid: impl Strategy<Value = Value> + 'static,
) -> BoxedStrategy<Field<T>> {
    prop_oneof![
        Just((None, Patch::Keep, false)),
        Just((Some(Value::Null), Patch::Clear, false)),
        valid.prop_map(|(v, t)| (Some(v), Patch::Set(t), false)),
        invalid.prop_map(|v| (Some(v), Patch::Keep, true)),
    ]
    .boxed()
}

fn string() -> BoxedStrategy<Field<String>> {
    field(any::<String>().prop_map(|s| (json!(s), s)), prop_oneof![any::<i64>().prop_map(Value::from), Just(json!([]))])
}

/// pydantic's lax integers: numbers, integral floats and numeric text.
fn int() -> BoxedStrategy<Field<i64>> {
    let valid = prop_oneof![
        any::<i64>().prop_map(|i| (json!(i), i)),
        any::<i64>().prop_map(|i| (json!(i.to_string()), i)),
        (-1_000_000i32..1_000_000).prop_map(|i| (json!(f64::from(i)), i64::from(i))),
    ];
    field(valid, prop_oneof![Just(json!("x")), Just(json!(true)), Just(json!(0.5)), Just(json!({}))])
}

fn boolean() -> BoxedStrategy<Field<bool>> {
    let valid = prop_oneof![
        any::<bool>().prop_map(|b| (json!(b), b)),
        proptest::sample::select(vec![("yes", true), ("no", false), ("1", true), ("off", false)])
            .prop_map(|(s, b)| (json!(s), b)),
    ];
    field(valid, prop_oneof![Just(json!("maybe")), Just(json!(2)), Just(json!([]))])
}

/// Instants (RFC 3339 or Unix seconds) and wall-clock times.
fn datetime() -> BoxedStrategy<Field<WhenInput>> {
    let instant =
        (-50_000_000_000i64..=200_000_000_000).prop_filter_map("in range", |s| jiff::Timestamp::from_second(s).ok());
    let valid = prop_oneof![
        instant.clone().prop_map(|t| (json!(t.to_string()), WhenInput::Instant(t))),
        instant.clone().prop_map(|t| (json!(t.as_second()), WhenInput::Instant(t))),
        instant.prop_map(|t| {
            let local = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
            (json!(local.to_string()), WhenInput::Local(local))
        }),
    ];
    field(valid, prop_oneof![Just(json!("yesterday")), Just(json!(true)), Just(json!([]))])
}

/// pydantic's lax decimals: numbers and decimal text.
fn decimal() -> BoxedStrategy<Field<Decimal>> {
    let valid = prop_oneof![
        (0i64..10_000_000).prop_map(|c| (json!(Decimal::from_cents(c).to_string()), Decimal::from_cents(c))),
        (0i64..1_000_000).prop_map(|n| (json!(n), Decimal::from_int(n))),
    ];
    field(valid, prop_oneof![Just(json!("lots")), Just(json!(true)), Just(json!([])), Just(json!("NaN"))])
}

fn status() -> BoxedStrategy<Field<ClassStatus>> {
    let valid = proptest::sample::select(vec![
        ("planned", ClassStatus::Planned),
        ("active", ClassStatus::Active),
        ("ended", ClassStatus::Ended),
    ])
    .prop_map(|(s, st)| (json!(s), st));
    field(valid, prop_oneof![Just(json!("Active")), Just(json!("archived")), Just(json!(1))])
}

fn int_list() -> BoxedStrategy<Field<Vec<i64>>> {
    let valid = proptest::collection::vec(any::<i64>(), 0..5).prop_map(|v| (json!(v), v));
    field(valid, prop_oneof![Just(json!("1,2")), Just(json!([1, "x"])), Just(json!({}))])
}

/// A class body and the patch and reported fields it must read as.
fn class_body() -> impl Strategy<Value = (Value, ClassPatch, Vec<&'static str>)> {
    let first = (string(), status(), string(), datetime(), datetime(), int(), string());
    let second = (string(), string(), boolean(), int(), int(), int_list(), decimal());
    (first, second).prop_map(
        |(
            (name, status, description, start_at, end_at, capacity, timezone),
            (location, online_url, invite_only, course_id, primary_model_id, allowed_model_ids, budget_limit),
        )| {
            let mut body = Map::new();
            let mut reported = Vec::new();
            let mut put = |key: &'static str, json: Option<Value>, bad: bool| {
                if let Some(v) = json {
                    body.insert(key.to_string(), v);
                }
                if bad {
                    reported.push(key);
                }
            };
            // `name` cannot be cleared: null is reported and keeps the name.
            let name_null = name.0 == Some(Value::Null);
            put("name", name.0, name.2 || name_null);
            put("status", status.0, status.2);
            put("description", description.0, description.2);
            put("start_at", start_at.0, start_at.2);
            put("end_at", end_at.0, end_at.2);
            put("capacity", capacity.0, capacity.2);
            put("timezone", timezone.0, timezone.2);
            put("location", location.0, location.2);
            put("online_url", online_url.0, online_url.2);
            put("invite_only", invite_only.0, invite_only.2);
            put("course_id", course_id.0, course_id.2);
            put("primary_model_id", primary_model_id.0, primary_model_id.2);
            put("allowed_model_ids", allowed_model_ids.0, allowed_model_ids.2);
            put("budget_limit", budget_limit.0, budget_limit.2);
            // GrowFit's front end: `"string"` is a placeholder, not a value; course 0 is none.
            let placeholder = |p: Patch<String>| match p {
                Patch::Set(s) if s == "string" => Patch::Keep,
                p => p,
            };
            let patch = ClassPatch {
                name: if name_null { Patch::Keep } else { name.1 },
                status: status.1,
                description: description.1,
                start_at: start_at.1,
                end_at: end_at.1,
                capacity: capacity.1,
                timezone: timezone.1,
                location: placeholder(location.1),
                online_url: placeholder(online_url.1),
                invite_only: invite_only.1,
                course_id: match course_id.1 {
                    Patch::Set(0) => Patch::Clear,
                    p => p,
                },
                primary_model_id: primary_model_id.1,
                // `allowed_model_ids: null` means no models.
                allowed_model_ids: match allowed_model_ids.1 {
                    Patch::Clear => Patch::Set(Vec::new()),
                    p => p,
                },
                budget_limit: budget_limit.1,
            };
            (Value::Object(body), patch, reported)
        },
    )
}

/// The body fields errors were reported at.
fn reported_fields(errors: &Errors) -> Vec<String> {
    let mut fields: Vec<String> = errors
        .items
        .iter()
        .filter_map(|i| match i.loc.as_slice() {
            [Loc::Key(b), Loc::Key(f), ..] if b == "body" => Some(f.clone()),
            _ => None,
        })
        .collect();
    fields.dedup();
    fields
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[0-9]{1,30}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects whose keys are the bodies' own fields, with values of any type.
fn any_body() -> impl Strategy<Value = Value> {
    // The class body's fields, the invite-code body's, and one neither knows.
    let code_fields = ["expires_at", "max_uses", "target_role", "other"];
    let keys = proptest::sample::select(FIELDS.iter().chain(&code_fields).copied().collect::<Vec<_>>());
    proptest::collection::btree_map(keys, any_json(), 0..8)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn absent_keeps_null_clears_value_sets((body, expected, reported) in class_body()) {
        let mut errors = Errors::default();
        prop_assert_eq!(read_patch(&body, &mut errors), expected.clone());
        let mut fields = reported_fields(&errors);
        fields.sort();
        let mut reported: Vec<String> = reported.iter().map(|s| s.to_string()).collect();
        reported.sort();
        prop_assert_eq!(fields, reported);
        // The rule checks add errors but never change what the body asks for.
        let mut errors = Errors::default();
        prop_assert_eq!(class_patch(&body, &mut errors), expected);
    }

    #[test]
    fn code_patches_follow_the_same_rules(expires_at in datetime(), max_uses in int()) {
        let mut body = Map::new();
        if let Some(v) = expires_at.0 {
            body.insert("expires_at".into(), v);
        }
        if let Some(v) = max_uses.0 {
            body.insert("max_uses".into(), v);
        }
        let mut errors = Errors::default();
        let req = code_request(&Value::Object(body), &mut errors, true);
        prop_assert_eq!(req, CodeRequest { expires_at: expires_at.1, max_uses: max_uses.1, ..CodeRequest::default() });
        prop_assert_eq!(errors.is_empty(), !expires_at.2 && !max_uses.2);
    }

    #[test]
    fn any_body_object_never_panics(body in any_body()) {
        let mut errors = Errors::default();
        let _ = class_patch(&body, &mut errors);
        let _ = code_request(&body, &mut errors, true);
        let _ = code_request(&body, &mut errors, false);
    }

    /// Any bytes: a JSON object, or one 422 item; never a panic.
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), text in any_json()) {
        for input in [bytes, text.to_string().into_bytes()] {
            let mut errors = Errors::default();
            match errors.json_object(&input) {
                Some(body) => {
                    prop_assert!(body.is_object());
                    let _ = class_patch(&body, &mut errors);
                }
                None => prop_assert_eq!(errors.items.len(), 1),
            }
            prop_assert_eq!(json_object(&input).is_ok(), serde_json::from_slice::<Value>(&input).is_ok_and(|v| v.is_object()));
        }
    }
}
