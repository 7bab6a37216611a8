//! The IMAP front: speaks IMAP itself until the client has logged in
//! (greeting, CAPABILITY, STARTTLS, ID, NOOP, LOGOUT, LOGIN, AUTHENTICATE
//! PLAIN and LOGIN), and asks the [`crate::gate::Gate`] where the account
//! goes; [`crate::front`] then relays.

use std::net::SocketAddr;

use mailport_imap::server::{quoted, read_request, tagged, untagged, Command, ReadError, Refusal};
use mailport_net::MaybeTls;
use tokio::io::BufReader;
use zeroize::Zeroizing;

use crate::front::{
    sasl_exchange, send, send_and_close, Front, LoggedIn, Protocol, SaslFailure, PRE_LOGIN_BUFFER,
};
use crate::gate::Decision;

/// Commands before login, at most: a client needs a handful.
const COMMANDS_BEFORE_LOGIN: usize = 30;

fn capabilities(front: &Front, tls: bool) -> String {
    let mut caps = vec!["IMAP4rev1", "ID", "LITERAL+", "SASL-IR"];
    if !tls && front.tls.is_some() {
        caps.push("STARTTLS");
    }
    if tls || front.allow_plaintext {
        caps.extend(["AUTH=PLAIN", "AUTH=LOGIN"]);
    } else {
        caps.push("LOGINDISABLED");
    }
    caps.join(" ")
}

/// The conversation before login; the client's stream and its backend
/// once logged in, `None` when the client left or was sent away.
pub(crate) async fn before_login(
    front: &Front,
    stream: MaybeTls,
    peer: SocketAddr,
) -> std::io::Result<Option<LoggedIn>> {
    let mut io = BufReader::with_capacity(PRE_LOGIN_BUFFER, stream);
    let greeting = format!(
        "[CAPABILITY {}] mailport proxy ready",
        capabilities(front, io.get_ref().is_tls())
    );
    send(&mut io, &untagged("OK", None, &greeting)).await?;
    let mut commands = 0;
    loop {
        commands += 1;
        if commands > COMMANDS_BEFORE_LOGIN {
            let bye = untagged("BYE", None, "too many commands before login");
            send_and_close(&mut io, &bye).await?;
            return Ok(None);
        }
        let request = match read_request(&mut io, &front.limits).await {
            Ok(Ok(r)) => r,
            Ok(Err(refusal @ Refusal::Bye(_))) => {
                send_and_close(&mut io, &refusal.reply()).await?;
                return Ok(None);
            }
            Ok(Err(refusal)) => {
                send(&mut io, &refusal.reply()).await?;
                continue;
            }
            Err(ReadError::Timeout(_)) => {
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
                let caps = format!("* CAPABILITY {}\r\n", capabilities(front, tls));
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
                let Some(acceptor) = front.tls.as_ref().filter(|_| !tls) else {
                    send(
                        &mut io,
                        &tagged(&tag, "BAD", None, "STARTTLS is not offered here"),
                    )
                    .await?;
                    continue;
                };
                send(&mut io, &tagged(&tag, "OK", None, "begin TLS now")).await?;
                match front.upgrade(io, acceptor).await? {
                    Some(upgraded) => io = upgraded,
                    None => return Ok(None),
                }
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
            _ if !tls && !front.allow_plaintext => {
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
                match authenticate(front, &mut io, &tag, &mechanism, initial).await? {
                    Some(credentials) => credentials,
                    None => continue,
                }
            }
        };
        match front
            .gate
            .log_in(&user, &password, peer, Protocol::Imap)
            .await
        {
            Decision::Relay(backend, served) => {
                let code = (!backend.capabilities.is_empty())
                    .then(|| format!("CAPABILITY {}", backend.capabilities.join(" ")));
                send(&mut io, &tagged(&tag, "OK", code.as_deref(), "logged in")).await?;
                return Ok(Some(LoggedIn {
                    io,
                    backend,
                    user,
                    served,
                }));
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

/// AUTHENTICATE's SASL exchange; `None` when it did not give credentials
/// (the reply is sent).
async fn authenticate(
    front: &Front,
    io: &mut BufReader<MaybeTls>,
    tag: &str,
    mechanism: &str,
    initial: Option<Zeroizing<Vec<u8>>>,
) -> std::io::Result<Option<(String, Zeroizing<String>)>> {
    let reply = |failure: SaslFailure, text: &str| match failure {
        SaslFailure::Malformed => tagged(tag, "BAD", None, text),
        SaslFailure::OtherUser => tagged(tag, "NO", Some("AUTHORIZATIONFAILED"), text),
        SaslFailure::Mechanism => tagged(tag, "NO", None, text),
    };
    sasl_exchange(front, io, "+", mechanism, initial, &reply).await
}
