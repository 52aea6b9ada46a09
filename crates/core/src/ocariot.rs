//! OCARIoT's domain: institutions, the attributes of its user kinds, and the rules of
//! children groups (a group is a class owned by an educator or a health professional,
//! its members the children, in the order given).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Problem, Violation};
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

pub fn change_child(current: &ChildProfile, change: &ChildChange) -> Result<ChildProfile, DomainError> {
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
        check("age_calc_date", valid_date(d), &mut date);
        next.age_calc_date = Some(date);
    }
    if let Some(s) = &change.last_sync {
        next.last_sync = Some(s.clone());
    }
    if errors.is_empty() { Ok(next) } else { Err(DomainError::Invalid(errors)) }
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
        let changed = change_child(&c, &ChildChange { age: Some("10".into()), ..ChildChange::default() }).unwrap();
        assert_eq!((changed.gender.as_str(), changed.age.as_str()), ("male", "10"));
        assert!(change_child(&c, &ChildChange { gender: Some("x".into()), ..ChildChange::default() }).is_err());
        assert_eq!(ChildProfile::from_profile(Some(&c.to_profile())), c);
    }

    #[test]
    fn children_lists() {
        let u = |v: &[i64]| v.iter().map(|&i| UserId(i)).collect::<Vec<_>>();
        assert_eq!(distinct_children(&u(&[3, 1, 3, 2, 1])), u(&[3, 1, 2]));
        assert_eq!(unregistered(&u(&[3, 1, 2]), &u(&[2, 3])), u(&[1]));
    }

    #[test]
    fn natural_order() {
        let mut names = vec!["group 10", "Group 2", "alpha", "Group 1", "beta", "group 02b"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["alpha", "beta", "Group 1", "Group 2", "group 02b", "group 10"]);
    }
}
