//! SMTP at the old server's address, port 25 (issue 15): mail for each
//! recipient goes where that recipient's mailbox is this minute.
//!
//! Per recipient, at RCPT: an account moved → the new server's MTA
//! (`deliver_to`); not moved (or not seen by the proxy yet) → relayed to
//! the old server (`relay_to`); being moved → `451 4.2.0`, the sender tries
//! again after the final pass; an address of the organisation without a
//! mailbox → relayed to the old server, which knows its aliases, lists and
//! catch-alls (or `550 5.1.1` when unknown recipients are refused); any
//! other domain → `550 5.7.1` (never an open relay).
//!
//! One transaction goes to one server: the first accepted recipient picks
//! it, recipients of the other get `452 4.5.3` and their sender sends them
//! again in a transaction of their own (RFC 5321 §3.3) — nothing is
//! half-delivered or delivered twice. The proxy answers the sender only
//! after the server behind it answered: it is never a queue. Each accepted
//! recipient is recorded (where, why) for the retirement report. The MTAs
//! themselves are [`crate::smtp_downstream`]'s.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mailport_engine::{Credentials, Secret};
use mailport_imap::framing::{read_line, without_line_end, FramingError};
use mailport_mail::date::now;
use mailport_net::{MaybeTls, TlsConnector};
use mailport_project::{Addressee, Project};
use mailport_smtp::client::{Client, ClientError, Dialect};
use mailport_smtp::data::read_data;
use mailport_smtp::server::{
    param, parse_command, Address, Command, Param, Recipient, Reply, MAX_COMMAND_LINE,
};
use mailport_store::{DeliveryRow, ServedBy};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::front::{send, send_and_close, Front, PRE_LOGIN_BUFFER};
use crate::smtp_downstream::{mta, open, MtaTls, Opened, Server};
use crate::strikes::Strikes;

/// Where mail goes: an MTA, by SMTP or LMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mta {
    pub host: String,
    pub port: u16,
    pub dialect: Dialect,
}

impl Mta {
    /// `smtp://host[:port]` (25) or `lmtp://host:port`.
    pub fn parse(url: &str) -> Result<Mta, String> {
        let bad = || format!("{url}: an MTA is smtp://HOST[:PORT] or lmtp://HOST:PORT");
        let (dialect, rest) = match url.split_once("://") {
            Some(("smtp", r)) => (Dialect::Smtp, r),
            Some(("lmtp", r)) => (Dialect::Lmtp, r),
            _ => return Err(bad()),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
            None if dialect == Dialect::Smtp => (rest, 25),
            None => return Err(bad()),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Mta {
            host: host.to_string(),
            port,
            dialect,
        })
    }
}

/// The SMTP front's settings.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// The name in the greeting and in our Received lines.
    pub hostname: String,
    /// The old server's MTA.
    pub relay_to: Mta,
    /// The new server's MTA.
    pub deliver_to: Mta,
    /// Refuse addresses of the organisation that have no mailbox, instead
    /// of relaying them to the old server.
    pub reject_unknown: bool,
    /// Largest message taken; SIZE announces the smaller of this and the
    /// limits the two MTAs announce.
    pub max_size: u64,
    /// Recipients per message at most.
    pub max_recipients: usize,
    /// Wrong commands before the session is ended.
    pub max_errors: usize,
    /// Wrong commands from one client address, over all its sessions in
    /// [`ERROR_WINDOW`], before its new sessions are turned away.
    pub max_errors_per_address: u32,
    /// Waiting for a command, and for each block of a message (RFC 5321
    /// §4.5.3.2.7: 5 minutes).
    pub timeout: Duration,
    /// The SIZE each MTA announced when last seen (0: none known).
    learned: Arc<[AtomicU64; 2]>,
    /// TLS to the MTAs when they offer STARTTLS: the project's settings of
    /// each side (its CA); none: plain text.
    pub(crate) tls: Option<Arc<MtaTls>>,
}

impl SmtpConfig {
    pub fn new(hostname: String, relay_to: Mta, deliver_to: Mta) -> SmtpConfig {
        SmtpConfig {
            hostname,
            relay_to,
            deliver_to,
            reject_unknown: false,
            max_size: 50 << 20,
            max_recipients: 100,
            max_errors: 10,
            max_errors_per_address: ERRORS_PER_ADDRESS,
            timeout: Duration::from_secs(300),
            learned: Arc::default(),
            tls: None,
        }
    }

    /// STARTTLS to the MTAs, where they offer it, with the project's TLS
    /// settings of each side (the old MTA is the source's, the new one the
    /// destination's).
    pub fn with_tls(mut self, project: &Project) -> Result<SmtpConfig, String> {
        let side = |side: &str| -> Result<TlsConnector, String> {
            let nobody = Credentials::Password(Secret::new(String::new()));
            let c = project
                .connector_for(side, "", nobody)
                .map_err(|e| e.to_string())?;
            Ok(c.tls().clone())
        };
        self.tls = Some(Arc::new(MtaTls {
            old: side("source")?,
            new: side("destination")?,
        }));
        Ok(self)
    }

    /// The largest message taken now: the configured limit, or less when
    /// an MTA behind takes less (the sender learns it at EHLO rather than
    /// after sending it all).
    pub fn size_limit(&self) -> u64 {
        self.learned
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .filter(|&n| n > 0)
            .fold(self.max_size, u64::min)
    }

    pub(crate) fn learn(&self, server: Server, limit: Option<u64>) {
        self.learned[server as usize].store(limit.unwrap_or(0), Ordering::Relaxed);
    }
}

/// Wrong commands from one client address in [`ERROR_WINDOW`], by default.
pub const ERRORS_PER_ADDRESS: u32 = 30;

/// How long wrong commands count against a client address.
pub const ERROR_WINDOW: Duration = Duration::from_secs(600);

/// A session's wrong commands, also counted against its client address.
struct Errors<'a> {
    n: usize,
    strikes: &'a Strikes,
    address: String,
}

impl Errors<'_> {
    fn add(&mut self) {
        self.n += 1;
        self.strikes.count(&self.address);
    }
}

struct Accepted {
    address: String,
    login: Option<String>,
    why: &'static str,
}

/// One transaction: its sender, and once a recipient picked it, the MTA
/// it goes to (connected, MAIL given) and the recipients it took.
#[derive(Default)]
struct Transaction {
    mail: Option<(Option<Address>, Vec<Param>)>,
    downstream: Option<(Server, Client<MaybeTls>)>,
    accepted: Vec<Accepted>,
    /// Recipients asked for, accepted or not (the limit counts them).
    asked: usize,
}

impl Transaction {
    async fn abandon(&mut self) {
        if let Some((_, client)) = self.downstream.take() {
            client.quit().await;
        }
        *self = Transaction::default();
    }
}

fn reply(code: u16, enhanced: &'static str, text: &str) -> Vec<u8> {
    Reply::new(code, Some(enhanced), text).to_bytes()
}

/// Serves one SMTP client until it quits or is sent away.
pub async fn serve(
    front: &Front,
    config: &SmtpConfig,
    tcp: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
) {
    if let Err(e) = session(front, config, tcp, peer, implicit_tls).await {
        tracing::debug!("SMTP session from {peer} ended: {e}");
    }
}

async fn session(
    front: &Front,
    config: &SmtpConfig,
    tcp: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
) -> std::io::Result<()> {
    let project = &front.gate.project;
    let stream = match (implicit_tls, &front.tls) {
        (true, Some(acceptor)) => front.handshake(acceptor, tcp).await?,
        (true, None) => return Ok(()),
        (false, _) => MaybeTls::Plain(tcp),
    };
    let mut io = BufReader::with_capacity(PRE_LOGIN_BUFFER, stream);
    let mut errors = Errors {
        n: 0,
        strikes: &front.smtp_errors,
        address: peer.ip().to_string(),
    };
    // Turned away instead of greeted (RFC 5321 §3.1).
    if front.smtp_errors.out(&errors.address) {
        let text = "too many wrong commands from your address; try again later";
        return send_and_close(&mut io, &reply(421, "4.7.0", text)).await;
    }
    let greeting = format!("{} ESMTP mailport proxy", config.hostname);
    send(&mut io, &Reply::new(220, None, &greeting).to_bytes()).await?;
    let mut helo: Option<String> = None;
    let mut domains = None;
    let mut txn = Transaction::default();

    let mut line = Vec::new();
    loop {
        if errors.n >= config.max_errors {
            txn.abandon().await;
            let bye = reply(421, "4.7.0", "too many errors; closing");
            return send_and_close(&mut io, &bye).await;
        }
        line.clear();
        match read_line(&mut io, &mut line, MAX_COMMAND_LINE, config.timeout).await {
            Ok(()) => {}
            Err(FramingError::TooLong { limit, .. }) => {
                txn.abandon().await;
                let text = format!("command line longer than {limit} bytes; closing");
                return send_and_close(&mut io, &reply(500, "5.5.2", &text)).await;
            }
            Err(FramingError::Timeout(_)) => {
                send(&mut io, &reply(421, "4.4.2", "idle too long; closing")).await?;
                txn.abandon().await;
                return Ok(());
            }
            Err(FramingError::Closed) | Err(FramingError::Io(_)) => {
                txn.abandon().await;
                return Ok(());
            }
        }
        let command = match parse_command(without_line_end(&line)) {
            Ok(c) => c,
            Err(r) => {
                errors.add();
                send(&mut io, &r.to_bytes()).await?;
                continue;
            }
        };
        let tls = io.get_ref().is_tls();
        match command {
            Command::Ehlo(name) => {
                txn.abandon().await;
                helo = Some(name);
                let mut ext = vec![
                    format!("SIZE {}", config.size_limit()),
                    "8BITMIME".into(),
                    "SMTPUTF8".into(),
                    "PIPELINING".into(),
                    "ENHANCEDSTATUSCODES".into(),
                ];
                if !tls && front.tls.is_some() {
                    ext.push("STARTTLS".into());
                }
                let hello = Reply::new(250, None, &config.hostname).with_lines(ext);
                send(&mut io, &hello.to_bytes()).await?;
            }
            Command::Helo(name) => {
                txn.abandon().await;
                helo = Some(name);
                send(&mut io, &Reply::new(250, None, &config.hostname).to_bytes()).await?;
            }
            Command::StartTls => {
                let Some(acceptor) = front.tls.as_ref().filter(|_| !tls) else {
                    errors.add();
                    send(&mut io, &reply(454, "4.7.0", "TLS is not available here")).await?;
                    continue;
                };
                send(&mut io, &reply(220, "2.0.0", "ready to start TLS")).await?;
                txn.abandon().await;
                helo = None;
                match front.upgrade(io, acceptor).await? {
                    Some(upgraded) => io = upgraded,
                    None => return Ok(()),
                }
            }
            Command::Quit => {
                txn.abandon().await;
                send(&mut io, &reply(221, "2.0.0", "bye")).await?;
                return Ok(());
            }
            Command::Rset => {
                txn.abandon().await;
                send(&mut io, &reply(250, "2.0.0", "reset")).await?;
            }
            Command::Noop => send(&mut io, &reply(250, "2.0.0", "ok")).await?,
            Command::Help => {
                send(&mut io, &reply(214, "2.0.0", "see RFC 5321")).await?;
            }
            Command::Vrfy(_) => {
                send(
                    &mut io,
                    &reply(252, "2.5.0", "cannot verify; send some mail"),
                )
                .await?;
            }
            Command::Auth { .. } => {
                errors.add();
                let text = "AUTH is for sending mail (the submission port), not here";
                send(&mut io, &reply(503, "5.5.1", text)).await?;
            }
            Command::Other(verb) => {
                errors.add();
                send(
                    &mut io,
                    &reply(502, "5.5.2", &format!("{verb} is not implemented")),
                )
                .await?;
            }
            Command::Mail { .. } | Command::Rcpt { .. } | Command::Data if helo.is_none() => {
                errors.add();
                send(&mut io, &reply(503, "5.5.1", "say EHLO first")).await?;
            }
            Command::Mail { from, params } => {
                if txn.mail.is_some() {
                    errors.add();
                    send(
                        &mut io,
                        &reply(503, "5.5.1", "a transaction is already open; RSET first"),
                    )
                    .await?;
                    continue;
                }
                let too_big = param(&params, "SIZE")
                    .flatten()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some_and(|n| n > config.size_limit());
                if too_big {
                    let text = format!("messages here are at most {} bytes", config.size_limit());
                    send(&mut io, &reply(552, "5.3.4", &text)).await?;
                    continue;
                }
                txn.mail = Some((from, params));
                send(&mut io, &reply(250, "2.1.0", "sender ok")).await?;
            }
            Command::Rcpt { to, .. } => {
                if txn.mail.is_none() {
                    errors.add();
                    send(&mut io, &reply(503, "5.5.1", "MAIL first")).await?;
                    continue;
                }
                let answer = recipient(
                    project,
                    config,
                    &mut txn,
                    &to,
                    peer,
                    helo.as_deref().unwrap_or(""),
                    &mut domains,
                )
                .await;
                if !answer.is_positive() && !answer.is_transient() {
                    errors.add();
                }
                send(&mut io, &answer.to_bytes()).await?;
            }
            Command::Data => {
                if txn.mail.is_none() {
                    errors.add();
                    send(&mut io, &reply(503, "5.5.1", "MAIL first")).await?;
                    continue;
                }
                if txn.accepted.is_empty() {
                    send(&mut io, &reply(554, "5.5.1", "no valid recipients")).await?;
                    continue;
                }
                let answer = data(
                    project,
                    config,
                    &mut txn,
                    &mut io,
                    peer,
                    helo.as_deref().unwrap_or(""),
                )
                .await?;
                send(&mut io, &answer.to_bytes()).await?;
                txn.abandon().await;
            }
        }
    }
}

/// RCPT: where the recipient's mail goes, and that MTA's answer.
async fn recipient(
    project: &Arc<Project>,
    config: &SmtpConfig,
    txn: &mut Transaction,
    to: &Recipient,
    peer: SocketAddr,
    helo: &str,
    domains: &mut Option<std::collections::BTreeSet<String>>,
) -> Reply {
    if txn.asked >= config.max_recipients {
        return Reply::new(
            452,
            Some("4.5.3"),
            "too many recipients; send the rest again",
        );
    }
    txn.asked += 1;
    let unavailable = |what: &str| {
        tracing::warn!("SMTP: {what}");
        Reply::new(
            451,
            Some("4.3.0"),
            "a mail server is not available; try again later",
        )
    };
    // The organisation's domains: read once per session, not per RCPT
    // (they come from every mailbox row of the project).
    if domains.is_none() {
        match project.mail_domains().await {
            Ok(d) => *domains = Some(d),
            Err(e) => return unavailable(&format!("state store: {e}")),
        }
    }
    let domains = domains.as_ref().expect("just read");
    let (address, addressee) = match to {
        // The postmaster of the old server.
        Recipient::Postmaster => ("postmaster".to_string(), Addressee::NoMailbox),
        Recipient::Address(a) => match project.addressee(&a.local, &a.domain, domains).await {
            Ok(who) => (a.to_path(), who),
            Err(e) => return unavailable(&format!("state store: {e}")),
        },
    };
    let (server, login, why) = match addressee {
        Addressee::Elsewhere => {
            return Reply::new(
                550,
                Some("5.7.1"),
                "relaying denied: not a domain of this server",
            )
        }
        Addressee::NoMailbox if config.reject_unknown => {
            return Reply::new(550, Some("5.1.1"), "no such mailbox here")
        }
        Addressee::NoMailbox => (Server::Old, None, "no mailbox"),
        Addressee::Mailbox(login) => match project.store.account(&project.name, &login).await {
            Err(e) => return unavailable(&format!("state store: {e}")),
            Ok(Some(a)) if a.served_by == ServedBy::Destination => {
                (Server::New, Some(login), "moved")
            }
            Ok(Some(a)) if a.served_by == ServedBy::Moving => {
                return Reply::new(
                    451,
                    Some("4.2.0"),
                    "this mailbox is being moved to a new server; try again in a few minutes",
                )
            }
            Ok(_) => (Server::Old, Some(login), "not moved"),
        },
    };
    match &txn.downstream {
        Some((s, _)) if *s != server => {
            return Reply::new(
                452,
                Some("4.5.3"),
                "this recipient is served elsewhere; send it again in a transaction of its own",
            )
        }
        // LMTP answers per recipient after the data, which SMTP cannot
        // pass on: one recipient per transaction there.
        Some(_) if mta(config, server).dialect == Dialect::Lmtp && !txn.accepted.is_empty() => {
            return Reply::new(
                452,
                Some("4.5.3"),
                "one recipient at a time; send the rest again",
            );
        }
        Some(_) => {}
        None => {
            let Some((from, params)) = &txn.mail else {
                return Reply::new(503, Some("5.5.1"), "MAIL first");
            };
            match open(config, server, from.as_ref(), params, peer, helo).await {
                Ok(client) => txn.downstream = Some((server, client)),
                Err(Opened::Refused(r)) => return r,
                Err(Opened::Failed(why)) => {
                    return unavailable(&format!("{} server's MTA: {why}", server.as_str()))
                }
            }
        }
    }
    let Some((_, client)) = txn.downstream.as_mut() else {
        return unavailable("no downstream");
    };
    match client.rcpt(&address, &[]).await {
        Ok(r) => {
            if r.is_positive() {
                txn.accepted.push(Accepted {
                    address,
                    login,
                    why,
                });
            }
            r
        }
        Err(ClientError::Refused(r)) => r,
        Err(e) => {
            txn.downstream = None;
            unavailable(&format!("{} server's MTA: {e}", server.as_str()))
        }
    }
}

/// DATA: the message, passed on as it comes; the MTA's answer.
async fn data(
    project: &Arc<Project>,
    config: &SmtpConfig,
    txn: &mut Transaction,
    io: &mut BufReader<MaybeTls>,
    peer: SocketAddr,
    helo: &str,
) -> std::io::Result<Reply> {
    let unavailable = Reply::new(
        451,
        Some("4.3.0"),
        "a mail server is not available; try again later",
    );
    let Some((server, mut client)) = txn.downstream.take() else {
        return Ok(unavailable);
    };
    match client.data().await {
        Ok(r) if r.code == 354 => {}
        Ok(r) | Err(ClientError::Refused(r)) => return Ok(r),
        Err(_) => return Ok(unavailable),
    }
    send(
        io,
        &reply(354, "2.0.0", "send the message, end with a line of one dot"),
    )
    .await?;
    // Our own trace line: who handed the message to the proxy.
    let received = format!(
        "Received: from {helo} ([{}])\r\n\tby {} (mailport proxy) with ESMTP;\r\n\t{}\r\n",
        peer.ip(),
        config.hostname,
        mailport_mail::date::format_utc(now())
    );
    if client
        .message_sink()
        .write_all(received.as_bytes())
        .await
        .is_err()
    {
        // Read the message all the same, so the session stays in step.
        let _ = read_data::<_, MaybeTls>(io, None, config.size_limit(), config.timeout).await;
        return Ok(unavailable);
    }
    let limit = config.size_limit();
    let end = read_data(io, Some(client.message_sink()), limit, config.timeout).await;
    let end = match end {
        Ok(e) => e,
        Err(e) => return Err(std::io::Error::other(e.to_string())),
    };
    if end.too_big {
        // The MTA never got the end: dropping it abandons the message.
        drop(client);
        let text = format!("messages here are at most {limit} bytes");
        return Ok(Reply::new(552, Some("5.3.4"), &text));
    }
    let answers = match client.after_data(txn.accepted.len()).await {
        Ok(a) => a,
        Err(_) => return Ok(unavailable),
    };
    client.quit().await;
    let answer = answers.into_iter().next().unwrap_or(unavailable);
    if answer.is_positive() {
        let sender = txn
            .mail
            .as_ref()
            .and_then(|(f, _)| f.as_ref().map(Address::to_path))
            .unwrap_or_default();
        for r in &txn.accepted {
            let row = DeliveryRow {
                at: now(),
                sender: sender.clone(),
                recipient: r.address.clone(),
                login: r.login.clone(),
                size: end.bytes as i64,
                server: server.as_str().into(),
                why: r.why.into(),
            };
            if let Err(e) = project.store.record_delivery(&project.name, &row).await {
                tracing::warn!("recording a delivery failed: {e}");
            }
        }
    }
    Ok(answer)
}
