//! The proxy process: listeners for each protocol, one task per client
//! connection, and the project's workers moving the captured mailboxes in
//! the same process (workers on other machines may share the project).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailport_engine::Cancel;
use mailport_imap::server::Limits;
use mailport_net::proxy_header;
use mailport_net::tls_server::Certificates;
use mailport_project::runner::{self, RunOptions, RunProgress};
use mailport_project::Project;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::front::{Front, Protocol};
use crate::gate::{Gate, UnknownUsers};
use crate::metrics::{self, Metrics};
use crate::schedule::{self, Schedule};
use crate::servers::Pop3Servers;
use crate::sessions::Sessions;

/// One listening socket and what it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// IMAP, STARTTLS offered (port 143).
    Imap(SocketAddr),
    /// IMAP in TLS from the first byte (port 993).
    Imaps(SocketAddr),
    /// POP3, STLS offered (port 110).
    Pop3(SocketAddr),
    /// POP3 in TLS from the first byte (port 995).
    Pop3s(SocketAddr),
    /// SMTP for incoming mail, STARTTLS offered (port 25).
    Smtp(SocketAddr),
    /// Submission of users' mail, STARTTLS offered, AUTH (port 587).
    Submission(SocketAddr),
    /// Submission in TLS from the first byte (port 465).
    Submissions(SocketAddr),
}

impl Listen {
    pub fn addr(self) -> SocketAddr {
        let (Listen::Imap(a)
        | Listen::Imaps(a)
        | Listen::Pop3(a)
        | Listen::Pop3s(a)
        | Listen::Smtp(a)
        | Listen::Submission(a)
        | Listen::Submissions(a)) = self;
        a
    }

    pub fn protocol(self) -> Protocol {
        match self {
            Listen::Imap(_) | Listen::Imaps(_) => Protocol::Imap,
            Listen::Pop3(_) | Listen::Pop3s(_) => Protocol::Pop3,
            Listen::Smtp(_) => Protocol::Smtp,
            Listen::Submission(_) | Listen::Submissions(_) => Protocol::Submission,
        }
    }

    /// TLS from the first byte.
    pub fn implicit_tls(self) -> bool {
        matches!(
            self,
            Listen::Imaps(_) | Listen::Pop3s(_) | Listen::Submissions(_)
        )
    }

    /// The same listener at another address (the one actually bound).
    fn at(self, addr: SocketAddr) -> Listen {
        match self {
            Listen::Imap(_) => Listen::Imap(addr),
            Listen::Imaps(_) => Listen::Imaps(addr),
            Listen::Pop3(_) => Listen::Pop3(addr),
            Listen::Pop3s(_) => Listen::Pop3s(addr),
            Listen::Smtp(_) => Listen::Smtp(addr),
            Listen::Submission(_) => Listen::Submission(addr),
            Listen::Submissions(_) => Listen::Submissions(addr),
        }
    }
}

pub struct ProxyConfig {
    pub listen: Vec<Listen>,
    pub certificates: Option<Arc<Certificates>>,
    pub allow_plaintext: bool,
    pub unknown_users: UnknownUsers,
    /// The POP3 services POP3 logins go to (by default beside the
    /// project's IMAP servers).
    pub pop3: Option<Pop3Servers>,
    pub limits: Limits,
    /// From connecting to logging in, at most.
    pub login_deadline: Duration,
    /// Connections open at once from one client address.
    pub connections_per_address: usize,
    /// Mailboxes this process moves at once.
    pub workers: usize,
    /// Delta passes, following passes, automatic cut-over.
    pub schedule: Schedule,
    /// Run after each capture to create the account on the destination.
    pub provision_command: Option<String>,
    /// Where to answer Prometheus scrapes.
    pub metrics: Option<SocketAddr>,
    /// Connections start with a PROXY protocol header (v1 or v2) from a
    /// load balancer: the client's address is the one it names.
    pub proxy_protocol: bool,
    /// At stop, how long open sessions may go on after being told.
    pub drain: Duration,
    /// Move a mailbox while its first login waits, this long at most.
    pub migrate_now: Option<Duration>,
    /// The SMTP front (needed by an SMTP listener).
    pub smtp: Option<crate::smtp_front::SmtpConfig>,
    /// The submission front (needed by a submission listener).
    pub submission: Option<crate::submission_front::SubmissionConfig>,
}

impl ProxyConfig {
    /// Bounds that suit a public server: 3 minutes to log in, 50 connections
    /// from one address (a NAT of a small office; a client opens a few).
    pub fn new(listen: Vec<Listen>, certificates: Option<Arc<Certificates>>) -> ProxyConfig {
        ProxyConfig {
            listen,
            certificates,
            allow_plaintext: false,
            unknown_users: UnknownUsers::Adopt,
            pop3: None,
            limits: Limits::default(),
            login_deadline: Duration::from_secs(180),
            connections_per_address: 50,
            workers: 4,
            schedule: Schedule::default(),
            provision_command: None,
            metrics: None,
            proxy_protocol: false,
            drain: Duration::from_secs(10),
            migrate_now: None,
            smtp: None,
            submission: None,
        }
    }
}

/// Connections open per client address; a slot is given back when its
/// [`Slot`] is dropped (the session ended, however).
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

struct Slot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn enter(table: &Arc<PerAddress>, ip: IpAddr, most: usize) -> Option<Slot> {
        let mut open = table.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= most {
            return None;
        }
        *n += 1;
        Some(Slot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A proxy with its sockets bound.
pub struct Proxy {
    listeners: Vec<(Listen, TcpListener)>,
    metrics_listener: Option<TcpListener>,
    front: Arc<Front>,
    project: Arc<Project>,
    workers: usize,
    connections_per_address: usize,
    proxy_protocol: bool,
    schedule: Schedule,
    drain: Duration,
}

struct Quiet;
impl RunProgress for Quiet {}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

impl Proxy {
    /// Binds every listener (the error names the address).
    pub async fn bind(project: Arc<Project>, config: ProxyConfig) -> Result<Proxy, String> {
        let tls = config
            .certificates
            .as_ref()
            .map(|c| TlsAcceptor::from(c.server_config()));
        let needs_tls = config.listen.iter().any(|l| l.implicit_tls());
        if needs_tls && tls.is_none() {
            return Err(
                "an implicit-TLS listener needs --tls-cert HOSTNAME=CERT.pem,KEY.pem".into(),
            );
        }
        let smtp_listens = config.listen.iter().any(|l| l.protocol() == Protocol::Smtp);
        if smtp_listens && config.smtp.is_none() {
            return Err(
                "an SMTP listener needs --relay-to smtp://OLD-MTA and --deliver-to smtp://NEW-MTA"
                    .into(),
            );
        }
        let submits = config
            .listen
            .iter()
            .any(|l| l.protocol() == Protocol::Submission);
        if submits && config.submission.is_none() {
            return Err("a submission listener needs its settings (the submission servers)".into());
        }
        let pop3 = match &config.pop3 {
            Some(servers) => Some(servers.clone()),
            None if config.listen.iter().any(|l| l.protocol() == Protocol::Pop3) => {
                Some(Pop3Servers::beside(&project)?)
            }
            None => None,
        };
        let mut listeners = Vec::new();
        for l in &config.listen {
            let listener = bind(l.addr()).await?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            listeners.push((l.at(bound), listener));
        }
        let metrics_listener = match config.metrics {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let smtp = match config.smtp.clone() {
            Some(s) => Some(s.with_tls(&project)?),
            None => None,
        };
        let metrics = Arc::new(Metrics::default());
        let mut gate = Gate::new(project.clone(), config.unknown_users);
        gate.pop3 = pop3;
        gate.submission = config.submission.as_ref().map(|s| s.servers.clone());
        gate.provision = config.provision_command.clone();
        gate.metrics = metrics.clone();
        gate.migrate_now = config.migrate_now;
        Ok(Proxy {
            listeners,
            metrics_listener,
            front: Arc::new(Front {
                gate: Arc::new(gate),
                tls,
                allow_plaintext: config.allow_plaintext,
                limits: config.limits,
                login_deadline: config.login_deadline,
                sessions: Arc::new(Sessions::default()),
                metrics,
                smtp_errors: crate::strikes::Strikes::new(
                    config
                        .smtp
                        .as_ref()
                        .map_or(crate::smtp_front::ERRORS_PER_ADDRESS, |c| {
                            c.max_errors_per_address
                        }),
                    crate::smtp_front::ERROR_WINDOW,
                ),
                smtp: smtp.map(Arc::new),
                submission: config.submission.clone().map(Arc::new),
            }),
            project,
            workers: config.workers,
            connections_per_address: config.connections_per_address,
            proxy_protocol: config.proxy_protocol,
            schedule: config.schedule,
            drain: config.drain,
        })
    }

    /// The addresses actually bound (port 0 becomes a real port).
    pub fn local_addrs(&self) -> Vec<Listen> {
        self.listeners.iter().map(|(l, _)| *l).collect()
    }

    /// Where metrics are answered, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref()?.local_addr().ok()
    }

    /// Serves until `cancel`: sessions, and the workers moving mailboxes.
    /// Then stops taking connections, tells open sessions, and gives them
    /// the drain time to end before returning.
    pub async fn run(self, cancel: Cancel) {
        let mut listening = Vec::new();
        let per_address = Arc::new(PerAddress::default());
        for (listen, listener) in self.listeners {
            listening.push(tokio::spawn(accept(
                listen,
                listener,
                self.front.clone(),
                per_address.clone(),
                (self.connections_per_address, self.proxy_protocol),
                cancel.clone(),
            )));
        }
        let mut background = vec![
            tokio::spawn(
                self.front
                    .sessions
                    .clone()
                    .watch(self.project.clone(), cancel.clone()),
            ),
            tokio::spawn(schedule::run(
                self.project.clone(),
                self.schedule.clone(),
                cancel.clone(),
            )),
        ];
        if let Some(listener) = self.metrics_listener {
            background.push(tokio::spawn(metrics::serve(
                listener,
                self.front.metrics.clone(),
                self.front.sessions.clone(),
                self.project.clone(),
                cancel.clone(),
            )));
        }
        if let Some(smtp) = &self.front.smtp {
            background.push(tokio::spawn(crate::smtp_downstream::learn_limits(
                smtp.clone(),
            )));
        }
        let (project, workers, stop) = (self.project.clone(), self.workers, cancel.clone());
        background.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let opts = RunOptions {
                    workers,
                    owner: mailport_project::holder::here("proxy"),
                    lease: Duration::from_secs(60),
                    cancel: stop.clone(),
                };
                if let Err(e) = runner::run(project.clone(), opts, Arc::new(Quiet)).await {
                    tracing::warn!("moving mailboxes: {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
        for t in listening {
            let _ = t.await;
        }
        let open = self.front.sessions.drain(self.drain).await;
        if open > 0 {
            tracing::warn!("{open} session(s) still open after the drain time: closed");
        }
        for t in background {
            let _ = t.await;
        }
    }
}

/// Takes connections on one listener until `cancel`.
async fn accept(
    listen: Listen,
    listener: TcpListener,
    front: Arc<Front>,
    per_address: Arc<PerAddress>,
    (most, proxy_protocol): (usize, bool),
    cancel: Cancel,
) {
    let (protocol, implicit_tls) = (listen.protocol(), listen.implicit_tls());
    while !cancel.is_cancelled() {
        let accepted = tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
        let (mut tcp, mut peer) = match accepted {
            Err(_) => continue,
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let front = front.clone();
        let per_address = per_address.clone();
        tokio::spawn(async move {
            if proxy_protocol {
                match proxy_header::read(&mut tcp, front.limits.timeout).await {
                    Ok(Some(client)) => peer = client,
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!("connection from {peer} dropped: {e}");
                        return;
                    }
                }
            }
            let Some(slot) = PerAddress::enter(&per_address, peer.ip(), most) else {
                tracing::warn!(
                    "refused a connection from {peer}: {most} open from that address already"
                );
                front.metrics.refused_connection();
                if !implicit_tls {
                    let bye: &[u8] = match protocol {
                        Protocol::Imap => b"* BYE too many connections from your address\r\n",
                        Protocol::Pop3 => {
                            b"-ERR [SYS/TEMP] too many connections from your address\r\n"
                        }
                        Protocol::Smtp | Protocol::Submission => {
                            b"421 4.7.0 too many connections from your address\r\n"
                        }
                    };
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut tcp, bye).await;
                }
                return;
            };
            let _ = tcp.set_nodelay(true);
            front.serve(tcp, peer, protocol, implicit_tls).await;
            drop(slot);
        });
    }
}
