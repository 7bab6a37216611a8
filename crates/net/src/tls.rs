//! TCP and TLS connections (rustls with the ring provider, one provider only).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// How to trust the server's certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Trust only the CA certificates in this PEM file (instead of the system's).
    pub ca_file: Option<PathBuf>,
    /// Skip verification entirely. Explicit and loud: the CLI warns on every run.
    pub insecure: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {addr}: {source}")]
    Tcp {
        addr: String,
        source: std::io::Error,
    },
    #[error("connecting to {addr} timed out after {secs} s")]
    Timeout { addr: String, secs: u64 },
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("TLS set-up failed: {0}")]
    Config(String),
}

impl ConnectError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectError::Tcp { .. } | ConnectError::Timeout { .. }
        )
    }
}

/// A connection that is plain TCP or TLS over TCP.
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl MaybeTls {
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A reusable TLS client configuration (built once per endpoint).
#[derive(Clone)]
pub struct TlsConnector {
    inner: tokio_rustls::TlsConnector,
}

impl TlsConnector {
    pub fn new(opts: &TlsOptions) -> Result<Self, ConnectError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectError::Config(e.to_string()))?;
        let config = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            match &opts.ca_file {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|e| {
                        ConnectError::Config(format!("cannot read CA file {}: {e}", path.display()))
                    })?;
                    let certs = pem_certificates(&pem);
                    if certs.is_empty() {
                        return Err(ConnectError::Config(format!(
                            "{} holds no PEM certificate",
                            path.display()
                        )));
                    }
                    for c in certs {
                        roots.add(c).map_err(|e| {
                            ConnectError::Config(format!(
                                "bad CA certificate in {}: {e}",
                                path.display()
                            ))
                        })?;
                    }
                }
                None => {
                    let found = rustls_native_certs::load_native_certs();
                    for c in found.certs {
                        let _ = roots.add(c);
                    }
                    if roots.is_empty() {
                        return Err(ConnectError::Config(
                            "no system CA certificates found; install ca-certificates or pass --tls-ca".into(),
                        ));
                    }
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(TlsConnector {
            inner: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Runs the TLS handshake on `tcp`, sending SNI for `host`.
    pub async fn wrap(
        &self,
        host: &str,
        tcp: TcpStream,
        timeout: Duration,
    ) -> Result<MaybeTls, ConnectError> {
        let name = ServerName::try_from(host.to_string()).map_err(|_| ConnectError::Tls {
            host: host.into(),
            reason: "not a valid DNS name or IP address".into(),
        })?;
        let tls_err = |reason: String| ConnectError::Tls {
            host: host.into(),
            reason,
        };
        match tokio::time::timeout(timeout, self.inner.connect(name, tcp)).await {
            Ok(Ok(s)) => Ok(MaybeTls::Tls(Box::new(s))),
            Ok(Err(e)) => Err(tls_err(e.to_string())),
            Err(_) => Err(tls_err(format!(
                "no handshake within {} s",
                timeout.as_secs()
            ))),
        }
    }
}

/// Opens a TCP connection with a timeout.
pub async fn connect_tcp(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let addr = format!("{host}:{port}");
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(source)) => Err(ConnectError::Tcp { addr, source }),
        Err(_) => Err(ConnectError::Timeout {
            addr,
            secs: timeout.as_secs(),
        }),
    }
}

/// Extracts the DER certificates of a PEM file.
pub fn pem_certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
