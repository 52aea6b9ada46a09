//! Response bodies in OCARIoT's key order; absent optional keys are left out.

use classhub_core::ocariot::{ChildProfile, Institution};
use classhub_core::user::User;
use classhub_store::ops::ocariot::GroupView;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::{self, Kind};

fn institution_id(u: &User) -> Option<String> {
    u.institution_id.map(|i| ids::encode(Kind::Institution, i.0))
}

/// A child. `age` is text.
#[derive(Serialize, ToSchema)]
pub struct ChildOut {
    pub id: String,
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution_id: Option<String>,
    pub gender: String,
    pub age: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_calc_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    /// Always `none`: classhub has no Fitbit link.
    pub fitbit_status: &'static str,
}

impl From<&User> for ChildOut {
    fn from(u: &User) -> ChildOut {
        let p = ChildProfile::from_profile(u.profile.as_ref());
        ChildOut {
            id: ids::encode(Kind::User, u.id.0),
            username: u.username.clone(),
            institution_id: institution_id(u),
            gender: p.gender,
            age: p.age,
            age_calc_date: p.age_calc_date,
            last_login: p.last_login,
            last_sync: p.last_sync,
            fitbit_status: "none",
        }
    }
}

/// A children group; `school_class` is left out when it was never set.
#[derive(Serialize, ToSchema)]
pub struct GroupOut {
    pub id: String,
    pub name: String,
    pub children: Vec<ChildOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub school_class: Option<String>,
}

impl From<&GroupView> for GroupOut {
    fn from(g: &GroupView) -> GroupOut {
        GroupOut {
            id: ids::encode(Kind::Group, g.class.id.0),
            name: g.class.fields.name.clone(),
            children: g.children.iter().map(ChildOut::from).collect(),
            school_class: g.class.fields.school_class.clone(),
        }
    }
}

/// An educator or a health professional, with their groups.
#[derive(Serialize, ToSchema)]
pub struct OwnerOut {
    pub id: String,
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution_id: Option<String>,
    pub children_groups: Vec<GroupOut>,
}

impl OwnerOut {
    pub fn new(u: &User, groups: &[GroupView]) -> OwnerOut {
        OwnerOut {
            id: ids::encode(Kind::User, u.id.0),
            username: u.username.clone(),
            institution_id: institution_id(u),
            children_groups: groups.iter().map(GroupOut::from).collect(),
        }
    }
}

/// A family, with its children.
#[derive(Serialize, ToSchema)]
pub struct FamilyOut {
    pub id: String,
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution_id: Option<String>,
    pub children: Vec<ChildOut>,
}

/// An application.
#[derive(Serialize, ToSchema)]
pub struct ApplicationOut {
    pub id: String,
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution_id: Option<String>,
    pub application_name: Option<String>,
}

impl From<&User> for ApplicationOut {
    fn from(u: &User) -> ApplicationOut {
        let name =
            u.profile.as_ref().and_then(|p| p.get("application_name")).and_then(|v| v.as_str()).map(str::to_string);
        ApplicationOut {
            id: ids::encode(Kind::User, u.id.0),
            username: u.username.clone(),
            institution_id: institution_id(u),
            application_name: name,
        }
    }
}

/// An institution; `latitude` and `longitude` are text.
#[derive(Serialize, ToSchema)]
pub struct InstitutionOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<String>,
}

impl From<&Institution> for InstitutionOut {
    fn from(i: &Institution) -> InstitutionOut {
        InstitutionOut {
            id: ids::encode(Kind::Institution, i.id.0),
            kind: i.kind.clone(),
            name: i.name.clone(),
            address: i.address.clone(),
            latitude: i.latitude.clone(),
            longitude: i.longitude.clone(),
        }
    }
}
