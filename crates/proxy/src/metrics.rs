//! Prometheus text metrics (`--metrics ADDR`): sessions by protocol and
//! state, logins by outcome, bytes relayed, connections refused, and the
//! project's accounts by where they are served (read from the store, so
//! moves made by any process count). A tiny HTTP/1.0 responder: one
//! bounded request line per connection, `GET /metrics`, then close.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailport_engine::Cancel;
use mailport_project::Project;
use mailport_store::ServedBy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::front::Protocol;
use crate::sessions::Sessions;

const PROTOCOLS: [Protocol; 4] = [
    Protocol::Imap,
    Protocol::Pop3,
    Protocol::Smtp,
    Protocol::Submission,
];

fn index(p: Protocol) -> usize {
    match p {
        Protocol::Imap => 0,
        Protocol::Pop3 => 1,
        Protocol::Smtp => 2,
        Protocol::Submission => 3,
    }
}

/// Name, type, help, and samples (labels, value).
type Family = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(String, String)>,
);

#[derive(Default)]
pub struct Metrics {
    connections: [AtomicU64; 4],
    before_login: [AtomicI64; 4],
    /// (protocol, outcome) -> count.
    logins: Mutex<Vec<((usize, &'static str), u64)>>,
    refused_connections: AtomicU64,
    client_to_server: AtomicU64,
    server_to_client: AtomicU64,
}

/// Counts a connection before login while it lives.
pub struct BeforeLogin<'a>(&'a AtomicI64);

impl Drop for BeforeLogin<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A connection accepted; counted as "before login" until the guard
    /// is dropped.
    pub fn connected(&self, p: Protocol) -> BeforeLogin<'_> {
        self.connections[index(p)].fetch_add(1, Ordering::Relaxed);
        let gauge = &self.before_login[index(p)];
        gauge.fetch_add(1, Ordering::Relaxed);
        BeforeLogin(gauge)
    }

    pub fn refused_connection(&self) {
        self.refused_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// A login's outcome: `source`, `destination`, `refused`, `try_later`,
    /// `unavailable`.
    pub fn login(&self, p: Protocol, outcome: &'static str) {
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        let key = (index(p), outcome);
        match logins.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => logins.push((key, 1)),
        }
    }

    /// Bytes a finished session relayed (client to server, server to client).
    pub fn relayed(&self, (up, down): (u64, u64)) {
        self.client_to_server.fetch_add(up, Ordering::Relaxed);
        self.server_to_client.fetch_add(down, Ordering::Relaxed);
    }

    /// The exposition text: each family's HELP and TYPE, then its samples.
    pub async fn render(&self, sessions: &Sessions, project: &Project) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        let protocol = |p: Protocol| p.as_str().to_lowercase();
        let mut families: Vec<Family> = Vec::new();
        families.push((
            "mailport_proxy_connections_total",
            "counter",
            "Client connections accepted.",
            PROTOCOLS
                .iter()
                .map(|&p| {
                    let labels = format!("protocol=\"{}\"", protocol(p));
                    (labels, load(&self.connections[index(p)]))
                })
                .collect(),
        ));
        let mut open: Vec<(String, String)> = PROTOCOLS
            .iter()
            .map(|&p| {
                let labels = format!("protocol=\"{}\",state=\"before_login\"", protocol(p));
                let n = self.before_login[index(p)].load(Ordering::Relaxed).max(0);
                (labels, n.to_string())
            })
            .collect();
        for (served, n) in sessions.count_by_server() {
            let labels = format!("state=\"relayed\",served_by=\"{}\"", served.as_str());
            open.push((labels, n.to_string()));
        }
        families.push((
            "mailport_proxy_sessions",
            "gauge",
            "Client sessions open: before login, or relayed to a server.",
            open,
        ));
        let logins = {
            let logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
            logins
                .iter()
                .map(|((i, outcome), n)| {
                    let labels = format!(
                        "protocol=\"{}\",outcome=\"{outcome}\"",
                        protocol(PROTOCOLS[*i])
                    );
                    (labels, n.to_string())
                })
                .collect()
        };
        families.push((
            "mailport_proxy_logins_total",
            "counter",
            "Logins by outcome: source, destination, refused, rate_limited, try_later, unavailable.",
            logins,
        ));
        families.push((
            "mailport_proxy_connections_refused_total",
            "counter",
            "Connections refused: too many from one address.",
            vec![(String::new(), load(&self.refused_connections))],
        ));
        families.push((
            "mailport_proxy_relayed_bytes_total",
            "counter",
            "Bytes relayed by finished sessions.",
            vec![
                (
                    "direction=\"client_to_server\"".into(),
                    load(&self.client_to_server),
                ),
                (
                    "direction=\"server_to_client\"".into(),
                    load(&self.server_to_client),
                ),
            ],
        ));
        if let Ok(accounts) = project.store.accounts(&project.name).await {
            let by_state = [ServedBy::Source, ServedBy::Moving, ServedBy::Destination]
                .iter()
                .map(|&served| {
                    let n = accounts.iter().filter(|a| a.served_by == served).count();
                    (format!("served_by=\"{}\"", served.as_str()), n.to_string())
                })
                .collect();
            families.push((
                "mailport_proxy_accounts",
                "gauge",
                "The project's accounts by where they are served.",
                by_state,
            ));
        }
        let mut out = String::new();
        for (name, kind, help, samples) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                match labels.is_empty() {
                    true => {
                        let _ = writeln!(out, "{name} {value}");
                    }
                    false => {
                        let _ = writeln!(out, "{name}{{{labels}}} {value}");
                    }
                }
            }
        }
        out
    }
}

/// Answers `GET /metrics` on `listener` until `cancel`.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    sessions: Arc<Sessions>,
    project: Arc<Project>,
    cancel: Cancel,
) {
    while !cancel.is_cancelled() {
        let Ok(Ok((mut tcp, _))) =
            tokio::time::timeout(Duration::from_millis(500), listener.accept()).await
        else {
            continue;
        };
        let (metrics, sessions, project) = (metrics.clone(), sessions.clone(), project.clone());
        tokio::spawn(async move {
            // The request head, bounded in size and time.
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            let read = async {
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
            };
            if tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .is_err()
            {
                return;
            }
            let reply = match head.starts_with(b"GET /metrics ") || head.starts_with(b"GET / ") {
                true => {
                    let body = metrics.render(&sessions, &project).await;
                    format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                }
                false => "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            };
            let _ = tcp.write_all(reply.as_bytes()).await;
            let _ = tcp.shutdown().await;
        });
    }
}
