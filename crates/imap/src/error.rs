//! One error type for the client, classified for retry policy.

use crate::parse::ParseError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server did not answer within {0} s")]
    Timeout(u64),
    #[error("the server closed the connection")]
    Closed,
    #[error("unexpected server response: {0}")]
    Malformed(String),
    #[error("the server refused {command}: {text}")]
    No {
        command: String,
        /// Response code such as `AUTHENTICATIONFAILED`, `OVERQUOTA`, `TRYCREATE`.
        code: Option<String>,
        text: String,
    },
    #[error("the server rejected {command} as a bad command: {text}")]
    Bad { command: String, text: String },
    #[error("the server ended the session: {0}")]
    Bye(String),
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("{0}")]
    Usage(String),
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Malformed(e.to_string())
    }
}

impl Error {
    /// Worth retrying on a new connection: the network or the server's
    /// availability failed, not the request.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io(_) | Error::Timeout(_) | Error::Closed | Error::Bye(_) => true,
            Error::No { code, .. } => matches!(
                code.as_deref(),
                Some("UNAVAILABLE" | "INUSE" | "SERVERBUG" | "LIMIT" | "THROTTLED")
            ),
            _ => false,
        }
    }

    /// The server refused the credentials.
    pub fn is_auth(&self) -> bool {
        match self {
            Error::No { command, code, .. } => {
                matches!(
                    code.as_deref(),
                    Some("AUTHENTICATIONFAILED" | "AUTHORIZATIONFAILED" | "EXPIRED")
                ) || ((command == "LOGIN" || command == "AUTHENTICATE") && code.is_none())
            }
            _ => false,
        }
    }

    /// The connection can no longer be used.
    pub fn breaks_connection(&self) -> bool {
        matches!(
            self,
            Error::Io(_)
                | Error::Timeout(_)
                | Error::Closed
                | Error::Bye(_)
                | Error::Malformed(_)
                | Error::TooLarge { .. }
        )
    }
}

impl From<crate::framing::FramingError> for Error {
    fn from(e: crate::framing::FramingError) -> Self {
        use crate::framing::FramingError;
        match e {
            FramingError::Io(e) => Error::Io(e),
            FramingError::Closed => Error::Closed,
            FramingError::Timeout(t) => Error::Timeout(t.as_secs()),
            FramingError::TooLong { size, limit } => Error::TooLarge {
                what: "response line".into(),
                size: size as u64,
                limit: limit as u64,
            },
        }
    }
}
