//! TCP and TLS connections (rustls with the ring provider, one provider only).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

use crate::cert::{CertDiagnosis, CertProblem, Fingerprint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// How to trust the server's certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Trust only the CA certificates in this PEM file (instead of the system's).
    pub ca_file: Option<PathBuf>,
    /// Skip verification entirely. Explicit and loud: the CLI warns on every run.
    pub insecure: bool,
    /// Accept exactly the leaf certificate with this SHA-256 (whoever issued it,
    /// whatever names and dates it has) instead of verifying a chain.
    pub fingerprint: Option<Fingerprint>,
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
    /// The server speaks TLS, but its certificate is not trusted.
    #[error("cannot verify the identity of {host}: {diagnosis}")]
    Certificate {
        host: String,
        diagnosis: Box<CertDiagnosis>,
    },
    #[error("TLS set-up failed: {0}")]
    Config(String),
    #[error("cannot find the host {host}: {reason}; check the host name in the URL")]
    Resolve { host: String, reason: String },
}

/// The resolver's complaint without the OS's error number.
fn resolver_words(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    match text {
        t if t.contains("Name or service not known") || t.contains("No address associated") => {
            "no such name".into()
        }
        t if t.contains("Temporary failure in name resolution") => {
            "DNS is not reachable from this computer (temporary failure in name resolution)".into()
        }
        t => t
            .trim_start_matches("failed to lookup address information: ")
            .to_string(),
    }
}

impl ConnectError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectError::Tcp { .. } | ConnectError::Timeout { .. } | ConnectError::Resolve { .. }
        )
    }

    /// Nothing usable answered at this address: worth trying another port
    /// or security. A refused certificate is a real answer from the right
    /// server and is not.
    pub fn is_wrong_route(&self) -> bool {
        matches!(
            self,
            ConnectError::Tcp { .. } | ConnectError::Timeout { .. } | ConnectError::Tls { .. }
        )
    }

    pub fn certificate(&self) -> Option<&CertDiagnosis> {
        match self {
            ConnectError::Certificate { diagnosis, .. } => Some(diagnosis),
            _ => None,
        }
    }
}

/// A connection that is plain TCP or TLS over TCP: mailport's side of it
/// may be the client (to a mail server) or the server (the proxy's clients).
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl MaybeTls {
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }

    /// A TLS connection the proxy accepted.
    pub fn accepted(s: tokio_rustls::server::TlsStream<TcpStream>) -> Self {
        MaybeTls::Tls(Box::new(s.into()))
    }

    /// Protocol version, cipher suite and the peer's certificate (DER), when TLS.
    pub fn tls_details(&self) -> Option<TlsDetails> {
        let MaybeTls::Tls(s) = self else { return None };
        let conn = s.get_ref().1;
        Some(TlsDetails {
            version: conn
                .protocol_version()
                .map(|v| format!("{v:?}").replace('_', "."))
                .unwrap_or_default(),
            cipher: conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_default(),
            certificate: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec()),
        })
    }
}

/// What `mailport check` shows about a TLS session.
#[derive(Debug, Clone)]
pub struct TlsDetails {
    /// e.g. `TLSv1.3`.
    pub version: String,
    pub cipher: String,
    /// The leaf certificate, DER.
    pub certificate: Option<Vec<u8>>,
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

/// ring with AES-128-GCM preferred over AES-256-GCM (as browsers do): a
/// migration moves gigabytes through TLS on both sides, and most servers
/// follow the client's preference, so both ends spend less CPU per byte.
/// Every suite of the default set stays offered.
fn provider() -> rustls::crypto::CryptoProvider {
    let mut p = rustls::crypto::ring::default_provider();
    let rank = |s: &rustls::SupportedCipherSuite| {
        let name = format!("{:?}", s.suite());
        u8::from(!name.contains("AES_128_GCM"))
    };
    p.cipher_suites.sort_by_key(rank);
    p
}

/// A reusable TLS client configuration (built once per endpoint).
#[derive(Clone)]
pub struct TlsConnector {
    inner: tokio_rustls::TlsConnector,
}

impl TlsConnector {
    pub fn new(opts: &TlsOptions) -> Result<Self, ConnectError> {
        let provider = Arc::new(provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectError::Config(e.to_string()))?;
        let mut trusted_leaves = Vec::new();
        let webpki = if opts.insecure || opts.fingerprint.is_some() {
            None
        } else {
            let (roots, leaves) = trusted_roots(opts)?;
            trusted_leaves = leaves;
            let roots = Arc::new(roots);
            Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    roots,
                    provider.clone(),
                )
                .build()
                .map_err(|e| ConnectError::Config(e.to_string()))?,
            )
        };
        let verifier = Verifier {
            provider,
            webpki,
            trusted_leaves,
            pin: opts.fingerprint,
            insecure: opts.insecure,
        };
        // SNI is on by default in rustls and stays on: servers hosting many
        // domains pick the certificate by it. For an IP address rustls sends
        // none (RFC 6066 forbids IP literals in SNI).
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
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
            Ok(Ok(s)) => Ok(MaybeTls::Tls(Box::new(s.into()))),
            Ok(Err(e)) => {
                if let Some(diagnosis) = diagnosis_of(&e) {
                    return Err(ConnectError::Certificate {
                        host: host.into(),
                        diagnosis: Box::new(diagnosis),
                    });
                }
                Err(tls_err(handshake_reason(&e)))
            }
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
    // Resolved first: a name that does not resolve is the user's typo or a
    // DNS problem, not a wrong port, and no other port will fix it.
    let addrs: Vec<std::net::SocketAddr> =
        match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(found)) => found.collect(),
            Ok(Err(e)) => {
                return Err(ConnectError::Resolve {
                    host: host.into(),
                    reason: resolver_words(&e),
                })
            }
            Err(_) => {
                return Err(ConnectError::Resolve {
                    host: host.into(),
                    reason: format!("no answer from DNS within {} s", timeout.as_secs()),
                })
            }
        };
    if addrs.is_empty() {
        return Err(ConnectError::Resolve {
            host: host.into(),
            reason: "the name has no address".into(),
        });
    }
    match tokio::time::timeout(timeout, TcpStream::connect(&addrs[..])).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            // Notices a peer that vanished without a word, and keeps NAT and
            // firewall state alive on a connection waiting for its turn.
            let keepalive = socket2::TcpKeepalive::new()
                .with_time(Duration::from_secs(60))
                .with_interval(Duration::from_secs(20));
            let _ = socket2::SockRef::from(&s).set_tcp_keepalive(&keepalive);
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

/// The CA file's certificates, else the system's; and the CA file's
/// certificates themselves (DER), which a server may present as its own.
fn trusted_roots(opts: &TlsOptions) -> Result<(rustls::RootCertStore, Vec<Vec<u8>>), ConnectError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut leaves = Vec::new();
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
                leaves.push(c.as_ref().to_vec());
                roots.add(c).map_err(|e| {
                    ConnectError::Config(format!("bad CA certificate in {}: {e}", path.display()))
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
                    "no system CA certificates found; install ca-certificates, or pass --from-tls-ca/--to-tls-ca or a fingerprint"
                        .into(),
                ));
            }
        }
    }
    Ok((roots, leaves))
}

/// The certificate diagnosis a failed handshake carries, if that is why it failed.
fn diagnosis_of(e: &std::io::Error) -> Option<CertDiagnosis> {
    let rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) =
        e.get_ref()?.downcast_ref::<rustls::Error>()?
    else {
        return None;
    };
    other.0.downcast_ref::<CertDiagnosis>().cloned()
}

/// A handshake failure in words: most often the port does not speak TLS at all.
fn handshake_reason(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidMessage(_)) => format!(
            "the server did not answer with TLS ({e}); is this a plain-text or STARTTLS port?"
        ),
        _ if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the TLS handshake".into()
        }
        Some(other) => crate::cert::error_words(other),
        None => e.to_string(),
    }
}

/// The one verifier: webpki's chain and name checks, a pinned leaf, or (when
/// asked for) nothing; a refusal carries a [`CertDiagnosis`].
#[derive(Debug)]
struct Verifier {
    provider: Arc<rustls::crypto::CryptoProvider>,
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    /// Certificates of the user's CA file: a server presenting one of these
    /// very certificates is trusted (its own self-signed certificate, as
    /// mbsync's CertificateFile and OfflineIMAP's sslcacertfile take it,
    /// even when made with CA:TRUE as `openssl req -x509` does), as long as
    /// it is valid now and for the name.
    trusted_leaves: Vec<Vec<u8>>,
    pin: Option<Fingerprint>,
    insecure: bool,
}

/// What keeps a certificate the user trusts by itself from being accepted
/// now for `name`: its dates or its names (the handshake signature is still
/// checked against its key).
fn trusted_leaf_problem(der: &[u8], name: &str, now: u64) -> Option<CertProblem> {
    let Some(c) = crate::cert::CertInfo::parse(der) else {
        return Some(CertProblem::Other("the certificate cannot be read".into()));
    };
    let now = crate::cert::CertTime::from_unix(now);
    if now > c.not_after {
        Some(CertProblem::Expired)
    } else if now < c.not_before {
        Some(CertProblem::NotYetValid)
    } else if !c.covers(name) {
        Some(CertProblem::WrongName)
    } else {
        None
    }
}

impl rustls::client::danger::ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let refuse = |d: CertDiagnosis| {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(d))),
            ))
        };
        let name = server_name.to_str();
        if self.insecure {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        }
        if let Some(pin) = self.pin {
            // The handshake signatures are still checked against this very
            // certificate's key (verify_tls1x_signature), so only its owner passes.
            if Fingerprint::of(end_entity) == pin {
                return Ok(rustls::client::danger::ServerCertVerified::assertion());
            }
            return refuse(CertDiagnosis::pin_mismatch(
                pin,
                end_entity,
                &name,
                now.as_secs(),
            ));
        }
        if self.trusted_leaves.iter().any(|l| l == end_entity.as_ref()) {
            return match trusted_leaf_problem(end_entity, &name, now.as_secs()) {
                None => Ok(rustls::client::danger::ServerCertVerified::assertion()),
                Some(p) => refuse(CertDiagnosis::of(p, end_entity, &name, now.as_secs())),
            };
        }
        let Some(webpki) = &self.webpki else {
            return Err(rustls::Error::General("no certificate verifier".into()));
        };
        webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .or_else(|e| refuse(CertDiagnosis::new(&e, end_entity, &name, now.as_secs())))
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
