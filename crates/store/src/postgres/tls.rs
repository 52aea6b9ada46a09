//! PostgreSQL over TLS (rustls), with the URL read as libpq reads it: `sslmode` is
//! `disable`, `prefer` (the default: TLS when the server offers it), `require` (TLS, the
//! certificate unchecked — unless `sslrootcert` names a file, then as `verify-ca`),
//! `verify-ca` (the certificate chains to a trusted CA) or `verify-full` (and names the
//! host). `sslrootcert` is a PEM file of trusted CAs; without one (or with `system`) the
//! web PKI's roots are trusted. tokio-postgres reads the rest of the URL.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The connection settings and TLS connector of a `postgres://` URL.
pub(crate) fn connect_config(url: &str) -> Result<(tokio_postgres::Config, MakeRustlsConnect), StoreError> {
    let bad = |what: String| StoreError::Internal(format!("invalid PostgreSQL URL: {what}"));
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let (mut mode, mut root) = (Mode::Prefer, None);
    let mut kept = Vec::new();
    // Parameters are taken out by name and the others kept exactly as written (libpq does
    // not read `+` as a space, so the query is not re-encoded).
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = || percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned();
        match k {
            "sslmode" => {
                mode = match value().as_str() {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => return Err(bad(format!("sslmode {other:?}"))),
                }
            }
            "sslrootcert" => root = Some(value()),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e| bad(format!("{e}")))?;
    let root = root.filter(|r| r != "system");
    // libpq: `require` with a root certificate file checks the chain, as `verify-ca` does.
    if mode == Mode::Require && root.is_some() {
        mode = Mode::VerifyCa;
    }
    config.ssl_mode(match mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    Ok((config, MakeRustlsConnect::new(client_config(mode, root.as_deref())?)))
}

fn client_config(mode: Mode, root: Option<&str>) -> Result<rustls::ClientConfig, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Internal(format!("TLS: {e}")))?;
    let chain = match mode {
        Mode::Disable | Mode::Prefer | Mode::Require => None,
        Mode::VerifyCa | Mode::VerifyFull => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root)?), provider.clone())
                .build()
                .map_err(|e| StoreError::Internal(format!("TLS: {e}")))?,
        ),
    };
    let verifier = Verifier { chain, names: mode == Mode::VerifyFull, provider };
    Ok(builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth())
}

fn roots(file: Option<&str>) -> Result<RootCertStore, StoreError> {
    let mut store = RootCertStore::empty();
    match file {
        Some(path) => {
            let unreadable = |e: String| StoreError::Internal(format!("sslrootcert {path}: {e}"));
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(e.to_string()))? {
                store.add(cert.map_err(|e| unreadable(e.to_string()))?).map_err(|e| unreadable(e.to_string()))?;
            }
            if store.is_empty() {
                return Err(unreadable("holds no certificate".into()));
            }
        }
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(store)
}

/// What libpq's modes check of the server's certificate: nothing (`prefer`, `require`:
/// encryption without knowing who answers), the chain (`verify-ca`), or the chain and the
/// host name (`verify-full`). The handshake's signatures are verified in every mode.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    names: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_parameters_are_read_and_the_rest_kept_as_written() {
        let (c, _) = connect_config("postgres://u@h:5433/db?sslmode=verify-full&options=-c%20search_path%3Ds").unwrap();
        assert_eq!(
            (c.get_ssl_mode(), c.get_dbname(), c.get_options()),
            (SslMode::Require, Some("db"), Some("-c search_path=s"))
        );
        let (c, _) = connect_config("postgres://u@h/db").unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Prefer);
        let (c, _) = connect_config("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        assert!(connect_config("postgres://u@h/db?sslmode=sometimes").is_err());
        assert!(connect_config("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/nonexistent.pem").is_err());
    }
}
