//! The FastAPI wire conventions shared by the partner and admin dialects: `{"detail": …}`
//! errors, pydantic-style 422 items, and pydantic's lax reading of JSON and query values.

use std::collections::HashMap;

use axum::response::{IntoResponse, Response};
use classhub_core::error::{DomainError, Entity, Problem, Violation};
use classhub_core::patch::Patch;
use classhub_core::time::WhenInput;
use classhub_store::StoreError;
use http::StatusCode;
use http::header::{self, HeaderValue};
use serde::Serialize;
use serde_json::{Value, json};

use crate::BodyError;

/// One part of an error location: a key or a list index.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Loc {
    Key(String),
    Index(usize),
}

impl From<&str> for Loc {
    fn from(s: &str) -> Loc {
        Loc::Key(s.to_string())
    }
}

impl From<usize> for Loc {
    fn from(i: usize) -> Loc {
        Loc::Index(i)
    }
}

/// A pydantic validation error item.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErrorItem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[schema(schema_with = loc_schema)]
    pub loc: Vec<Loc>,
    pub msg: String,
    /// The input as received: any JSON value.
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<Value>,
}

/// `loc`: names and list indexes, `["body", "items", 0]`.
fn loc_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let part = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Integer));
    ArrayBuilder::new().items(part).build()
}

/// `422` body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HttpValidationError {
    pub detail: Vec<ErrorItem>,
}

/// Body of every other error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HttpError {
    pub detail: String,
}

/// An error answered in FastAPI's shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    body: Value,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError { status, body: json!({ "detail": detail.into() }), headers: Vec::new() }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Not authenticated")
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Not enough permissions")
    }

    pub fn not_found(entity: Entity) -> ApiError {
        let name = entity.as_str();
        let mut cap = name[..1].to_uppercase();
        cap.push_str(&name[1..]);
        ApiError::new(StatusCode::NOT_FOUND, format!("{cap} not found"))
    }

    pub fn validation(items: Vec<ErrorItem>) -> ApiError {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, body: json!({ "detail": items }), headers: Vec::new() }
    }

    pub fn timeout() -> ApiError {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "Request timeout")
    }

    pub fn body(e: BodyError) -> ApiError {
        match e {
            BodyError::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            BodyError::Unreadable => ApiError::new(StatusCode::BAD_REQUEST, "There was an error parsing the body"),
        }
    }

    /// Maps a store failure; `input` is the request body, shown in 422 items.
    pub fn from_store(e: StoreError, input: Option<&Value>) -> ApiError {
        match e {
            StoreError::Domain(d) => ApiError::from_domain(d, input),
            StoreError::Unavailable(m) | StoreError::Retry(m) => {
                tracing::warn!(error = %m, "store unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Service temporarily unavailable")
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            }
            StoreError::Internal(m) => {
                tracing::error!(error = %m, "store failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }

    pub fn from_domain(e: DomainError, input: Option<&Value>) -> ApiError {
        let msg = e.to_string();
        match e {
            DomainError::Invalid(violations) => {
                let mut errors = Errors::default();
                errors.violations(&violations, input.unwrap_or(&Value::Null));
                ApiError::validation(errors.items)
            }
            DomainError::NotFound(entity) => ApiError::not_found(entity),
            DomainError::Forbidden => ApiError::forbidden(),
            DomainError::VersionMismatch { current } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, msg).with_header(header::ETAG, crate::etag(current))
            }
            DomainError::CodeUnavailable(_) => ApiError::new(StatusCode::GONE, msg),
            DomainError::Throttled(t) => {
                let detail = if t.policy.starts_with("redeem") {
                    "too many failed redemptions; try again later"
                } else {
                    "too many failed attempts; try again later"
                };
                crate::throttle::refusal_headers(&t)
                    .into_iter()
                    .fold(ApiError::new(StatusCode::TOO_MANY_REQUESTS, detail), |e, (k, v)| e.with_header(k, v))
            }
            DomainError::UnknownMembers(_) | DomainError::IdempotencyKeyReused => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, msg)
            }
            DomainError::IdempotencyKeyMalformed => ApiError::new(StatusCode::BAD_REQUEST, msg),
            DomainError::IdempotencyKeyInFlight => {
                ApiError::new(StatusCode::CONFLICT, msg).with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            }

            DomainError::StatusTransition { .. }
            | DomainError::CapacityBelowEnrolled { .. }
            | DomainError::MaxUsesBelowUsed { .. }
            | DomainError::ClassFull
            | DomainError::ClassEnded
            | DomainError::AlreadyExists(_)
            | DomainError::InUse { .. } => ApiError::new(StatusCode::CONFLICT, msg),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::from_store(e, None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = crate::json(self.status, &self.body);
        for (k, v) in self.headers {
            res.headers_mut().insert(k, v);
        }
        res
    }
}

/// Collects validation errors, pydantic-style, so that all are reported together.
#[derive(Debug, Default)]
pub struct Errors {
    pub items: Vec<ErrorItem>,
}

fn loc_of(loc: &[&str]) -> Vec<Loc> {
    loc.iter().map(|&s| Loc::from(s)).collect()
}

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(
        &mut self,
        kind: &'static str,
        loc: Vec<Loc>,
        msg: impl Into<String>,
        input: Value,
        ctx: Option<Value>,
    ) {
        self.items.push(ErrorItem { kind, loc, msg: msg.into(), input, ctx });
    }

    /// Orders body errors by the position of their field in `fields` (the model's field
    /// order, as pydantic reports them); other errors keep their place before them.
    pub fn sort_by_fields(&mut self, fields: &[&str]) {
        let rank = |item: &ErrorItem| match item.loc.as_slice() {
            [Loc::Key(b), Loc::Key(f), ..] if b == "body" => fields.iter().position(|x| x == f).unwrap_or(fields.len()),
            _ => 0,
        };
        self.items.sort_by_key(rank);
    }

    /// Fails with everything collected so far, if anything was.
    pub fn check(self) -> Result<(), ApiError> {
        if self.items.is_empty() { Ok(()) } else { Err(ApiError::validation(self.items)) }
    }

    /// Reports rule violations from the core against fields of `body`.
    pub fn violations(&mut self, violations: &[Violation], body: &Value) {
        for v in violations {
            let mut loc = vec![Loc::from("body"), Loc::from(v.field)];
            let mut input = body.get(v.field).cloned();
            if let Some(i) = v.index {
                loc.push(Loc::Index(i));
                input = input.and_then(|list| list.get(i).cloned());
            }
            let (kind, msg, ctx) = describe(&v.problem);
            let input = match (&v.problem, input) {
                (Problem::Required, _) | (_, None) => body.clone(),
                (_, Some(i)) => i,
            };
            self.push(kind, loc, msg, input, ctx);
        }
    }

    /// A path or query integer (`ge` bound optional), read from its text.
    pub fn int_text(&mut self, loc: &[&str], text: &str, ge: Option<i64>, le: Option<i64>) -> Option<i64> {
        let input = Value::String(text.to_string());
        let Some(n) = parse_int_text(text) else {
            self.push("int_parsing", loc_of(loc), INT_PARSING, input, None);
            return None;
        };
        self.bounds(loc, n, ge, le, input)
    }

    fn bounds(&mut self, loc: &[&str], n: i64, ge: Option<i64>, le: Option<i64>, input: Value) -> Option<i64> {
        if let Some(min) = ge
            && n < min
        {
            let (kind, msg, ctx) = describe(&Problem::BelowMin { min });
            self.push(kind, loc_of(loc), msg, input, ctx);
            return None;
        }
        if let Some(max) = le
            && n > max
        {
            let (kind, msg, ctx) = describe(&Problem::AboveMax { max });
            self.push(kind, loc_of(loc), msg, input, ctx);
            return None;
        }
        Some(n)
    }

    /// A JSON string.
    pub fn string(&mut self, loc: &[&str], v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.push("string_type", loc_of(loc), "Input should be a valid string", v.clone(), None);
                None
            }
        }
    }

    /// A JSON integer, read laxly as pydantic does: integral floats and numeric strings
    /// pass; integers beyond 64 bits saturate (and then fail their bounds).
    pub fn int(&mut self, loc: &[&str], v: &Value) -> Option<i64> {
        let n = match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(i)
                } else if n.is_u64() {
                    Some(i64::MAX)
                } else {
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    if f.fract() != 0.0 || !f.is_finite() {
                        self.push(
                            "int_from_float",
                            loc_of(loc),
                            "Input should be a valid integer, got a number with a fractional part",
                            v.clone(),
                            None,
                        );
                        return None;
                    }
                    Some(f.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
                }
            }
            Value::String(s) => match parse_int_text(s) {
                Some(i) => Some(i),
                None => {
                    self.push("int_parsing", loc_of(loc), INT_PARSING, v.clone(), None);
                    return None;
                }
            },
            _ => None,
        };
        if n.is_none() {
            self.push("int_type", loc_of(loc), "Input should be a valid integer", v.clone(), None);
        }
        n
    }

    /// A JSON boolean, or one of pydantic's boolean spellings.
    pub fn boolean(&mut self, loc: &[&str], v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) if n.as_i64() == Some(0) => Some(false),
            Value::Number(n) if n.as_i64() == Some(1) => Some(true),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
                "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
                _ => {
                    let msg = "Input should be a valid boolean, unable to interpret input";
                    self.push("bool_parsing", loc_of(loc), msg, v.clone(), None);
                    None
                }
            },
            _ => {
                self.push("bool_type", loc_of(loc), "Input should be a valid boolean", v.clone(), None);
                None
            }
        }
    }

    /// A list of integers; each bad item is reported at its index.
    pub fn int_list(&mut self, loc: &[&str], v: &Value) -> Option<Vec<i64>> {
        let Value::Array(items) = v else {
            self.push("list_type", loc_of(loc), "Input should be a valid list", v.clone(), None);
            return None;
        };
        let before = self.items.len();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let idx = i.to_string();
            let mut item_loc: Vec<&str> = loc.to_vec();
            item_loc.push(&idx);
            if let Some(n) = self.int(&item_loc, item) {
                out.push(n);
            }
        }
        // Indexes are numbers in pydantic locations, not strings.
        for item in &mut self.items[before..] {
            if let Some(last) = item.loc.last_mut()
                && let Loc::Key(k) = last
                && let Ok(i) = k.parse()
            {
                *last = Loc::Index(i);
            }
        }
        (self.items.len() == before).then_some(out)
    }

    /// A datetime: RFC 3339 with or without an offset (without one it is wall-clock time),
    /// a date alone (midnight), or Unix seconds.
    pub fn datetime(&mut self, loc: &[&str], v: &Value) -> Option<WhenInput> {
        match v {
            Value::String(s) => match parse_datetime(s) {
                Some(w) => Some(w),
                None => {
                    let msg = "Input should be a valid datetime, invalid datetime format";
                    self.push("datetime_parsing", loc_of(loc), msg, v.clone(), None);
                    None
                }
            },
            Value::Number(n) => {
                let ts = n.as_f64().and_then(|f| jiff::Timestamp::from_microsecond((f * 1e6).round() as i64).ok());
                match ts {
                    Some(t) => Some(WhenInput::Instant(t)),
                    None => {
                        let msg =
                            "Input should be a valid datetime, dates after 9999 are not supported as unix timestamps";
                        self.push("datetime_parsing", loc_of(loc), msg, v.clone(), None);
                        None
                    }
                }
            }
            _ => {
                self.push("datetime_type", loc_of(loc), "Input should be a valid datetime", v.clone(), None);
                None
            }
        }
    }

    /// One of a fixed set of strings.
    pub fn one_of<T: Copy>(&mut self, loc: &[&str], v: &Value, options: &[(&str, T)]) -> Option<T> {
        if let Value::String(s) = v
            && let Some((_, t)) = options.iter().find(|(name, _)| name == s)
        {
            return Some(*t);
        }
        let expected = enum_expected(options.iter().map(|(n, _)| *n));
        self.push(
            "enum",
            loc_of(loc),
            format!("Input should be {expected}"),
            v.clone(),
            Some(json!({ "expected": expected })),
        );
        None
    }

    /// A merge-patch field: absent keeps, null clears, a value is read with `read`.
    pub fn patch<T>(
        &mut self,
        field: &Option<Option<Value>>,
        name: &str,
        read: impl FnOnce(&mut Errors, &[&str], &Value) -> Option<T>,
    ) -> Patch<T> {
        match field {
            None => Patch::Keep,
            Some(None) => Patch::Clear,
            Some(Some(v)) => match read(self, &["body", name], v) {
                Some(t) => Patch::Set(t),
                None => Patch::Keep,
            },
        }
    }
}

const INT_PARSING: &str = "Input should be a valid integer, unable to parse string as an integer";

fn parse_int_text(s: &str) -> Option<i64> {
    let t = s.trim();
    t.parse::<i64>().ok().or_else(|| {
        // Digits beyond 64 bits saturate; they fail their bounds rather than parsing.
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| if t.starts_with('-') { i64::MIN } else { i64::MAX })
    })
}

/// pydantic's `'a', 'b' or 'c'`.
pub fn enum_expected<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.map(|n| format!("'{n}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

fn parse_datetime(s: &str) -> Option<WhenInput> {
    let t = s.trim();
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Some(WhenInput::Instant(ts));
    }
    // No offset: wall-clock time. jiff rejects a bracketed zone without an offset here.
    let has_zone_suffix = t.ends_with('Z') || t.ends_with('z') || t.contains('[');
    if !has_zone_suffix && let Ok(dt) = t.parse::<jiff::civil::DateTime>() {
        return Some(WhenInput::Local(dt));
    }
    None
}

/// pydantic's type, message and context for a rule violation.
fn describe(p: &Problem) -> (&'static str, String, Option<Value>) {
    let value_error = |m: String| ("value_error", format!("Value error, {m}"), Some(json!({ "error": m })));
    match p {
        Problem::Required => ("missing", "Field required".into(), None),
        Problem::TooShort { min } => (
            "string_too_short",
            format!("String should have at least {min} character{}", if *min == 1 { "" } else { "s" }),
            Some(json!({ "min_length": min })),
        ),
        Problem::TooLong { max } => (
            "string_too_long",
            format!("String should have at most {max} character{}", if *max == 1 { "" } else { "s" }),
            Some(json!({ "max_length": max })),
        ),
        Problem::BelowMin { min } => (
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
            Some(json!({ "ge": min })),
        ),
        Problem::AboveMax { max } => {
            ("less_than_equal", format!("Input should be less than or equal to {max}"), Some(json!({ "le": max })))
        }
        Problem::UrlInvalid(e) => {
            ("url_parsing", format!("Input should be a valid URL, {e}"), Some(json!({ "error": e })))
        }
        Problem::UrlScheme => (
            "url_scheme",
            "URL scheme should be 'http' or 'https'".into(),
            Some(json!({ "expected_schemes": "'http' or 'https'" })),
        ),
        Problem::UrlTooLong { max } => {
            ("url_too_long", format!("URL should have at most {max} characters"), Some(json!({ "max_length": max })))
        }
        Problem::DecimalPlaces { max } => (
            "decimal_max_places",
            format!("Decimal input should have no more than {max} decimal place{}", if *max == 1 { "" } else { "s" }),
            Some(json!({ "decimal_places": max })),
        ),
        Problem::DecimalWholeDigits { max } => (
            "decimal_whole_digits",
            format!(
                "Decimal input should have no more than {max} digit{} before the decimal point",
                if *max == 1 { "" } else { "s" }
            ),
            Some(json!({ "whole_digits": max })),
        ),
        other => value_error(other.to_string()),
    }
}

/// `limit` (1..=`max`, default `default`) and `offset` (≥ 0, default 0).
pub fn page_of(
    query: &HashMap<String, String>,
    default: u32,
    max: u32,
    errors: &mut Errors,
) -> classhub_core::page::PageRequest {
    let limit = query
        .get("limit")
        .map_or(Some(i64::from(default)), |s| errors.int_text(&["query", "limit"], s, Some(1), Some(i64::from(max))));
    let offset = query.get("offset").map_or(Some(0), |s| errors.int_text(&["query", "offset"], s, Some(0), None));
    classhub_core::page::PageRequest { limit: limit.unwrap_or(1) as u32, offset: offset.unwrap_or(0) as u64 }
}

/// The query string's parameters; a repeated name keeps its last value, as FastAPI does.
pub fn query_params(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect()
}

/// Reads a request body as a JSON object, or the 422 item FastAPI gives for it.
pub fn json_object(bytes: &[u8]) -> Result<Value, Box<ErrorItem>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Box::new(ErrorItem {
            kind: "missing",
            loc: vec!["body".into()],
            msg: "Field required".into(),
            input: Value::Null,
            ctx: None,
        }));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let position = byte_offset(bytes, e.line(), e.column());
        let reason = e.to_string();
        let reason = reason.split(" at line ").next().unwrap_or(&reason).to_string();
        Box::new(ErrorItem {
            kind: "json_invalid",
            loc: vec!["body".into(), Loc::Index(position)],
            msg: "JSON decode error".into(),
            input: json!({}),
            ctx: Some(json!({ "error": reason })),
        })
    })?;
    if !value.is_object() {
        return Err(Box::new(ErrorItem {
            kind: "model_attributes_type",
            loc: vec!["body".into()],
            msg: "Input should be a valid dictionary or object to extract fields from".into(),
            input: value,
            ctx: None,
        }));
    }
    Ok(value)
}

impl Errors {
    /// The body as a JSON object; otherwise its error is collected.
    pub fn json_object(&mut self, bytes: &[u8]) -> Option<Value> {
        json_object(bytes).map_err(|item| self.items.push(*item)).ok()
    }

    /// A body object read into `T`, whose fields are `Option<Option<Value>>` (serde_with's
    /// `double_option`: absent, null or a value) and so accept any object.
    pub fn fields<T: serde::de::DeserializeOwned>(&mut self, body: &Value) -> Option<T> {
        serde_json::from_value(body.clone())
            .map_err(|e| {
                let msg = e.to_string();
                self.push(
                    "value_error",
                    vec!["body".into()],
                    format!("Value error, {msg}"),
                    body.clone(),
                    Some(json!({ "error": msg })),
                );
            })
            .ok()
    }

    /// A required field of a body: reported `missing` when absent.
    pub fn required<'a>(&mut self, body: &'a Value, name: &str) -> Option<&'a Value> {
        let v = body.get(name);
        if v.is_none() {
            self.push("missing", vec!["body".into(), name.into()], "Field required", body.clone(), None);
        }
        v
    }
}

/// Readers of GrowFit's catalogue types (dates and decimals), as pydantic reads them.
impl Errors {
    /// A date: `YYYY-MM-DD`, or a datetime at midnight (pydantic's lax `date`).
    pub fn date(&mut self, loc: &[&str], v: &Value) -> Option<jiff::civil::Date> {
        let Value::String(s) = v else {
            self.push("date_type", loc_of(loc), "Input should be a valid date", v.clone(), None);
            return None;
        };
        if let Ok(d) = s.parse::<jiff::civil::Date>()
            && s.len() == 10
        {
            return Some(d);
        }
        match parse_datetime(s) {
            Some(WhenInput::Local(dt)) if dt.time() == jiff::civil::Time::midnight() => Some(dt.date()),
            Some(_) => {
                let msg = "Datetimes provided to dates should have zero time - e.g. be exact dates";
                self.push("date_from_datetime_inexact", loc_of(loc), msg, v.clone(), None);
                None
            }
            None => {
                let msg = "Input should be a valid date or datetime, invalid date separator";
                self.push("date_from_datetime_parsing", loc_of(loc), msg, v.clone(), None);
                None
            }
        }
    }

    /// A decimal: a JSON number or a decimal in a string (pydantic's lax `Decimal`).
    pub fn decimal(&mut self, loc: &[&str], v: &Value) -> Option<classhub_core::catalog::Decimal> {
        use classhub_core::catalog::Decimal;
        let text = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => {
                let msg = "Decimal input should be an integer, float, string or Decimal object";
                self.push("decimal_type", loc_of(loc), msg, v.clone(), None);
                return None;
            }
        };
        if Decimal::is_non_finite(&text) {
            self.push("finite_number", loc_of(loc), "Input should be a finite number", v.clone(), None);
            return None;
        }
        let d = Decimal::parse(&text);
        if d.is_none() {
            self.push("decimal_parsing", loc_of(loc), "Input should be a valid decimal", v.clone(), None);
        }
        d
    }
}

fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in bytes.split(|&b| b == b'\n').enumerate() {
        if i + 1 == line {
            return offset + column.saturating_sub(1);
        }
        offset += l.len() + 1;
    }
    offset.min(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lax_integers() {
        let mut e = Errors::default();
        assert_eq!(e.int(&["body", "x"], &json!(5)), Some(5));
        assert_eq!(e.int(&["body", "x"], &json!(5.0)), Some(5));
        assert_eq!(e.int(&["body", "x"], &json!("7")), Some(7));
        assert_eq!(e.int(&["body", "x"], &json!(1e30)), Some(i64::MAX));
        assert!(e.is_empty());
        assert_eq!(e.int(&["body", "x"], &json!(5.5)), None);
        assert_eq!(e.int(&["body", "x"], &json!("x")), None);
        assert_eq!(e.int(&["body", "x"], &json!(true)), None);
        let kinds: Vec<_> = e.items.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, ["int_from_float", "int_parsing", "int_type"]);
    }

    #[test]
    fn int_lists_report_indexes() {
        let mut e = Errors::default();
        assert_eq!(e.int_list(&["body", "ids"], &json!([1, "x", 3])), None);
        assert_eq!(serde_json::to_value(&e.items[0].loc).unwrap(), json!(["body", "ids", 1]));
    }

    #[test]
    fn enums_list_their_options() {
        assert_eq!(enum_expected(["a", "b", "c"].into_iter()), "'a', 'b' or 'c'");
        assert_eq!(enum_expected(["a"].into_iter()), "'a'");
    }

    #[test]
    fn datetimes() {
        assert!(matches!(parse_datetime("2023-11-07T05:31:56Z"), Some(WhenInput::Instant(_))));
        assert!(matches!(parse_datetime("2023-11-07T05:31:56+09:00"), Some(WhenInput::Instant(_))));
        assert!(matches!(parse_datetime("2023-11-07T05:31:56"), Some(WhenInput::Local(_))));
        assert!(matches!(parse_datetime("2023-11-07 05:31"), Some(WhenInput::Local(_))));
        assert!(matches!(parse_datetime("2023-11-07"), Some(WhenInput::Local(_))));
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("2023-13-07T00:00:00Z"), None);
    }

    #[test]
    fn bodies() {
        assert!(json_object(b"{}").is_ok());
        let e = json_object(b"{\"a\": }").unwrap_err();
        assert_eq!(e.kind, "json_invalid");
        assert_eq!(serde_json::to_value(&e.loc).unwrap(), json!(["body", 6]));
        assert_eq!(json_object(b"[]").unwrap_err().kind, "model_attributes_type");
        assert_eq!(json_object(b"").unwrap_err().kind, "missing");
    }
}
