//! Message metadata, the unit the engine plans, copies and verifies by.
//!
//! IMAP's metadata FETCH yields it directly; the POP3 source and the local
//! stores present their messages in the same shape (decision 004), with UIDs
//! from the state file where the store has none.

/// Metadata of one message, fetched without its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMeta {
    /// Position in the mailbox (IMAP message sequence number; the UID for
    /// stores that have no positions of their own).
    pub seq: u32,
    pub uid: u32,
    /// IMAP flag strings (`\Seen`, keywords).
    pub flags: Vec<String>,
    /// INTERNALDATE exactly as the server wrote it (RFC 3501 date-time; see
    /// [`crate::date`]).
    pub internal_date: String,
    pub size: u64,
    /// The requested header fields, when asked for.
    pub headers: Option<Vec<u8>>,
}
