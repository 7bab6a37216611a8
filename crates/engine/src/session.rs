//! Opening an IMAP session on an endpoint: TCP, TLS or STARTTLS, login.

use std::fmt;
use std::time::Duration;

use mailport_imap::{Client, ClientConfig};
use mailport_net::{
    connect_tcp, ConnectError, Endpoint, MaybeTls, Scheme, TlsConnector, TlsOptions,
};
use zeroize::Zeroizing;

use crate::login::{log_in, AuthMech, Credentials, LoginError, Target};

pub type ImapSession = Client<MaybeTls>;

/// A password that never shows in logs or debug output and is wiped on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(Zeroizing::new(s))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything needed to log in to one side.
#[derive(Clone)]
pub struct EndpointConfig {
    pub endpoint: Endpoint,
    pub credentials: Credentials,
    /// A SASL mechanism the user insists on (else chosen from the server's offer).
    pub auth_mech: Option<AuthMech>,
    pub tls: TlsOptions,
    /// Allow `imap://` without STARTTLS (password in clear text).
    pub allow_plaintext: bool,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("login as {user:?} at {host} failed: {reason}")]
    Auth {
        user: String,
        host: String,
        reason: String,
    },
    #[error("cannot log in as {user:?} at {host}: {reason}")]
    Login {
        user: String,
        host: String,
        reason: String,
    },
    #[error("{host} does not offer STARTTLS; use imaps:// or pass --allow-plaintext to send the password unencrypted")]
    NoStartTls { host: String },
    #[error("{host}: {source}")]
    Imap {
        host: String,
        source: mailport_imap::Error,
    },
}

/// Opens sessions to one endpoint; holds the TLS configuration so that many
/// connections share it.
#[derive(Clone)]
pub struct Connector {
    pub config: EndpointConfig,
    tls: TlsConnector,
}

impl Connector {
    pub fn new(config: EndpointConfig) -> Result<Self, SessionError> {
        let tls = TlsConnector::new(&config.tls)?;
        Ok(Connector { config, tls })
    }

    pub async fn open(&self) -> Result<ImapSession, SessionError> {
        let ep = &self.config.endpoint;
        let timeout = self.config.timeout;
        let imap_err = |source| SessionError::Imap {
            host: ep.host.clone(),
            source,
        };
        let client_config = ClientConfig {
            timeout,
            ..Default::default()
        };
        let tcp = connect_tcp(&ep.host, ep.port, timeout).await?;
        let stream = match ep.scheme {
            Scheme::Imaps => self.tls.wrap(&ep.host, tcp, timeout).await?,
            Scheme::Imap => MaybeTls::Plain(tcp),
        };
        let (mut client, _preauth) = Client::connect(stream, client_config.clone())
            .await
            .map_err(imap_err)?;
        if client.capabilities().is_empty() {
            client.capability().await.map_err(imap_err)?;
        }
        if ep.scheme == Scheme::Imap {
            if client.has_capability("STARTTLS") {
                client.command(b"STARTTLS").await.map_err(imap_err)?;
                let MaybeTls::Plain(tcp) = client.into_inner() else {
                    unreachable!("imap:// starts in plain text")
                };
                let tls = self.tls.wrap(&ep.host, tcp, timeout).await?;
                client = Client::resume(tls, client_config);
                client.capability().await.map_err(imap_err)?;
            } else if !self.config.allow_plaintext {
                return Err(SessionError::NoStartTls {
                    host: ep.host.clone(),
                });
            }
        }
        let target = Target {
            user: &ep.user,
            host: &ep.host,
            port: ep.port,
        };
        let result = log_in(
            &mut client,
            &target,
            &self.config.credentials,
            self.config.auth_mech,
        )
        .await;
        match result {
            Ok(()) => Ok(client),
            Err(LoginError::Refused(reason)) => Err(SessionError::Auth {
                user: ep.user.clone(),
                host: ep.host.clone(),
                reason,
            }),
            Err(LoginError::Unsupported(reason)) => Err(SessionError::Login {
                user: ep.user.clone(),
                host: ep.host.clone(),
                reason,
            }),
            Err(LoginError::Imap(e)) => Err(imap_err(e)),
        }
    }
}
