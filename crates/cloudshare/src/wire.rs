//! CloudShare's wire conventions: `{"message", "code"}` errors, lenient JSON input
//! (case-insensitive keys, numbers and booleans as strings), dates as
//! `MM/DD/YYYY hh:mm AM/PM` in the class's zone, other instants in RFC 1123.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::response::{IntoResponse, Response};
use classhub_core::error::{DomainError, Entity, Problem, Violation};
use classhub_store::StoreError;
use http::StatusCode;
use http::header::{self, HeaderValue};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::ids::{self, Kind};

pub const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

/// A 200 JSON answer (CloudShare answers every success with 200).
pub fn ok<T: Serialize + ?Sized>(body: &T) -> Response {
    classhub_web::json_with(StatusCode::OK, body, JSON)
}

/// `{}`.
pub fn empty() -> Response {
    ok(&json!({}))
}

/// Body of every error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CsErrorBody {
    pub message: String,
    /// `0x` and the status, as text.
    pub code: String,
}

/// An error answered as `{"message": …, "code": "0x…"}`.
#[derive(Debug)]
pub struct CsError {
    pub status: StatusCode,
    pub message: String,
    /// Headers of the answer (`Retry-After`, the RateLimit fields).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl CsError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> CsError {
        CsError { status, message: message.into(), headers: Vec::new() }
    }

    pub fn bad_request(message: impl Into<String>) -> CsError {
        CsError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> CsError {
        CsError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn not_found(what: &str) -> CsError {
        CsError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    pub fn out_of_scope() -> CsError {
        CsError::new(StatusCode::NOT_IMPLEMENTED, "environments are not managed by classhub")
    }
}

impl IntoResponse for CsError {
    fn into_response(self) -> Response {
        let code = format!("0x{}", self.status.as_u16());
        let mut res = classhub_web::json_with(self.status, &CsErrorBody { message: self.message, code }, JSON);
        for (k, v) in self.headers {
            res.headers_mut().insert(k, v);
        }
        res
    }
}

/// The wire name of a core field, as CloudShare clients send it.
pub fn wire_field(field: &str) -> &str {
    match field {
        "project_id" => "projectId",
        "blueprint_id" => "blueprintId",
        "policy_id" => "policyId",
        "instructor" => "instructorVupId",
        "start_at" => "startDate",
        "end_at" => "endDate",
        "timezone" => "timeZoneId",
        "passphrase" => "studentPassphrase",
        "limit_early_access" => "limitEarlyAccess",
        "use_custom_invitation_email" => "useCustomInvitationEmail",
        "custom_invitation_subject" => "customInvitationEmailSubject",
        "custom_invitation_body" => "customInvitationEmailBody",
        "permit_non_registered" => "permitAccessToNonRegisteredStudent",
        "capacity" => "maxStudents",
        "field_values" => "customFieldsValues",
        "self_paced" => "selfPaced",
        "allow_multiple_student_login" => "allowMultipleStudentLogin",
        "first_name" => "firstName",
        "last_name" => "lastName",
        "default_duration_minutes" => "defaultDurationMinutes",
        other => other,
    }
}

/// "maxStudents: must be …; endDate must be after startDate": every invalid field, named
/// as the client sent it (`renames` first: an endpoint's own spellings, like `studentEmail`).
fn describe(violations: &[Violation], renames: &[(&str, &str)]) -> String {
    let name = |field: &str| -> String {
        let wire = renames.iter().find(|(core, _)| *core == field).map_or_else(|| wire_field(field), |(_, w)| *w);
        wire.to_string()
    };
    let one = |v: &Violation| {
        let field = match v.index {
            Some(i) => format!("{}[{i}]", name(v.field)),
            None => name(v.field),
        };
        match &v.problem {
            Problem::Required => format!("{field} is required"),
            Problem::Immutable => format!("{field} cannot be changed"),
            Problem::NotOneOf(_) => format!("{field} {}", v.problem),
            Problem::EndNotAfterStart => format!("{} must be after {}", name("end_at"), name("start_at")),
            Problem::RequiredWhen(other) => format!("{field} is required when {} is true", name(other)),
            Problem::UnknownTimeZone(id) => format!("{field}: unknown time zone id {id:?}"),
            Problem::NotAnInstructor => format!("{field}: instructor {}", v.problem),
            Problem::LockedAfterLogin => format!("{field} {}", v.problem),
            Problem::LastInstructor => v.problem.to_string(),
            // An entry of the list names a field by its id.
            Problem::NotInProject(Entity::CustomField) => format!("{field}.id: {}", v.problem),
            p => format!("{field}: {p}"),
        }
    };
    violations.iter().map(one).collect::<Vec<_>>().join("; ")
}

impl CsError {
    /// A refusal of the rules, fields named with `renames` before the dialect's own names.
    pub fn refused(e: DomainError, renames: &[(&str, &str)]) -> CsError {
        match e {
            DomainError::Invalid(v) => CsError::bad_request(describe(&v, renames)),
            DomainError::NotFound(entity) => CsError::not_found(entity.as_str()),
            DomainError::Forbidden => {
                CsError::new(StatusCode::FORBIDDEN, "you do not have permission for this operation in this project")
            }
            DomainError::AlreadyExists(Entity::Student) => {
                CsError::bad_request("a student with this email is already registered in the class")
            }
            DomainError::CapacityBelowEnrolled { capacity, enrolled } => CsError::bad_request(format!(
                "maxStudents {capacity} is below the {enrolled} students already registered"
            )),
            DomainError::ClassFull => {
                CsError::new(StatusCode::CONFLICT, "the class already has its maximum number of students")
            }
            DomainError::Throttled(t) => CsError {
                headers: classhub_web::throttle::refusal_headers(&t).to_vec(),
                ..CsError::new(StatusCode::TOO_MANY_REQUESTS, "too many failed authentications; try again later")
            },
            key @ DomainError::IdempotencyKeyMalformed => CsError::bad_request(key.to_string()),
            key @ DomainError::IdempotencyKeyReused => CsError::new(StatusCode::UNPROCESSABLE_ENTITY, key.to_string()),
            key @ DomainError::IdempotencyKeyInFlight => CsError {
                headers: vec![(header::RETRY_AFTER, HeaderValue::from(1))],
                ..CsError::new(StatusCode::CONFLICT, key.to_string())
            },
            other => CsError::new(StatusCode::CONFLICT, other.to_string()),
        }
    }

    /// A store error of an endpoint whose fields have their own spellings.
    pub fn from_store_in(e: StoreError, renames: &[(&str, &str)]) -> CsError {
        match e {
            StoreError::Domain(d) => CsError::refused(d, renames),
            other => other.into(),
        }
    }
}

impl From<DomainError> for CsError {
    fn from(e: DomainError) -> CsError {
        CsError::refused(e, &[])
    }
}

impl From<StoreError> for CsError {
    fn from(e: StoreError) -> CsError {
        match e {
            StoreError::Domain(d) => d.into(),
            StoreError::Unavailable(m) | StoreError::Retry(m) => {
                tracing::warn!(error = %m, "store unavailable");
                CsError {
                    headers: vec![(header::RETRY_AFTER, HeaderValue::from(1))],
                    ..CsError::new(StatusCode::SERVICE_UNAVAILABLE, "service temporarily unavailable")
                }
            }
            StoreError::Internal(m) => {
                tracing::error!(error = %m, "store failure");
                CsError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
        }
    }
}

/// A request's parameters: the JSON body's keys and the query string's, matched
/// case-insensitively (the query wins), values read leniently.
#[derive(Debug, Default, Clone)]
pub struct Input {
    fields: Map<String, Value>,
    /// Where these fields sit in the request (`customFieldsValues[2].`), for messages.
    at: String,
    /// The top-level names the endpoint looked up, lower-cased (checked against the
    /// document in debug builds: `crate::audit_names`).
    looked_up: Arc<Mutex<BTreeSet<String>>>,
}

/// Lower-cases every object key, recursively.
fn fold_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), fold_keys(v))).collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(fold_keys).collect()),
        other => other,
    }
}

impl Input {
    /// The body (any JSON object; an empty body, and `null` — what the JS SDK sends for
    /// `content: null` — are `{}`) and the query parameters.
    pub fn read(body: &[u8], query: &HashMap<String, String>) -> Result<Input, CsError> {
        let mut fields = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => match fold_keys(Value::Object(m)) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                },
                Ok(Value::Null) => Map::new(),
                Ok(_) => return Err(CsError::bad_request("the request body must be a JSON object")),
                Err(e) => return Err(CsError::bad_request(format!("the request body is not valid JSON: {e}"))),
            }
        };
        for (k, v) in query {
            fields.insert(k.to_ascii_lowercase(), Value::String(v.clone()));
        }
        Ok(Input { fields, ..Input::default() })
    }

    /// The fields of an object inside the request, at `at` (`address`, `customFieldsValues[2]`).
    pub fn nested(v: Value, at: &str) -> Input {
        let at = format!("{at}.");
        match fold_keys(v) {
            Value::Object(fields) => Input { fields, at, ..Input::default() },
            _ => Input { at, ..Input::default() },
        }
    }

    /// A key as the client wrote it, with where it sits.
    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.at)
    }

    /// The raw value of a key (any case); `Some(Null)` when explicitly null.
    pub fn raw(&self, key: &str) -> Option<&Value> {
        let key = key.to_ascii_lowercase();
        if cfg!(debug_assertions) && self.at.is_empty() {
            self.looked_up.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.clone());
        }
        self.fields.get(&key)
    }

    /// The top-level names looked up so far, lower-cased (recorded in debug builds only).
    pub fn looked_up(&self) -> BTreeSet<String> {
        self.looked_up.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The top-level names the request carries, lower-cased.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.fields.keys()
    }

    pub fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// A string (numbers and booleans are written as text); null reads as absent.
    pub fn str(&self, key: &str) -> Result<Option<String>, CsError> {
        match self.raw(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(_) => Err(CsError::bad_request(format!("{} must be a string", self.name(key)))),
        }
    }

    /// A string that must be there.
    pub fn required_str(&self, key: &str) -> Result<String, CsError> {
        self.str(key)?.ok_or_else(|| CsError::bad_request(format!("{} is required", self.name(key))))
    }

    /// A boolean: `true`, `"true"`, `"True"`, `1`, `"1"`; null reads as absent.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, CsError> {
        let bad = || CsError::bad_request(format!("{} must be true or false", self.name(key)));
        match self.raw(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(bad()),
            },
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }

    /// An integer (or integral text); null reads as `Some(None)`, absent as `None`.
    pub fn int(&self, key: &str) -> Result<Option<Option<i64>>, CsError> {
        let bad = || CsError::bad_request(format!("{} must be a whole number", self.name(key)));
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(Some(i))),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Some(Some(f as i64))),
                    _ => Err(bad()),
                },
            },
            Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
            Some(Value::String(s)) => s.trim().parse().map(|i| Some(Some(i))).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// An id of `kind`; a malformed one is a 400 naming the field.
    pub fn id(&self, key: &str, kind: Kind) -> Result<Option<i64>, CsError> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => ids::decode(kind, s.trim())
                .map(Some)
                .ok_or_else(|| CsError::bad_request(format!("{} is not a valid {} id", self.name(key), kind.prefix()))),
        }
    }
}

/// `MM/DD/YYYY hh:mm AM/PM`, also with one-digit month, day or hour and with seconds.
pub fn parse_date(key: &str, text: &str) -> Result<DateTime, CsError> {
    let bad = || CsError::bad_request(format!("{key} {text:?} is not a valid date (MM/DD/YYYY hh:mm AM/PM)"));
    let t = text.trim();
    for format in ["%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p"] {
        if let Ok(dt) = DateTime::strptime(format, t) {
            return Ok(dt);
        }
    }
    Err(bad())
}

/// A wall-clock date in a zone, CloudShare-style (`02/11/2015 12:00 AM`).
pub fn format_date(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone()).strftime("%m/%d/%Y %I:%M %p").to_string()
}

/// [`format_date`] in a class's zone (UTC when it has none).
pub fn format_date_in(ts: Timestamp, zone: Option<&classhub_core::time::ZoneName>) -> String {
    format_date(ts, &zone.map_or(TimeZone::UTC, |z| z.time_zone()))
}

/// Offset from UTC, in minutes, of a zone at an instant.
pub fn offset_minutes(ts: Timestamp, tz: &TimeZone) -> i32 {
    let z: Zoned = ts.to_zoned(tz.clone());
    z.offset().seconds() / 60
}

/// RFC 1123 (`Wed, 28 Feb 2024 22:54:03 GMT`).
pub fn rfc1123(ts: Timestamp) -> String {
    ts.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let dt = parse_date("startDate", "02/11/2015 12:00 AM").unwrap();
        assert_eq!(dt.to_string(), "2015-02-11T00:00:00");
        assert_eq!(parse_date("d", "2/1/2015 1:05 pm").unwrap().to_string(), "2015-02-01T13:05:00");
        assert!(parse_date("d", "02/30/2030 10:00 AM").is_err());
        assert!(parse_date("d", "2030-02-01T10:00").is_err());
        let ny = TimeZone::get("America/New_York").unwrap();
        let ts: Timestamp = "2015-02-11T05:00:00Z".parse().unwrap();
        assert_eq!(format_date(ts, &ny), "02/11/2015 12:00 AM");
        assert_eq!(offset_minutes(ts, &ny), -300);
        assert_eq!(rfc1123("2024-02-28T22:54:03Z".parse().unwrap()), "Wed, 28 Feb 2024 22:54:03 GMT");
    }

    #[test]
    fn lenient_input() {
        let q = HashMap::from([("ClassId".to_string(), "x".to_string())]);
        let i =
            Input::read(br#"{"MaxStudents": "5", "SelfPaced": "True", "Name": null, "Address": {"ZipCode": 1}}"#, &q)
                .unwrap();
        assert_eq!(i.int("maxStudents").unwrap(), Some(Some(5)));
        assert_eq!(i.bool("selfpaced").unwrap(), Some(true));
        assert_eq!(i.str("name").unwrap(), None);
        assert!(i.has("name"));
        assert_eq!(i.str("classId").unwrap().as_deref(), Some("x"));
        assert_eq!(i.raw("address").unwrap()["zipcode"], 1);
        assert!(i.int("selfPaced").is_err());
        assert!(Input::read(b"[1]", &HashMap::new()).is_err());
        assert!(Input::read(b"  ", &HashMap::new()).is_ok());
        assert!(Input::read(b" null ", &HashMap::new()).is_ok_and(|i| !i.has("id")));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use jiff::civil::{Date, DateTime, Time};
    use proptest::prelude::*;

    /// A wall-clock time to the minute, in the years `%Y` writes with four digits.
    fn minute() -> impl Strategy<Value = DateTime> {
        (1000i16..=9999, 1i8..=12, 1i8..=31, 0i8..24, 0i8..60).prop_filter_map("a real day", |(y, mo, d, h, mi)| {
            Some(DateTime::from_parts(Date::new(y, mo, d).ok()?, Time::new(h, mi, 0, 0).ok()?))
        })
    }

    const ZONES: [&str; 5] = ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = parse_date("startDate", &text);
        }

        /// Text shaped like a date, with out-of-range fields: an error or a date, never a panic.
        #[test]
        fn date_shaped_text_never_panics(
            text in "[0-9]{1,3}/[0-9]{1,3}/[0-9]{1,5} [0-9]{1,3}:[0-9]{1,3}(:[0-9]{1,3})? ?(AM|PM|am|pm|XM)?",
        ) {
            if let Err(e) = parse_date("startDate", &text) {
                prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
            }
        }

        /// The lenient body reader and its field readers take any bytes without panicking.
        #[test]
        fn input_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200), key in "[a-zA-Z]{1,8}") {
            if let Ok(input) = Input::read(&body, &HashMap::new()) {
                let _ = (input.str(&key), input.bool(&key), input.int(&key), input.id(&key, Kind::Class));
            }
        }

        /// Format then parse gives the wall-clock time back, whatever the spelling clients
        /// use (one-digit fields, lower-case AM/PM, seconds, spaces around).
        #[test]
        fn format_then_parse_is_identity(dt in minute(), short in any::<bool>(), lower in any::<bool>(), seconds in any::<bool>()) {
            let mut format = if short { "%-m/%-d/%Y %-I:%M".to_string() } else { "%m/%d/%Y %I:%M".to_string() };
            if seconds {
                format.push_str(":%S");
            }
            format.push_str(if lower { " %P" } else { " %p" });
            let text = format!(" {} ", dt.strftime(&format));
            prop_assert_eq!(parse_date("startDate", &text).ok(), Some(dt), "{}", text);
        }

        /// What a class shows reads back as the same wall-clock minute in its zone.
        #[test]
        fn shown_dates_read_back(secs in -2_000_000_000i64..=32_000_000_000, zone in proptest::sample::select(ZONES.to_vec())) {
            let tz = TimeZone::get(zone).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ts = Timestamp::from_second(secs).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let shown = format_date(ts, &tz);
            let wall = ts.to_zoned(tz.clone()).datetime();
            let minute = wall.with().second(0).subsec_nanosecond(0).build().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parse_date("startDate", &shown).ok(), Some(minute), "{}", shown);
        }
    }
}
