//! How a job fails as a whole: which side, what went wrong there, and
//! what kind of failure that is ([`ErrorKind`], one exit code each).
//! Each kind of mailbox fails in its own terms ([`MailboxError`]): a full
//! disk under a Maildir is not a lost connection.

use std::time::Duration;

use mailport_net::ConnectError;

use crate::throttle;

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

/// A command on an open source or destination that failed, in the terms of
/// the kind of mailbox that failed it.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error(transparent)]
    Imap(#[from] mailport_imap::Error),
    #[error(transparent)]
    Pop3(#[from] mailport_pop3::Error),
    /// A Maildir or mbox on disk.
    #[error(transparent)]
    Local(#[from] mailport_mailstore::Error),
    /// A local file: a Maildir or mbox message being read, a POP3 spool.
    #[error("reading a local file: {0}")]
    Io(#[from] std::io::Error),
    /// The state file, where local stores and POP3 keep their UIDs.
    #[error(transparent)]
    State(#[from] mailport_store::StoreError),
    /// The engine asked a session for what it cannot have (a bug).
    #[error("{0}")]
    Internal(String),
}

impl MailboxError {
    /// Worth another attempt on a new session: the network or the server's
    /// availability failed (or a file system hiccuped), not the request.
    pub fn is_transient(&self) -> bool {
        match self {
            MailboxError::Imap(e) => e.is_transient(),
            MailboxError::Pop3(e) => e.is_transient(),
            // A local store has no connection: a write that fails (a full
            // disk) refuses its message; a read that fails fails its folder.
            MailboxError::Local(_)
            | MailboxError::Io(_)
            | MailboxError::State(_)
            | MailboxError::Internal(_) => false,
        }
    }

    /// The session can no longer be used (a local store is opened again).
    pub fn breaks_connection(&self) -> bool {
        match self {
            MailboxError::Imap(e) => e.breaks_connection(),
            MailboxError::Pop3(e) => e.breaks_connection(),
            // A local store has no connection: a write that fails (a full
            // disk) refuses its message; a read that fails fails its folder.
            MailboxError::Local(_)
            | MailboxError::Io(_)
            | MailboxError::State(_)
            | MailboxError::Internal(_) => false,
        }
    }

    /// The server pushed back (too many connections, throttled), with the
    /// delay it suggested if any.
    pub fn pushback(&self) -> Option<Option<Duration>> {
        match self {
            MailboxError::Imap(mailport_imap::Error::No { code, text, .. })
            | MailboxError::Pop3(mailport_pop3::Error::Err { code, text, .. }) => {
                throttle::pushback(code.as_deref(), text)
            }
            MailboxError::Imap(mailport_imap::Error::Bye(text)) => throttle::pushback(None, text),
            _ => None,
        }
    }

    /// A Maildir, mbox or local file failed (not a server).
    pub fn is_local(&self) -> bool {
        matches!(self, MailboxError::Local(_) | MailboxError::Io(_))
    }

    /// The response code of a refusal (`ALREADYEXISTS`, `OVERQUOTA`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            MailboxError::Imap(mailport_imap::Error::No { code, .. })
            | MailboxError::Pop3(mailport_pop3::Error::Err { code, .. }) => code.as_deref(),
            _ => None,
        }
    }
}

/// What kind of failure ended a job: each has one exit code and one kind of
/// advice (docs/errors.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Options or addresses that cannot work as given.
    Usage,
    /// A server could not be reached, or the connection to it was lost.
    Connection,
    /// A server refused the credentials (or the login method).
    Login,
    /// A server answered what a server must not, or refused what the copy
    /// needs (a folder it cannot read).
    Server,
    /// A Maildir or mbox could not be read or written.
    LocalStore,
    /// The state file could not be opened or written.
    State,
}

impl ErrorKind {
    /// The exit code of the CLI (0 clean, 1 some messages failed, 130
    /// interrupted are not errors of a kind).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage => 2,
            ErrorKind::Connection | ErrorKind::Login | ErrorKind::Server => 3,
            ErrorKind::LocalStore => 4,
            ErrorKind::State => 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A session could not be opened (connect, TLS, login, a local store).
    #[error("{side}: {source}")]
    Session { side: Side, source: SessionError },
    /// An open session failed.
    #[error("{side}: {context}: {source}")]
    Mailbox {
        side: Side,
        context: String,
        source: MailboxError,
    },
}

impl EngineError {
    /// The side that failed.
    pub fn side(&self) -> Side {
        match self {
            EngineError::Session { side, .. } | EngineError::Mailbox { side, .. } => *side,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Session { source, .. } => source.kind(),
            EngineError::Mailbox { source, .. } => match source {
                MailboxError::Local(_) | MailboxError::Io(_) => ErrorKind::LocalStore,
                MailboxError::State(_) => ErrorKind::State,
                e if e.breaks_connection() => ErrorKind::Connection,
                _ => ErrorKind::Server,
            },
        }
    }

    /// Worth another connection attempt: the network or server availability
    /// failed, not the credentials or the request.
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Session { source, .. } => source.is_transient(),
            EngineError::Mailbox { source, .. } => source.is_transient(),
        }
    }

    /// The server pushed back (too many connections, throttled), with the
    /// delay it suggested if any.
    pub fn pushback(&self) -> Option<Option<Duration>> {
        match self {
            EngineError::Session { source, .. } => source.pushback(),
            EngineError::Mailbox { source, .. } => source.pushback(),
        }
    }

    pub(crate) fn suggested_delay(&self) -> Option<Duration> {
        self.pushback().flatten()
    }
}

/// An error and its causes on one line, without the repetition that arises
/// when an error's message already includes its cause's ("copy failed:
/// source: login as \"dan\" at host failed: ...").
pub fn in_words(e: &(dyn std::error::Error + 'static)) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !kept.last().is_some_and(|last| last.contains(&text)) {
            kept.push(text);
        }
        next = cause.source();
    }
    kept.join(": ")
}

/// The error of a command on `side`'s open session, with what it was doing.
pub(crate) fn failed(
    side: Side,
    context: &str,
) -> impl FnOnce(MailboxError) -> EngineError + use<'_> {
    move |source| EngineError::Mailbox {
        side,
        context: context.to_string(),
        source,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("login as {user:?} at {host} failed: {reason}")]
    Auth {
        user: String,
        host: String,
        reason: String,
    },
    #[error("cannot log in as {user:?} at {host}: {reason}")]
    Login {
        user: String,
        host: String,
        reason: String,
    },
    /// An endpoint that cannot be used as given: a login method without the
    /// credential it needs, a POP3 URL as a destination.
    #[error("{0}")]
    Unusable(String),
    /// A Maildir or mbox that cannot be opened.
    #[error(transparent)]
    Local(#[from] mailport_mailstore::Error),
    #[error("{host}: {source}")]
    Pop3 {
        host: String,
        source: mailport_pop3::Error,
    },
    #[error("{host} does not offer STARTTLS; use imaps:// or pass --allow-plaintext to send the password unencrypted")]
    NoStartTls { host: String },
    #[error("{host}: {source}")]
    Imap {
        host: String,
        source: mailport_imap::Error,
    },
}

impl SessionError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SessionError::Connect(_) | SessionError::NoStartTls { .. } => ErrorKind::Connection,
            SessionError::Auth { .. } | SessionError::Login { .. } | SessionError::Unusable(_) => {
                ErrorKind::Login
            }
            SessionError::Local(_) => ErrorKind::LocalStore,
            SessionError::Imap { source, .. } if source.breaks_connection() => {
                ErrorKind::Connection
            }
            SessionError::Pop3 { source, .. } if source.breaks_connection() => {
                ErrorKind::Connection
            }
            SessionError::Imap { .. } | SessionError::Pop3 { .. } => ErrorKind::Server,
        }
    }

    /// Worth another attempt: the network or the server's availability failed.
    pub fn is_transient(&self) -> bool {
        match self {
            SessionError::Connect(c) => c.is_transient(),
            SessionError::Imap { source, .. } => source.is_transient(),
            SessionError::Pop3 { source, .. } => source.is_transient(),
            SessionError::Auth { .. }
            | SessionError::Login { .. }
            | SessionError::Unusable(_)
            | SessionError::Local(_)
            | SessionError::NoStartTls { .. } => false,
        }
    }

    /// The server pushed back at login (too many connections), with the
    /// delay it suggested if any.
    pub fn pushback(&self) -> Option<Option<Duration>> {
        match self {
            SessionError::Imap {
                source: mailport_imap::Error::No { code, text, .. },
                ..
            }
            | SessionError::Pop3 {
                source: mailport_pop3::Error::Err { code, text, .. },
                ..
            } => throttle::pushback(code.as_deref(), text),
            SessionError::Imap {
                source: mailport_imap::Error::Bye(text),
                ..
            } => throttle::pushback(None, text),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(source: MailboxError) -> EngineError {
        EngineError::Mailbox {
            side: Side::Destination,
            context: "appending".into(),
            source,
        }
    }

    #[test]
    fn each_kind_of_mailbox_fails_in_its_own_kind() {
        let full = std::io::Error::from_raw_os_error(28);
        let local = mailport_mailstore::Error::Io {
            path: "/mail/cur".into(),
            source: full,
        };
        let e = mailbox(MailboxError::Local(local));
        assert_eq!(e.kind(), ErrorKind::LocalStore);
        assert_eq!(e.kind().exit_code(), 4);
        assert!(
            !e.is_transient(),
            "a full disk is not a connection to retry"
        );
        assert!(e.to_string().contains("/mail/cur"), "{e}");

        let lost = mailbox(MailboxError::Imap(mailport_imap::Error::Closed));
        assert_eq!(lost.kind(), ErrorKind::Connection);
        assert!(lost.is_transient());
        let refused = mailbox(MailboxError::Imap(mailport_imap::Error::No {
            command: "SELECT".into(),
            code: None,
            text: "no such folder".into(),
        }));
        assert_eq!(refused.kind(), ErrorKind::Server);
        let pop = mailbox(MailboxError::Pop3(mailport_pop3::Error::Closed));
        assert_eq!(pop.kind(), ErrorKind::Connection);

        let login = EngineError::Session {
            side: Side::Source,
            source: SessionError::Auth {
                user: "alice".into(),
                host: "mail.example".into(),
                reason: "wrong password".into(),
            },
        };
        assert_eq!(login.kind(), ErrorKind::Login);
        assert_eq!(login.kind().exit_code(), 3);
        let not_maildir = EngineError::Session {
            side: Side::Source,
            source: SessionError::Local(mailport_mailstore::Error::NotMaildir {
                path: "/home/a/Mail".into(),
            }),
        };
        assert_eq!(not_maildir.kind().exit_code(), 4);
        assert_eq!(ErrorKind::State.exit_code(), 5);
        assert_eq!(ErrorKind::Usage.exit_code(), 2);
    }
}
