//! Which port and security to try when the given ones do not connect.
//!
//! Users copy host names from old settings pages and guess the rest: `imaps://`
//! with port 143, a STARTTLS URL pointing at 993, a port the provider closed
//! years ago. Every mail protocol has the same pair (implicit TLS on one
//! port, STARTTLS on another: IMAP 993/143, POP3 995/110), so the order of
//! attempts lives here and the protocol code only says what its standard
//! routes are and how to open one.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// TLS from the first byte.
    Tls,
    /// Plain text until the protocol's STARTTLS (or STLS); without it, plain
    /// text only where the user allowed it.
    StartTls,
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Security::Tls => "implicit TLS",
            Security::StartTls => "STARTTLS",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub security: Security,
    pub port: u16,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {} ({})", self.port, self.security)
    }
}

/// The routes to try after `given` failed, in order, without `given` and
/// without repeats: first the other security on the same port (the usual
/// mistake is the scheme, not the port) unless nothing listens there
/// (`port_answered` false), then the protocol's `standard` routes.
pub fn alternatives(given: Route, standard: &[Route], port_answered: bool) -> Vec<Route> {
    let other = Route {
        security: match given.security {
            Security::Tls => Security::StartTls,
            Security::StartTls => Security::Tls,
        },
        port: given.port,
    };
    let same_port = port_answered.then_some(other);
    let mut out: Vec<Route> = Vec::new();
    for r in same_port.into_iter().chain(standard.iter().copied()) {
        if r != given && !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAP: [Route; 2] = [
        Route {
            security: Security::Tls,
            port: 993,
        },
        Route {
            security: Security::StartTls,
            port: 143,
        },
    ];

    fn r(security: Security, port: u16) -> Route {
        Route { security, port }
    }

    #[test]
    fn the_other_security_on_the_same_port_comes_first() {
        assert_eq!(
            alternatives(r(Security::Tls, 1143), &IMAP, true),
            vec![
                r(Security::StartTls, 1143),
                r(Security::Tls, 993),
                r(Security::StartTls, 143)
            ]
        );
        assert_eq!(
            alternatives(r(Security::Tls, 143), &IMAP, true),
            vec![r(Security::StartTls, 143), r(Security::Tls, 993)]
        );
    }

    #[test]
    fn a_closed_port_is_not_tried_again() {
        assert_eq!(
            alternatives(r(Security::Tls, 993), &IMAP, false),
            vec![r(Security::StartTls, 143)]
        );
        assert_eq!(
            alternatives(r(Security::StartTls, 2143), &IMAP, false),
            IMAP.to_vec()
        );
    }
}
