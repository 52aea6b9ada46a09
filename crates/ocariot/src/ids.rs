//! OCARIoT ids: 24 lower-case hex characters, like MongoDB ObjectIds. Each holds a 4-byte
//! check (from the kind and the id) and classhub's 8-byte internal id, so ids map
//! reversibly and an id of another kind, or altered, decodes to nothing.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
    Institution,
}

fn check(kind: Kind, id: i64) -> [u8; 4] {
    let tag: &[u8] = match kind {
        Kind::User => b"user",
        Kind::Group => b"group",
        Kind::Institution => b"institution",
    };
    let digest =
        Sha256::new().chain_update(b"classhub-ocariot-id:").chain_update(tag).chain_update(id.to_be_bytes()).finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

pub fn encode(kind: Kind, id: i64) -> String {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&check(kind, id));
    bytes[4..].copy_from_slice(&id.to_be_bytes());
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the text has the form of an id: 24 hex characters (either case).
pub fn well_formed(text: &str) -> bool {
    text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The internal id behind a well-formed id of this kind.
pub fn decode(kind: Kind, text: &str) -> Option<i64> {
    if !well_formed(text) {
        return None;
    }
    let mut bytes = [0u8; 12];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[4..]);
    let id = i64::from_be_bytes(id);
    (bytes[..4] == check(kind, id)).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for id in [1, 42, i64::MAX] {
            let text = encode(Kind::User, id);
            assert_eq!(text.len(), 24);
            assert!(text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            assert_eq!(decode(Kind::User, &text), Some(id));
            assert_eq!(decode(Kind::User, &text.to_uppercase()), Some(id));
            assert_eq!(decode(Kind::Group, &text), None);
        }
        assert_eq!(decode(Kind::User, "507f191e810c19729de860ea"), None);
        assert_eq!(decode(Kind::User, "123"), None);
        assert!(well_formed("507f191e810c19729de860ea") && !well_formed("507f191e810c19729de860eg"));
    }
}
