//! A project's settings: where mailboxes come from and go to, how to log in
//! for users (admin impersonation), and the copy options every mailbox
//! gets unless it overrides a few. Stored as JSON; the admins' passwords
//! in it are sealed with the project key.

use std::path::PathBuf;

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
    #[serde(default)]
    pub max_connections_per_host: Option<u16>,
    #[serde(default)]
    pub tls: Tls,
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
            tls: Tls::default(),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Settings>(&json).unwrap(), s);
    }
}
