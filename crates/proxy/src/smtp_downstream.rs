//! The MTAs behind the SMTP front ([`crate::smtp_front`]): the old
//! server's (`relay_to`) and the new server's (`deliver_to`). Connecting
//! and greeting them — STARTTLS where offered (opportunistic, certificates
//! checked with the project's TLS settings of each side), XCLIENT naming
//! the real client where they trust the proxy — opening a transaction, and
//! learning the message size each takes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailport_net::{MaybeTls, TlsConnector};
use mailport_smtp::client::{Client, ClientError};
use mailport_smtp::server::{Address, Param, Reply};
use tokio::net::TcpStream;

use crate::smtp_front::{Mta, SmtpConfig};

/// Which MTA a recipient's mail goes to, and why (recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    Old = 0,
    New = 1,
}

impl Server {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Server::Old => "old",
            Server::New => "new",
        }
    }
}

pub(crate) fn mta(config: &SmtpConfig, server: Server) -> &Mta {
    match server {
        Server::Old => &config.relay_to,
        Server::New => &config.deliver_to,
    }
}

/// TLS client settings for the old and the new server's MTA.
pub struct MtaTls {
    pub old: TlsConnector,
    pub new: TlsConnector,
}

impl std::fmt::Debug for MtaTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MtaTls")
    }
}

/// Greets both MTAs once at start: their SIZE limits are known before the
/// first sender asks, and one that does not answer is named in the log
/// (its mail is answered "try again later" until it does).
pub async fn learn_limits(config: Arc<SmtpConfig>) {
    for server in [Server::Old, Server::New] {
        let target = mta(&config, server);
        let why = match tokio::time::timeout(Duration::from_secs(30), greet(&config, server)).await
        {
            Ok(Ok(client)) => {
                config.learn(server, client.size_limit());
                client.quit().await;
                continue;
            }
            Ok(Err(Opened::Failed(e))) => e,
            Ok(Err(Opened::Refused(r))) => format!("it answered {}", r.code),
            Err(_) => "no greeting within 30 seconds".into(),
        };
        tracing::warn!(
            "the {} server's MTA ({}:{}) does not answer: {why}; its mail is answered \"try again later\" until it does",
            server.as_str(),
            target.host,
            target.port
        );
    }
}

pub(crate) enum Opened {
    /// The MTA refused the sender: its answer goes to the client.
    Refused(Reply),
    Failed(String),
}

/// Connects to the MTA for `server` and says hello: over TLS when it
/// offers STARTTLS (opportunistic, as MTAs do: a failed handshake is logged
/// and the message goes in plain text).
async fn greet(config: &SmtpConfig, server: Server) -> Result<Client<MaybeTls>, Opened> {
    let target = mta(config, server);
    let plain = || async {
        let failed = |e: &dyn std::fmt::Display| Opened::Failed(e.to_string());
        let connect = TcpStream::connect((target.host.as_str(), target.port));
        let tcp = match tokio::time::timeout(Duration::from_secs(30), connect).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Err(failed(&e)),
            Err(_) => return Err(failed(&"no connection within 30 seconds")),
        };
        // Commands and replies are small and answered one by one.
        let _ = tcp.set_nodelay(true);
        let mut client = Client::connect(MaybeTls::Plain(tcp), target.dialect, config.timeout)
            .await
            .map_err(|e| failed(&e))?;
        client
            .hello(&config.hostname)
            .await
            .map_err(|e| failed(&e))?;
        Ok(client)
    };
    let client = plain().await?;
    let tls = match (&config.tls, server) {
        (Some(t), Server::Old) => &t.old,
        (Some(t), Server::New) => &t.new,
        (None, _) => return Ok(client),
    };
    if !client.has("STARTTLS") {
        return Ok(client);
    }
    match starttls(client, tls, config, &target.host).await {
        Ok(c) => Ok(c),
        Err(why) => {
            tracing::warn!(
                "TLS to the {} server's MTA ({}:{}) failed: {why}; sending in plain text",
                server.as_str(),
                target.host,
                target.port
            );
            plain().await
        }
    }
}

async fn starttls(
    mut client: Client<MaybeTls>,
    tls: &TlsConnector,
    config: &SmtpConfig,
    host: &str,
) -> Result<Client<MaybeTls>, String> {
    client.starttls().await.map_err(|e| e.to_string())?;
    let dialect = client.dialect();
    let MaybeTls::Plain(tcp) = client.into_inner() else {
        return Err("TLS was already on".into());
    };
    let stream = tls
        .wrap(host, tcp, config.timeout)
        .await
        .map_err(|e| e.to_string())?;
    let mut client = Client::resume(stream, dialect, config.timeout);
    client
        .hello(&config.hostname)
        .await
        .map_err(|e| e.to_string())?;
    Ok(client)
}

/// Connects to the MTA for `server` ([`greet`]), tells it the real client
/// with XCLIENT where it trusts the proxy, and gives it the sender.
pub(crate) async fn open(
    config: &SmtpConfig,
    server: Server,
    from: Option<&Address>,
    params: &[Param],
    peer: SocketAddr,
    helo: &str,
) -> Result<Client<MaybeTls>, Opened> {
    let failed = |e: &dyn std::fmt::Display| Opened::Failed(e.to_string());
    let mut client = greet(config, server).await?;
    config.learn(server, client.size_limit());
    let addr = peer.ip().to_string();
    let port = peer.port().to_string();
    let attributes = [
        ("ADDR", addr.as_str()),
        ("PORT", port.as_str()),
        ("HELO", helo),
        ("PROTO", "ESMTP"),
    ];
    client
        .xclient(&attributes, &config.hostname)
        .await
        .map_err(|e| failed(&e))?;
    // Parameters the MTA understands are passed on.
    let passed: Vec<String> = params
        .iter()
        .filter(|(k, _)| match k.as_str() {
            "SIZE" => client.has("SIZE"),
            "BODY" => client.has("8BITMIME"),
            "SMTPUTF8" => client.has("SMTPUTF8"),
            _ => false,
        })
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();
    let sender = from.map(Address::to_path).unwrap_or_default();
    match client.mail(&sender, &passed).await {
        Ok(r) if r.is_positive() => Ok(client),
        Ok(r) | Err(ClientError::Refused(r)) => Err(Opened::Refused(r)),
        Err(e) => Err(failed(&e)),
    }
}
