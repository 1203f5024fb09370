//! Serving the router: one accept loop for plain HTTP and HTTPS (rustls),
//! with the limits that keep slow or numerous clients from holding the
//! service: a connection limit, a header (and TLS handshake) read timeout,
//! a request body deadline and a whole-request timeout.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::RequestBodyDeadline;
use zeroize::Zeroizing;

use super::problem::Problem;
use crate::services::config::Config;

/// A certificate, key or CA file that cannot be used. veild does not
/// start with one; a reload keeps the certificates it has.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client CA: {0}")]
    ClientCa(String),
}

/// Where the server certificate, its key and the client CA are read from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, every connection must present a certificate chaining to
    /// one of these CAs.
    pub client_ca: Option<PathBuf>,
}

/// The TLS settings in force; [`Tls::reload`] builds new ones from the
/// same files and swaps them in for the connections that follow.
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// The configured files, or `None` when veild serves plain HTTP.
    pub fn from_config(config: &Config) -> Result<Option<Self>, TlsError> {
        match (&config.tls_cert_file, &config.tls_key_file) {
            (Some(cert), Some(key)) => Self::load(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: config.tls_client_ca_file.clone(),
            })
            .map(Some),
            _ => Ok(None),
        }
    }

    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self { files, current: RwLock::new(config) })
    }

    /// Reads the files again (SIGHUP). On any error the settings in force
    /// stay, so a half-written certificate never takes the service down.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = server_config(&self.files)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// Whether connections must present a client certificate.
    pub fn requires_client_certificate(&self) -> bool {
        self.files.client_ca.is_some()
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// rustls with the ring provider and its safe defaults (TLS 1.3), serving
/// HTTP/1.1 only, so the header timeout covers every request.
fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certificates(&files.cert)?;
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| TlsError::Pem { path: files.key.clone(), message: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &files.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates(path)? {
                roots.add(certificate)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    // Refuses a key that does not match the leaf certificate.
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, TlsError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| TlsError::Read { path: path.into(), source })
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { path: path.into(), message: e.to_string() })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate(path.into()));
    }
    Ok(certificates)
}

/// The router as hyper calls it, with the body deadline around it.
type Service = TowerToHyperService<RequestBodyDeadline<Router>>;

/// The serving limits (see docs/CONFIGURATION.md).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Headers, and before them the TLS handshake, must arrive within this.
    pub header_read_timeout: Duration,
    /// The whole request body must arrive within this (408).
    pub body_timeout: Duration,
    /// The answer must be ready within this (503).
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            body_timeout: Duration::from_secs(config.request_body_timeout_secs),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            max_connections: config.max_connections,
        }
    }
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until
/// `shutdown` resolves; then stops accepting, lets each connection finish
/// its request in flight, and returns once all are closed.
///
/// A connection holds one of `max_connections` permits from before it is
/// accepted until it closes: beyond the limit, clients wait in the
/// kernel's listen backlog instead of costing memory and tasks here.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<Tls>>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let router = router
        .layer(axum::middleware::from_fn_with_state(limits.request_timeout, request_deadline));
    let service = TowerToHyperService::new(RequestBodyDeadline::new(router, limits.body_timeout));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = service.clone();
        let stopped = stopped.clone();
        let acceptor = tls.as_ref().map(|tls| tls.acceptor());
        connections.spawn(async move {
            let _permit = permit;
            match acceptor {
                None => connection(stream, service, limits, stopped).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => connection(stream, service, limits, stopped).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// One HTTP/1.1 connection; hyper closes it when the headers of a request
/// (or the next request on a kept-alive connection) are not in by
/// `header_read_timeout`.
async fn connection<I>(io: I, service: Service, limits: Limits, mut stopped: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        }
        () = async {
            // The guard `wait_for` returns is not Send: drop it here.
            let _ = stopped.wait_for(|stop| *stop).await;
        } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.as_mut().await;
        }
    }
}

/// The whole-request timeout: a handler that has not answered in time is
/// dropped and the client gets a 503 problem.
async fn request_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(seconds = limit.as_secs(), "request cut off by request_timeout_secs");
            Problem::request_timeout(limit.as_secs()).into_response()
        }
    }
}
