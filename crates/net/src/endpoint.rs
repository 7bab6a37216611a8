//! Endpoint URLs: `imaps://user@host[:port]`, `imap://user@host[:port]`,
//! `pop3s://…`, `pop3://…`.
//!
//! Credentials never live in URLs: a password in one is refused with a hint.

use std::fmt;

use crate::route::{Route, Security};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// IMAP over implicit TLS (port 993).
    Imaps,
    /// IMAP on 143, upgraded with STARTTLS when offered.
    Imap,
    /// POP3 over implicit TLS (port 995).
    Pop3s,
    /// POP3 on 110, upgraded with STLS when offered.
    Pop3,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Imaps => 993,
            Scheme::Imap => 143,
            Scheme::Pop3s => 995,
            Scheme::Pop3 => 110,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Imaps => "imaps",
            Scheme::Imap => "imap",
            Scheme::Pop3s => "pop3s",
            Scheme::Pop3 => "pop3",
        }
    }
    pub fn security(self) -> Security {
        match self {
            Scheme::Imaps | Scheme::Pop3s => Security::Tls,
            Scheme::Imap | Scheme::Pop3 => Security::StartTls,
        }
    }
    pub fn is_pop3(self) -> bool {
        matches!(self, Scheme::Pop3s | Scheme::Pop3)
    }
    /// The same protocol with another security.
    pub fn with_security(self, security: Security) -> Self {
        match (self.is_pop3(), security) {
            (false, Security::Tls) => Scheme::Imaps,
            (false, Security::StartTls) => Scheme::Imap,
            (true, Security::Tls) => Scheme::Pop3s,
            (true, Security::StartTls) => Scheme::Pop3,
        }
    }
    /// The routes servers of this protocol listen on (RFC 8314: 993 and
    /// 995; RFC 3501: 143; RFC 1939: 110).
    pub fn standard_routes(self) -> [Route; 2] {
        [Security::Tls, Security::StartTls].map(|sec| {
            let s = self.with_security(sec);
            Route {
                security: sec,
                port: s.default_port(),
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn route(&self) -> Route {
        Route {
            security: self.scheme.security(),
            port: self.port,
        }
    }
    /// The same user and host over another route.
    pub fn with_route(&self, route: Route) -> Endpoint {
        Endpoint {
            scheme: self.scheme.with_security(route.security),
            port: route.port,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint URL {url:?}: {reason}")]
pub struct EndpointError {
    pub url: String,
    pub reason: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.user.replace('%', "%25").replace('@', "%40");
        write!(f, "{}://{}@{}", self.scheme.as_str(), user, self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| EndpointError {
            url: redact_password(url),
            reason: reason.to_string(),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            err("expected scheme://user@host, e.g. imaps://alice@mail.example.net, or a local store: maildir:PATH or mbox:PATH")
        })?;
        let scheme =
            match scheme.to_ascii_lowercase().as_str() {
                "imaps" => Scheme::Imaps,
                "imap" => Scheme::Imap,
                "pop3s" => Scheme::Pop3s,
                "pop3" => Scheme::Pop3,
                "maildir" | "mbox" => {
                    return Err(err(
                        "write local stores as maildir:PATH or mbox:PATH (no //); they can be sources",
                    ))
                }
                _ => return Err(err(
                    "unknown scheme; use imaps:// (TLS, port 993), imap:// (STARTTLS, port 143), pop3s:// (995), pop3:// (110), or a local store: maildir:PATH, mbox:PATH",
                )),
            };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err(err(
                "a path, query or fragment is not allowed; give scheme://user@host[:port]",
            ));
        }
        // The last '@' separates the user from the host: `alice@example.com@host` works.
        let (userinfo, hostport) = rest.rsplit_once('@').ok_or_else(|| {
            err("no user name; write it before the host, e.g. imaps://alice@host")
        })?;
        if userinfo.contains(':') {
            return Err(err(
                "passwords do not belong in URLs; use --from-password-file/--to-password-file, \
                 MAILPORT_FROM_PASSWORD/MAILPORT_TO_PASSWORD or the prompt",
            ));
        }
        let user = percent_decode(userinfo).ok_or_else(|| err("bad %-escape in the user name"))?;
        if user.is_empty() {
            return Err(err("empty user name"));
        }
        let (host, port) = split_host_port(hostport).map_err(|r| err(&r))?;
        let port = port.unwrap_or(scheme.default_port());
        Ok(Endpoint {
            scheme,
            user,
            host,
            port,
        })
    }
}

/// The URL as it may be shown: a password in it replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed '[' in IPv6 address")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("unexpected text after IPv6 address".into()),
        };
        (h.to_string(), port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("empty host name".into());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c))
    {
        return Err(format!("{host:?} is not a valid host name"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("{p:?} is not a valid port (1-65535)")),
        },
    };
    Ok((host, port))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        s.parse().unwrap()
    }

    #[test]
    fn parses_common_forms() {
        let e = ep("imaps://alice@old.example.net");
        assert_eq!(
            (e.scheme, e.user.as_str(), e.host.as_str(), e.port),
            (Scheme::Imaps, "alice", "old.example.net", 993)
        );
        let e = ep("imap://alice@example.com@127.0.0.1:1143");
        assert_eq!(
            (e.user.as_str(), e.host.as_str(), e.port),
            ("alice@example.com", "127.0.0.1", 1143)
        );
        assert_eq!(ep("imap://a%40b.c@h/").user, "a@b.c");
        assert_eq!(ep("imaps://u@[::1]:994").host, "::1");
        assert_eq!(ep("IMAPS://u@h").to_string(), "imaps://u@h");
        assert_eq!(ep("imap://a%40b@h:1").to_string(), "imap://a%40b@h:1");
        assert_eq!((ep("pop3s://u@h").port, ep("pop3://u@h").port), (995, 110));
        let pop = ep("pop3://u@h:2110");
        assert_eq!(
            pop.scheme.standard_routes().map(|r| r.port),
            [995, 110],
            "discovery stays with the protocol"
        );
        assert_eq!(
            pop.with_route(pop.scheme.standard_routes()[0]).scheme,
            Scheme::Pop3s
        );
    }

    #[test]
    fn refuses_bad_urls_with_reasons() {
        for (url, needle) in [
            ("old.example.net", "expected scheme"),
            ("ftp://a@h", "unknown scheme"),
            ("imaps://h", "no user name"),
            ("imaps://alice:secret@h", "passwords do not belong"),
            ("imaps://a@h:0", "not a valid port"),
            ("imaps://a@h:99999", "not a valid port"),
            ("imaps://a@h/INBOX", "path"),
            ("imaps://a@", "empty host"),
            ("imaps://a@ho st", "not a valid host"),
            ("maildir://a@h", "maildir:PATH"),
        ] {
            let e = url.parse::<Endpoint>().unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
            assert!(
                !e.contains("secret") || !url.contains("secret") || e.contains("passwords"),
                "{e}"
            );
        }
    }
}
