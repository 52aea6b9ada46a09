//! CloudShare ids: a two-letter prefix, 22 base64url characters and a `2`, e.g.
//! `COTQBKbIH5V2br3eiEdxW9-g2`. The 16 bytes behind the characters are one AES block
//! holding the prefix and classhub's internal id, so ids map reversibly to internal ids,
//! look random, and a malformed or altered id decodes to nothing.

use aes::Aes128;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The kinds of CloudShare ids and their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Class,
    Project,
    Blueprint,
    Policy,
    /// A project member ("VP").
    Member,
    Student,
    Region,
    /// A custom field ("TF").
    Field,
    /// A class-instructor link.
    Instructor,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Class => "CO",
            Kind::Project => "PR",
            Kind::Blueprint => "BP",
            Kind::Policy => "PO",
            Kind::Member => "VP",
            Kind::Student => "SD",
            Kind::Region => "RE",
            Kind::Field => "TF",
            Kind::Instructor => "CI",
        }
    }
}

/// Not a secret: ids are not credentials. The block cipher only makes them reversible,
/// opaque and self-checking.
const KEY: [u8; 16] = *b"classhub-cs-ids!";

fn cipher() -> Aes128 {
    Aes128::new(GenericArray::from_slice(&KEY))
}

pub fn encode(kind: Kind, id: i64) -> String {
    let mut block = [0u8; 16];
    block[..2].copy_from_slice(kind.prefix().as_bytes());
    block[8..].copy_from_slice(&id.to_be_bytes());
    let mut b = GenericArray::from(block);
    cipher().encrypt_block(&mut b);
    format!("{}{}2", kind.prefix(), URL_SAFE_NO_PAD.encode(b))
}

/// The internal id behind `text`, if it is a well-formed id of this kind.
pub fn decode(kind: Kind, text: &str) -> Option<i64> {
    let body = text.strip_prefix(kind.prefix())?.strip_suffix('2')?;
    if body.len() != 22 {
        return None;
    }
    let bytes: [u8; 16] = URL_SAFE_NO_PAD.decode(body).ok()?.try_into().ok()?;
    let mut b = GenericArray::from(bytes);
    cipher().decrypt_block(&mut b);
    let ok = b[..2] == *kind.prefix().as_bytes() && b[2..8].iter().all(|&x| x == 0);
    let mut id = [0u8; 8];
    id.copy_from_slice(&b[8..]);
    ok.then_some(i64::from_be_bytes(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_tampering() {
        for (kind, id) in [(Kind::Class, 1), (Kind::Project, 42), (Kind::Student, i64::MAX)] {
            let text = encode(kind, id);
            assert_eq!(text.len(), 25, "{text}");
            assert!(text.starts_with(kind.prefix()) && text.ends_with('2'));
            assert_eq!(decode(kind, &text), Some(id));
            assert_eq!(decode(Kind::Blueprint, &text), None, "another kind's id");
        }
        let text = encode(Kind::Class, 7);
        let mut altered = text.clone().into_bytes();
        altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
        assert_eq!(decode(Kind::Class, std::str::from_utf8(&altered).unwrap()), None);
        assert_eq!(decode(Kind::Class, "COTQBKbIH5V2br3eiEdxW9-g2"), None, "someone else's id");
        assert_eq!(decode(Kind::Class, "CO2"), None);
        assert_eq!(decode(Kind::Class, ""), None);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const KINDS: [Kind; 9] = [
        Kind::Class,
        Kind::Project,
        Kind::Blueprint,
        Kind::Policy,
        Kind::Member,
        Kind::Student,
        Kind::Region,
        Kind::Field,
        Kind::Instructor,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn encode_then_decode_is_identity(kind in proptest::sample::select(KINDS.to_vec()), id in any::<i64>()) {
            prop_assert_eq!(decode(kind, &encode(kind, id)), Some(id));
        }

        /// Arbitrary text, or a prefix and 22 arbitrary base64url characters, never panics.
        #[test]
        fn decode_never_panics(text in any::<String>(), body in "[A-Za-z0-9_-]{22}") {
            let _ = decode(Kind::Class, &text);
            let _ = decode(Kind::Class, &format!("CO{body}2"));
        }
    }
}
