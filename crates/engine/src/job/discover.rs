//! Before anything else: both servers are reached, each by the route the
//! user gave or, when that does not connect but another port or security of
//! the same host does, by that one (said as an event, with the URL to give
//! next time).

use mailport_net::Scheme;

use crate::connector::{Connector, Discovery, Unreachable};
use crate::error::Side;
use crate::progress::{EventKind, Tell};

/// Connects to both sides at once; the sides that could not be reached.
pub(crate) async fn discover(
    source: Option<&mut Connector>,
    destination: Option<&mut Connector>,
    tell: &Tell,
) -> Result<(), Vec<(Side, Unreachable)>> {
    let (s, d) = tokio::join!(probe(source), probe(destination));
    let mut failures = Vec::new();
    let results = [(Side::Source, s), (Side::Destination, d)]
        .into_iter()
        .filter_map(|(side, r)| r.map(|r| (side, r)));
    for (side, result) in results {
        match result {
            Ok(None) => {}
            Ok(Some(found)) => tell.event(route_found(side, found)),
            Err(e) => failures.push((side, e)),
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(failures),
    }
}

async fn probe(c: Option<&mut Connector>) -> Option<Result<Option<Discovery>, Unreachable>> {
    match c {
        Some(c) => Some(c.discover().await),
        None => None,
    }
}

fn route_found(side: Side, found: Discovery) -> EventKind {
    // The given endpoint's failure first, without repeating its URL.
    let why = found
        .failed
        .iter()
        .enumerate()
        .map(|(i, (ep, reason))| match i {
            0 => first_line(reason).to_string(),
            _ => format!("nor {ep}: {}", first_line(reason)),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let how = match (found.found.scheme, found.encrypted) {
        (Scheme::Imaps, _) => "implicit TLS",
        (_, true) => "STARTTLS",
        (_, false) => "plain text, allowed by --allow-plaintext",
    };
    EventKind::RouteFound {
        side,
        given: found.given,
        found: found.found,
        how,
        why,
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
