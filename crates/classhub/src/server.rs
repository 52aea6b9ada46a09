//! Serving a router over TCP, plain or TLS (rustls), HTTP/1.1 and HTTP/2, with the
//! client's address recorded for rate limits, a limit on how long request headers may
//! take to arrive, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Limits on what a connection may cost before a request reaches the router.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest the TLS handshake and, separately, a request's headers may take (slow
    /// clients holding connections open).
    pub header_timeout: Duration,
    /// Largest request head in bytes (HTTP/1.1: 431 beyond; HTTP/2: the header list).
    pub max_header_bytes: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { header_timeout: Duration::from_secs(10), max_header_bytes: 64 * 1024 }
    }
}

/// The certificate and key the server presents, read from their PEM files at start and
/// again by [`Certificate::reload`] (on SIGHUP): handshakes after a reload present the new
/// one, connections already open keep theirs.
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Reads the files again; on any error the current certificate stays.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = certified_key(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }
}

/// A certificate chain and its private key from PEM files, checked to belong together.
/// Whether the first certificate in the PEM file is self-signed (issued by its own
/// subject): then it is its own CA, which clients must be told to trust.
pub fn self_signed(cert: &Path) -> bool {
    let Ok(der) = CertificateDer::from_pem_file(cert) else { return false };
    x509_parser::parse_x509_certificate(&der).is_ok_and(|(_, c)| c.issuer().as_raw() == c.subject().as_raw())
}

fn certified_key(cert: &Path, key: &Path, provider: &rustls::crypto::CryptoProvider) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("reading {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("reading {}: {e}", key.display()))?;
    CertifiedKey::from_der(certs, der, provider)
        .map_err(|e| format!("TLS certificate {} and key {}: {e}", cert.display(), key.display()))
}

/// A TLS configuration from PEM files, with the [`Certificate`] that reloads them.
pub fn tls_config(cert: &Path, key: &Path) -> Result<(Arc<rustls::ServerConfig>, Arc<Certificate>), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let current = RwLock::new(Arc::new(certified_key(cert, key, &provider)?));
    let certificate =
        Arc::new(Certificate { cert: cert.to_path_buf(), key: key.to_path_buf(), provider: provider.clone(), current });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(certificate.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), certificate))
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting and waits
/// for the connections in flight (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // The limit itself is the router's (`limit_heads`), which answers in the dialect's
    // envelope; hyper's buffer holds twice that, so that it refuses (bare) only beyond. It
    // refuses buffers below 8192 bytes (it panics); the flag's parser enforces that too.
    let head = (limits.max_header_bytes as usize).saturating_mul(2).max(8192);
    // A malformed header line is dropped rather than answered with an empty 400, so the
    // request reaches the router and gets the dialect's own answer.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(head)
        .ignore_invalid_headers(true);
    builder.http2().max_header_list_size(limits.max_header_bytes);
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let service = app.clone().map_request(move |req: http::Request<Incoming>| {
            let mut req: Request = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let (builder, watcher, acceptor) = (builder.clone(), graceful.watcher(), acceptor.clone());
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => connection(&builder, watcher, stream, service, peer).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
                None => connection(&builder, watcher, tcp, service, peer).await,
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn connection<I, S>(
    builder: &Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    io: I,
    service: S,
    peer: SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<http::Request<Incoming>, Response = axum::response::Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
