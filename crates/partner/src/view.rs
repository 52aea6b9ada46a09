//! Response bodies, with the seed's field names and order.

use classhub_core::audit::AuditEvent;
use classhub_core::catalog::{CostEstimate, Course, Model};
use classhub_core::class::{Class, ClassStatus, ClassSummary};
use classhub_core::invite::InviteCode;
use classhub_core::page::{Page, PageRequest};
use classhub_core::time::ZoneName;
use classhub_store::ops::classes::ClassView;
use classhub_web::{ser_opt_rfc3339, ser_rfc3339};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

/// A class.
#[derive(Serialize, ToSchema)]
pub struct ClassOut<'a> {
    pub name: &'a str,
    pub id: i64,
    pub partner_id: i64,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, nullable, inline, pattern = "^(planned|active|ended)$")]
    pub status: Option<&'static str>,
    pub description: Option<&'a str>,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_at: Option<Timestamp>,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_at: Option<Timestamp>,
    pub capacity: Option<u32>,
    pub timezone: Option<&'a str>,
    pub location: Option<&'a str>,
    pub online_url: Option<&'a str>,
    pub invite_only: Option<bool>,
    pub primary_model_id: Option<i64>,
    pub allowed_model_ids: Vec<i64>,
    /// What the class may spend on AI use: a decimal with two places, as text (`"100.00"`),
    /// or null (unlimited). GrowFit shows it after `allowed_model_ids`.
    #[schema(value_type = Option<String>, example = "100.00")]
    pub budget_limit: Option<String>,
    pub course_id: Option<i64>,
    /// The class's invite codes, newest first. Absent from a student's own class list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_codes: Option<Vec<InviteCodeOut>>,
}

impl<'a> ClassOut<'a> {
    /// A class without its codes (as students see it).
    pub fn bare(c: &'a Class) -> ClassOut<'a> {
        let f = &c.fields;
        ClassOut {
            name: &f.name,
            id: c.id.0,
            partner_id: c.owner_id.0,
            created_at: c.created_at,
            updated_at: c.updated_at,
            status: f.status.map(ClassStatus::as_str),
            description: f.description.as_deref(),
            start_at: f.start_at,
            end_at: f.end_at,
            capacity: f.capacity,
            timezone: f.timezone.as_ref().map(ZoneName::as_str),
            location: f.location.as_deref(),
            online_url: f.online_url.as_deref(),
            invite_only: f.invite_only,
            primary_model_id: f.primary_model_id.map(|m| m.0),
            allowed_model_ids: f.allowed_model_ids.iter().map(|m| m.0).collect(),
            budget_limit: f.budget_limit.map(|b| b.to_string()),
            course_id: f.course_id.map(|c| c.0),
            invite_codes: None,
        }
    }

    /// A class with its codes, their status read at `now`.
    pub fn full(v: &'a ClassView, now: Timestamp) -> ClassOut<'a> {
        ClassOut {
            invite_codes: Some(v.codes.iter().map(|c| InviteCodeOut::new(c, now)).collect()),
            ..Self::bare(&v.class)
        }
    }
}

/// An invite code.
#[derive(Serialize, ToSchema)]
pub struct InviteCodeOut {
    pub id: i64,
    pub partner_id: i64,
    pub class_id: i64,
    pub code: String,
    pub target_role: &'static str,
    pub used_count: u32,
    /// `active`, `expired` (past `expires_at`) or `disabled`.
    pub status: &'static str,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    pub max_uses: Option<u32>,
    pub created_by: i64,
}

impl InviteCodeOut {
    pub fn new(c: &InviteCode, now: Timestamp) -> InviteCodeOut {
        InviteCodeOut {
            id: c.id.0,
            partner_id: c.owner_id.0,
            class_id: c.class_id.0,
            code: c.code.clone(),
            target_role: c.target_role.as_str(),
            used_count: c.used_count,
            status: c.status(now).as_str(),
            created_at: c.created_at,
            expires_at: c.expires_at,
            max_uses: c.max_uses,
            created_by: c.created_by.0,
        }
    }
}

/// A page of a list.
#[derive(Serialize, ToSchema)]
pub struct PageOut<T> {
    pub total: u64,
    pub items: Vec<T>,
    /// `offset / limit + 1`.
    pub page: u64,
    /// The `limit` asked for.
    pub size: u32,
}

impl<T> PageOut<T> {
    /// The page's items shown with `f`.
    pub fn of<'a, U>(page: &'a Page<U>, req: PageRequest, f: impl FnMut(&'a U) -> T) -> PageOut<T> {
        PageOut {
            total: page.total,
            items: page.items.iter().map(f).collect(),
            page: req.offset / u64::from(req.limit.max(1)) + 1,
            size: req.limit,
        }
    }
}

/// An audit event of a class.
#[derive(Serialize, ToSchema)]
pub struct EventOut {
    pub id: i64,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor_id: Option<i64>,
    /// `class.create`, `class.update`, `class.delete`, `invite_code.create`,
    /// `invite_code.update`, `membership.create`, `membership.delete`.
    pub action: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

impl From<&AuditEvent> for EventOut {
    fn from(e: &AuditEvent) -> EventOut {
        EventOut {
            id: e.id.0,
            at: e.at,
            actor_id: e.actor_id.map(|a| a.0),
            action: e.action.clone(),
            before: e.before.clone(),
            after: e.after.clone(),
            request_id: e.request_id.clone(),
        }
    }
}

// Catalogue and courses (GrowFit)

/// A page in GrowFit's order (`items` first), for the catalogue's lists.
#[derive(Serialize, ToSchema)]
pub struct ItemsPageOut<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub size: u32,
}

impl<T> ItemsPageOut<T> {
    /// A page asked for with `limit` and `offset`: `page = offset / limit + 1`.
    pub fn of<'a, U>(page: &'a Page<U>, req: PageRequest, f: impl FnMut(&'a U) -> T) -> ItemsPageOut<T> {
        ItemsPageOut {
            items: page.items.iter().map(f).collect(),
            total: page.total,
            page: req.offset / u64::from(req.limit.max(1)) + 1,
            size: req.limit,
        }
    }
}

/// A model of the catalog (GrowFit's `ModelCatalogResponse`).
#[derive(Serialize, ToSchema)]
pub struct ModelOut<'a> {
    pub id: i64,
    pub provider: &'a str,
    pub model_name: &'a str,
    #[schema(value_type = String, pattern = "^(chat|embedding|stt|image|tts|rerank)$")]
    pub modality: &'static str,
    pub supports_parallel: bool,
    /// Prices, free-form; the cost estimate reads `daily_fee_per_student`.
    #[schema(value_type = Option<Object>)]
    pub default_pricing: Option<&'a serde_json::Map<String, serde_json::Value>>,
    pub is_active: bool,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl<'a> From<&'a Model> for ModelOut<'a> {
    fn from(m: &'a Model) -> ModelOut<'a> {
        ModelOut {
            id: m.id.0,
            provider: &m.provider,
            model_name: &m.name,
            modality: m.modality.as_str(),
            supports_parallel: m.supports_parallel,
            default_pricing: m.default_pricing.as_ref(),
            is_active: m.is_active,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A course (GrowFit's `CourseResponse`, in its order).
#[derive(Serialize, ToSchema)]
pub struct CourseOut<'a> {
    pub title: &'a str,
    pub course_key: &'a str,
    #[schema(value_type = String, pattern = "^(draft|active|archived)$")]
    pub status: &'static str,
    #[schema(value_type = Option<String>, format = Date)]
    pub start_date: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<String>,
    pub description: Option<&'a str>,
    pub id: i64,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl<'a> From<&'a Course> for CourseOut<'a> {
    fn from(c: &'a Course) -> CourseOut<'a> {
        let f = &c.fields;
        CourseOut {
            title: &f.title,
            course_key: &f.course_key,
            status: f.status.as_str(),
            start_date: f.start_date.map(|d| d.to_string()),
            end_date: f.end_date.map(|d| d.to_string()),
            description: f.description.as_deref(),
            id: c.id.0,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A class card (GrowFit's `ClassSummaryResponse`, in its order). Amounts are decimals as
/// text. classhub serves no AI practice and records no usage: `conversation_count`,
/// `total_cost`, `budget_used` and `budget_percent` are zero.
#[derive(Serialize, ToSchema)]
pub struct ClassSummaryOut<'a> {
    pub id: i64,
    pub name: &'a str,
    #[schema(value_type = Option<String>, pattern = "^(planned|active|ended)$")]
    pub status: Option<&'static str>,
    pub description: Option<&'a str>,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_at: Option<Timestamp>,
    #[serde(serialize_with = "ser_opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_at: Option<Timestamp>,
    pub capacity: Option<u32>,
    #[schema(value_type = Option<String>, example = "100.00")]
    pub budget_limit: Option<String>,
    /// Students holding a seat.
    pub student_count: u32,
    pub conversation_count: u64,
    #[schema(value_type = String, example = "0")]
    pub total_cost: String,
    /// Days from today to the end's date in the class's zone; null without an end.
    pub days_remaining: Option<i64>,
    #[schema(value_type = String, example = "0")]
    pub budget_used: String,
    #[schema(value_type = String, example = "0")]
    pub budget_percent: String,
    #[schema(value_type = String, pattern = "^(ok|warning|alert)$")]
    pub budget_status: &'static str,
    /// The first (in text order) of the class's codes that can be redeemed now.
    pub invite_code: Option<String>,
    #[serde(serialize_with = "ser_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl<'a> ClassSummaryOut<'a> {
    pub fn new(c: &'a Class, s: ClassSummary) -> ClassSummaryOut<'a> {
        let f = &c.fields;
        ClassSummaryOut {
            id: c.id.0,
            name: &f.name,
            status: f.status.map(ClassStatus::as_str),
            description: f.description.as_deref(),
            start_at: f.start_at,
            end_at: f.end_at,
            capacity: f.capacity,
            budget_limit: f.budget_limit.map(|b| b.to_string()),
            student_count: s.student_count,
            conversation_count: s.conversation_count,
            total_cost: s.total_cost.to_string(),
            days_remaining: s.days_remaining,
            budget_used: s.budget_used.to_string(),
            budget_percent: s.budget_percent.to_string(),
            budget_status: s.budget_status.as_str(),
            invite_code: s.invite_code,
            created_at: c.created_at,
        }
    }
}

/// A cost estimate: decimals as text (KRW).
#[derive(Serialize, ToSchema)]
pub struct CostEstimateOut {
    #[schema(value_type = String, example = "50000")]
    pub platform_fee: String,
    #[schema(value_type = String, example = "52500.0")]
    pub api_fee_estimate: String,
    #[schema(value_type = String, example = "102500.0")]
    pub total: String,
}

impl From<CostEstimate> for CostEstimateOut {
    fn from(e: CostEstimate) -> CostEstimateOut {
        CostEstimateOut {
            platform_fee: e.platform_fee.to_string(),
            api_fee_estimate: e.api_fee_estimate.to_string(),
            total: e.total.to_string(),
        }
    }
}
