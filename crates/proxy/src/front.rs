//! What both fronts share: a client connection from accept to the end of
//! its relay — TLS (implicit, or upgraded by the protocol's STARTTLS/STLS),
//! one deadline for everything before login, the open-session registry for
//! accounts still on the old server, then bytes both ways. The protocols'
//! conversations before login are [`crate::imap_front`] and
//! [`crate::pop3_front`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailport_imap::server::{read_sasl_response, sasl_plain, Limits, Refusal, SaslResponse};
use mailport_net::MaybeTls;
use mailport_store::ServedBy;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::gate::Gate;
use crate::metrics::Metrics;
use crate::relay;
use crate::sessions::{Sessions, Why};

/// Read buffer before login: commands there are short, and idle
/// connections many (8 KiB each would be 80 MB for 10,000).
pub(crate) const PRE_LOGIN_BUFFER: usize = 1024;

/// The protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Pop3,
    /// Incoming mail (port 25).
    Smtp,
    /// Users' clients sending mail, authenticated (ports 587 and 465).
    Submission,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
            Protocol::Smtp => "SMTP",
            Protocol::Submission => "SUBMISSION",
        }
    }
}

pub struct Front {
    pub gate: Arc<Gate>,
    pub tls: Option<TlsAcceptor>,
    pub allow_plaintext: bool,
    /// Bounds on what a client sends before login (IMAP's; POP3 uses the
    /// timeout and its own line limit).
    pub limits: Limits,
    /// From connecting to logging in, at most.
    pub login_deadline: Duration,
    pub sessions: Arc<Sessions>,
    pub metrics: Arc<Metrics>,
    /// The SMTP front's settings, when it listens.
    pub smtp: Option<Arc<crate::smtp_front::SmtpConfig>>,
    /// Wrong SMTP commands by client address.
    pub smtp_errors: crate::strikes::Strikes,
    /// The submission front's settings, when it listens.
    pub submission: Option<Arc<crate::submission_front::SubmissionConfig>>,
}

/// A client logged in: its stream (with what it sent ahead), the backend
/// serving it, who, and where.
pub struct LoggedIn {
    pub io: BufReader<MaybeTls>,
    pub backend: Backend,
    pub user: String,
    pub served: ServedBy,
}

impl Front {
    /// Serves one client connection until it ends.
    pub async fn serve(&self, tcp: TcpStream, peer: SocketAddr, protocol: Protocol, tls: bool) {
        if protocol == Protocol::Smtp {
            if let Some(config) = &self.smtp {
                let _counted = self.metrics.connected(protocol);
                crate::smtp_front::serve(self, config, tcp, peer, tls).await;
            }
            return;
        }
        if let Err(e) = self.session(tcp, peer, protocol, tls).await {
            tracing::debug!("{} session from {peer} ended: {e}", protocol.as_str());
        }
    }

    async fn session(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        protocol: Protocol,
        implicit_tls: bool,
    ) -> std::io::Result<()> {
        // Everything before login, the TLS handshake included, within one
        // deadline: a client trickling bytes cannot hold a connection.
        let before = async {
            let stream = match (implicit_tls, &self.tls) {
                (true, Some(acceptor)) => self.handshake(acceptor, tcp).await?,
                (true, None) => return Ok(None),
                (false, _) => MaybeTls::Plain(tcp),
            };
            match protocol {
                Protocol::Imap => crate::imap_front::before_login(self, stream, peer).await,
                Protocol::Pop3 => crate::pop3_front::before_login(self, stream, peer).await,
                Protocol::Submission => {
                    crate::submission_front::before_login(self, stream, peer).await
                }
                Protocol::Smtp => Ok(None),
            }
        };
        let counted = self.metrics.connected(protocol);
        let logged_in = match tokio::time::timeout(self.login_deadline, before).await {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("no login within the deadline")),
        };
        drop(counted);
        tracing::info!(user = %logged_in.user, client = %peer,
            served = logged_in.served.as_str(), "{} login", protocol.as_str());
        // Sessions on the old server are closed when the final pass
        // begins; every session when the proxy stops.
        let registered = self.sessions.register(&logged_in.user, logged_in.served);
        let goodbye = move |why| goodbye(protocol, why);
        let relayed = relay::run(
            logged_in.io,
            logged_in.backend,
            registered.closing.clone(),
            goodbye,
        )
        .await?;
        self.metrics.relayed(relayed);
        Ok(())
    }

    /// A TLS handshake, bounded by the pre-login timeout.
    pub(crate) async fn handshake(
        &self,
        acceptor: &TlsAcceptor,
        tcp: TcpStream,
    ) -> std::io::Result<MaybeTls> {
        match tokio::time::timeout(self.limits.timeout, acceptor.accept(tcp)).await {
            Ok(accepted) => Ok(MaybeTls::accepted(accepted?)),
            Err(_) => Err(std::io::Error::other("TLS handshake timed out")),
        }
    }

    /// STARTTLS/STLS after the client was told to go ahead: the plain
    /// stream becomes TLS. `None` when the client sent bytes after the
    /// command but before the handshake: they would be injected into the
    /// TLS session, so the connection is dropped.
    pub(crate) async fn upgrade(
        &self,
        io: BufReader<MaybeTls>,
        acceptor: &TlsAcceptor,
    ) -> std::io::Result<Option<BufReader<MaybeTls>>> {
        if !io.buffer().is_empty() {
            return Ok(None);
        }
        let MaybeTls::Plain(tcp) = io.into_inner() else {
            return Err(std::io::Error::other("TLS is already on"));
        };
        let tls = self.handshake(acceptor, tcp).await?;
        Ok(Some(BufReader::with_capacity(PRE_LOGIN_BUFFER, tls)))
    }
}

/// What a relayed client is told when the proxy ends its session.
fn goodbye(protocol: Protocol, why: Why) -> &'static [u8] {
    match (protocol, why) {
        // SMTP sessions are not relayed: never asked.
        (Protocol::Smtp, _) => b"421 4.3.2 closing\r\n",
        (Protocol::Imap, Why::Moving) => {
            b"* BYE your mailbox is moving to the new server; log in again in a minute\r\n"
        }
        (Protocol::Imap, Why::ShuttingDown) => {
            b"* BYE [UNAVAILABLE] the server is restarting; log in again in a minute\r\n"
        }
        (Protocol::Pop3, Why::Moving) => {
            b"-ERR [SYS/TEMP] your mailbox is moving to the new server; try again in a minute\r\n"
        }
        (Protocol::Pop3, Why::ShuttingDown) => {
            b"-ERR [SYS/TEMP] the server is restarting; try again in a minute\r\n"
        }
        (Protocol::Submission, Why::Moving) => {
            b"421 4.3.2 your mailbox is moving to the new server; send again in a minute\r\n"
        }
        (Protocol::Submission, Why::ShuttingDown) => {
            b"421 4.3.2 the server is restarting; send again in a minute\r\n"
        }
    }
}

/// Writes and flushes one reply.
pub(crate) async fn send<S: AsyncWrite + Unpin>(io: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// The last reply of a connection the proxy ends (a limit was reached):
/// sent, the write side shut, and what the client still sends read and
/// dropped for a moment. Closing with unread input makes the kernel reset
/// the connection, which can destroy that last reply before the client
/// reads it.
pub(crate) async fn send_and_close<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    bytes: &[u8],
) -> std::io::Result<()> {
    send(io, bytes).await?;
    let _ = io.get_mut().shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut left: usize = 1 << 20;
        while let Ok(n @ 1..) = io.read(&mut buf).await {
            left = left.saturating_sub(n);
            if left == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
    Ok(())
}

/// How long [`send_and_close`] waits for the client to stop sending.
const LINGER: Duration = Duration::from_secs(2);

/// Why a SASL exchange gave no credentials; each protocol words its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaslFailure {
    /// Cancelled, not base64, not a PLAIN message, not UTF-8.
    Malformed,
    /// PLAIN with an authorization identity other than the user.
    OtherUser,
    /// A mechanism other than PLAIN and LOGIN.
    Mechanism,
}

/// The SASL exchange of IMAP's AUTHENTICATE, POP3's AUTH and SMTP's AUTH
/// (challenges `CONTINUATION base64` — `+` there, `334` in SMTP —
/// answered by a base64 line or `*`), for PLAIN and LOGIN; `None` when it
/// gave no credentials (the reply, made by `reply`, is sent).
pub(crate) async fn sasl_exchange(
    front: &Front,
    io: &mut BufReader<MaybeTls>,
    continuation: &str,
    mechanism: &str,
    initial: Option<Zeroizing<Vec<u8>>>,
    reply: &(dyn Fn(SaslFailure, &str) -> Vec<u8> + Sync),
) -> std::io::Result<Option<(String, Zeroizing<String>)>> {
    let refuse = async |io: &mut BufReader<MaybeTls>, failure, text: &str| {
        send(io, &reply(failure, text)).await
    };
    let ask = async |io: &mut BufReader<MaybeTls>,
                     challenge: &str|
           -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
        send(io, format!("{continuation} {challenge}\r\n").as_bytes()).await?;
        match read_sasl_response(io, &front.limits).await {
            Ok(Ok(SaslResponse::Data(d))) => Ok(Some(d)),
            Ok(Ok(SaslResponse::Cancelled)) => {
                refuse(io, SaslFailure::Malformed, "authentication cancelled").await?;
                Ok(None)
            }
            Ok(Err(Refusal::Bye(text))) => Err(std::io::Error::other(text)),
            Ok(Err(Refusal::Bad { text, .. })) => {
                refuse(io, SaslFailure::Malformed, &text).await?;
                Ok(None)
            }
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    };
    match mechanism {
        "PLAIN" => {
            let message = match initial {
                Some(m) => m,
                None => match ask(io, "").await? {
                    Some(m) => m,
                    None => return Ok(None),
                },
            };
            match sasl_plain(&message) {
                Some(p) if p.authzid.is_empty() || p.authzid == p.user => {
                    Ok(Some((p.user, p.password)))
                }
                Some(_) => {
                    let text = "acting for another user is not supported here";
                    refuse(io, SaslFailure::OtherUser, text).await?;
                    Ok(None)
                }
                None => {
                    refuse(io, SaslFailure::Malformed, "malformed PLAIN message").await?;
                    Ok(None)
                }
            }
        }
        "LOGIN" => {
            let user = match initial {
                Some(u) => u,
                // "Username:" and "Password:" in base64, as clients expect.
                None => match ask(io, "VXNlcm5hbWU6").await? {
                    Some(u) => u,
                    None => return Ok(None),
                },
            };
            let Some(password) = ask(io, "UGFzc3dvcmQ6").await? else {
                return Ok(None);
            };
            match (
                String::from_utf8(user.to_vec()),
                String::from_utf8(password.to_vec()),
            ) {
                (Ok(u), Ok(p)) if !u.is_empty() => Ok(Some((u, Zeroizing::new(p)))),
                _ => {
                    let text = "user name and password must be UTF-8";
                    refuse(io, SaslFailure::Malformed, text).await?;
                    Ok(None)
                }
            }
        }
        other => {
            let text = format!("mechanism {other} is not supported; use PLAIN or LOGIN");
            refuse(io, SaslFailure::Mechanism, &text).await?;
            Ok(None)
        }
    }
}
