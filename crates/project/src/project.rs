//! A project opened with its key: creating it, importing mailboxes (secrets
//! sealed as they arrive), and building the engine's mailbox job for one
//! mailbox and pass.

use std::path::Path;
use std::time::Duration;

use mailport_engine::job::{State, StateKey};
use mailport_engine::{
    Connector, Credentials, Destination, EndpointConfig, Job, JobId, Secret, Source,
};
use mailport_mail::date::now;
use mailport_net::TlsOptions;
use mailport_store::{MailboxRow, MailboxState, ProjectRow, Store, StoreError};

use crate::csv_import::{Credential, ImportRow};
use crate::key::{KeyError, ProjectKey};
use crate::settings::{self, Overrides, Settings};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("no project named {0:?} in this state store (`mailport project list` shows them)")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{0}")]
    Invalid(String),
}

/// Which pass a mailbox gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Everything (the first pass; later ones copy what is new: a delta).
    Full,
    /// What arrived since the last pass (the ledger makes a full pass one).
    Delta,
    /// Only messages received before `before` (YYYY-MM-DD): the bulk of
    /// old mail, days before the cut-over.
    Prestage { before: String },
    /// Read both sides in full; change nothing.
    Verify,
    /// Log in to both sides; copy nothing.
    VerifyCredentials,
    /// The proxy's last pass before an account moves: a delta, then a
    /// verify, whatever the project's `--verify` says.
    Final,
}

impl Pass {
    pub fn name(&self) -> &'static str {
        match self {
            Pass::Full => "full",
            Pass::Delta => "delta",
            Pass::Prestage { .. } => "prestage",
            Pass::Verify => "verify",
            Pass::VerifyCredentials => "verify-credentials",
            Pass::Final => "final",
        }
    }

    /// The pass a mailbox was queued for (`prestage:YYYY-MM-DD` keeps its date).
    pub fn parse(stored: &str) -> Result<Pass, String> {
        match stored.split_once(':') {
            Some(("prestage", before)) => Ok(Pass::Prestage {
                before: before.into(),
            }),
            _ => match stored {
                "full" => Ok(Pass::Full),
                "delta" => Ok(Pass::Delta),
                "verify" => Ok(Pass::Verify),
                "verify-credentials" => Ok(Pass::VerifyCredentials),
                "final" => Ok(Pass::Final),
                other => Err(format!("unknown pass {other:?}")),
            },
        }
    }

    /// As the store keeps it.
    pub fn stored(&self) -> String {
        match self {
            Pass::Prestage { before } => format!("prestage:{before}"),
            other => other.name().into(),
        }
    }
}

/// Whose mail an address is ([`Project::addressee`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressee {
    /// A mailbox of the project, by its login.
    Mailbox(String),
    /// In the organisation's domains, but no mailbox.
    NoMailbox,
    /// Not one of the organisation's domains.
    Elsewhere,
}

pub struct Project {
    pub name: String,
    pub settings: Settings,
    pub key: ProjectKey,
    pub store: Store,
}

impl Project {
    /// Creates a project: its settings (admins' passwords sealed by the
    /// caller with `key`) and the value that recognises its key.
    pub async fn create(
        store: Store,
        name: &str,
        settings: Settings,
        key: ProjectKey,
    ) -> Result<Project, ProjectError> {
        check_name(name)?;
        settings::server(&settings.from)
            .map_err(|e| ProjectError::Invalid(format!("--from: {e}")))?;
        settings::server(&settings.to).map_err(|e| ProjectError::Invalid(format!("--to: {e}")))?;
        settings
            .copy_for_one_mailbox()
            .and_then(|c| c.to_options())
            .map_err(ProjectError::Invalid)?;
        store
            .create_project(&ProjectRow {
                name: name.into(),
                settings: to_json(&settings)?,
                key_check: key.check_value(name),
                created_at: now(),
            })
            .await?;
        Ok(Project {
            name: name.into(),
            settings,
            key,
            store,
        })
    }

    /// Opens a project with its key (from `key_file`, `MAILPORT_KEY` or
    /// `default_key`), refusing a key that is not the project's.
    pub async fn open(
        store: Store,
        name: &str,
        key_file: Option<&Path>,
        default_key: &Path,
    ) -> Result<Project, ProjectError> {
        let row = store
            .project(name)
            .await?
            .ok_or_else(|| ProjectError::Unknown(name.into()))?;
        let key = crate::key::load(name, key_file, default_key, &row.key_check)?;
        let settings: Settings = serde_json::from_str(&row.settings).map_err(|e| {
            ProjectError::Invalid(format!(
                "the settings of project {name:?} cannot be read: {e}"
            ))
        })?;
        Ok(Project {
            name: name.into(),
            settings,
            key,
            store,
        })
    }

    /// Where a mailbox's secret of `side` is sealed to.
    fn place(&self, login: &str, side: &str) -> String {
        format!("{}/{login}/{side}", self.name)
    }

    /// The ledger name of a mailbox: its history stays whatever address
    /// reaches it later (a proxy, a new port).
    pub fn ledger_key(&self, login: &str) -> String {
        format!("{}{login}", self.ledger_prefix())
    }

    pub fn ledger_prefix(&self) -> String {
        format!("project:{}:", self.name)
    }

    /// A row of an imported file as the store keeps it (secrets sealed).
    /// Errors are the row's reason.
    pub fn mailbox_row(&self, r: &ImportRow) -> Result<MailboxRow, String> {
        for (host, server, flag) in [
            (&r.source_host, &self.settings.from, "source"),
            (&r.destination_host, &self.settings.to, "destination"),
        ] {
            if let Some(h) = host {
                let ep = settings::server(server).map_err(|e| e.to_string())?;
                if !h.eq_ignore_ascii_case(&ep.host) {
                    return Err(format!(
                        "{flag} host {h} is not the project's ({}): one project moves one server to another",
                        ep.host
                    ));
                }
            }
        }
        let destination_login = r
            .destination_login
            .clone()
            .unwrap_or_else(|| r.source_login.clone());
        let (source_auth, source_secret) = self.seal_credential(
            &r.source_credential,
            &r.source_login,
            "source",
            self.settings.from_admin.is_some(),
        )?;
        let (destination_auth, destination_secret) = self.seal_credential(
            &r.destination_credential,
            &r.source_login,
            "destination",
            self.settings.to_admin.is_some(),
        )?;
        if let Some(f) = &r.folders {
            regex::Regex::new(f).map_err(|e| {
                format!("folders {f:?} is not a valid regular expression ({e}); e.g. ^(INBOX|Sent)")
            })?;
        }
        let waiting = source_auth == "ask" || destination_auth == "ask";
        let overrides = Overrides {
            folders: r.folders.clone(),
            destination_prefix: r.destination_prefix.clone(),
        };
        Ok(MailboxRow {
            project: self.name.clone(),
            login: r.source_login.clone(),
            source_auth,
            source_secret,
            destination_login,
            destination_auth,
            destination_secret,
            overrides: serde_json::to_string(&overrides).map_err(|e| e.to_string())?,
            state: match waiting {
                true => MailboxState::WaitingForCredentials,
                false => MailboxState::NotStarted,
            }
            .as_str()
            .into(),
            ..Default::default()
        })
    }

    fn seal_credential(
        &self,
        c: &Credential,
        login: &str,
        side: &str,
        has_admin: bool,
    ) -> Result<(String, Option<String>), String> {
        Ok(match c {
            Credential::Password(p) => (
                "password".into(),
                Some(self.key.seal(p, &self.place(login, side))),
            ),
            Credential::Admin if has_admin => ("admin".into(), None),
            Credential::Admin => {
                let flag = if side == "source" {
                    "--from-admin"
                } else {
                    "--to-admin"
                };
                return Err(format!(
                    "the {side} password '-' means admin impersonation, but the project has no {flag} (add one: mailport project update {} {flag} LOGIN; or give the password)",
                    self.name
                ));
            }
            Credential::AskUser => ("ask".into(), None),
        })
    }

    /// The engine's job for one mailbox and pass, keyed by the mailbox.
    pub fn job(&self, m: &MailboxRow, pass: &Pass) -> Result<Job, ProjectError> {
        let source = self.connector(m, "source")?;
        let destination = self.connector(m, "destination")?;
        let source = match source.config.endpoint.scheme.is_pop3() {
            true => Source::Pop3(source),
            false => Source::Imap(source),
        };
        let mut job = Job::new(source, Destination::Imap(destination));
        job.id = JobId::from(m.login.as_str());
        let overrides: Overrides = serde_json::from_str(&m.overrides).unwrap_or_default();
        let mut copy = self
            .settings
            .copy_for_one_mailbox()
            .map_err(ProjectError::Invalid)?;
        if let Some(f) = overrides.folders {
            copy.include = Some(f);
        }
        if let Pass::Prestage { before } = pass {
            copy.before = Some(before.clone());
        }
        job.options = copy.to_options().map_err(ProjectError::Invalid)?;
        if let Some(prefix) = overrides.destination_prefix {
            // Every folder (and the INBOX) under the prefix.
            job.options.plan.folder_map.push((String::new(), prefix));
        }
        job.state = Some(State {
            store: self.store.clone(),
            key: StateKey::Named(self.ledger_key(&m.login)),
        });
        job.verify = (self.settings.verify && *pass == Pass::Full) || *pass == Pass::Final;
        // The final pass runs while logins wait: identities, not bytes (the
        // full pass's verify, if asked for, compared the bytes).
        job.verify_quick = *pass == Pass::Final;
        job.max_connections_per_host = self.settings.max_connections_per_host.map(usize::from);
        Ok(job)
    }

    /// The organisation's mail domains: the project's `--domain`s and the
    /// domains of its mailboxes' logins (`alice@example.org`).
    pub async fn mail_domains(&self) -> Result<std::collections::BTreeSet<String>, ProjectError> {
        let mut domains: std::collections::BTreeSet<String> =
            self.settings.domains.iter().cloned().collect();
        for m in self.store.mailboxes(&self.name).await? {
            if let Some((_, d)) = m.login.rsplit_once('@') {
                domains.insert(d.to_lowercase());
            }
        }
        Ok(domains)
    }

    /// Whose mail `local@domain` is: a mailbox of the project (its login is
    /// the address, or the local part in one of `domains`), an address in
    /// the organisation's domains without a mailbox (an alias, a list, a
    /// catch-all: the old server knows), or someone else's.
    pub async fn addressee(
        &self,
        local: &str,
        domain: &str,
        domains: &std::collections::BTreeSet<String>,
    ) -> Result<Addressee, ProjectError> {
        let domain = domain.to_lowercase();
        if !domains.contains(&domain) {
            return Ok(Addressee::Elsewhere);
        }
        let full = format!("{local}@{domain}");
        let mut tries = vec![full.clone(), full.to_lowercase(), local.to_string()];
        tries.push(local.to_lowercase());
        tries.dedup();
        for login in tries {
            if self.store.mailbox(&self.name, &login).await?.is_some() {
                return Ok(Addressee::Mailbox(login));
            }
        }
        Ok(Addressee::NoMailbox)
    }

    /// The user's own source password, while the project holds it (the
    /// proxy captured it, or the CSV gave it); none once erased or when the
    /// source is reached by an admin.
    pub fn source_password(
        &self,
        m: &MailboxRow,
    ) -> Result<Option<zeroize::Zeroizing<String>>, ProjectError> {
        match (m.source_auth.as_str(), &m.source_secret) {
            ("password", Some(sealed)) => Ok(Some(
                self.key.open(sealed, &self.place(&m.login, "source"))?,
            )),
            _ => Ok(None),
        }
    }

    fn connector(&self, m: &MailboxRow, side: &str) -> Result<Connector, ProjectError> {
        let (user, auth, secret) = match side {
            "source" => (&m.login, &m.source_auth, &m.source_secret),
            _ => (
                &m.destination_login,
                &m.destination_auth,
                &m.destination_secret,
            ),
        };
        let credentials = match (auth.as_str(), secret) {
            ("password", Some(sealed)) => Credentials::Password(Secret::new(
                self.key
                    .open(sealed, &self.place(&m.login, side))?
                    .to_string(),
            )),
            ("admin", _) => self.admin_credentials(side)?.ok_or_else(|| {
                ProjectError::Invalid(format!(
                    "{}: the project has no {side} admin (mailport project update {} --{}-admin LOGIN)",
                    m.login,
                    self.name,
                    if side == "source" { "from" } else { "to" }
                ))
            })?,
            _ => {
                return Err(ProjectError::Invalid(format!(
                    "{}: no {side} credentials yet (waiting for the user's password)",
                    m.login
                )))
            }
        };
        self.connector_for(side, user, credentials)
    }

    /// A user's own source password, seen when they logged in (the proxy):
    /// the mailbox is added (or its password updated) and, unless it is
    /// already queued, running or done, queued for a full pass. The
    /// destination is reached with the project's admin if it has one, else
    /// with the same password (the destination was provisioned with it).
    pub async fn capture(&self, login: &str, password: &str) -> Result<(), ProjectError> {
        let same = || Credential::Password(zeroize::Zeroizing::new(password.to_string()));
        let row = ImportRow {
            line: 0,
            source_login: login.to_string(),
            source_credential: same(),
            destination_login: None,
            destination_credential: match self.settings.to_admin {
                Some(_) => Credential::Admin,
                None => same(),
            },
            folders: None,
            destination_prefix: None,
            source_host: None,
            destination_host: None,
        };
        let row = self.mailbox_row(&row).map_err(ProjectError::Invalid)?;
        self.store.put_mailboxes(&[row]).await?;
        let from = [
            MailboxState::NotStarted,
            MailboxState::Failed,
            MailboxState::Stopped,
            MailboxState::WaitingForCredentials,
        ];
        self.store
            .queue(
                &self.name,
                &from,
                &[login.to_string()],
                &Pass::Full.stored(),
            )
            .await?;
        Ok(())
    }

    /// The project's admin for `side` ("source" or "destination"), if it has one.
    pub fn admin_credentials(&self, side: &str) -> Result<Option<Credentials>, ProjectError> {
        let admin = match side {
            "source" => &self.settings.from_admin,
            _ => &self.settings.to_admin,
        };
        let Some(a) = admin else {
            return Ok(None);
        };
        Ok(Some(Credentials::Admin {
            login: a.login.clone(),
            password: Secret::new(
                self.key
                    .open(&a.secret, &format!("{}/admin/{side}", self.name))?
                    .to_string(),
            ),
            style: settings::admin_style(&a.style).map_err(ProjectError::Invalid)?,
        }))
    }

    /// A connector to `side` ("source" or "destination") of the project
    /// for `user` logging in with `credentials` (the proxy checks a user's
    /// password this way).
    pub fn connector_for(
        &self,
        side: &str,
        user: &str,
        credentials: Credentials,
    ) -> Result<Connector, ProjectError> {
        let s = &self.settings;
        let (server, ca) = match side {
            "source" => (&s.from, &s.tls.from_ca),
            _ => (&s.to, &s.tls.to_ca),
        };
        let mut endpoint = settings::server(server).map_err(ProjectError::Invalid)?;
        endpoint.user = user.to_string();
        Connector::new(EndpointConfig {
            endpoint,
            credentials,
            auth_mech: None,
            tls: TlsOptions {
                ca_file: ca.clone(),
                insecure: s.tls.insecure,
                fingerprint: None,
            },
            allow_plaintext: s.tls.allow_plaintext,
            no_tls: false,
            timeout: Duration::from_secs(s.tls.timeout_secs.max(1)),
        })
        .map_err(|e| ProjectError::Invalid(format!("{side} TLS settings: {e}")))
    }

    /// How many mailboxes may run at once on all workers of all machines
    /// (see [`Settings::running_limit`]).
    pub fn running_limit(&self) -> Option<i64> {
        self.settings.running_limit()
    }

    /// Seals an admin's password for `side` of this project.
    pub fn seal_admin(key: &ProjectKey, project: &str, side: &str, password: &str) -> String {
        key.seal(password, &format!("{project}/admin/{side}"))
    }
}

/// A project name: letters, digits, `-`, `_`, `.`; it names files and URLs.
fn check_name(name: &str) -> Result<(), ProjectError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    match ok {
        true => Ok(()),
        false => Err(ProjectError::Invalid(format!(
            "project name {name:?}: use letters, digits, '-', '_' and '.' (at most 64), e.g. acme-2026"
        ))),
    }
}

fn to_json(s: &Settings) -> Result<String, ProjectError> {
    serde_json::to_string(s).map_err(|e| ProjectError::Invalid(format!("settings: {e}")))
}
