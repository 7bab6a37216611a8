//! One error type for the client, classified for retry policy.

use crate::response::ParseError;

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
    /// `-ERR` (RFC 1939 3), with the extended response code if the server
    /// sent one (RFC 2449 8: `SYS/TEMP`, `SYS/PERM`, `IN-USE`, `LOGIN-DELAY`;
    /// RFC 3206: `AUTH`).
    #[error("the server refused {command}: {}{text}", code.as_ref().map(|c| format!("[{c}] ")).unwrap_or_default())]
    Err {
        /// The command, with its arguments unless they are secret
        /// (`RETR 3`, `PASS`, `AUTH PLAIN`).
        command: String,
        code: Option<String>,
        text: String,
    },
    /// A response larger than the configured limit. The client has read past
    /// it, so the connection stays usable.
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    /// The caller used the client out of order (e.g. a command while a RETR
    /// is being streamed), or asked for something the server cannot do here.
    #[error("{0}")]
    Usage(String),
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Malformed(e.to_string())
    }
}

impl Error {
    /// Worth retrying later or on a new connection: the network or the
    /// server's availability failed, not the request.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io(_) | Error::Timeout(_) | Error::Closed => true,
            Error::Err { code, .. } => {
                matches!(code.as_deref(), Some("SYS/TEMP" | "IN-USE" | "LOGIN-DELAY"))
            }
            _ => false,
        }
    }

    /// The server refused the credentials: an `[AUTH]` code (RFC 3206 4),
    /// or a `-ERR` to a login command without a code that blames something
    /// else (RFC 2449 says servers without codes mean "bad credentials" here).
    pub fn is_auth(&self) -> bool {
        match self {
            Error::Err { command, code, .. } => {
                let verb = command.split(' ').next().unwrap_or("");
                code.as_deref() == Some("AUTH")
                    || (code.is_none() && matches!(verb, "USER" | "PASS" | "APOP" | "AUTH"))
            }
            _ => false,
        }
    }

    /// The connection can no longer be used.
    pub fn breaks_connection(&self) -> bool {
        matches!(
            self,
            Error::Io(_) | Error::Timeout(_) | Error::Closed | Error::Malformed(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(command: &str, code: Option<&str>) -> Error {
        Error::Err {
            command: command.into(),
            code: code.map(Into::into),
            text: "no".into(),
        }
    }

    #[test]
    fn classification() {
        assert!(err("PASS", None).is_auth());
        assert!(err("AUTH PLAIN", None).is_auth());
        assert!(err("PASS", Some("AUTH")).is_auth());
        assert!(!err("PASS", Some("SYS/TEMP")).is_auth());
        assert!(err("PASS", Some("SYS/TEMP")).is_transient());
        assert!(!err("PASS", Some("IN-USE")).is_auth());
        assert!(err("PASS", Some("IN-USE")).is_transient());
        assert!(err("APOP", Some("LOGIN-DELAY")).is_transient());
        assert!(!err("PASS", Some("SYS/PERM")).is_transient());
        assert!(!err("PASS", Some("SYS/PERM")).is_auth());
        assert!(!err("RETR 1", None).is_auth());
        assert!(!err("RETR 1", None).breaks_connection());
        assert!(Error::Closed.is_transient() && Error::Closed.breaks_connection());
        assert_eq!(
            err("DELE 3", Some("SYS/PERM")).to_string(),
            "the server refused DELE 3: [SYS/PERM] no"
        );
    }
}
