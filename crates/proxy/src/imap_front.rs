//! The IMAP front: speaks IMAP itself until the client has logged in
//! (greeting, CAPABILITY, STARTTLS, ID, NOOP, LOGOUT, LOGIN, AUTHENTICATE
//! PLAIN and LOGIN), asks the [`Gate`] where the account goes, then relays
//! bytes both ways.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailport_imap::server::{
    self, quoted, read_request, read_sasl_response, tagged, untagged, Command, Limits, Refusal,
    SaslResponse,
};
use mailport_net::MaybeTls;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::gate::{Decision, Gate};
use crate::relay;
use crate::sessions::Sessions;
use mailport_store::ServedBy;

/// Commands before login, at most: a client needs a handful.
const COMMANDS_BEFORE_LOGIN: usize = 30;

pub struct Front {
    pub gate: Arc<Gate>,
    pub tls: Option<TlsAcceptor>,
    pub allow_plaintext: bool,
    pub limits: Limits,
    /// From connecting to logging in, at most.
    pub login_deadline: Duration,
    pub sessions: Arc<Sessions>,
}

impl Front {
    /// Serves one client connection; `implicit_tls` for port 993.
    pub async fn serve(&self, tcp: TcpStream, peer: SocketAddr, implicit_tls: bool) {
        if let Err(e) = self.session(tcp, peer, implicit_tls).await {
            tracing::debug!("IMAP session from {peer} ended: {e}");
        }
    }

    fn capabilities(&self, tls: bool) -> String {
        let mut caps = vec!["IMAP4rev1", "ID", "LITERAL+", "SASL-IR"];
        if !tls && self.tls.is_some() {
            caps.push("STARTTLS");
        }
        if tls || self.allow_plaintext {
            caps.extend(["AUTH=PLAIN", "AUTH=LOGIN"]);
        } else {
            caps.push("LOGINDISABLED");
        }
        caps.join(" ")
    }

    async fn session(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
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
            self.before_login(stream, peer).await
        };
        match tokio::time::timeout(self.login_deadline, before).await {
            Ok(Ok(Some((io, backend, user, served)))) => {
                // Sessions on the old server are closed when the final pass begins.
                let registered =
                    (served == ServedBy::Source).then(|| self.sessions.register(&user));
                let closing = registered.as_ref().map(|r| r.closing.clone());
                relay::run(io, backend, closing).await
            }
            Ok(Ok(None)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::other("no login within the deadline")),
        }
    }

    /// The conversation before login; the client's stream and its backend
    /// once logged in, `None` when the client left or was sent away.
    async fn before_login(
        &self,
        stream: MaybeTls,
        peer: SocketAddr,
    ) -> std::io::Result<Option<(BufReader<MaybeTls>, Backend, String, ServedBy)>> {
        let mut io = BufReader::new(stream);
        let greeting = format!(
            "[CAPABILITY {}] mailport proxy ready",
            self.capabilities(io.get_ref().is_tls())
        );
        send(&mut io, &untagged("OK", None, &greeting)).await?;
        let mut commands = 0;
        loop {
            commands += 1;
            if commands > COMMANDS_BEFORE_LOGIN {
                send(
                    &mut io,
                    &untagged("BYE", None, "too many commands before login"),
                )
                .await?;
                return Ok(None);
            }
            let request = match read_request(&mut io, &self.limits).await {
                Ok(Ok(r)) => r,
                Ok(Err(refusal)) => {
                    send(&mut io, &refusal.reply()).await?;
                    if matches!(refusal, Refusal::Bye(_)) {
                        return Ok(None);
                    }
                    continue;
                }
                Err(server::ReadError::Timeout(_)) => {
                    send(
                        &mut io,
                        &untagged("BYE", None, "idle too long before login"),
                    )
                    .await?;
                    return Ok(None);
                }
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            };
            let tag = request.tag;
            let tls = io.get_ref().is_tls();
            let (user, password) = match request.command {
                Command::Capability => {
                    let caps = format!("* CAPABILITY {}\r\n", self.capabilities(tls));
                    send(&mut io, caps.as_bytes()).await?;
                    send(&mut io, &tagged(&tag, "OK", None, "CAPABILITY done")).await?;
                    continue;
                }
                Command::Noop => {
                    send(&mut io, &tagged(&tag, "OK", None, "NOOP done")).await?;
                    continue;
                }
                Command::Logout => {
                    send(&mut io, &untagged("BYE", None, "logging out")).await?;
                    send(&mut io, &tagged(&tag, "OK", None, "LOGOUT done")).await?;
                    return Ok(None);
                }
                Command::Id(_) => {
                    let id = format!("* ID ({} {})\r\n", quoted("name"), quoted("mailport"));
                    send(&mut io, id.as_bytes()).await?;
                    send(&mut io, &tagged(&tag, "OK", None, "ID done")).await?;
                    continue;
                }
                Command::StartTls => {
                    let Some(acceptor) = self.tls.as_ref().filter(|_| !tls) else {
                        send(
                            &mut io,
                            &tagged(&tag, "BAD", None, "STARTTLS is not offered here"),
                        )
                        .await?;
                        continue;
                    };
                    send(&mut io, &tagged(&tag, "OK", None, "begin TLS now")).await?;
                    // Bytes sent after STARTTLS but before the handshake
                    // would be injected into the TLS session: refuse them.
                    if !io.buffer().is_empty() {
                        return Ok(None);
                    }
                    let MaybeTls::Plain(tcp) = io.into_inner() else {
                        unreachable!("not TLS yet")
                    };
                    io = BufReader::new(self.handshake(acceptor, tcp).await?);
                    continue;
                }
                Command::Other(name) => {
                    send(
                        &mut io,
                        &tagged(&tag, "BAD", None, &format!("{name} needs a login first")),
                    )
                    .await?;
                    continue;
                }
                _ if !tls && !self.allow_plaintext => {
                    send(
                        &mut io,
                        &tagged(
                            &tag,
                            "NO",
                            Some("PRIVACYREQUIRED"),
                            "use STARTTLS (or port 993) before logging in",
                        ),
                    )
                    .await?;
                    continue;
                }
                Command::Login { user, password } => (user, password),
                Command::Authenticate { mechanism, initial } => {
                    match self
                        .authenticate(&mut io, &tag, &mechanism, initial)
                        .await?
                    {
                        Some(credentials) => credentials,
                        None => continue,
                    }
                }
            };
            match self.gate.log_in(&user, &password, peer.ip()).await {
                Decision::Relay(backend, served) => {
                    let code = (!backend.capabilities.is_empty())
                        .then(|| format!("CAPABILITY {}", backend.capabilities.join(" ")));
                    send(&mut io, &tagged(&tag, "OK", code.as_deref(), "logged in")).await?;
                    tracing::info!(user = %user, client = %peer, served = served.as_str(), "IMAP login");
                    return Ok(Some((io, backend, user, served)));
                }
                Decision::Refused(why) => {
                    send(
                        &mut io,
                        &tagged(&tag, "NO", Some("AUTHENTICATIONFAILED"), &why),
                    )
                    .await?;
                }
                Decision::TryLater(why) => {
                    send(&mut io, &tagged(&tag, "NO", Some("UNAVAILABLE"), &why)).await?;
                }
                Decision::Unavailable(why) => {
                    tracing::warn!("login of {user} from {peer}: {why}");
                    send(
                        &mut io,
                        &tagged(
                            &tag,
                            "NO",
                            Some("UNAVAILABLE"),
                            "the mail server is not available; try again later",
                        ),
                    )
                    .await?;
                }
            }
        }
    }

    /// A TLS handshake, bounded by the pre-login timeout.
    async fn handshake(&self, acceptor: &TlsAcceptor, tcp: TcpStream) -> std::io::Result<MaybeTls> {
        match tokio::time::timeout(self.limits.timeout, acceptor.accept(tcp)).await {
            Ok(accepted) => Ok(MaybeTls::accepted(accepted?)),
            Err(_) => Err(std::io::Error::other("TLS handshake timed out")),
        }
    }

    /// The SASL exchange of AUTHENTICATE; `None` when it did not give
    /// credentials (the reply is sent).
    async fn authenticate(
        &self,
        io: &mut BufReader<MaybeTls>,
        tag: &str,
        mechanism: &str,
        initial: Option<Zeroizing<Vec<u8>>>,
    ) -> std::io::Result<Option<(String, Zeroizing<String>)>> {
        let ask = async |io: &mut BufReader<MaybeTls>,
                         challenge: &str|
               -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
            send(io, format!("+ {challenge}\r\n").as_bytes()).await?;
            match read_sasl_response(io, &self.limits).await {
                Ok(Ok(SaslResponse::Data(d))) => Ok(Some(d)),
                Ok(Ok(SaslResponse::Cancelled)) => {
                    send(io, &tagged(tag, "BAD", None, "AUTHENTICATE cancelled")).await?;
                    Ok(None)
                }
                Ok(Err(Refusal::Bye(text))) => Err(std::io::Error::other(text)),
                Ok(Err(Refusal::Bad { text, .. })) => {
                    send(io, &tagged(tag, "BAD", None, &text)).await?;
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
                match server::sasl_plain(&message) {
                    Some(p) if p.authzid.is_empty() || p.authzid == p.user => {
                        Ok(Some((p.user, p.password)))
                    }
                    Some(_) => {
                        send(
                            io,
                            &tagged(
                                tag,
                                "NO",
                                Some("AUTHORIZATIONFAILED"),
                                "acting for another user is not supported here",
                            ),
                        )
                        .await?;
                        Ok(None)
                    }
                    None => {
                        send(io, &tagged(tag, "BAD", None, "malformed PLAIN message")).await?;
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
                        send(
                            io,
                            &tagged(tag, "BAD", None, "user name and password must be UTF-8"),
                        )
                        .await?;
                        Ok(None)
                    }
                }
            }
            other => {
                send(
                    io,
                    &tagged(
                        tag,
                        "NO",
                        None,
                        &format!("mechanism {other} is not supported; use PLAIN or LOGIN"),
                    ),
                )
                .await?;
                Ok(None)
            }
        }
    }
}

async fn send<S: AsyncWrite + Unpin>(io: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}
