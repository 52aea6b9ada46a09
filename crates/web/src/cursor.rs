//! Continuation cursors on the wire: opaque to clients, named by a list's `Link: <…>;
//! rel="next"` header (RFC 8288).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use classhub_core::page::Cursor;
use http::HeaderValue;
use jiff::Timestamp;

const VERSION: &str = "k1";

pub fn encode(c: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}.{}.{}.{}", c.created_at.as_microsecond(), c.id, c.position))
}

/// A cursor [`encode`] made; anything else is `None`.
pub fn decode(text: &str) -> Option<Cursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let mut parts = text.split('.');
    if parts.next()? != VERSION {
        return None;
    }
    let created_at = Timestamp::from_microsecond(parts.next()?.parse().ok()?).ok()?;
    let (id, position) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    parts.next().is_none().then_some(Cursor { created_at, id, position })
}

/// `<path?params&after=…>; rel="next"`: the request's own list, continued after `cursor`.
pub fn next_link(path: &str, params: &[(&str, String)], cursor: &Cursor) -> Option<HeaderValue> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    query.append_pair("after", &encode(cursor));
    HeaderValue::from_str(&format!("<{path}?{}>; rel=\"next\"", query.finish())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_others_are_refused() {
        let c =
            Cursor { created_at: Timestamp::from_microsecond(1_700_000_000_123_456).unwrap(), id: 42, position: 100 };
        assert_eq!(decode(&encode(&c)), Some(c));
        for bad in [
            "",
            "x",
            "azE",
            &URL_SAFE_NO_PAD.encode("k1.1.2"),
            &URL_SAFE_NO_PAD.encode("k2.1.2.3"),
            &URL_SAFE_NO_PAD.encode("k1.1.2.3.4"),
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        let link = next_link("/partner/1/classes", &[("limit", "2".into()), ("status", "a b".into())], &c).unwrap();
        assert_eq!(
            link.to_str().unwrap(),
            format!("</partner/1/classes?limit=2&status=a+b&after={}>; rel=\"next\"", encode(&c))
        );
    }
}
