//! Opening an IMAP session on an endpoint: TCP, TLS or STARTTLS, login;
//! finding a working port and security when the given ones do not connect.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailport_imap::{Client, ClientConfig};
use mailport_net::{
    connect_tcp, route, Endpoint, MaybeTls, Scheme, Security, TlsConnector, TlsOptions,
};

use crate::error::SessionError;
use crate::login::{log_in, Account, AuthMech, Credentials, LoginError};

pub type ImapSession = Client<MaybeTls>;
/// A POP3 session in the TRANSACTION state (the proxy relays it).
pub type Pop3Session = mailport_pop3::Client<MaybeTls>;

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
    /// Stay in plain text on `imap://` and `pop3://` even when the server
    /// offers STARTTLS/STLS (trusted networks, where TLS only costs CPU).
    /// Only together with `allow_plaintext`.
    pub no_tls: bool,
    pub timeout: Duration,
}

impl EndpointConfig {
    /// Whether to upgrade a plain-text connection whose server does
    /// (`offered`) or does not offer STARTTLS/STLS; an error when plain text
    /// is not allowed.
    pub(crate) fn starttls(&self, offered: bool) -> Result<bool, SessionError> {
        if offered && !self.no_tls {
            Ok(true)
        } else if self.allow_plaintext {
            Ok(false)
        } else {
            Err(SessionError::NoStartTls {
                host: self.endpoint.host.clone(),
            })
        }
    }
}

/// Opens sessions to one endpoint; holds the TLS configuration so that many
/// connections share it.
#[derive(Clone)]
pub struct Connector {
    pub config: EndpointConfig,
    tls: TlsConnector,
    /// The connection `discover` made, not yet logged in: the first
    /// `open` uses it instead of connecting (and handshaking) again.
    spare: Arc<Mutex<Option<ImapSession>>>,
}

impl Connector {
    pub fn new(config: EndpointConfig) -> Result<Self, SessionError> {
        let tls = TlsConnector::new(&config.tls)?;
        Ok(Connector {
            config,
            tls,
            spare: Arc::default(),
        })
    }

    /// Logs in over POP3 (a `pop3://` or `pop3s://` endpoint).
    pub async fn open_pop3(&self) -> Result<Pop3Session, SessionError> {
        crate::pop3_source::log_in(self, None).await
    }

    /// Logs in over POP3 on behalf of a client at `client` (a proxy): a
    /// server that trusts the proxy is told its address (XCLIENT) first.
    pub async fn open_pop3_for(
        &self,
        client: std::net::SocketAddr,
    ) -> Result<Pop3Session, SessionError> {
        crate::pop3_source::log_in(self, Some(client)).await
    }

    pub async fn open(&self) -> Result<ImapSession, SessionError> {
        self.open_for(None).await
    }

    /// Logs in on behalf of a client at `client` (a proxy): the server is
    /// told its address with ID before the login, when it offers ID, so its
    /// logs, rate limits and checks see the real client.
    pub async fn open_for(
        &self,
        on_behalf_of: Option<std::net::SocketAddr>,
    ) -> Result<ImapSession, SessionError> {
        let ep = &self.config.endpoint;
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut client = match spare {
            Some(c) => c,
            None => {
                self.connect(ep, self.config.timeout, self.config.timeout)
                    .await?
                    .0
            }
        };
        if let Some(addr) = on_behalf_of.filter(|_| client.has_capability("ID")) {
            let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
            let fields = [
                ("x-originating-ip", ip.as_str()),
                ("x-originating-port", port.as_str()),
            ];
            // A server that refuses the ID still takes the login.
            match client.id(&fields).await {
                Ok(())
                | Err(mailport_imap::Error::No { .. } | mailport_imap::Error::Bad { .. }) => {}
                Err(source) => {
                    return Err(SessionError::Imap {
                        host: ep.host.clone(),
                        source,
                    })
                }
            }
        }
        let target = Account {
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
            Err(LoginError::Imap(source)) => Err(SessionError::Imap {
                host: ep.host.clone(),
                source,
            }),
        }
    }

    /// The TLS settings its connections use (a proxy opens other services
    /// of the same server with them).
    pub fn tls(&self) -> &TlsConnector {
        &self.tls
    }

    /// Connects without logging in; whether the connection is encrypted. An
    /// IMAP session is kept for the first `open`; POP3 only needs its greeting.
    async fn probe(
        &self,
        ep: &Endpoint,
        timeout: Duration,
        greeting_within: Duration,
    ) -> Result<bool, SessionError> {
        if !ep.scheme.is_pop3() {
            let (client, encrypted) = self.connect(ep, timeout, greeting_within).await?;
            self.keep(client);
            return Ok(encrypted);
        }
        let fail = |source| SessionError::Pop3 {
            host: ep.host.clone(),
            source,
        };
        let config = mailport_pop3::ClientConfig {
            timeout,
            ..Default::default()
        };
        let tcp = connect_tcp(&ep.host, ep.port, timeout).await?;
        if ep.scheme == Scheme::Pop3s {
            let tls = self.tls.wrap(&ep.host, tcp, timeout).await?;
            mailport_pop3::Client::connect(tls, config)
                .await
                .map_err(fail)?;
            return Ok(true);
        }
        let greeting = mailport_pop3::ClientConfig {
            timeout: timeout.min(greeting_within),
            ..config.clone()
        };
        let mut c = mailport_pop3::Client::connect(MaybeTls::Plain(tcp), greeting)
            .await
            .map_err(fail)?;
        c.set_timeout(timeout);
        let _ = c.capa().await;
        if !self.config.starttls(c.has_capability("STLS"))? {
            return Ok(false);
        }
        c.stls().await.map_err(fail)?;
        let MaybeTls::Plain(tcp) = c.into_inner() else {
            unreachable!("pop3:// starts in plain text")
        };
        self.tls.wrap(&ep.host, tcp, timeout).await?;
        Ok(true)
    }

    fn keep(&self, mut client: ImapSession) {
        // Probed with a short timeout; used with the configured one.
        client.set_timeout(self.config.timeout);
        *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
    }

    /// Everything before the login: TCP, TLS or STARTTLS, capabilities.
    /// Returns the session and whether it is encrypted.
    /// `greeting`: how long a plain-text start waits for the greeting (a
    /// TLS port answers nothing until the client speaks TLS).
    async fn connect(
        &self,
        ep: &Endpoint,
        timeout: Duration,
        greeting: Duration,
    ) -> Result<(ImapSession, bool), SessionError> {
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
            Scheme::Pop3s | Scheme::Pop3 => {
                return Err(SessionError::Unusable(format!(
                    "{ep}: POP3 can only be a source (--from)"
                )))
            }
        };
        let first = ClientConfig {
            timeout: match ep.scheme {
                Scheme::Imap => timeout.min(greeting),
                _ => timeout,
            },
            ..client_config.clone()
        };
        let (mut client, _preauth) = Client::connect(stream, first).await.map_err(imap_err)?;
        client.set_timeout(timeout);
        if client.capabilities().is_empty() {
            client.capability().await.map_err(imap_err)?;
        }
        if ep.scheme == Scheme::Imaps {
            return Ok((client, true));
        }
        if !self.config.starttls(client.has_capability("STARTTLS"))? {
            return Ok((client, false));
        }
        client.starttls().await.map_err(imap_err)?;
        let greeting = client.greeting().to_string();
        let MaybeTls::Plain(tcp) = client.into_inner() else {
            unreachable!("imap:// starts in plain text")
        };
        let tls = self.tls.wrap(&ep.host, tcp, timeout).await?;
        client = Client::resume(tls, client_config);
        client.set_greeting(greeting);
        client.capability().await.map_err(imap_err)?;
        Ok((client, true))
    }

    /// Checks that the endpoint connects (without logging in); if nothing
    /// usable answers there, tries the other security on the same port and
    /// the standard ports, and switches this connector to the first that
    /// connects. Never runs after a login failure: it does not log in.
    ///
    /// Every attempt waits at most [`PROBE_TIMEOUT`] (or `timeout` if shorter):
    /// a client speaking plain text to a TLS port otherwise waits for a
    /// greeting that never comes.
    pub async fn discover(&mut self) -> Result<Option<Discovery>, Unreachable> {
        let given = self.config.endpoint.clone();
        let timeout = self.config.timeout.min(PROBE_TIMEOUT);
        let error = match self.probe(&given, timeout, GREETING_PROBE).await {
            Ok(_) => return Ok(None),
            Err(e) => e,
        };
        let Some(port_answered) = wrong_route(&error) else {
            return Err(Unreachable {
                endpoint: given,
                error,
                tried: Vec::new(),
            });
        };
        let mut tried = vec![(given.clone(), error.to_string())];
        let routes = route::alternatives(
            given.route(),
            &given.scheme.standard_routes(),
            port_answered,
        );
        // With no_tls only routes that start in plain text can serve.
        for route in routes
            .into_iter()
            .filter(|r| !self.config.no_tls || r.security == Security::StartTls)
        {
            let candidate = given.with_route(route);
            match self.probe(&candidate, timeout, GREETING_PROBE).await {
                Ok(encrypted) => {
                    self.config.endpoint = candidate.clone();
                    return Ok(Some(Discovery {
                        given,
                        found: candidate,
                        encrypted,
                        failed: tried,
                    }));
                }
                // Something answered there and refused us for a reason of its
                // own (a certificate): that, not the first failure, is news.
                Err(e) if wrong_route(&e).is_none() => {
                    return Err(Unreachable {
                        endpoint: candidate,
                        error: e,
                        tried,
                    })
                }
                Err(e) => tried.push((candidate, e.to_string())),
            }
        }
        // Nothing else answered either: a server that accepted the
        // connection but greeted late is busy, not on another route. It
        // gets a patient try before the job gives up.
        if port_answered {
            let patient = self.config.timeout.min(BUSY_GREETING);
            if self.probe(&given, patient, patient).await.is_ok() {
                return Ok(None);
            }
        }
        tried.remove(0);
        Err(Unreachable {
            endpoint: given,
            error,
            tried,
        })
    }
}

/// How long [`Connector::discover`] waits for each attempt.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a discovery attempt in plain text waits for the greeting: servers
/// greet at once, and silence usually means a TLS port waiting for the
/// client's TLS hello (`imap://` given for port 993), so the next route is
/// tried after seconds, not after the whole timeout.
const GREETING_PROBE: Duration = Duration::from_secs(3);

/// How long a server that accepted the connection may take to greet when
/// no other route answers (a loaded server, not a wrong port).
const BUSY_GREETING: Duration = Duration::from_secs(30);

/// `Some(port_answered)` when nothing usable answered at the route (worth
/// trying others); `None` for a real answer such as a refused certificate.
fn wrong_route(e: &SessionError) -> Option<bool> {
    match e {
        SessionError::Connect(c) if c.is_wrong_route() => Some(!c.is_transient()),
        SessionError::Connect(_)
        | SessionError::Auth { .. }
        | SessionError::Login { .. }
        | SessionError::Unusable(_)
        | SessionError::Local(_) => None,
        SessionError::NoStartTls { .. } | SessionError::Imap { .. } | SessionError::Pop3 { .. } => {
            Some(true)
        }
    }
}

/// The given endpoint did not connect, but another route to the same host did.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub given: Endpoint,
    /// What the connector now uses.
    pub found: Endpoint,
    /// False: plain text, allowed by `allow_plaintext`.
    pub encrypted: bool,
    /// The attempts before, with why each failed (the given endpoint first).
    pub failed: Vec<(Endpoint, String)>,
}

/// No route connected: the error at `endpoint` and what else was tried.
#[derive(Debug, thiserror::Error)]
#[error("{error}{}", tried_list(.tried))]
pub struct Unreachable {
    pub endpoint: Endpoint,
    #[source]
    pub error: SessionError,
    pub tried: Vec<(Endpoint, String)>,
}

fn tried_list(tried: &[(Endpoint, String)]) -> String {
    tried
        .iter()
        .map(|(ep, why)| format!("\n  also tried {ep}: {why}"))
        .collect()
}
