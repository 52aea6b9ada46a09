//! The keys that sign and check OCARIoT's tokens. RS256 by default, as the original
//! account service signs them: an API gateway checks them with the public key, which
//! classhub publishes as a JWKS document. HS256 with a shared secret only when configured.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Signing and checking keys of one algorithm. Not `Debug` beyond its algorithm: it holds
/// a private key.
#[derive(Clone)]
pub struct JwtKeys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// RS256: the key's RFC 7638 thumbprint, in every token's header.
    kid: Option<String>,
    /// RS256: the public key as a JWKS document (empty for HS256: nothing to publish).
    jwks: Value,
    /// RS256: the public key as PEM (SubjectPublicKeyInfo).
    public_pem: Option<String>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtKeys({:?}, kid {:?})", self.algorithm, self.kid)
    }
}

/// RSA modulus size of generated keys.
pub const RSA_BITS: usize = 2048;
/// Shortest HS256 secret.
pub const HS256_MIN_BYTES: usize = 32;

impl JwtKeys {
    /// A new RSA private key, as PKCS#1 DER (what [`JwtKeys::rs256`] reads).
    pub fn generate_rsa() -> Result<Vec<u8>, String> {
        let mut rng = argon2::password_hash::rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|e| format!("generating an RSA key: {e}"))?;
        key.to_pkcs1_der().map(|d| d.as_bytes().to_vec()).map_err(|e| format!("encoding an RSA key: {e}"))
    }

    /// RS256 with a PKCS#1 DER private key.
    pub fn rs256(pkcs1_der: &[u8]) -> Result<JwtKeys, String> {
        let key = RsaPrivateKey::from_pkcs1_der(pkcs1_der).map_err(|e| format!("reading an RSA key: {e}"))?;
        JwtKeys::from_rsa(&key)
    }

    /// RS256 with a PEM private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    pub fn rs256_pem(pem: &str) -> Result<JwtKeys, String> {
        let key = RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
            .map_err(|e| format!("reading an RSA private key (PEM): {e}"))?;
        JwtKeys::from_rsa(&key)
    }

    fn from_rsa(key: &RsaPrivateKey) -> Result<JwtKeys, String> {
        let der = key.to_pkcs1_der().map_err(|e| format!("encoding an RSA key: {e}"))?;
        let public = key.to_public_key();
        let (n, e) =
            (URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()), URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()));
        // RFC 7638: the required members, in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let jwks = json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e}]});
        let public_pem =
            public.to_public_key_pem(LineEnding::LF).map_err(|e| format!("encoding an RSA public key: {e}"))?;
        Ok(JwtKeys {
            algorithm: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding: DecodingKey::from_rsa_components(&n, &e).map_err(|e| format!("an RSA public key: {e}"))?,
            kid: Some(kid),
            jwks,
            public_pem: Some(public_pem),
        })
    }

    /// HS256 with a shared secret of at least 32 bytes.
    pub fn hs256(secret: &[u8]) -> Result<JwtKeys, String> {
        if secret.len() < HS256_MIN_BYTES {
            return Err(format!("an HS256 secret needs at least {HS256_MIN_BYTES} bytes"));
        }
        Ok(JwtKeys {
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            kid: None,
            jwks: json!({"keys": []}),
            public_pem: None,
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// A signed token of `claims`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let header = Header { kid: self.kid.clone(), ..Header::new(self.algorithm) };
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// The claims of a token signed with these keys' algorithm and key, checked by
    /// `validation` (whose algorithm is set here).
    pub fn check<T: DeserializeOwned>(
        &self,
        token: &str,
        mut validation: Validation,
    ) -> Result<T, jsonwebtoken::errors::Error> {
        validation.algorithms = vec![self.algorithm];
        jsonwebtoken::decode::<T>(token, &self.decoding, &validation).map(|t| t.claims)
    }

    /// The public key as a JWKS document (no keys for HS256).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// The public key as PEM, for gateways configured with a key file (RS256 only).
    pub fn public_key_pem(&self) -> Option<&str> {
        self.public_pem.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rs256_signs_and_publishes_its_public_key() {
        let keys = JwtKeys::rs256(&JwtKeys::generate_rsa().unwrap()).unwrap();
        let token = keys.sign(&json!({"sub": "a", "exp": 4_000_000_000u64})).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::RS256, keys.jwks()["keys"][0]["kid"].as_str()));
        let claims: Value = keys.check(&token, Validation::new(Algorithm::RS256)).unwrap();
        assert_eq!(claims["sub"], "a");
        // A gateway holding only the published key checks it.
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys.jwks()["keys"][0].clone()).unwrap();
        let public = DecodingKey::from_jwk(&jwk).unwrap();
        assert!(jsonwebtoken::decode::<Value>(&token, &public, &Validation::new(Algorithm::RS256)).is_ok());
        assert!(keys.public_key_pem().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
        // An HS256 token made with anything (the public key included) is refused.
        let forged = JwtKeys::hs256(keys.public_key_pem().unwrap().as_bytes()).unwrap().sign(&claims).unwrap();
        assert!(keys.check::<Value>(&forged, Validation::new(Algorithm::RS256)).is_err());
        assert!(JwtKeys::hs256(b"short").is_err());
    }
}
