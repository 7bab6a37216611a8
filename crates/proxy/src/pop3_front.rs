//! The POP3 front: speaks POP3 itself in the AUTHORIZATION state (CAPA,
//! STLS, USER/PASS, AUTH PLAIN and LOGIN, NOOP, QUIT; the protocol crate's
//! server side parses), and asks the [`crate::gate::Gate`] where the account
//! goes; [`crate::front`] then relays. Refusals carry RFC 2449/3206 response
//! codes: `[AUTH]` for wrong credentials, `[SYS/TEMP]` for "try again later".

use std::net::SocketAddr;

use mailport_imap::framing::{read_line, without_line_end, FramingError};
use mailport_net::MaybeTls;
use mailport_pop3::server::{err, ok, parse_command, Command, MAX_COMMAND_LINE};
use tokio::io::BufReader;
use zeroize::Zeroizing;

use crate::front::{
    sasl_exchange, send, send_and_close, Front, LoggedIn, Protocol, PRE_LOGIN_BUFFER,
};
use crate::gate::Decision;

/// Commands before login, at most: a client needs a handful.
const COMMANDS_BEFORE_LOGIN: usize = 30;

fn capabilities(front: &Front, tls: bool) -> Vec<u8> {
    let mut caps = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE"];
    if !tls && front.tls.is_some() {
        caps.push("STLS");
    }
    // RFC 2595 4: no USER, and no SASL mechanism that sends the password
    // as it is, before TLS.
    if tls || front.allow_plaintext {
        caps.extend(["USER", "SASL PLAIN LOGIN"]);
    }
    caps.push("IMPLEMENTATION mailport");
    let mut reply = b"+OK capabilities follow\r\n".to_vec();
    for c in caps {
        reply.extend_from_slice(c.as_bytes());
        reply.extend_from_slice(b"\r\n");
    }
    reply.extend_from_slice(b".\r\n");
    reply
}

/// The conversation before login; the client's stream and its backend
/// once logged in, `None` when the client left or was sent away.
pub(crate) async fn before_login(
    front: &Front,
    stream: MaybeTls,
    peer: SocketAddr,
) -> std::io::Result<Option<LoggedIn>> {
    let mut io = BufReader::with_capacity(PRE_LOGIN_BUFFER, stream);
    send(&mut io, &ok("mailport proxy ready")).await?;
    let mut user: Option<String> = None;
    let mut line = Vec::new();
    for _ in 0..COMMANDS_BEFORE_LOGIN {
        line.clear();
        match read_line(&mut io, &mut line, MAX_COMMAND_LINE, front.limits.timeout).await {
            Ok(()) => {}
            Err(FramingError::TooLong { limit, .. }) => {
                // Its end cannot be found: the conversation is over.
                let text = format!("command line longer than {limit} bytes");
                send_and_close(&mut io, &err(None, &text)).await?;
                return Ok(None);
            }
            Err(FramingError::Timeout(_)) => {
                send(&mut io, &err(None, "idle too long before login")).await?;
                return Ok(None);
            }
            Err(FramingError::Closed) => return Ok(None),
            Err(FramingError::Io(e)) => return Err(e),
        }
        let command = match parse_command(without_line_end(&line)) {
            Ok(c) => c,
            Err(text) => {
                send(&mut io, &err(None, &text)).await?;
                continue;
            }
        };
        line.fill(0);
        let tls = io.get_ref().is_tls();
        let plaintext_refused = !tls && !front.allow_plaintext;
        let (login, password) = match command {
            Command::Capa => {
                send(&mut io, &capabilities(front, tls)).await?;
                continue;
            }
            Command::Noop => {
                send(&mut io, &ok("")).await?;
                continue;
            }
            Command::Quit => {
                send(&mut io, &ok("bye")).await?;
                return Ok(None);
            }
            Command::Stls => {
                let Some(acceptor) = front.tls.as_ref().filter(|_| !tls) else {
                    send(&mut io, &err(None, "STLS is not offered here")).await?;
                    continue;
                };
                send(&mut io, &ok("begin TLS now")).await?;
                match front.upgrade(io, acceptor).await? {
                    Some(upgraded) => io = upgraded,
                    None => return Ok(None),
                }
                // RFC 2595 4: what was said in plain text is forgotten.
                user = None;
                continue;
            }
            Command::Other(name) => {
                let text = format!("{name} needs a login first");
                send(&mut io, &err(None, &text)).await?;
                continue;
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } if plaintext_refused => {
                let text = "use STLS (or port 995) before logging in";
                send(&mut io, &err(Some("SYS/PERM"), text)).await?;
                continue;
            }
            Command::User(name) => {
                user = Some(name);
                send(&mut io, &ok("send PASS")).await?;
                continue;
            }
            Command::Pass(password) => match user.take() {
                Some(login) => (login, password),
                None => {
                    send(&mut io, &err(None, "USER first")).await?;
                    continue;
                }
            },
            Command::Auth {
                mechanism: None, ..
            } => {
                // The listing form of RFC 1734, which clients still send.
                send(&mut io, b"+OK mechanisms follow\r\nPLAIN\r\nLOGIN\r\n.\r\n").await?;
                continue;
            }
            Command::Auth {
                mechanism: Some(mechanism),
                initial,
            } => {
                let reply = |_, text: &str| err(None, text);
                match sasl_exchange(front, &mut io, "+", &mechanism, initial, &reply).await? {
                    Some(credentials) => credentials,
                    None => continue,
                }
            }
        };
        let password: Zeroizing<String> = password;
        match front
            .gate
            .log_in(&login, &password, peer, Protocol::Pop3)
            .await
        {
            Decision::Relay(backend, served) => {
                send(&mut io, &ok("logged in")).await?;
                return Ok(Some(LoggedIn {
                    io,
                    backend,
                    user: login,
                    served,
                }));
            }
            Decision::Refused(why) => send(&mut io, &err(Some("AUTH"), &why)).await?,
            Decision::TryLater(why) => send(&mut io, &err(Some("SYS/TEMP"), &why)).await?,
            Decision::Unavailable(why) => {
                tracing::warn!("POP3 login of {login} from {peer}: {why}");
                let text = "the mail server is not available; try again later";
                send(&mut io, &err(Some("SYS/TEMP"), text)).await?;
            }
        }
    }
    send_and_close(&mut io, &err(None, "too many commands before login")).await?;
    Ok(None)
}
