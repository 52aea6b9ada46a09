//! Catalogs that classes refer to: AI models and courses (GrowFit's `model_catalog` and
//! `courses`), the decimal amounts their prices and budgets are written in, and the cost
//! estimate computed from the models' prices.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{DomainError, Entity, Problem, Violation};
use crate::ids::{CourseId, ModelId, UserId};

pub const CATALOG_TEXT_MAX_CHARS: usize = 200;

/// A catalog label: trimmed, 1..200 characters, no NUL.
pub fn label(field: &'static str, value: &str, errors: &mut Vec<Violation>) -> String {
    if let Err(p) = crate::text::label(value, CATALOG_TEXT_MAX_CHARS) {
        errors.push(Violation::new(field, p));
    }
    value.trim().to_string()
}

/// Optional catalog text (a description): no NUL, at most `max` characters.
pub fn text(field: &'static str, value: Option<&str>, max: usize, errors: &mut Vec<Violation>) {
    if let Some(Err(p)) = value.map(|v| crate::text::check(v, max)) {
        errors.push(Violation::new(field, p));
    }
}

/// Finishes a validation that collected `errors`.
pub fn done<T>(value: T, errors: Vec<Violation>) -> Result<T, DomainError> {
    if errors.is_empty() { Ok(value) } else { Err(DomainError::Invalid(errors)) }
}

/// Text as catalog searches compare it: ASCII letters lower-cased, every other character
/// as it is, so that both engines match alike (SQLite's `lower` folds ASCII only; the
/// store lower-cases the stored text the same way).
pub fn fold(text: &str) -> String {
    text.to_ascii_lowercase()
}

// ---- decimals ----------------------------------------------------------------------------

/// A decimal number as Python's `Decimal` holds it: digits and an exponent, so that it
/// prints as GrowFit's pydantic prints it (`"52500.0"`, `"100.00"`). Amounts of money
/// (prices, budgets, estimates) are these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// The digits, signed.
    units: i128,
    /// Digits after the point (the negated exponent); never negative.
    scale: u32,
}

/// Significant digits a decimal may have when read (far beyond any amount classhub stores).
const DECIMAL_MAX_DIGITS: usize = 30;

impl Decimal {
    pub const ZERO: Decimal = Decimal { units: 0, scale: 0 };

    pub const fn new(units: i128, scale: u32) -> Decimal {
        Decimal { units, scale }
    }

    pub fn from_int(n: i64) -> Decimal {
        Decimal { units: i128::from(n), scale: 0 }
    }

    /// An amount stored in hundredths: always two decimals (`"100.00"`), as a
    /// `NUMERIC(14, 2)` column reads back.
    pub fn from_cents(cents: i64) -> Decimal {
        Decimal { units: i128::from(cents), scale: 2 }
    }

    /// Reads a decimal as Python's `Decimal(text)` does: an optional sign, digits with an
    /// optional point, an optional exponent (`1.5e3`), surrounding spaces ignored. `None`
    /// for anything else, for infinities and NaN (see [`Decimal::is_non_finite`]), and for
    /// more than 30 significant digits.
    pub fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let (negative, rest) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !digits_ok(whole) || !digits_ok(fraction) {
            return None;
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(e) => {
                let body = e.strip_prefix(['+', '-']).unwrap_or(e);
                if body.is_empty() || !digits_ok(body) || body.len() > 6 {
                    return None;
                }
                e.parse().ok()?
            }
        };
        let all: String = format!("{whole}{fraction}");
        let significant = all.trim_start_matches('0');
        if significant.len() > DECIMAL_MAX_DIGITS {
            return None;
        }
        let mut units: i128 = if significant.is_empty() { 0 } else { significant.parse().ok()? };
        let mut scale = fraction.len() as i64 - exponent;
        if scale < 0 {
            // A positive exponent: the digits move left of the point.
            if units != 0 && significant.len() as i64 - scale > DECIMAL_MAX_DIGITS as i64 {
                return None;
            }
            units = units.checked_mul(10i128.checked_pow(u32::try_from(-scale).ok()?)?)?;
            scale = 0;
        }
        if scale > 60 {
            // Beyond any precision classhub keeps; zero-ish amounts with absurd scales.
            return None;
        }
        Some(Decimal { units: if negative { -units } else { units }, scale: scale as u32 })
    }

    /// Whether `text` names an infinity or NaN, which Python's `Decimal` reads but pydantic
    /// refuses as not finite.
    pub fn is_non_finite(text: &str) -> bool {
        let t = text.trim().trim_start_matches(['+', '-']).to_ascii_lowercase();
        matches!(t.as_str(), "inf" | "infinity" | "nan" | "snan")
    }

    pub fn is_negative(&self) -> bool {
        self.units < 0
    }

    pub fn is_zero(&self) -> bool {
        self.units == 0
    }

    /// The same number without trailing zeros after the point.
    pub fn normalized(self) -> Decimal {
        let mut d = self;
        while d.scale > 0 && d.units % 10 == 0 {
            d.units /= 10;
            d.scale -= 1;
        }
        d
    }

    /// Digits after the point, trailing zeros not counted (as pydantic counts them).
    pub fn decimal_places(&self) -> u32 {
        self.normalized().scale
    }

    /// Digits before the point.
    pub fn whole_digits(&self) -> u32 {
        let n = self.normalized();
        // Beyond 10^38 no digits are left before the point (`parse` keeps 30 at most).
        let whole = 10i128.checked_pow(n.scale).map_or(0, |p| (n.units / p).unsigned_abs());
        if whole == 0 { 0 } else { whole.ilog10() + 1 }
    }

    /// The amount in hundredths, if it has at most two decimals and fits.
    pub fn to_cents(&self) -> Option<i64> {
        let n = self.normalized();
        if n.scale > 2 {
            return None;
        }
        i64::try_from(n.units.checked_mul(10i128.pow(2 - n.scale))?).ok()
    }

    /// `self + other`, with the larger scale (as Python's `Decimal` adds).
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let a = self.units.checked_mul(10i128.checked_pow(scale - self.scale)?)?;
        let b = other.units.checked_mul(10i128.checked_pow(scale - other.scale)?)?;
        Some(Decimal { units: a.checked_add(b)?, scale })
    }

    /// `self × other`, the scales added (as Python's `Decimal` multiplies).
    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        Some(Decimal { units: self.units.checked_mul(other.units)?, scale: self.scale.checked_add(other.scale)? })
    }

    /// `self × 100 / total`, rounded half-even to two decimals and shown without trailing
    /// zeros; zero when `total` is not positive.
    pub fn percent_of(self, total: Decimal) -> Decimal {
        if total.units <= 0 {
            return Decimal::ZERO;
        }
        // Both to the same scale, then hundredths of a percent.
        let scale = self.scale.max(total.scale);
        let lift = |d: Decimal| d.units.checked_mul(10i128.checked_pow(scale - d.scale)?);
        let (Some(part), Some(whole)) = (lift(self), lift(total)) else {
            return Decimal::ZERO;
        };
        let Some(numerator) = part.checked_mul(10_000) else {
            return Decimal::ZERO;
        };
        let (q, r) = (numerator / whole, numerator % whole);
        let twice = r.abs() * 2;
        let q = if twice > whole.abs() || (twice == whole.abs() && q % 2 != 0) { q + numerator.signum() } else { q };
        Decimal { units: q, scale: 2 }.normalized()
    }
}

impl std::fmt::Display for Decimal {
    /// Plain notation with exactly `scale` decimals, as `str(Decimal)` prints amounts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.units.unsigned_abs().to_string();
        let sign = if self.units < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded =
            if digits.len() <= scale { format!("{}{digits}", "0".repeat(scale + 1 - digits.len())) } else { digits };
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{whole}.{fraction}")
    }
}

impl Serialize for Decimal {
    /// As text, the way pydantic serialises a `Decimal`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The largest amount a budget or a price may be: 12 digits before the point, 2 after
/// (GrowFit's `NUMERIC(14, 2)`).
pub const AMOUNT_WHOLE_DIGITS: u32 = 12;
pub const AMOUNT_DECIMAL_PLACES: u32 = 2;

/// An amount of money: at least 0, at most two decimals and twelve digits before the
/// point. Returned with exactly two decimals, as it is stored.
pub fn valid_amount(d: Decimal) -> Result<Decimal, Problem> {
    if d.decimal_places() > AMOUNT_DECIMAL_PLACES {
        return Err(Problem::DecimalPlaces { max: AMOUNT_DECIMAL_PLACES });
    }
    if d.whole_digits() > AMOUNT_WHOLE_DIGITS {
        return Err(Problem::DecimalWholeDigits { max: AMOUNT_WHOLE_DIGITS });
    }
    if d.is_negative() {
        return Err(Problem::BelowMin { min: 0 });
    }
    d.to_cents().map(Decimal::from_cents).ok_or(Problem::DecimalWholeDigits { max: AMOUNT_WHOLE_DIGITS })
}

// ---- models --------------------------------------------------------------------------------

/// What a model is for (GrowFit's `modality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Chat,
    Embedding,
    Stt,
    Image,
    Tts,
    Rerank,
}

impl Modality {
    pub const ALL: [Modality; 6] =
        [Modality::Chat, Modality::Embedding, Modality::Stt, Modality::Image, Modality::Tts, Modality::Rerank];

    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Chat => "chat",
            Modality::Embedding => "embedding",
            Modality::Stt => "stt",
            Modality::Image => "image",
            Modality::Tts => "tts",
            Modality::Rerank => "rerank",
        }
    }

    pub fn parse(s: &str) -> Option<Modality> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// The key of `default_pricing` the cost estimate reads: what one student's use of the
/// model costs per day (KRW), a decimal number or a decimal in a string.
pub const DAILY_FEE_KEY: &str = "daily_fee_per_student";

/// An AI model of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub id: ModelId,
    /// GrowFit's `model_name`.
    pub name: String,
    pub provider: String,
    pub modality: Modality,
    pub supports_parallel: bool,
    /// A JSON object of prices (free-form but for [`DAILY_FEE_KEY`]), or none.
    pub default_pricing: Option<Map<String, Value>>,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Model {
    /// The model's daily fee per student, if its pricing gives one.
    pub fn daily_fee(&self) -> Option<Decimal> {
        self.default_pricing
            .as_ref()
            .and_then(|p| p.get(DAILY_FEE_KEY))
            .and_then(price_value)
            .and_then(|d| valid_amount(d).ok())
    }
}

/// A price in a pricing object: a JSON number or a decimal string.
fn price_value(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => Decimal::parse(&n.to_string()),
        Value::String(s) if !Decimal::is_non_finite(s) => Decimal::parse(s),
        _ => None,
    }
}

/// A model to add to the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModel {
    pub name: String,
    pub provider: String,
    pub modality: Modality,
    pub supports_parallel: bool,
    pub default_pricing: Option<Map<String, Value>>,
    pub is_active: bool,
}

impl NewModel {
    /// A chat model, active, without prices (GrowFit's defaults).
    pub fn named(name: impl Into<String>, provider: impl Into<String>) -> NewModel {
        NewModel {
            name: name.into(),
            provider: provider.into(),
            modality: Modality::Chat,
            supports_parallel: false,
            default_pricing: None,
            is_active: true,
        }
    }

    /// The model as it is stored: labels trimmed (1..200 characters), no NUL anywhere in
    /// the pricing, and a daily fee, if given, an amount ([`valid_amount`]).
    pub fn validated(&self) -> Result<NewModel, DomainError> {
        let mut errors = Vec::new();
        let name = label("name", &self.name, &mut errors);
        let provider = label("provider", &self.provider, &mut errors);
        if let Some(pricing) = &self.default_pricing {
            if !json_without_nul(&Value::Object(pricing.clone())) {
                errors.push(Violation::new("default_pricing", Problem::NulCharacter));
            } else if let Some(fee) = pricing.get(DAILY_FEE_KEY) {
                let problem = match price_value(fee) {
                    Some(d) => valid_amount(d).err(),
                    None => Some(Problem::Other("must be a decimal number".into())),
                };
                if let Some(p) = problem {
                    errors.push(Violation::new("default_pricing", Problem::Other(format!("{DAILY_FEE_KEY}: {p}"))));
                }
            }
        }
        done(NewModel { name, provider, ..self.clone() }, errors)
    }
}

fn json_without_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.contains('\0'),
        Value::Array(items) => items.iter().all(json_without_nul),
        Value::Object(m) => m.iter().all(|(k, v)| !k.contains('\0') && json_without_nul(v)),
        _ => true,
    }
}

/// At most one model per provider and name: refuses a new one when `existing` is taken.
/// What an administrator changes of a model (`None`: unchanged; `default_pricing:
/// Some(None)` clears the prices).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelPatch {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub modality: Option<Modality>,
    pub supports_parallel: Option<bool>,
    pub default_pricing: Option<Option<Map<String, Value>>>,
    /// `false` takes the model out of the class form's list (`GET /models`).
    pub is_active: Option<bool>,
}

/// The model after `patch`, checked as a new one is.
pub fn apply_model_patch(current: &Model, patch: ModelPatch) -> Result<NewModel, DomainError> {
    NewModel {
        name: patch.name.unwrap_or_else(|| current.name.clone()),
        provider: patch.provider.unwrap_or_else(|| current.provider.clone()),
        modality: patch.modality.unwrap_or(current.modality),
        supports_parallel: patch.supports_parallel.unwrap_or(current.supports_parallel),
        default_pricing: patch.default_pricing.unwrap_or_else(|| current.default_pricing.clone()),
        is_active: patch.is_active.unwrap_or(current.is_active),
    }
    .validated()
}

/// A class's fields without a model that leaves the catalog: gone from the allowed list,
/// and the primary, if it was the one, is the next allowed model (the catalog rule).
pub fn without_model(fields: &crate::class::ClassFields, model: ModelId) -> crate::class::ClassFields {
    let primary = fields.primary_model_id.filter(|&p| p != model);
    let allowed = fields.allowed_model_ids.iter().copied().filter(|&m| m != model).collect();
    let (primary_model_id, allowed_model_ids) = crate::class::normalize_models(primary, allowed);
    crate::class::ClassFields { primary_model_id, allowed_model_ids, ..fields.clone() }
}

/// A model's provider and name are another model's: refused.
pub fn decide_model_name(holder: Option<ModelId>, me: ModelId) -> Result<(), DomainError> {
    match holder {
        Some(other) if other != me => Err(DomainError::AlreadyExists(Entity::Model)),
        _ => Ok(()),
    }
}

pub fn decide_new_model(existing: Option<ModelId>) -> Result<(), DomainError> {
    match existing {
        Some(_) => Err(DomainError::AlreadyExists(Entity::Model)),
        None => Ok(()),
    }
}

/// Filters of the model list (GrowFit's `GET /models`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFilter {
    /// Exactly this provider.
    pub provider: Option<String>,
    /// Exactly this modality (any text: one that is no modality matches nothing).
    pub modality: Option<String>,
    /// Names containing this text, case-insensitively (already [`fold`]ed).
    pub name_contains: Option<String>,
    /// Only active models; otherwise every model.
    pub only_active: bool,
}

impl Default for ModelFilter {
    /// What `GET /models` lists without parameters: active chat models.
    fn default() -> Self {
        ModelFilter { provider: None, modality: Some("chat".into()), name_contains: None, only_active: true }
    }
}

// ---- cost estimate -------------------------------------------------------------------------

/// GrowFit's constants (`core/config.py`), KRW.
pub const PLATFORM_FEE_PER_STUDENT: Decimal = Decimal::new(5000, 0);
/// Per student, day and model, when the catalog gives no price.
pub const DAILY_API_FEE_ESTIMATE: Decimal = Decimal::new(1500, 0);
pub const API_FEE_DISCOUNT_FACTOR: Decimal = Decimal::new(7, 1);

/// Bounds of an estimate's inputs, so that every estimate is computed exactly.
pub const ESTIMATE_STUDENTS_MAX: i64 = 100_000;
pub const ESTIMATE_MODELS_MAX: i64 = 1_000;
pub const ESTIMATE_DAYS_MAX: i64 = 36_600;

/// `n` within `min..=max` (an estimate's input), or the bound it breaks.
pub fn bounded(n: i64, min: i64, max: i64) -> Result<i64, Problem> {
    if n < min {
        Err(Problem::BelowMin { min })
    } else if n > max {
        Err(Problem::AboveMax { max })
    } else {
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CostEstimate {
    pub platform_fee: Decimal,
    pub api_fee_estimate: Decimal,
    pub total: Decimal,
}

/// The cost of a class of `students` using `model_count` models for `days` days:
/// - platform fee: 5000 per student;
/// - API fee: students × days × (the daily fees of the `model_count` dearest priced
///   models, each slot the catalog cannot fill priced at 1500) × 0.7.
///
/// `daily_fees` are the catalog's prices (any order). With none, this is exactly GrowFit's
/// formula, digits and all (`"52500.0"`). Inputs must be within the `ESTIMATE_*` bounds.
pub fn estimate_cost(students: i64, model_count: i64, days: i64, daily_fees: &[Decimal]) -> Option<CostEstimate> {
    let mut fees = daily_fees.to_vec();
    fees.sort_by(|a, b| b.cmp_value(a));
    let count = usize::try_from(model_count).ok()?;
    let mut per_day = Decimal::ZERO;
    for slot in 0..count {
        per_day = per_day.checked_add(fees.get(slot).copied().unwrap_or(DAILY_API_FEE_ESTIMATE))?;
    }
    let students = Decimal::from_int(students);
    let platform_fee = students.checked_mul(PLATFORM_FEE_PER_STUDENT)?;
    let api_fee_estimate =
        students.checked_mul(Decimal::from_int(days))?.checked_mul(per_day)?.checked_mul(API_FEE_DISCOUNT_FACTOR)?;
    let total = platform_fee.checked_add(api_fee_estimate)?;
    Some(CostEstimate { platform_fee, api_fee_estimate, total })
}

impl Decimal {
    /// Numeric order (scales aligned).
    pub fn cmp_value(&self, other: &Decimal) -> std::cmp::Ordering {
        let scale = self.scale.max(other.scale);
        let lift = |d: &Decimal| d.units.saturating_mul(10i128.saturating_pow(scale - d.scale));
        lift(self).cmp(&lift(other))
    }
}

// ---- courses -------------------------------------------------------------------------------

/// A course's state (GrowFit's `CourseStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CourseStatus {
    Draft,
    Active,
    Archived,
}

impl CourseStatus {
    pub const ALL: [CourseStatus; 3] = [CourseStatus::Draft, CourseStatus::Active, CourseStatus::Archived];

    pub fn as_str(self) -> &'static str {
        match self {
            CourseStatus::Draft => "draft",
            CourseStatus::Active => "active",
            CourseStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<CourseStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The fields of a course that its partner sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CourseFields {
    pub title: String,
    /// Unique among the partner's courses.
    pub course_key: String,
    pub status: CourseStatus,
    pub start_date: Option<Date>,
    pub end_date: Option<Date>,
    pub description: Option<String>,
}

/// A stored course. It belongs to a partner; any partner's class may name it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Course {
    pub id: CourseId,
    pub partner_id: UserId,
    #[serde(flatten)]
    pub fields: CourseFields,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A course as the client asked for it. As in GrowFit, `None` keeps a value: nothing is
/// cleared by a course update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CoursePatch {
    pub title: Option<String>,
    pub course_key: Option<String>,
    pub status: Option<CourseStatus>,
    pub start_date: Option<Date>,
    pub end_date: Option<Date>,
    pub description: Option<String>,
}

/// The `n`th candidate key of a course created without one (`course-N`): the store tries
/// N = the partner's course count + 1, then on, until one is free.
pub fn default_course_key(n: u64) -> String {
    format!("course-{n}")
}

/// Checks a course patch's fields alone (lengths, NUL), so that a dialect can report them
/// with its own type errors; [`create_course`] and [`apply_course_patch`] apply them too.
pub fn check_course_fields(patch: &CoursePatch) -> Vec<Violation> {
    let mut errors = Vec::new();
    if let Some(t) = &patch.title {
        label("title", t, &mut errors);
    }
    if let Some(k) = &patch.course_key {
        label("course_key", k, &mut errors);
    }
    if let Some(Err(p)) = patch.description.as_deref().map(crate::text::no_nul) {
        errors.push(Violation::new("description", p));
    }
    errors
}

/// A new course: `title` required; `course_key` required unless `default_key` gives one;
/// status `draft` unless given.
pub fn create_course(patch: CoursePatch, default_key: Option<String>) -> Result<CourseFields, DomainError> {
    let mut errors = Vec::new();
    if patch.title.is_none() {
        errors.push(Violation::new("title", Problem::Required));
    }
    if patch.course_key.is_none() && default_key.is_none() {
        errors.push(Violation::new("course_key", Problem::Required));
    }
    let blank = CourseFields {
        title: String::new(),
        course_key: default_key.unwrap_or_default(),
        status: CourseStatus::Draft,
        start_date: None,
        end_date: None,
        description: None,
    };
    match apply_course_patch(&blank, patch) {
        Err(DomainError::Invalid(v)) => {
            errors.extend(v);
            Err(DomainError::Invalid(errors))
        }
        Ok(_) if !errors.is_empty() => Err(DomainError::Invalid(errors)),
        other => other,
    }
}

/// The course after `patch` (`None` keeps), or why not. A course may not end before it
/// starts.
pub fn apply_course_patch(current: &CourseFields, patch: CoursePatch) -> Result<CourseFields, DomainError> {
    let mut errors = check_course_fields(&patch);
    let next = CourseFields {
        title: patch.title.map_or_else(|| current.title.clone(), |t| t.trim().to_string()),
        course_key: patch.course_key.map_or_else(|| current.course_key.clone(), |k| k.trim().to_string()),
        status: patch.status.unwrap_or(current.status),
        start_date: patch.start_date.or(current.start_date),
        end_date: patch.end_date.or(current.end_date),
        description: patch.description.or_else(|| current.description.clone()),
    };
    if let (Some(s), Some(e)) = (next.start_date, next.end_date)
        && e < s
    {
        errors.push(Violation::new("end_date", Problem::EndBeforeStart("end_date", "start_date")));
    }
    done(next, errors)
}

/// One course per key and partner: `existing` is the partner's course holding the key,
/// `this` the course being written (none when creating).
pub fn decide_course_key(existing: Option<CourseId>, this: Option<CourseId>) -> Result<(), DomainError> {
    match existing {
        Some(id) if Some(id) != this => Err(DomainError::AlreadyExists(Entity::Course)),
        _ => Ok(()),
    }
}

/// A course belongs to a partner: its owner must be one.
pub fn decide_course(owner: Option<&crate::user::User>) -> Result<(), DomainError> {
    match owner {
        Some(u) if u.kind == crate::user::UserKind::Partner => Ok(()),
        _ => Err(DomainError::NotFound(crate::error::Entity::Partner)),
    }
}

/// The course as its partner sees it; anyone else is told it does not exist.
pub fn course_owned_by(course: Option<Course>, partner: UserId) -> Result<Course, DomainError> {
    course.filter(|c| c.partner_id == partner).ok_or(DomainError::NotFound(Entity::Course))
}

/// Filters of a course list (GrowFit's `GET /course`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CourseFilter {
    /// Exactly this status (any text: one that is no status matches nothing).
    pub status: Option<String>,
    /// Titles or keys containing this text, case-insensitively (already [`fold`]ed).
    pub search: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn decimals_read_and_print_as_python_does() {
        for (text, shown) in [
            ("100", "100"),
            ("100.00", "100.00"),
            ("-1.5", "-1.5"),
            (" 0.05 ", "0.05"),
            (".5", "0.5"),
            ("5.", "5"),
            ("1e3", "1000"),
            ("1.5E-2", "0.015"),
            ("0.0", "0.0"),
        ] {
            assert_eq!(d(text).to_string(), shown, "{text}");
        }
        for bad in ["", "abc", "1.2.3", "1e", "--1", "1_000", "nan", "inf", "1e9999999"] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
        assert!(Decimal::is_non_finite("-Infinity") && Decimal::is_non_finite("NaN"));
        assert_eq!(Decimal::from_cents(10000).to_string(), "100.00");
        assert_eq!(Decimal::from_cents(5).to_string(), "0.05");
        assert_eq!(Decimal::from_cents(0).to_string(), "0.00");
    }

    #[test]
    fn amounts() {
        assert_eq!(valid_amount(d("100.5")).unwrap().to_string(), "100.50");
        assert_eq!(valid_amount(d("100.500")).unwrap().to_string(), "100.50");
        assert_eq!(valid_amount(d("100.505")), Err(Problem::DecimalPlaces { max: 2 }));
        assert_eq!(valid_amount(d("-1")), Err(Problem::BelowMin { min: 0 }));
        assert_eq!(valid_amount(d("999999999999.99")).unwrap().to_string(), "999999999999.99");
        assert_eq!(valid_amount(d("1000000000000")), Err(Problem::DecimalWholeDigits { max: 12 }));
        assert_eq!(d("0.01").percent_of(d("3")).to_string(), "0.33");
        assert_eq!(Decimal::ZERO.percent_of(d("100.00")).to_string(), "0");
        assert_eq!(d("50").percent_of(Decimal::ZERO).to_string(), "0");
    }

    #[test]
    fn the_estimate_is_growfit_s_without_prices() {
        let e = estimate_cost(10, 1, 5, &[]).unwrap();
        let shown = (e.platform_fee.to_string(), e.api_fee_estimate.to_string(), e.total.to_string());
        assert_eq!(shown, ("50000".into(), "52500.0".into(), "102500.0".into()));
        // Two priced models and a third slot at the default.
        let e = estimate_cost(2, 3, 1, &[d("1000"), d("2000.50"), d("10")]).unwrap();
        // (2000.50 + 1000 + 10) × 2 × 0.7; the third slot is the cheapest priced model.
        assert_eq!(e.api_fee_estimate.to_string(), "4214.700");
        let e = estimate_cost(1, 2, 1, &[d("100")]).unwrap();
        assert_eq!(e.api_fee_estimate.to_string(), "1120.0");
        let e = estimate_cost(ESTIMATE_STUDENTS_MAX, ESTIMATE_MODELS_MAX, ESTIMATE_DAYS_MAX, &[d("999999999999.99")]);
        assert!(e.is_some());
    }

    #[test]
    fn model_pricing() {
        let mut m = NewModel::named(" gpt ", "openai");
        m.default_pricing = Some(serde_json::from_str(r#"{"daily_fee_per_student": "120.5", "x": [1]}"#).unwrap());
        assert_eq!(m.validated().unwrap().name, "gpt");
        m.default_pricing = Some(serde_json::from_str(r#"{"daily_fee_per_student": -1}"#).unwrap());
        assert!(matches!(m.validated(), Err(DomainError::Invalid(v)) if v[0].field == "default_pricing"));
        m.default_pricing = Some(serde_json::from_str(r#"{"note": "a\u0000b"}"#).unwrap());
        assert!(m.validated().is_err());
    }

    #[test]
    fn courses() {
        let p = CoursePatch { title: Some(" T ".into()), ..Default::default() };
        assert!(matches!(create_course(p.clone(), None), Err(DomainError::Invalid(v)) if v[0].field == "course_key"));
        let c = create_course(p, Some("course-1".into())).unwrap();
        assert_eq!((c.title.as_str(), c.course_key.as_str(), c.status), ("T", "course-1", CourseStatus::Draft));
        let later = CoursePatch { end_date: Some(jiff::civil::date(2030, 1, 1)), ..Default::default() };
        let c = apply_course_patch(&c, later).unwrap();
        let early = CoursePatch { start_date: Some(jiff::civil::date(2030, 1, 2)), ..Default::default() };
        assert!(apply_course_patch(&c, early).is_err());
        let same = CoursePatch { start_date: Some(jiff::civil::date(2030, 1, 1)), ..Default::default() };
        assert!(apply_course_patch(&c, same).is_ok());
        assert_eq!(default_course_key(3), "course-3");
        assert!(decide_course_key(Some(CourseId(1)), Some(CourseId(1))).is_ok());
        assert!(decide_course_key(Some(CourseId(1)), None).is_err());
    }
}
