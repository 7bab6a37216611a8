//! The proxy process: listeners for each protocol, one task per client
//! connection, and the project's workers moving the captured mailboxes in
//! the same process (workers on other machines may share the project).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailport_engine::Cancel;
use mailport_imap::server::Limits;
use mailport_net::tls_server::Certificates;
use mailport_project::runner::{self, RunOptions, RunProgress};
use mailport_project::Project;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::front::{Front, Protocol};
use crate::gate::{Gate, Pop3Servers, UnknownUsers};
use crate::schedule::{self, Schedule};
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
}

impl Listen {
    pub fn addr(self) -> SocketAddr {
        let (Listen::Imap(a) | Listen::Imaps(a) | Listen::Pop3(a) | Listen::Pop3s(a)) = self;
        a
    }

    pub fn protocol(self) -> Protocol {
        match self {
            Listen::Imap(_) | Listen::Imaps(_) => Protocol::Imap,
            Listen::Pop3(_) | Listen::Pop3s(_) => Protocol::Pop3,
        }
    }

    /// TLS from the first byte.
    pub fn implicit_tls(self) -> bool {
        matches!(self, Listen::Imaps(_) | Listen::Pop3s(_))
    }

    /// The same listener at another address (the one actually bound).
    fn at(self, addr: SocketAddr) -> Listen {
        match self {
            Listen::Imap(_) => Listen::Imap(addr),
            Listen::Imaps(_) => Listen::Imaps(addr),
            Listen::Pop3(_) => Listen::Pop3(addr),
            Listen::Pop3s(_) => Listen::Pop3s(addr),
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
    front: Arc<Front>,
    project: Arc<Project>,
    workers: usize,
    connections_per_address: usize,
    schedule: Schedule,
}

struct Quiet;
impl RunProgress for Quiet {}

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
        let pop3 = match &config.pop3 {
            Some(servers) => Some(servers.clone()),
            None if config.listen.iter().any(|l| l.protocol() == Protocol::Pop3) => {
                Some(Pop3Servers::beside(&project)?)
            }
            None => None,
        };
        let mut listeners = Vec::new();
        for l in &config.listen {
            let addr = l.addr();
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            listeners.push((l.at(bound), listener));
        }
        let mut gate = Gate::new(project.clone(), config.unknown_users);
        gate.pop3 = pop3;
        gate.provision = config.provision_command.clone();
        let gate = Arc::new(gate);
        Ok(Proxy {
            listeners,
            front: Arc::new(Front {
                gate,
                tls,
                allow_plaintext: config.allow_plaintext,
                limits: config.limits,
                login_deadline: config.login_deadline,
                sessions: Arc::new(Sessions::default()),
            }),
            project,
            workers: config.workers,
            connections_per_address: config.connections_per_address,
            schedule: config.schedule,
        })
    }

    /// The addresses actually bound (port 0 becomes a real port).
    pub fn local_addrs(&self) -> Vec<Listen> {
        self.listeners.iter().map(|(l, _)| *l).collect()
    }

    /// Serves until `cancel`: sessions, and the workers moving mailboxes.
    pub async fn run(self, cancel: Cancel) {
        let mut tasks = Vec::new();
        let per_address = Arc::new(PerAddress::default());
        let most = self.connections_per_address;
        for (listen, listener) in self.listeners {
            let (front, cancel, per_address) =
                (self.front.clone(), cancel.clone(), per_address.clone());
            tasks.push(tokio::spawn(async move {
                let (protocol, implicit_tls) = (listen.protocol(), listen.implicit_tls());
                while !cancel.is_cancelled() {
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
                    let Ok(accepted) = accepted else { continue };
                    match accepted {
                        Ok((mut tcp, peer)) => {
                            let Some(slot) = PerAddress::enter(&per_address, peer.ip(), most)
                            else {
                                tracing::warn!("refused a connection from {peer}: {most} open from that address already");
                                if !implicit_tls {
                                    let bye: &[u8] = match protocol {
                                        Protocol::Imap => b"* BYE too many connections from your address\r\n",
                                        Protocol::Pop3 => b"-ERR [SYS/TEMP] too many connections from your address\r\n",
                                    };
                                    let _ = tokio::io::AsyncWriteExt::write_all(&mut tcp, bye).await;
                                }
                                continue;
                            };
                            let _ = tcp.set_nodelay(true);
                            let front = front.clone();
                            tokio::spawn(async move {
                                front.serve(tcp, peer, protocol, implicit_tls).await;
                                drop(slot);
                            });
                        }
                        Err(e) => {
                            tracing::warn!("accepting a connection failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }));
        }
        tasks.push(tokio::spawn(
            self.front
                .sessions
                .clone()
                .watch(self.project.clone(), cancel.clone()),
        ));
        tasks.push(tokio::spawn(schedule::run(
            self.project.clone(),
            self.schedule.clone(),
            cancel.clone(),
        )));
        let (project, workers) = (self.project.clone(), self.workers);
        tasks.push(tokio::spawn(async move {
            while !cancel.is_cancelled() {
                let opts = RunOptions {
                    workers,
                    owner: format!("proxy-{}", std::process::id()),
                    lease: Duration::from_secs(60),
                    cancel: cancel.clone(),
                };
                if let Err(e) = runner::run(project.clone(), opts, Arc::new(Quiet)).await {
                    tracing::warn!("moving mailboxes: {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
        for t in tasks {
            let _ = t.await;
        }
    }
}
