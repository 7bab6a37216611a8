//! `mailport check`: what a server is and holds, read-only. Answers the
//! questions asked before every migration — does the login work, over what
//! TLS, with which certificate, which extensions, how much mail.

use std::time::{Duration, Instant};

use mailport_net::cert::CertInfo;
use mailport_net::Fingerprint;
use serde::Serialize;

use crate::connector::Connector;
use crate::error::ErrorKind;
use crate::error::SessionError;

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The URL that connected (after discovery), without credentials.
    pub endpoint: String,
    pub greeting: String,
    pub capabilities: Vec<String>,
    pub tls: Option<TlsReport>,
    /// Personal, other users' and shared namespaces as `prefix (separator)`.
    pub namespaces: Vec<String>,
    pub folders: Vec<FolderSize>,
    pub messages: u64,
    pub bytes: u64,
    /// Time from connect to logged in.
    #[serde(serialize_with = "millis")]
    pub login_time: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    pub version: String,
    pub cipher: String,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub names: Option<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderSize {
    /// As mailport names it: levels joined by `/`, without the personal
    /// namespace prefix (`INBOX.Work.Projects` on Courier is `Work/Projects`).
    pub name: String,
    /// As the server names it (decoded from modified UTF-7).
    pub server_name: String,
    pub messages: u64,
    pub bytes: u64,
    /// `\Noselect` and such: listed, holds no messages.
    pub selectable: bool,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{host}: {context}: {source}")]
    Imap {
        host: String,
        context: String,
        source: mailport_imap::Error,
    },
}

impl CheckError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CheckError::Session(e) => e.kind(),
            CheckError::Imap { source, .. } if source.breaks_connection() => ErrorKind::Connection,
            CheckError::Imap { .. } => ErrorKind::Server,
        }
    }
}

/// Logs in and reads everything `check` reports; changes nothing (folders
/// are opened with EXAMINE).
pub async fn inspect(c: &Connector) -> Result<Inspection, CheckError> {
    let started = Instant::now();
    let mut s = c.open().await?;
    let login_time = started.elapsed();
    let greeting = s.greeting().to_string();
    let capabilities = s.capabilities().to_vec();
    let host = c.config.endpoint.host.clone();
    let err = |context: &str| {
        let host = host.clone();
        let context = context.to_string();
        move |source| CheckError::Imap {
            host,
            context,
            source,
        }
    };
    let tls = s.stream().tls_details().map(|t| {
        let info = t.certificate.as_deref().and_then(CertInfo::parse);
        TlsReport {
            version: t.version,
            cipher: t.cipher,
            subject: info.as_ref().map(|i| i.subject.clone()),
            issuer: info.as_ref().map(|i| i.issuer.clone()),
            names: info.as_ref().map(CertInfo::names_list),
            not_before: info.as_ref().map(|i| i.not_before.to_string()),
            not_after: info.as_ref().map(|i| i.not_after.to_string()),
            fingerprint: t
                .certificate
                .as_deref()
                .map(|der| Fingerprint::of(der).to_string()),
        }
    });
    let ns = s.namespaces().await.map_err(err("NAMESPACE"))?;
    let mut namespaces = Vec::new();
    if let Some(ns) = ns {
        for (kind, group) in [
            ("personal", &ns.personal),
            ("other users", &ns.other_users),
            ("shared", &ns.shared),
        ] {
            for n in group {
                namespaces.push(format!(
                    "{kind}: {:?} (separator {})",
                    mailport_mail::utf7::decode(&n.prefix)
                        .unwrap_or_else(|_| String::from_utf8_lossy(&n.prefix).into_owned()),
                    n.delimiter
                        .map(|d| format!("{:?}", char::from(d)))
                        .unwrap_or_else(|| "none".into())
                ));
            }
        }
    }
    let listing = crate::plan::read_listing(&mut s, false)
        .await
        .map_err(err("LIST"))?;
    let mut folders = Vec::new();
    for entry in listing.folders {
        let server_name = mailport_mail::utf7::decode(&entry.name)
            .unwrap_or_else(|_| String::from_utf8_lossy(&entry.name).into_owned());
        let name = match listing.hierarchy.decode(&entry.name) {
            Ok(path) => crate::hierarchy::display(&path),
            // Other users' and shared folders keep the server's name.
            Err(_) => server_name.clone(),
        };
        let selectable =
            !entry.has_attribute("\\Noselect") && !entry.has_attribute("\\NonExistent");
        let (mut messages, mut bytes) = (0, 0);
        if selectable {
            let st = s
                .select(&entry.name, true)
                .await
                .map_err(err(&format!("EXAMINE {server_name}")))?;
            if st.exists > 0 {
                let metas = s
                    .fetch_meta("1:*", &[])
                    .await
                    .map_err(err(&format!("reading sizes in {name}")))?;
                messages = metas.len() as u64;
                bytes = metas.iter().map(|m| m.size).sum();
            }
        }
        folders.push(FolderSize {
            name,
            server_name,
            messages,
            bytes,
            selectable,
        });
    }
    let _ = s.logout().await;
    // INBOX first, then by name, as mail clients show them.
    folders.sort_by(|a, b| {
        (a.name != "INBOX", a.name.to_lowercase()).cmp(&(b.name != "INBOX", b.name.to_lowercase()))
    });
    Ok(Inspection {
        endpoint: c.config.endpoint.to_string(),
        greeting,
        capabilities,
        tls,
        namespaces,
        messages: folders.iter().map(|f| f.messages).sum(),
        bytes: folders.iter().map(|f| f.bytes).sum(),
        folders,
        login_time,
    })
}
