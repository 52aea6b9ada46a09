//! `cs_sha1` request signing:
//! `Authorization: cs_sha1 userapiid:<id>;timestamp:<unix s>;token:<nonce>;hmac:<40 hex>`,
//! where the hex is `sha1(apiKey + URL + timestamp + token)` and URL is `https://`, the
//! `Host` header and the request target exactly as received.

use std::collections::HashMap;

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The four parts of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<'a> {
    pub api_id: &'a str,
    pub timestamp: i64,
    pub token: &'a str,
    pub hmac: &'a str,
}

/// Why a request is not authenticated; each says which check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Scheme,
    MissingPart(&'static str),
    BadTimestamp,
    UnknownApiId,
    Stale { skew_secs: u64 },
    BadToken,
    Replay,
    BadSignature,
}

impl AuthFailure {
    pub fn message(&self) -> String {
        match self {
            AuthFailure::Missing => {
                "authentication required: send an Authorization header with the cs_sha1 scheme".into()
            }
            AuthFailure::Scheme => "the Authorization header must use the cs_sha1 scheme".into(),
            AuthFailure::MissingPart(p) => format!("the Authorization header lacks its {p} part"),
            AuthFailure::BadTimestamp => "the timestamp of the Authorization header is not a number of seconds".into(),
            AuthFailure::UnknownApiId => "unknown API id".into(),
            AuthFailure::Stale { skew_secs } => {
                format!("the timestamp is more than {skew_secs} seconds away from the server's clock")
            }
            AuthFailure::BadToken => "the token must be 1 to 20 letters, digits, '.', '+' or '-'".into(),
            AuthFailure::Replay => "this request was already received (replayed token)".into(),
            AuthFailure::BadSignature => "the hmac does not match the request".into(),
        }
    }
}

/// Splits the header into its parts (`;` between parts, the first `:` in each).
pub fn parse(header: Option<&str>) -> Result<Signed<'_>, AuthFailure> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(AuthFailure::Missing)?;
    // The scheme alone is a cs_sha1 header without its parts, not another scheme.
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("cs_sha1") {
        return Err(AuthFailure::Scheme);
    }
    let mut parts: HashMap<String, &str> = HashMap::new();
    for part in rest.split(';') {
        if let Some((k, v)) = part.trim().split_once(':') {
            parts.insert(k.trim().to_ascii_lowercase(), v.trim());
        }
    }
    let get = |k: &'static str| parts.get(k).copied().filter(|v| !v.is_empty()).ok_or(AuthFailure::MissingPart(k));
    let (api_id, timestamp, token, hmac) = (get("userapiid")?, get("timestamp")?, get("token")?, get("hmac")?);
    let timestamp = timestamp.parse().map_err(|_| AuthFailure::BadTimestamp)?;
    Ok(Signed { api_id, timestamp, token, hmac })
}

/// `sha1_hex(api_key + url + timestamp + token)`.
pub fn signature(api_key: &str, url: &str, timestamp: i64, token: &str) -> String {
    let digest = Sha1::digest(format!("{api_key}{url}{timestamp}{token}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `hmac` signs one of the URLs the request may have been signed with: compared in
/// constant time, case-insensitively.
pub fn signs_any(hmac: &str, api_key: &str, urls: &[String], timestamp: i64, token: &str) -> bool {
    let given = hmac.to_ascii_lowercase();
    urls.iter().fold(false, |found, url| {
        let expected = signature(api_key, url, timestamp, token);
        found | bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
    })
}

/// The URLs a client may have signed: `https://` (the SDKs' scheme) and `http://` (the
/// request's own, when served without TLS) with the `Host` as sent and the target as
/// received, each also without one trailing bare `?`, plus the same under the configured
/// public base URL (for servers behind a proxy that rewrites `Host`).
pub fn candidate_urls(host: &str, target: &str, public_base: Option<&str>) -> Vec<String> {
    let mut targets = vec![target.to_string()];
    if let Some(t) = target.strip_suffix('?') {
        targets.push(t.to_string());
    }
    let mut bases = vec![format!("https://{host}"), format!("http://{host}")];
    if let Some(b) = public_base {
        bases.push(b.trim_end_matches('/').to_string());
    }
    bases.iter().flat_map(|b| targets.iter().map(move |t| format!("{b}{t}"))).collect()
}

/// What a request's nonce is remembered by: its API id, timestamp and token, hashed.
pub fn nonce_key(api_id: &str, timestamp: i64, token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(format!("{api_id}\n{timestamp}\n{token}").as_bytes()).into()
}

/// A nonce of 1..20 letters, digits, `.`, `+` or `-`: the SDKs send ten letters or digits,
/// but the JavaScript one writes a number in JavaScript's notation, which is now and then
/// shorter, or exponential (`1.5e-7`).
pub fn token_ok(token: &str) -> bool {
    (1..=20).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_test_vector() {
        let s = signature("MyApiKey", "https://use.cloudshare.com/api/v3/class", 1349074800, "A1b2C3d4E5");
        assert_eq!(s, "79ea16093b5f17c446e2d11aef5f4a830089006c");
        let urls = candidate_urls("use.cloudshare.com", "/api/v3/class", None);
        assert!(signs_any("79EA16093B5F17C446E2D11AEF5F4A830089006C", "MyApiKey", &urls, 1349074800, "A1b2C3d4E5"));
        assert!(!signs_any("79ea16093b5f17c446e2d11aef5f4a830089006d", "MyApiKey", &urls, 1349074800, "A1b2C3d4E5"));
    }

    #[test]
    fn headers_are_parsed() {
        let h = "cs_sha1 userapiid:ABC;timestamp:1349074800;token:A1b2C3d4E5;hmac:79ea";
        assert_eq!(
            parse(Some(h)),
            Ok(Signed { api_id: "ABC", timestamp: 1349074800, token: "A1b2C3d4E5", hmac: "79ea" })
        );
        assert_eq!(parse(None), Err(AuthFailure::Missing));
        assert_eq!(parse(Some("Bearer x")), Err(AuthFailure::Scheme));
        assert_eq!(parse(Some("Bearer")), Err(AuthFailure::Scheme));
        assert_eq!(parse(Some("cs_sha1")), Err(AuthFailure::MissingPart("userapiid")));
        assert_eq!(parse(Some("cs_sha1 userapiid:A;timestamp:1;token:t")), Err(AuthFailure::MissingPart("hmac")));
        assert_eq!(parse(Some("cs_sha1 userapiid:A;timestamp:soon;token:t;hmac:x")), Err(AuthFailure::BadTimestamp));
    }

    #[test]
    fn candidates_cover_scheme_and_bare_question_mark() {
        let urls = candidate_urls("h:1", "/api/v3/class?", Some("https://public.example/"));
        assert!(urls.contains(&"https://h:1/api/v3/class?".to_string()));
        assert!(urls.contains(&"https://h:1/api/v3/class".to_string()));
        assert!(urls.contains(&"http://h:1/api/v3/class".to_string()));
        assert!(urls.contains(&"https://public.example/api/v3/class".to_string()));
    }

    #[test]
    fn tokens_and_replays() {
        assert!(token_ok("123") && token_ok("A1b2C3d4E5"));
        assert!(token_ok("1.5e-7") && token_ok("A1b2C3d4E5x"));
        assert!(!token_ok("") && !token_ok("a b") && !token_ok("bad-token!") && !token_ok(&"1".repeat(21)));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A header value as a client could write it: any part order, any case of the scheme
    /// and part names, spaces around parts.
    fn header(s: &Signed<'_>, order: &[usize], upper: bool, pad: &str) -> String {
        let parts = [
            format!("userapiid:{}", s.api_id),
            format!("timestamp:{}", s.timestamp),
            format!("token:{}", s.token),
            format!("hmac:{}", s.hmac),
        ];
        let parts: Vec<String> = order
            .iter()
            .map(|&i| {
                let (k, v) = parts[i].split_once(':').unwrap_or_default();
                let k = if upper { k.to_ascii_uppercase() } else { k.to_string() };
                format!("{pad}{k}:{pad}{v}{pad}")
            })
            .collect();
        let scheme = if upper { "CS_SHA1" } else { "cs_sha1" };
        format!("{scheme} {}", parts.join(";"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = parse(Some(&input));
        }

        /// Headers that start right never panic either, and any failure is one of the
        /// parsing failures (the others need the store).
        #[test]
        fn cs_sha1_headers_never_panic(rest in "[ -~]{0,120}") {
            let header = format!("cs_sha1 {rest}");
            match parse(Some(&header)) {
                Ok(_) | Err(AuthFailure::MissingPart(_) | AuthFailure::BadTimestamp) => {}
                Err(other) => prop_assert!(false, "{other:?} for {header:?}"),
            }
        }

        #[test]
        fn format_then_parse_is_identity(
            api_id in "[A-Za-z0-9_-]{1,40}",
            timestamp in any::<i64>(),
            token in "[A-Za-z0-9]{1,10}",
            hmac in "[0-9a-fA-F]{40}",
            order in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
            upper in any::<bool>(),
            pad in "[ \t]{0,2}",
        ) {
            let signed = Signed { api_id: &api_id, timestamp, token: &token, hmac: &hmac };
            let text = header(&signed, &order, upper, &pad);
            prop_assert_eq!(parse(Some(&text)), Ok(signed));
        }

        /// A signature verifies in either case, for any of the candidate URLs, and not
        /// once any of its digits changes.
        #[test]
        fn signatures_verify_exactly(
            key in "[ -~]{1,40}",
            target in "/api/v3/[a-z/?=&0-9]{0,40}",
            timestamp in any::<i64>(),
            token in "[A-Za-z0-9]{1,10}",
            upper in any::<bool>(),
            flip in 0usize..40,
        ) {
            let urls = candidate_urls("localhost:8443", &target, None);
            let good = signature(&key, &urls[0], timestamp, &token);
            let sent = if upper { good.to_ascii_uppercase() } else { good.clone() };
            prop_assert!(signs_any(&sent, &key, &urls, timestamp, &token));
            let mut bad = good.into_bytes();
            bad[flip] = if bad[flip] == b'0' { b'1' } else { b'0' };
            let bad = String::from_utf8(bad).unwrap_or_default();
            prop_assert!(!signs_any(&bad, &key, &urls, timestamp, &token));
            prop_assert!(!signs_any(&sent[..39], &key, &urls, timestamp, &token));
        }

        /// What the SDKs send (their alphabets, JavaScript's number notation) is a token.
        #[test]
        fn sdk_tokens_are_accepted(token in "[A-Za-z0-9]{10}|[0-9]{1,10}|[0-9]\\.[0-9]{1,4}e-[0-9]{1,2}") {
            prop_assert!(token_ok(&token));
        }

        /// Anything with a separator of the header, a space or other text is not.
        #[test]
        fn other_text_is_refused(head in "[A-Za-z0-9]{0,5}", bad in "[ ;:,/!?\\x00-\\x1f\\u{80}-\\u{10FFFF}]", tail in "[0-9]{0,5}") {
            let token = format!("{head}{bad}{tail}");
            prop_assert!(!token_ok(&token));
        }
    }
}
