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
            AuthFailure::BadToken => "the token must be 1 to 10 letters or digits".into(),
            AuthFailure::Replay => "this request was already received (replayed token)".into(),
            AuthFailure::BadSignature => "the hmac does not match the request".into(),
        }
    }
}

/// Splits the header into its parts (`;` between parts, the first `:` in each).
pub fn parse(header: Option<&str>) -> Result<Signed<'_>, AuthFailure> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(AuthFailure::Missing)?;
    let (scheme, rest) = header.split_once(' ').ok_or(AuthFailure::Scheme)?;
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

/// A nonce of 1..10 letters or digits.
pub fn token_ok(token: &str) -> bool {
    (1..=10).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric())
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
        assert!(!token_ok("") && !token_ok("A1b2C3d4E5x") && !token_ok("a-b"));
    }
}
