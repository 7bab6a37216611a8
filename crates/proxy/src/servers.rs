//! The old and the new server's services other than IMAP, where logins of
//! those protocols go: POP3, and submission (mail sent by users' clients).
//! The project names the IMAP services; these default to the same hosts.

use mailport_net::{Endpoint, Scheme};
use mailport_project::{settings, Project};

/// The old and the new server's POP3 services (the project names their
/// IMAP services).
#[derive(Debug, Clone)]
pub struct Pop3Servers {
    pub source: Endpoint,
    pub destination: Endpoint,
}

impl Pop3Servers {
    /// POP3 on the hosts of the project's IMAP servers: over TLS (995)
    /// where IMAP is `imaps://`, else port 110 with STLS.
    pub fn beside(project: &Project) -> Result<Pop3Servers, String> {
        let pop3 = |url: &str| -> Result<Endpoint, String> {
            let imap = settings::server(url)?;
            let scheme = match imap.scheme {
                Scheme::Imaps | Scheme::Pop3s => Scheme::Pop3s,
                Scheme::Imap | Scheme::Pop3 => Scheme::Pop3,
            };
            Ok(Endpoint {
                scheme,
                port: scheme.default_port(),
                ..imap
            })
        };
        Ok(Pop3Servers {
            source: pop3(&project.settings.from)?,
            destination: pop3(&project.settings.to)?,
        })
    }

    /// A `pop3://` or `pop3s://` URL given by the operator.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let endpoint = settings::server(url)?;
        match endpoint.scheme.is_pop3() {
            true => Ok(endpoint),
            false => Err(format!(
                "{url}: a POP3 server is pop3://HOST[:PORT] or pop3s://HOST[:PORT]"
            )),
        }
    }
}

/// A submission service (RFC 6409): where an authenticated user's client
/// hands over the mail it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (port 465, RFC 8314); else STARTTLS when
    /// offered (port 587).
    pub implicit_tls: bool,
}

impl Submission {
    /// `smtp://HOST[:PORT]` (587, STARTTLS when offered) or
    /// `smtps://HOST[:PORT]` (465).
    pub fn parse(url: &str) -> Result<Submission, String> {
        let bad = || {
            format!(
                "{url}: a submission server is smtp://HOST[:PORT] (587, STARTTLS) or smtps://HOST[:PORT] (465)"
            )
        };
        let (implicit_tls, rest) = match url.split_once("://") {
            Some(("smtp", r)) => (false, r),
            Some(("smtps", r)) => (true, r),
            _ => return Err(bad()),
        };
        let rest = rest.trim_end_matches('/');
        // A bracketed IPv6 address has colons of its own.
        let port_given = rest.rsplit_once(':').filter(|(_, p)| !p.ends_with(']'));
        let (host, port) = match port_given {
            Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
            None if implicit_tls => (rest, 465),
            None => (rest, 587),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '@']) {
            return Err(bad());
        }
        Ok(Submission {
            host: host.to_string(),
            port,
            implicit_tls,
        })
    }
}

impl std::fmt::Display for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// The old and the new server's submission services.
#[derive(Debug, Clone)]
pub struct SubmissionServers {
    pub source: Submission,
    pub destination: Submission,
}

impl SubmissionServers {
    /// Port 587 (STARTTLS) on the hosts of the project's IMAP servers.
    pub fn beside(project: &Project) -> Result<SubmissionServers, String> {
        let beside = |url: &str| -> Result<Submission, String> {
            Ok(Submission {
                host: settings::server(url)?.host,
                port: 587,
                implicit_tls: false,
            })
        };
        Ok(SubmissionServers {
            source: beside(&project.settings.from)?,
            destination: beside(&project.settings.to)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_urls() {
        let s = Submission::parse("smtp://mail.old.example").unwrap();
        assert_eq!((s.port, s.implicit_tls), (587, false));
        let s = Submission::parse("smtps://mail.old.example").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.implicit_tls),
            ("mail.old.example", 465, true)
        );
        let s = Submission::parse("smtp://127.0.0.1:2587/").unwrap();
        assert_eq!(s.to_string(), "smtp://127.0.0.1:2587");
        let s = Submission::parse("smtp://[::1]:25").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("::1", 25));
        for bad in [
            "imap://x",
            "smtp://",
            "smtp://x:port",
            "x:587",
            "smtp://u@x",
        ] {
            let e = Submission::parse(bad).unwrap_err();
            assert!(e.contains("smtp://HOST"), "{bad}: {e}");
        }
    }
}
