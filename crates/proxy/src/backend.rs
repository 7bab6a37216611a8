//! Logging in to the server that serves an account (the old one or the new
//! one) as its user, over IMAP, POP3 or submission (SMTP AUTH), then
//! handing over the raw connection for the relay.

use std::net::SocketAddr;

use mailport_engine::connector::Connector;
use mailport_engine::error::in_words;
use mailport_engine::{Credentials, SessionError};
use mailport_net::{connect_tcp, MaybeTls};
use mailport_smtp::client::{Client, ClientError, Dialect};

use crate::front::Protocol;
use crate::servers::Submission;

/// A logged-in backend connection.
pub struct Backend {
    pub stream: MaybeTls,
    /// What the server sent after the login's reply (relayed first).
    pub unread: Vec<u8>,
    /// The server's capabilities after login, for the client's OK.
    pub capabilities: Vec<String>,
}

pub enum LoginFailure {
    /// The server refused the credentials, in its words.
    Refused(String),
    /// The server could not be reached or failed: try again later.
    Unavailable(String),
}

/// Logs in for the client at `client`, whose address an IMAP server is
/// told (ID `x-originating-ip`, which Dovecot honours from its
/// `login_trusted_networks`).
pub async fn log_in(
    connector: &Connector,
    protocol: Protocol,
    client: SocketAddr,
) -> Result<Backend, LoginFailure> {
    let opened = match protocol {
        Protocol::Imap => connector.open_for(Some(client)).await.map(|client| {
            let capabilities = client.capabilities().to_vec();
            let (stream, unread) = client.into_parts();
            Backend {
                stream,
                unread,
                capabilities,
            }
        }),
        Protocol::Smtp | Protocol::Submission => {
            let why = "SMTP logins go to a submission service (backend::submission)";
            return Err(LoginFailure::Unavailable(why.into()));
        }
        Protocol::Pop3 => connector.open_pop3_for(client).await.map(|client| {
            let (stream, unread) = client.into_parts();
            Backend {
                stream,
                unread,
                capabilities: Vec::new(),
            }
        }),
    };
    opened.map_err(|e| match e {
        SessionError::Auth { reason, .. } => LoginFailure::Refused(reason),
        e => LoginFailure::Unavailable(in_words(&e)),
    })
}

/// Logs in to a submission service as the user (SMTP AUTH PLAIN, over TLS
/// unless the project allows plain text), telling the server the client's
/// address first with XCLIENT where it trusts the proxy. The connection is
/// handed over after the 235: the client's MAIL, RCPT and DATA go to the
/// server as they come.
pub async fn submission(
    connector: &Connector,
    server: &Submission,
    client: SocketAddr,
) -> Result<Backend, LoginFailure> {
    let unavailable =
        |e: &dyn std::fmt::Display| LoginFailure::Unavailable(format!("{server}: {e}"));
    let config = &connector.config;
    let timeout = config.timeout;
    let tcp = connect_tcp(&server.host, server.port, timeout)
        .await
        .map_err(|e| unavailable(&e))?;
    // EHLO with our own address: no name of ours is known here.
    let ours = match tcp.local_addr() {
        Ok(a) => format!("[{}]", a.ip()),
        Err(_) => "[127.0.0.1]".into(),
    };
    let tls = connector.tls();
    let stream = match server.implicit_tls {
        true => tls
            .wrap(&server.host, tcp, timeout)
            .await
            .map_err(|e| unavailable(&e))?,
        false => MaybeTls::Plain(tcp),
    };
    let smtp = |e: ClientError| unavailable(&e);
    let mut c = Client::connect(stream, Dialect::Smtp, timeout)
        .await
        .map_err(smtp)?;
    c.hello(&ours).await.map_err(smtp)?;
    if !server.implicit_tls {
        if c.has("STARTTLS") && !config.no_tls {
            c.starttls().await.map_err(smtp)?;
            let MaybeTls::Plain(tcp) = c.into_inner() else {
                return Err(unavailable(&"TLS was already on"));
            };
            let stream = tls
                .wrap(&server.host, tcp, timeout)
                .await
                .map_err(|e| unavailable(&e))?;
            c = Client::resume(stream, Dialect::Smtp, timeout);
            c.hello(&ours).await.map_err(smtp)?;
        } else if !config.allow_plaintext {
            return Err(unavailable(
                &"the server offers no STARTTLS, and the password would go in plain text (the project's --allow-plaintext allows it)",
            ));
        }
    }
    let (ip, port) = (client.ip().to_string(), client.port().to_string());
    let attributes = [("ADDR", ip.as_str()), ("PORT", port.as_str())];
    c.xclient(&attributes, &ours).await.map_err(smtp)?;
    let offers_plain = c
        .extension("AUTH")
        .is_some_and(|m| m.split_whitespace().any(|m| m == "PLAIN"));
    if !offers_plain {
        return Err(unavailable(&"the server offers no AUTH PLAIN"));
    }
    let user = &config.endpoint.user;
    let answer = match &config.credentials {
        Credentials::Password(p) => c.auth_plain("", user, p.expose()).await,
        Credentials::Admin {
            login,
            password,
            style,
        } => match style.login_name(user, login) {
            Ok(Some(name)) => c.auth_plain("", &name, password.expose()).await,
            Ok(None) => c.auth_plain(user, login, password.expose()).await,
            Err(e) => return Err(unavailable(&e)),
        },
        Credentials::Token(_) => {
            return Err(unavailable(
                &"OAuth tokens are not supported for submission",
            ))
        }
    };
    match answer {
        Ok(r) if r.code == 235 => {
            let (stream, unread) = c.into_parts();
            Ok(Backend {
                stream,
                unread,
                capabilities: Vec::new(),
            })
        }
        Ok(r) if r.code >= 500 => Err(LoginFailure::Refused(r.lines.join(" "))),
        Ok(r) => Err(unavailable(&ClientError::Refused(r))),
        Err(e) => Err(smtp(e)),
    }
}
