//! The submission front (ports 587 and 465; RFC 6409, RFC 8314): users'
//! clients sending mail through the old server's address. Speaks SMTP
//! itself until AUTH (EHLO, STARTTLS, AUTH PLAIN and LOGIN, RSET, NOOP,
//! QUIT; nothing is sent without AUTH), asks the [`crate::gate::Gate`]
//! like an IMAP login — the password checked by the submission service of
//! the server that serves the account, captured for accounts still on the
//! old one — and once that service took the login, relays the session to
//! it ([`crate::front`]): MAIL, RCPT and DATA are the server's to judge.
//!
//! Replies follow RFC 4954: `530 5.7.0` without AUTH (and for AUTH before
//! STARTTLS, RFC 3207), `535 5.7.8` for wrong credentials, `454 4.7.0` for
//! "try again later" (a final pass, a server down).

use std::net::SocketAddr;

use mailport_imap::framing::{read_line, without_line_end, FramingError};
use mailport_net::MaybeTls;
use mailport_smtp::server::{parse_command, Command, Reply, MAX_COMMAND_LINE};
use tokio::io::BufReader;

use crate::front::{
    sasl_exchange, send, send_and_close, Front, LoggedIn, Protocol, SaslFailure, PRE_LOGIN_BUFFER,
};
use crate::gate::Decision;
use crate::servers::SubmissionServers;

/// The submission front's settings.
#[derive(Debug, Clone)]
pub struct SubmissionConfig {
    /// The name in the greeting.
    pub hostname: String,
    /// Where each account's sessions go.
    pub servers: SubmissionServers,
}

/// Commands before AUTH, at most: a client needs a handful.
const COMMANDS_BEFORE_LOGIN: usize = 30;

fn reply(code: u16, enhanced: &'static str, text: &str) -> Vec<u8> {
    Reply::new(code, Some(enhanced), text).to_bytes()
}

/// What EHLO announces before AUTH. After it the session is the
/// submission server's: only extensions every submission server has are
/// promised (no SIZE or SMTPUTF8, which depend on the server behind).
fn hello(front: &Front, hostname: &str, tls: bool) -> Vec<u8> {
    let mut ext: Vec<String> = vec![
        "PIPELINING".into(),
        "8BITMIME".into(),
        "ENHANCEDSTATUSCODES".into(),
    ];
    if !tls && front.tls.is_some() {
        ext.push("STARTTLS".into());
    }
    // RFC 4954 §4: no mechanism that sends the password as it is, before TLS.
    if tls || front.allow_plaintext {
        ext.push("AUTH PLAIN LOGIN".into());
    }
    Reply::new(250, None, hostname).with_lines(ext).to_bytes()
}

/// The conversation before AUTH; the client's stream and its backend once
/// authenticated, `None` when the client left or was sent away.
pub(crate) async fn before_login(
    front: &Front,
    stream: MaybeTls,
    peer: SocketAddr,
) -> std::io::Result<Option<LoggedIn>> {
    let Some(config) = &front.submission else {
        return Ok(None);
    };
    let hostname = config.hostname.as_str();
    let mut io = BufReader::with_capacity(PRE_LOGIN_BUFFER, stream);
    let greeting = format!("{hostname} ESMTP mailport proxy (submission)");
    send(&mut io, &Reply::new(220, None, &greeting).to_bytes()).await?;
    let mut said_hello = false;
    let mut line = Vec::new();
    for _ in 0..COMMANDS_BEFORE_LOGIN {
        line.clear();
        match read_line(&mut io, &mut line, MAX_COMMAND_LINE, front.limits.timeout).await {
            Ok(()) => {}
            Err(FramingError::TooLong { limit, .. }) => {
                let text = format!("command line longer than {limit} bytes; closing");
                send_and_close(&mut io, &reply(500, "5.5.2", &text)).await?;
                return Ok(None);
            }
            Err(FramingError::Timeout(_)) => {
                send(&mut io, &reply(421, "4.4.2", "idle too long; closing")).await?;
                return Ok(None);
            }
            Err(FramingError::Closed) => return Ok(None),
            Err(FramingError::Io(e)) => return Err(e),
        }
        let command = parse_command(without_line_end(&line));
        // The line may hold an AUTH initial response.
        line.fill(0);
        let command = match command {
            Ok(c) => c,
            Err(r) => {
                send(&mut io, &r.to_bytes()).await?;
                continue;
            }
        };
        let tls = io.get_ref().is_tls();
        let (user, password) = match command {
            Command::Ehlo(_) => {
                said_hello = true;
                send(&mut io, &hello(front, hostname, tls)).await?;
                continue;
            }
            Command::Helo(_) => {
                said_hello = true;
                send(&mut io, &Reply::new(250, None, hostname).to_bytes()).await?;
                continue;
            }
            Command::StartTls => {
                let Some(acceptor) = front.tls.as_ref().filter(|_| !tls) else {
                    send(&mut io, &reply(454, "4.7.0", "TLS is not available here")).await?;
                    continue;
                };
                send(&mut io, &reply(220, "2.0.0", "ready to start TLS")).await?;
                match front.upgrade(io, acceptor).await? {
                    Some(upgraded) => io = upgraded,
                    None => return Ok(None),
                }
                // RFC 3207 §4.2: the client starts again with EHLO.
                said_hello = false;
                continue;
            }
            Command::Quit => {
                send(&mut io, &reply(221, "2.0.0", "bye")).await?;
                return Ok(None);
            }
            Command::Rset => {
                send(&mut io, &reply(250, "2.0.0", "reset")).await?;
                continue;
            }
            Command::Noop => {
                send(&mut io, &reply(250, "2.0.0", "ok")).await?;
                continue;
            }
            Command::Help => {
                send(&mut io, &reply(214, "2.0.0", "see RFC 6409")).await?;
                continue;
            }
            Command::Vrfy(_) => {
                send(&mut io, &reply(252, "2.5.0", "cannot verify")).await?;
                continue;
            }
            Command::Mail { .. } | Command::Rcpt { .. } | Command::Data => {
                let text = "authentication required: log in with AUTH first";
                send(&mut io, &reply(530, "5.7.0", text)).await?;
                continue;
            }
            Command::Other(verb) => {
                let text = format!("{verb} is not implemented");
                send(&mut io, &reply(502, "5.5.2", &text)).await?;
                continue;
            }
            Command::Auth { .. } if !said_hello => {
                send(&mut io, &reply(503, "5.5.1", "say EHLO first")).await?;
                continue;
            }
            Command::Auth { .. } if !tls && !front.allow_plaintext => {
                let text = "must issue a STARTTLS command first (or use port 465)";
                send(&mut io, &reply(530, "5.7.0", text)).await?;
                continue;
            }
            Command::Auth { mechanism, initial } => {
                let refuse = |failure, text: &str| match failure {
                    SaslFailure::Malformed => reply(501, "5.5.2", text),
                    SaslFailure::OtherUser => reply(535, "5.7.8", text),
                    SaslFailure::Mechanism => reply(504, "5.5.4", text),
                };
                match sasl_exchange(front, &mut io, "334", &mechanism, initial, &refuse).await? {
                    Some(credentials) => credentials,
                    None => continue,
                }
            }
        };
        match front
            .gate
            .log_in(&user, &password, peer, Protocol::Submission)
            .await
        {
            Decision::Relay(backend, served) => {
                send(&mut io, &reply(235, "2.7.0", "authenticated")).await?;
                return Ok(Some(LoggedIn {
                    io,
                    backend,
                    user,
                    served,
                }));
            }
            Decision::Refused(why) => {
                let text = format!("authentication failed: {why}");
                send(&mut io, &reply(535, "5.7.8", &text)).await?;
            }
            Decision::TryLater(why) => send(&mut io, &reply(454, "4.7.0", &why)).await?,
            Decision::Unavailable(why) => {
                tracing::warn!("submission login of {user} from {peer}: {why}");
                let text = "the mail server is not available; try again later";
                send(&mut io, &reply(454, "4.7.0", text)).await?;
            }
        }
    }
    let bye = reply(421, "4.7.0", "too many commands before AUTH");
    send_and_close(&mut io, &bye).await?;
    Ok(None)
}
