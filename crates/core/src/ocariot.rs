//! OCARIoT's domain: institutions, the attributes of its user kinds, and the rules of
//! children groups (a group is a class owned by an educator or a health professional,
//! its members the children, in the order given).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Entity, Problem, Violation};
use crate::ids::{InstitutionId, UserId};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Institution {
    pub id: InstitutionId,
    pub kind: String,
    pub name: String,
    pub address: Option<String>,
    pub latitude: Option<String>,
    pub longitude: Option<String>,
}

/// A child's attributes (kept in the user's profile).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChildProfile {
    pub gender: String,
    /// Years, as text (`"11"`).
    pub age: String,
    /// The date the age was given for (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_calc_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
}

pub const GENDERS: [&str; 2] = ["male", "female"];

/// A child's gender: `male` or `female`.
pub fn valid_gender(g: &str) -> Result<String, Problem> {
    if GENDERS.contains(&g) { Ok(g.to_string()) } else { Err(Problem::Other(format!("gender {g:?} is not allowed"))) }
}

/// A positive age; whole or decimal years, kept as given.
pub fn valid_age(age: &str) -> Result<String, Problem> {
    match age.trim().parse::<f64>() {
        Ok(a) if a.is_finite() && a > 0.0 => Ok(age.trim().to_string()),
        Ok(_) => Err(Problem::BelowMin { min: 1 }),
        Err(_) => Err(Problem::Other(format!("age {age:?} is not a number"))),
    }
}

/// An `age_calc_date`: a calendar date, `YYYY-MM-DD`.
pub fn valid_date(date: &str) -> Result<String, Problem> {
    date.parse::<jiff::civil::Date>()
        .map(|d| d.to_string())
        .map_err(|_| Problem::Other(format!("{date:?} is not a date (YYYY-MM-DD)")))
}

impl ChildProfile {
    pub fn from_profile(v: Option<&serde_json::Value>) -> ChildProfile {
        v.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
    }

    pub fn to_profile(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A change to a child: the fields given replace the stored ones, each checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChildChange {
    pub gender: Option<String>,
    pub age: Option<String>,
    pub age_calc_date: Option<String>,
    pub last_sync: Option<String>,
}

/// A child's attributes after a change, on `today` (an age date may not lie after it).
pub fn change_child(
    current: &ChildProfile,
    change: &ChildChange,
    today: jiff::civil::Date,
) -> Result<ChildProfile, DomainError> {
    let mut errors = Vec::new();
    let mut next = current.clone();
    let mut check = |field: &'static str, r: Result<String, Problem>, slot: &mut String| match r {
        Ok(v) => *slot = v,
        Err(p) => errors.push(Violation::new(field, p)),
    };
    if let Some(g) = &change.gender {
        check("gender", valid_gender(g), &mut next.gender);
    }
    if let Some(a) = &change.age {
        check("age", valid_age(a), &mut next.age);
    }
    if let Some(d) = &change.age_calc_date {
        let mut date = String::new();
        check("age_calc_date", valid_age_calc_date(d, today), &mut date);
        next.age_calc_date = Some(date);
    }
    if let Some(s) = &change.last_sync {
        next.last_sync = Some(s.clone());
    }
    if errors.is_empty() { Ok(next) } else { Err(DomainError::Invalid(errors)) }
}

/// A group's name and school class are unique per owner (the name) and indexed, so bounded.
pub const GROUP_NAME_MAX_CHARS: usize = 200;
pub const SCHOOL_CLASS_MAX_CHARS: usize = 200;
/// An institution's name is unique (an index), so bounded; its other texts likewise.
pub const INSTITUTION_TEXT_MAX_CHARS: usize = 255;

/// The texts of a group as given: no NUL, within their limits.
pub fn check_group_text(name: Option<&str>, school_class: Option<&str>) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    for (field, value, max) in
        [("name", name, GROUP_NAME_MAX_CHARS), ("school_class", school_class, SCHOOL_CLASS_MAX_CHARS)]
    {
        if let Some(Err(p)) = value.map(|v| crate::text::check(v, max)) {
            errors.push(Violation::new(field, p));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors)) }
}

/// What the store found out, under the group's lock, about a group being made or changed.
#[derive(Debug, Clone, Default)]
pub struct GroupFacts {
    /// Another of the owner's groups has the name asked for.
    pub name_taken: bool,
    /// Of the children asked for, those that are registered children.
    pub registered: Vec<UserId>,
}

/// The children a group gets (`None`: unchanged): the name must be free (409) and every child
/// registered (400), in that order; duplicates are dropped, the first kept.
pub fn decide_group(children: Option<&[UserId]>, facts: &GroupFacts) -> Result<Option<Vec<UserId>>, DomainError> {
    if facts.name_taken {
        return Err(DomainError::AlreadyExists(Entity::Group));
    }
    let children = children.map(distinct_children);
    if let Some(c) = &children {
        let missing = unregistered(c, &facts.registered);
        if !missing.is_empty() {
            return Err(DomainError::UnknownMembers(missing));
        }
    }
    Ok(children)
}

/// An institution's texts: no NUL, at most 255 characters each.
pub fn check_institution(i: &Institution) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    let texts = [
        ("name", Some(&i.name)),
        ("type", Some(&i.kind)),
        ("address", i.address.as_ref()),
        ("latitude", i.latitude.as_ref()),
        ("longitude", i.longitude.as_ref()),
    ];
    for (field, value) in texts {
        if let Some(Err(p)) = value.map(|v| crate::text::check(v, INSTITUTION_TEXT_MAX_CHARS)) {
            errors.push(Violation::new(field, p));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors)) }
}

/// The facts a new account is decided on.
#[derive(Debug, Clone, Default)]
pub struct AccountFacts {
    /// The institution named exists (or none was named).
    pub institution_known: bool,
    pub username_taken: bool,
    /// Of a family's children, those that are registered children.
    pub registered: Vec<UserId>,
}

/// A new account: a registered institution (400), a family's children registered (400), a
/// free username (409), in that order.
pub fn decide_account(kind: Entity, children: &[UserId], facts: &AccountFacts) -> Result<(), DomainError> {
    if !facts.institution_known {
        return Err(DomainError::NotFound(Entity::Institution));
    }
    let missing = unregistered(&distinct_children(children), &facts.registered);
    if !missing.is_empty() {
        return Err(DomainError::UnknownMembers(missing));
    }
    if facts.username_taken {
        return Err(DomainError::AlreadyExists(kind));
    }
    Ok(())
}

/// An institution's name is unique.
pub fn decide_institution(name_taken: bool) -> Result<(), DomainError> {
    if name_taken { Err(DomainError::AlreadyExists(Entity::Institution)) } else { Ok(()) }
}

/// The users OCARIoT may delete: every kind it manages but the administrator.
pub fn deletable(kind: crate::user::UserKind) -> bool {
    use crate::user::UserKind::*;
    matches!(kind, Child | Educator | HealthProfessional | Family | Application)
}

/// A group as its owner sees it; anyone else's (and anything but a group) does not exist.
pub fn owned_group(class: Option<crate::class::Class>, owner: UserId) -> Result<crate::class::Class, DomainError> {
    class
        .filter(|c| c.owner_id == owner && c.kind == crate::class::ClassKind::Group)
        .ok_or(DomainError::NotFound(Entity::Group))
}

/// An `age_calc_date`: a calendar date (`YYYY-MM-DD`) not after `today`.
pub fn valid_age_calc_date(date: &str, today: jiff::civil::Date) -> Result<String, Problem> {
    let parsed = date
        .parse::<jiff::civil::Date>()
        .map_err(|_| Problem::Other(format!("{date:?} is not a date (YYYY-MM-DD)")))?;
    if parsed > today {
        return Err(Problem::InFuture);
    }
    Ok(parsed.to_string())
}

/// A group's children: duplicates dropped, the first kept, order otherwise as given.
pub fn distinct_children(ids: &[UserId]) -> Vec<UserId> {
    let mut out: Vec<UserId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(*id);
        }
    }
    out
}

/// Of `wanted`, those not among `registered` (in the order asked).
pub fn unregistered(wanted: &[UserId], registered: &[UserId]) -> Vec<UserId> {
    wanted.iter().filter(|id| !registered.contains(id)).copied().collect()
}

/// Names compared case-insensitively, runs of digits by value (`Group 2` < `group 10`).
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let take = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut digits = String::new();
                    while let Some(c) = it.peek().copied().filter(char::is_ascii_digit) {
                        digits.push(c);
                        it.next();
                    }
                    digits
                };
                let (m, n) = (take(&mut x), take(&mut y));
                let (m, n) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                let ord = m.len().cmp(&n.len()).then_with(|| m.cmp(n));
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            (Some(c), Some(d)) => {
                let ord = c.to_lowercase().cmp(d.to_lowercase());
                if ord != Ordering::Equal {
                    return ord;
                }
                x.next();
                y.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_attributes() {
        assert!(valid_gender("male").is_ok() && valid_gender("Male").is_err());
        assert_eq!(valid_age(" 11 "), Ok("11".into()));
        assert_eq!(valid_age("0"), Err(Problem::BelowMin { min: 1 }));
        assert!(valid_age("old").is_err());
        assert_eq!(valid_date("2019-02-01"), Ok("2019-02-01".into()));
        assert!(valid_date("2019-02-30").is_err());
        let c = ChildProfile { gender: "male".into(), age: "9".into(), ..ChildProfile::default() };
        let today: jiff::civil::Date = "2030-01-01".parse().unwrap();
        let changed =
            change_child(&c, &ChildChange { age: Some("10".into()), ..ChildChange::default() }, today).unwrap();
        assert_eq!((changed.gender.as_str(), changed.age.as_str()), ("male", "10"));
        assert!(change_child(&c, &ChildChange { gender: Some("x".into()), ..ChildChange::default() }, today).is_err());
        let future = ChildChange { age_calc_date: Some("2030-01-02".into()), ..ChildChange::default() };
        assert_eq!(change_child(&c, &future, today), Err(DomainError::invalid("age_calc_date", Problem::InFuture)));
        assert_eq!(ChildProfile::from_profile(Some(&c.to_profile())), c);
    }

    #[test]
    fn children_lists() {
        let u = |v: &[i64]| v.iter().map(|&i| UserId(i)).collect::<Vec<_>>();
        assert_eq!(distinct_children(&u(&[3, 1, 3, 2, 1])), u(&[3, 1, 2]));
        assert_eq!(unregistered(&u(&[3, 1, 2]), &u(&[2, 3])), u(&[1]));
    }

    #[test]
    fn account_decisions() {
        let u = |v: &[i64]| v.iter().map(|&i| UserId(i)).collect::<Vec<_>>();
        let ok = AccountFacts { institution_known: true, username_taken: false, registered: u(&[1]) };
        assert_eq!(decide_account(Entity::Child, &u(&[1, 1]), &ok), Ok(()));
        let none = AccountFacts { institution_known: false, ..ok.clone() };
        assert_eq!(decide_account(Entity::Child, &[], &none), Err(DomainError::NotFound(Entity::Institution)));
        assert_eq!(decide_account(Entity::User, &u(&[2]), &ok), Err(DomainError::UnknownMembers(u(&[2]))));
        let taken = AccountFacts { username_taken: true, ..ok };
        assert_eq!(decide_account(Entity::Educator, &[], &taken), Err(DomainError::AlreadyExists(Entity::Educator)));
        let today: jiff::civil::Date = "2026-11-29".parse().unwrap();
        assert_eq!(valid_age_calc_date("2026-11-29", today), Ok("2026-11-29".into()));
        assert_eq!(valid_age_calc_date("2026-11-30", today), Err(Problem::InFuture));
        assert!(valid_age_calc_date("2026-02-30", today).is_err());
        assert!(!deletable(crate::user::UserKind::Admin) && deletable(crate::user::UserKind::Child));
    }

    #[test]
    fn group_decisions() {
        let u = |v: &[i64]| v.iter().map(|&i| UserId(i)).collect::<Vec<_>>();
        let facts = GroupFacts { name_taken: false, registered: u(&[1, 2]) };
        assert_eq!(decide_group(Some(&u(&[2, 1, 2])), &facts), Ok(Some(u(&[2, 1]))));
        assert_eq!(decide_group(Some(&u(&[3, 1])), &facts), Err(DomainError::UnknownMembers(u(&[3]))));
        let taken = GroupFacts { name_taken: true, ..facts };
        assert_eq!(decide_group(Some(&u(&[3])), &taken), Err(DomainError::AlreadyExists(Entity::Group)));
        assert!(check_group_text(Some(&"x".repeat(201)), None).is_err());
        assert!(check_group_text(Some("a\0"), None).is_err());
        assert!(check_group_text(Some("ok"), Some("5B")).is_ok());
    }

    #[test]
    fn natural_order() {
        let mut names = vec!["group 10", "Group 2", "alpha", "Group 1", "beta", "group 02b"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["alpha", "beta", "Group 1", "Group 2", "group 02b", "group 10"]);
    }
}
