//! Who gets in, and to which server: the policy of a login, apart from the
//! protocol that carried it (IMAP and POP3 fronts both ask here).
//!
//! - An account served by the source (or not known yet, adopted): the
//!   password is checked by logging in to the source as the user; accepted,
//!   the session goes on there and the password is captured (sealed with
//!   the project key, hashed with Argon2id) and the mailbox queued, after
//!   the client has its answer, so the login is no slower than the source's.
//! - An account being moved (final pass): try again later.
//! - A moved account: the password is checked against the captured hash
//!   (else by the destination, for a password changed there), and the
//!   session goes to the destination.
//!
//! Failed logins are counted per client address and per account: past the
//! limit the proxy refuses without asking any server.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mailport_engine::connector::Connector;
use mailport_engine::{Credentials, Secret};
use mailport_mail::date::now;
use mailport_net::Endpoint;
use mailport_project::Project;
use mailport_store::{AccountRow, EventRow, ServedBy};

use crate::backend::{self, Backend, LoginFailure};
use crate::first_login;
use crate::front::Protocol;
use crate::password;
use crate::servers::{Pop3Servers, SubmissionServers};
use crate::strikes::Strikes;

/// What to do with logins the project does not know (no mailbox, and not
/// seen by the proxy before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownUsers {
    /// Check against the source and add to the project.
    Adopt,
    /// Relay to the source untouched: nothing captured, nothing moved.
    Pass,
    /// Refuse.
    Refuse,
}

/// The outcome of a login.
pub enum Decision {
    /// Logged in: relay to this backend.
    Relay(Backend, ServedBy),
    /// Wrong credentials (the server's words, or ours).
    Refused(String),
    /// Being moved right now: the client should try again shortly.
    TryLater(String),
    /// A server is down or failing.
    Unavailable(String),
}

impl Decision {
    /// The outcome's name in metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Decision::Relay(_, ServedBy::Destination) => "destination",
            Decision::Relay(..) => "source",
            Decision::Refused(_) => "refused",
            Decision::TryLater(_) => "try_later",
            Decision::Unavailable(_) => "unavailable",
        }
    }
}

/// Failed logins allowed per client address, and per account, in a window.
const FAILURES_ALLOWED: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(300);

pub struct Gate {
    pub project: Arc<Project>,
    pub unknown: UnknownUsers,
    /// Where POP3 logins go; none: POP3 logins are answered "unavailable".
    pub pop3: Option<Pop3Servers>,
    /// Where submission logins go; none: answered "unavailable".
    pub submission: Option<SubmissionServers>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `--on-first-login migrate-now`: a first login waits this long at
    /// most for its mailbox to move ([`first_login`]).
    pub migrate_now: Option<Duration>,
    /// An operator's command creating the account on the destination,
    /// run after each new capture (see [`provision`]).
    pub provision: Option<String>,
    failures: Strikes,
}

impl Gate {
    pub fn new(project: Arc<Project>, unknown: UnknownUsers) -> Gate {
        Gate {
            project,
            unknown,
            pop3: None,
            submission: None,
            provision: None,
            migrate_now: None,
            metrics: Arc::default(),
            failures: Strikes::new(FAILURES_ALLOWED, FAILURE_WINDOW),
        }
    }

    pub async fn log_in(
        &self,
        user: &str,
        password: &str,
        peer: SocketAddr,
        protocol: Protocol,
    ) -> Decision {
        let client = peer.ip();
        let keys = [
            format!("ip:{client}"),
            format!("user:{}", user.to_lowercase()),
        ];
        if keys.iter().any(|k| self.failures.out(k)) {
            self.event(user, "refusal", client, "too many failed logins")
                .await;
            self.metrics.login(protocol, "rate_limited");
            return Decision::Refused("too many failed logins; wait a few minutes".into());
        }
        let decision = self.decide(user, password, peer, protocol).await;
        self.metrics.login(protocol, decision.outcome());
        if let Decision::Refused(why) = &decision {
            for k in &keys {
                self.failures.count(k);
            }
            self.event(user, "login", client, &format!("refused: {why}"))
                .await;
        }
        decision
    }

    async fn decide(
        &self,
        user: &str,
        password: &str,
        client: SocketAddr,
        protocol: Protocol,
    ) -> Decision {
        let p = &self.project;
        let account = match p.store.account(&p.name, user).await {
            Ok(a) => a,
            Err(e) => return Decision::Unavailable(format!("state store: {e}")),
        };
        match account.as_ref().map(|a| a.served_by) {
            None => {
                let in_project = match p.store.mailbox(&p.name, user).await {
                    Ok(m) => m.is_some(),
                    Err(e) => return Decision::Unavailable(format!("state store: {e}")),
                };
                match (in_project, self.unknown) {
                    (false, UnknownUsers::Refuse) => Decision::Refused("unknown user".into()),
                    (false, UnknownUsers::Pass) => {
                        self.at_source(user, password, None, client, protocol, false)
                            .await
                    }
                    _ => {
                        self.at_source(user, password, None, client, protocol, true)
                            .await
                    }
                }
            }
            Some(ServedBy::Source) => {
                let known = account.and_then(|a| a.password_hash);
                self.at_source(user, password, known, client, protocol, true)
                    .await
            }
            Some(ServedBy::Moving) => Decision::TryLater(
                "your mailbox is being moved to the new server; try again in a minute".into(),
            ),
            Some(ServedBy::Destination) => {
                let account = account.expect("matched Some");
                self.at_destination(&account, password, client, protocol)
                    .await
            }
        }
    }

    /// `known`: the hash captured at an earlier login; `capture`: whether
    /// the account is the project's (else it is only relayed).
    async fn at_source(
        &self,
        user: &str,
        password: &str,
        known: Option<String>,
        client: SocketAddr,
        protocol: Protocol,
        capture: bool,
    ) -> Decision {
        let credentials = Credentials::Password(Secret::new(password.to_string()));
        let connector = match self.connector("source", user, credentials, protocol) {
            Ok(c) => c,
            Err(why) => return Decision::Unavailable(why),
        };
        match self.backend("source", &connector, protocol, client).await {
            Ok(b) if !capture => Decision::Relay(b, ServedBy::Source),
            Ok(b) => {
                let first = known.is_none();
                let captured = self.capture(user, password, known, client.ip());
                match self.migrate_now {
                    Some(within) if first => {
                        drop(b);
                        let _ = captured.await;
                        first_login::move_now(&self.project, user, within).await;
                        // Wherever the move got to, the account's state
                        // says where this session goes.
                        Box::pin(self.decide(user, password, client, protocol)).await
                    }
                    _ => Decision::Relay(b, ServedBy::Source),
                }
            }
            Err(LoginFailure::Refused(why)) => Decision::Refused(why),
            Err(LoginFailure::Unavailable(why)) => Decision::Unavailable(why),
        }
    }

    async fn at_destination(
        &self,
        account: &AccountRow,
        password: &str,
        client: SocketAddr,
        protocol: Protocol,
    ) -> Decision {
        let p = &self.project;
        let known = match &account.password_hash {
            Some(h) => password::matches_apart(h, password).await,
            None => false,
        };
        let destination_login = match p.store.mailbox(&p.name, &account.login).await {
            Ok(Some(m)) => m.destination_login,
            _ => account.login.clone(),
        };
        let own = || Credentials::Password(Secret::new(password.to_string()));
        // A known password may log in by the admin; an unknown one must be
        // the destination's own (changed there after the move).
        let credentials = match known {
            true => match p.admin_credentials("destination") {
                Ok(Some(admin)) => admin,
                _ => own(),
            },
            false => own(),
        };
        let connector =
            match self.connector("destination", &destination_login, credentials, protocol) {
                Ok(c) => c,
                Err(why) => return Decision::Unavailable(why),
            };
        let decision = match self
            .backend("destination", &connector, protocol, client)
            .await
        {
            Ok(b) => Decision::Relay(b, ServedBy::Destination),
            Err(LoginFailure::Refused(why)) => Decision::Refused(why),
            Err(LoginFailure::Unavailable(why)) => Decision::Unavailable(why),
        };
        if let Decision::Relay(..) = decision {
            self.event(&account.login, "login", client.ip(), "destination")
                .await;
            // Mail that reached the old server since the last following
            // pass is fetched now, while the user looks.
            if account.following {
                if let Err(e) = crate::schedule::queue_delta(p, &account.login).await {
                    tracing::warn!("queueing a following pass of {}: {e}", account.login);
                }
            }
        }
        decision
    }

    /// Logs in to `side`'s service of `protocol`.
    async fn backend(
        &self,
        side: &str,
        connector: &Connector,
        protocol: Protocol,
        client: SocketAddr,
    ) -> Result<Backend, LoginFailure> {
        if protocol != Protocol::Submission {
            return backend::log_in(connector, protocol, client).await;
        }
        let Some(servers) = &self.submission else {
            let why = "this proxy has no submission servers to go to";
            return Err(LoginFailure::Unavailable(why.into()));
        };
        let server = match side {
            "source" => &servers.source,
            _ => &servers.destination,
        };
        backend::submission(connector, server, client).await
    }

    /// Logging in to `side` as `user` over `protocol`.
    fn connector(
        &self,
        side: &str,
        user: &str,
        credentials: Credentials,
        protocol: Protocol,
    ) -> Result<Connector, String> {
        let mut connector = self
            .project
            .connector_for(side, user, credentials)
            .map_err(|e| e.to_string())?;
        if protocol == Protocol::Pop3 {
            let servers = self
                .pop3
                .as_ref()
                .ok_or("this proxy has no POP3 servers to go to")?;
            let endpoint = match side {
                "source" => &servers.source,
                _ => &servers.destination,
            };
            connector.config.endpoint = Endpoint {
                user: user.to_string(),
                ..endpoint.clone()
            };
        }
        Ok(connector)
    }

    /// Stores the password (hash, and sealed for the passes) and queues the
    /// mailbox, after the client has its answer. A password already
    /// captured (`known` matches) only counts as a login.
    fn capture(
        &self,
        user: &str,
        password: &str,
        known: Option<String>,
        client: IpAddr,
    ) -> tokio::task::JoinHandle<()> {
        let (project, user) = (self.project.clone(), user.to_string());
        let provision_command = self.provision.clone();
        let password = zeroize::Zeroizing::new(password.to_string());
        tokio::spawn(async move {
            let now = now();
            let same = match &known {
                Some(h) => password::matches_apart(h, &password).await,
                None => false,
            };
            let hashed = match (same, known) {
                (true, Some(h)) => h,
                _ => password::hash_apart(&password).await,
            };
            let row = AccountRow {
                login: user.clone(),
                served_by: ServedBy::Source,
                password_hash: Some(hashed),
                first_login_at: now,
                last_login_at: now,
                moved_at: None,
                following: false,
                detail: None,
                changed_at: None,
            };
            let result = async {
                project.store.put_account(&project.name, &row).await?;
                if !same {
                    project.capture(&user, &password).await?;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            }
            .await;
            let outcome = match &result {
                Ok(()) => "ok".to_string(),
                Err(e) => {
                    tracing::warn!("capturing {user}'s login failed: {e}");
                    format!("failed: {e}")
                }
            };
            let kind = if same { "login" } else { "capture" };
            record(&project, &user, kind, client, &outcome).await;
            if let (false, Ok(()), Some(command)) = (same, &result, provision_command) {
                let outcome = provision(&command, &user, &password).await;
                if outcome != "ok" {
                    tracing::warn!("provisioning {user} on the new server: {outcome}");
                }
                record(&project, &user, "provision", client, &outcome).await;
            }
        })
    }

    async fn event(&self, user: &str, kind: &str, client: IpAddr, outcome: &str) {
        record(&self.project, user, kind, client, outcome).await;
    }
}

/// How long a provisioning command may take.
const PROVISION_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the operator's command (`sh -c`) with the login and the password
/// on its standard input, one per line — never in its arguments or its
/// environment, where other users of the machine could read them. `ok`,
/// or what went wrong in one line (its exit status and first line of
/// standard error).
pub async fn provision(command: &str, login: &str, password: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("failed: could not start sh: {e}"),
    };
    let input = zeroize::Zeroizing::new(format!("{login}\n{password}\n"));
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input still gets to run.
        let _ = stdin.write_all(input.as_bytes()).await;
    }
    let mut stderr = child.stderr.take();
    let ran = async {
        let mut said = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.take(4096).read_to_string(&mut said).await;
        }
        (child.wait().await, said)
    };
    match tokio::time::timeout(PROVISION_TIMEOUT, ran).await {
        Err(_) => format!(
            "failed: the command took over {} s",
            PROVISION_TIMEOUT.as_secs()
        ),
        Ok((Err(e), _)) => format!("failed: {e}"),
        Ok((Ok(status), _)) if status.success() => "ok".into(),
        Ok((Ok(status), said)) => {
            // The store never holds a password, even one the command echoed.
            let first = said.lines().next().unwrap_or("").trim();
            let first = match password.is_empty() {
                true => first.to_string(),
                false => first.replace(password, "***"),
            };
            format!("failed: the command exited with {status}: {first}")
        }
    }
}

async fn record(project: &Project, user: &str, kind: &str, client: IpAddr, outcome: &str) {
    let e = EventRow {
        at: now(),
        login: Some(user.to_string()),
        kind: kind.to_string(),
        client: Some(client.to_string()),
        outcome: outcome.to_string(),
    };
    if let Err(err) = project.store.record_event(&project.name, &e).await {
        tracing::warn!("recording an event failed: {err}");
    }
}
