//! Reading OCARIoT requests: JSON bodies, string fields, path ids, children lists.

use classhub_core::UserId;
use serde_json::{Map, Value};

use crate::error::OcError;
use crate::ids::{self, Kind};

/// The body as a JSON object (an empty body is `{}`).
pub fn object(bytes: &[u8]) -> Result<Map<String, Value>, OcError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(OcError::body()),
    }
}

/// An optional string field: `{name} must be a string!` for anything else (null too),
/// `{name} must have at least one character!` for `""`.
pub fn text(body: &Map<String, Value>, name: &str) -> Result<Option<String>, OcError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(OcError::invalid(format!("{name} must have at least one character!")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(OcError::invalid(format!("{name} must be a string!"))),
    }
}

/// A path id: 24 hex characters, else `Parameter {param} is not in valid format!`. A
/// well-formed id that names nothing of `kind` reads as `None`.
pub fn path_id(text: &str, param: &str, kind: Kind) -> Result<Option<i64>, OcError> {
    if !ids::well_formed(text) {
        return Err(OcError::id_format(param));
    }
    Ok(ids::decode(kind, text))
}

/// Whether a path segment could be an id at all (24 letters or digits): the gateway's
/// ownership check applies only then.
pub fn id_shaped(text: &str) -> bool {
    text.len() == 24 && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

const INVALID_IDS: &str = "Children field contains invalid IDs. It is expected that each item in the array is a \
    24-byte hex string like this: 507f191e810c19729de860ea";

/// The children of a group request: an array of ids or of objects with an `id`. Items
/// without a usable id and ids of the wrong form are refused, with the spec's messages.
/// Ids that are well formed but name no child are kept as negative placeholders, so that
/// the store reports them among the unregistered; [`ChildIds::text`] gives them back.
pub struct ChildIds {
    pub ids: Vec<UserId>,
    texts: Vec<String>,
}

impl ChildIds {
    pub fn parse(v: &Value) -> Result<ChildIds, OcError> {
        let Value::Array(items) = v else {
            return Err(OcError::invalid("children must be an array!"));
        };
        let mut texts = Vec::with_capacity(items.len());
        for item in items {
            let id = match item {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Object(o) => match o.get("id") {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    _ => return Err(OcError::invalid(INVALID_IDS)),
                },
                _ => return Err(OcError::invalid(INVALID_IDS)),
            };
            texts.push(id);
        }
        let malformed: Vec<&str> = texts.iter().filter(|t| !ids::well_formed(t)).map(String::as_str).collect();
        if !malformed.is_empty() {
            return Err(OcError::invalid(format!(
                "The following IDs from children attribute are not in valid format: {}",
                malformed.join(", ")
            )));
        }
        let ids = texts
            .iter()
            .enumerate()
            .map(|(i, t)| UserId(ids::decode(Kind::User, t).unwrap_or(-(i as i64) - 1)))
            .collect();
        Ok(ChildIds { ids, texts })
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// How the client wrote the id (placeholders included).
    pub fn text(&self, id: UserId) -> String {
        match self.ids.iter().position(|x| *x == id) {
            Some(i) if id.0 < 0 => self.texts[i].clone(),
            _ => ids::encode(Kind::User, id.0),
        }
    }
}

/// `page` and `limit`: digits only (others stripped), 0 or nothing means the default.
pub fn count(text: Option<&String>, default: u64) -> u64 {
    let digits: String = text.map(|t| t.chars().filter(char::is_ascii_digit).collect()).unwrap_or_default();
    match digits.parse::<u64>() {
        Ok(0) | Err(_) => default,
        Ok(n) => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn children_lists() {
        let good = ids::encode(Kind::User, 5);
        let c = ChildIds::parse(&json!([good, {"id": "507f191e810c19729de860ea"}])).unwrap();
        assert_eq!(c.ids[0], UserId(5));
        assert!(c.ids[1].0 < 0);
        assert_eq!(c.text(c.ids[1]), "507f191e810c19729de860ea");
        assert_eq!(ChildIds::parse(&json!("x")).err().unwrap().description.unwrap(), "children must be an array!");
        for bad in [json!([null]), json!([1]), json!([{}]), json!([""])] {
            assert_eq!(ChildIds::parse(&bad).err().unwrap().description.as_deref(), Some(INVALID_IDS), "{bad}");
        }
        let e = ChildIds::parse(&json!(["123", "123a", good])).err().unwrap();
        assert_eq!(
            e.description.unwrap(),
            "The following IDs from children attribute are not in valid format: 123, 123a"
        );
    }

    #[test]
    fn paging_numbers() {
        let t = |s: &str| Some(s.to_string());
        assert_eq!(count(t("2").as_ref(), 1), 2);
        assert_eq!(count(t("2x").as_ref(), 1), 2);
        assert_eq!(count(t("abc").as_ref(), 100), 100);
        assert_eq!(count(t("0").as_ref(), 100), 100);
        assert_eq!(count(None, 1), 1);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Any JSON value, a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[0-9a-fA-F]{24}".prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map("[a-z]{1,3}|id", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// One item of a children list: a registered child's id, or a well-formed id that
    /// names no child, written as a string or as `{"id": …}`, in either case.
    #[derive(Debug, Clone)]
    struct Item {
        id: Option<i64>,
        text: String,
        as_object: bool,
    }

    fn item() -> impl Strategy<Value = Item> {
        let known = (1i64..=i64::MAX).prop_map(|id| (Some(id), ids::encode(Kind::User, id)));
        let unknown = "[0-9a-f]{24}".prop_map(|t| (ids::decode(Kind::User, &t), t));
        (prop_oneof![known, unknown], any::<bool>(), any::<bool>()).prop_map(|((id, text), upper, as_object)| Item {
            id,
            text: if upper { text.to_uppercase() } else { text },
            as_object,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_json_is_a_list_or_an_error(v in any_json()) {
            match ChildIds::parse(&v) {
                Ok(c) => {
                    prop_assert!(v.is_array());
                    prop_assert_eq!(c.ids.len(), v.as_array().map_or(0, Vec::len));
                }
                Err(e) => prop_assert_eq!(e.code, 400),
            }
        }

        /// Well-formed lists parse; each id reads back as its child, or as the text the
        /// client wrote when it names no child.
        #[test]
        fn well_formed_lists_round_trip(items in proptest::collection::vec(item(), 0..12)) {
            let body: Vec<Value> =
                items.iter().map(|i| if i.as_object { json!({"id": i.text}) } else { json!(i.text) }).collect();
            let parsed = ChildIds::parse(&Value::from(body)).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(parsed.ids.len(), items.len());
            for (item, id) in items.iter().zip(&parsed.ids) {
                match item.id {
                    Some(known) => {
                        prop_assert_eq!(*id, UserId(known));
                        prop_assert_eq!(parsed.text(*id), item.text.to_lowercase());
                    }
                    None => {
                        prop_assert!(id.0 < 0);
                        prop_assert_eq!(parsed.text(*id), item.text.clone());
                    }
                }
            }
        }

        /// One malformed id anywhere refuses the whole list, naming it.
        #[test]
        fn a_malformed_id_refuses_the_list(
            items in proptest::collection::vec(item(), 0..6),
            bad in "[0-9a-zA-Z]{1,30}".prop_filter("not well formed", |t| !ids::well_formed(t)),
            at in any::<proptest::sample::Index>(),
        ) {
            let mut body: Vec<Value> = items.iter().map(|i| json!(i.text)).collect();
            body.insert(at.index(body.len() + 1), json!(bad));
            let e = ChildIds::parse(&Value::from(body)).err().ok_or_else(|| TestCaseError::fail("accepted"))?;
            prop_assert!(e.description.unwrap_or_default().ends_with(&bad));
        }

        #[test]
        fn ids_round_trip(id in any::<i64>(), upper in any::<bool>()) {
            for kind in [Kind::User, Kind::Group, Kind::Institution] {
                let text = ids::encode(kind, id);
                let text = if upper { text.to_uppercase() } else { text };
                prop_assert_eq!(ids::decode(kind, &text), Some(id));
            }
        }

        #[test]
        fn path_ids_and_counts_never_panic(text in any::<String>(), n in proptest::option::of(any::<String>())) {
            let _ = path_id(&text, "group_id", Kind::Group);
            let _ = ids::decode(Kind::User, &text);
            let _ = id_shaped(&text);
            prop_assert!(count(n.as_ref(), 100) >= 1);
        }
    }
}
