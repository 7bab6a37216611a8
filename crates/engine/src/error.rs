//! How a job fails as a whole: which side, and what went wrong there.

use std::time::Duration;

use crate::connector::SessionError;
use crate::throttle::{self};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{side}: {source}")]
    Session { side: Side, source: SessionError },
    #[error("{side}: {context}: {source}")]
    Imap {
        side: Side,
        context: String,
        source: mailport_imap::Error,
    },
}

impl EngineError {
    /// The side that failed.
    pub fn side(&self) -> Side {
        match self {
            EngineError::Session { side, .. } | EngineError::Imap { side, .. } => *side,
        }
    }

    /// Worth another connection attempt: the network or server availability
    /// failed, not the credentials or the request.
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Session { source, .. } => match source {
                SessionError::Connect(c) => c.is_transient(),
                SessionError::Imap { source, .. } => source.is_transient(),
                SessionError::Auth { .. }
                | SessionError::Login { .. }
                | SessionError::Unusable(_)
                | SessionError::NoStartTls { .. } => false,
            },
            EngineError::Imap { source, .. } => source.is_transient(),
        }
    }

    /// The server pushed back (too many connections, throttled), with the
    /// delay it suggested if any.
    pub fn pushback(&self) -> Option<Option<Duration>> {
        match self {
            EngineError::Session {
                source: SessionError::Imap { source, .. },
                ..
            }
            | EngineError::Imap { source, .. } => throttle::pushback(source),
            _ => None,
        }
    }

    pub(crate) fn suggested_delay(&self) -> Option<Duration> {
        self.pushback().flatten()
    }

    /// Connection or login failure (exit code 3 in the CLI).
    pub fn is_connection(&self) -> bool {
        match self {
            EngineError::Session { .. } => true,
            EngineError::Imap { source, .. } => source.breaks_connection(),
        }
    }
}
