//! Secrets at rest: what must be kept in clear for later use (CloudShare API keys, which
//! the `cs_sha1` scheme needs to recompute signatures) is sealed with the server's key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::Rng;

/// XChaCha20-Poly1305 with the server key: each sealed value carries its random nonce.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

const NONCE_LEN: usize = 24;

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> SecretBox {
        SecretBox { cipher: XChaCha20Poly1305::new(Key::from_slice(key)) }
    }

    /// A new random server key.
    pub fn generate_key(rng: &mut impl Rng) -> [u8; 32] {
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        key
    }

    /// The key as stored in a key file (base64).
    pub fn encode_key(key: &[u8; 32]) -> String {
        STANDARD.encode(key)
    }

    /// A key read back from a key file.
    pub fn decode_key(text: &str) -> Option<[u8; 32]> {
        STANDARD.decode(text.trim()).ok()?.try_into().ok()
    }

    /// Nonce followed by ciphertext and tag.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce);
        // Encryption of an in-memory buffer cannot fail with this cipher.
        let sealed = self.cipher.encrypt(XNonce::from_slice(&nonce), plain).unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    /// The plain value, or None when it was not sealed with this key (or was altered).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        self.cipher.decrypt(XNonce::from_slice(nonce), data).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let key = SecretBox::generate_key(&mut rand::rng());
        let b = SecretBox::new(&key);
        let sealed = b.seal(b"api-key");
        assert_ne!(&sealed[NONCE_LEN..], b"api-key");
        assert_eq!(b.open(&sealed).unwrap(), b"api-key");
        assert_ne!(b.seal(b"api-key"), sealed, "a fresh nonce each time");
        let other = SecretBox::new(&SecretBox::generate_key(&mut rand::rng()));
        assert_eq!(other.open(&sealed), None);
        let mut altered = sealed.clone();
        altered[NONCE_LEN] ^= 1;
        assert_eq!(b.open(&altered), None);
        assert_eq!(SecretBox::decode_key(&SecretBox::encode_key(&key)), Some(key));
        assert_eq!(SecretBox::decode_key("short"), None);
    }
}
