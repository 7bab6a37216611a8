//! A project's settings: where mailboxes come from and go to, how to log in
//! for users (admin impersonation), and the copy options every mailbox
//! gets unless it overrides a few. Stored as JSON; the admins' passwords
//! in it are sealed with the project key.

use std::path::PathBuf;

use mailport_engine::copy::settings::parse_size;
use mailport_engine::{AdminStyle, CopySettings};
use mailport_net::Endpoint;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The source server, `imaps://host[:port]` (each mailbox's login is
    /// its user).
    pub from: String,
    /// The destination server.
    pub to: String,
    #[serde(default)]
    pub from_admin: Option<Admin>,
    #[serde(default)]
    pub to_admin: Option<Admin>,
    #[serde(default)]
    pub copy: CopySettings,
    /// Verify every mailbox after its full pass.
    #[serde(default)]
    pub verify: bool,
    /// At most this many connections to one host, all workers of all
    /// machines together.
    #[serde(default)]
    pub max_connections_per_host: Option<u16>,
    /// At most this many mailboxes at once, all workers of all machines
    /// together.
    #[serde(default)]
    pub max_running: Option<u32>,
    #[serde(default)]
    pub tls: Tls,
    /// The organisation's mail domains (lower case), besides those of its
    /// mailboxes' logins: mail for them is the proxy's to route (issue 15).
    #[serde(default)]
    pub domains: Vec<String>,
}

impl Settings {
    /// A project from `from` to `to` with every other setting at its
    /// default (no admins, default copy options, no limits, no domains).
    pub fn new(from: String, to: String) -> Settings {
        Settings {
            from,
            to,
            from_admin: None,
            to_admin: None,
            copy: CopySettings::default(),
            verify: false,
            max_connections_per_host: None,
            max_running: None,
            tls: Tls::default(),
            domains: Vec::new(),
        }
    }

    /// How many mailboxes may run at once on all workers of all machines:
    /// `--max-running`, and few enough that no host sees more than
    /// `--max-connections-per-host` (each running mailbox holds
    /// `--connections` to each side's host, twice that when both sides are
    /// one host).
    pub fn running_limit(&self) -> Option<i64> {
        let by_connections = self.max_connections_per_host.map(|cap| {
            let per_side = i64::from(self.copy.connections.max(1));
            let same_host = match (server(&self.from), server(&self.to)) {
                (Ok(a), Ok(b)) => a.host.eq_ignore_ascii_case(&b.host),
                _ => false,
            };
            let per_mailbox = if same_host { 2 * per_side } else { per_side };
            (i64::from(cap) / per_mailbox).max(1)
        });
        let by_count = self.max_running.map(|n| i64::from(n.max(1)));
        match (by_connections, by_count) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The copy settings of one running mailbox: the project's, with its
    /// rate limits divided among the mailboxes that may run at once, so
    /// that they hold for the whole project on every machine.
    pub fn copy_for_one_mailbox(&self) -> Result<CopySettings, String> {
        let mut copy = self.copy.clone();
        let limited = copy.max_bytes_per_second.is_some() || copy.max_messages_per_second.is_some();
        if !limited {
            return Ok(copy);
        }
        let share = self.running_limit().ok_or(
            "a project's rate limit is shared by the mailboxes that may run at once: \
             give --max-running N (or --max-connections-per-host N) too",
        )? as u64;
        if let Some(b) = &copy.max_bytes_per_second {
            let total = parse_size(b).filter(|&n| n > 0).ok_or_else(|| {
                format!("--max-bytes-per-second: {b:?} is not a size like 500K or 10M")
            })?;
            copy.max_bytes_per_second = Some((total / share).max(1).to_string());
        }
        if let Some(m) = copy.max_messages_per_second {
            copy.max_messages_per_second = Some((m / share).max(1));
        }
        Ok(copy)
    }
}

/// Mail domains as given on the command line: lower case, each checked.
pub fn domains(given: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for d in given {
        let d = d.trim().trim_end_matches('.').to_lowercase();
        let valid = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !valid {
            return Err(format!(
                "--domain {d:?} is not a mail domain (like example.org)"
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// An administrator who logs in for every user of one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admin {
    pub login: String,
    /// `authzid`, `dovecot-master`, `exchange`, `mirapoint`.
    pub style: String,
    /// The admin's password, sealed with the project key.
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tls {
    pub from_ca: Option<PathBuf>,
    pub to_ca: Option<PathBuf>,
    pub insecure: bool,
    pub allow_plaintext: bool,
    pub timeout_secs: u64,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            from_ca: None,
            to_ca: None,
            insecure: false,
            allow_plaintext: false,
            timeout_secs: 120,
        }
    }
}

/// What one mailbox sets over the project's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Overrides {
    /// Only folders matching this regex (instead of the project's `--include`).
    pub folders: Option<String>,
    /// Put every folder under this destination folder.
    pub destination_prefix: Option<String>,
}

/// A server address as a project names it: `imaps://host[:port]` (a user
/// in it is ignored: each mailbox brings its own).
pub fn server(url: &str) -> Result<Endpoint, String> {
    let with_user = match url.split_once("://") {
        Some((scheme, rest)) if !rest.contains('@') => format!("{scheme}://user@{rest}"),
        _ => url.to_string(),
    };
    with_user.parse().map_err(|e| format!("{e}"))
}

/// `authzid`, `dovecot-master`, `exchange`, `mirapoint`.
pub fn admin_style(name: &str) -> Result<AdminStyle, String> {
    match name {
        "authzid" => Ok(AdminStyle::Authzid),
        "dovecot-master" => Ok(AdminStyle::DovecotMaster),
        "exchange" => Ok(AdminStyle::Exchange),
        "mirapoint" => Ok(AdminStyle::Mirapoint),
        other => Err(format!(
            "admin style {other:?} is not one of authzid, dovecot-master, exchange, mirapoint"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_and_lower_cased() {
        assert_eq!(
            domains(&[
                "Example.ORG.".into(),
                "example.org".into(),
                "bücher.example".into()
            ]),
            Ok(vec!["example.org".into(), "bücher.example".into()])
        );
        for bad in ["", "localhost", "a..b", "-a.b", "a b.c"] {
            assert!(
                domains(&[bad.into()]).unwrap_err().contains("--domain"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_server_is_named_without_a_user() {
        let ep = server("imaps://mail.old.example").unwrap();
        assert_eq!((ep.host.as_str(), ep.port), ("mail.old.example", 993));
        let ep = server("imap://mail.old.example:1143").unwrap();
        assert_eq!(ep.port, 1143);
        assert!(server("mail.old.example").is_err());
        assert!(admin_style("dovecot-master").is_ok());
        assert!(admin_style("root").unwrap_err().contains("authzid"));
    }

    #[test]
    fn settings_round_trip_as_json() {
        let s = Settings {
            from: "imaps://old".into(),
            to: "imaps://new".into(),
            from_admin: Some(Admin {
                login: "master".into(),
                style: "dovecot-master".into(),
                secret: "v1:sealed".into(),
            }),
            to_admin: None,
            copy: CopySettings::default(),
            verify: true,
            max_connections_per_host: Some(20),
            max_running: None,
            domains: Vec::new(),
            tls: Tls::default(),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Settings>(&json).unwrap(), s);
    }

    #[test]
    fn the_running_limit_and_rates_hold_for_the_whole_project() {
        let mut s = Settings {
            from: "imaps://old.example".into(),
            to: "imaps://new.example".into(),
            from_admin: None,
            to_admin: None,
            copy: CopySettings {
                connections: 4,
                max_bytes_per_second: Some("10M".into()),
                max_messages_per_second: Some(100),
                ..CopySettings::default()
            },
            verify: false,
            max_connections_per_host: None,
            max_running: None,
            domains: Vec::new(),
            tls: Tls::default(),
        };
        assert_eq!(s.running_limit(), None);
        assert!(s
            .copy_for_one_mailbox()
            .unwrap_err()
            .contains("--max-running"));
        s.max_connections_per_host = Some(20);
        assert_eq!(s.running_limit(), Some(5));
        let one = s.copy_for_one_mailbox().unwrap();
        assert_eq!(one.max_bytes_per_second.as_deref(), Some("2097152"));
        assert_eq!(one.max_messages_per_second, Some(20));
        s.max_running = Some(2);
        assert_eq!(s.running_limit(), Some(2));
        s.to = "imaps://OLD.example:1993".into();
        s.max_running = None;
        // Both sides on one host: each mailbox holds 8 connections to it.
        assert_eq!(s.running_limit(), Some(2));
        s.copy.max_bytes_per_second = Some("lots".into());
        assert!(s.copy_for_one_mailbox().unwrap_err().contains("500K"));
    }
}
