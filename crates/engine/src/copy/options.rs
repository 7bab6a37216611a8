//! What a copy is asked to do: the options, and which messages they leave out.

use std::sync::Arc;

use mailport_mail::{date::parse_internal_date, MessageMeta};

use crate::identity::IdentityRule;
use crate::ledger::Ledger;
use crate::plan::PlanOptions;
use crate::throttle::Limits;

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Connections per side: folders in parallel, big ones shared.
    pub connections: usize,
    /// Plan and count only; change nothing.
    pub dry_run: bool,
    /// Skip messages larger than this many bytes.
    pub max_size: Option<u64>,
    /// Only messages whose INTERNALDATE is at or after this Unix time.
    pub since: Option<i64>,
    /// Only messages whose INTERNALDATE is before this Unix time.
    pub before: Option<i64>,
    /// Leave out messages flagged `\Deleted`.
    pub skip_deleted: bool,
    /// Most messages per APPEND batch (MULTIAPPEND).
    pub batch_messages: usize,
    /// Most bytes per APPEND batch (a larger single message is its own batch).
    pub batch_bytes: u64,
    pub plan: PlanOptions,
    /// Record outcomes and skip what a previous pass did.
    pub ledger: Option<Ledger>,
    /// Delete on the destination what this tool copied and the source deleted since.
    pub sync_deletes: bool,
    /// Copy again what this tool copied and the destination's user deleted
    /// since (by default such messages are reported and left deleted).
    pub recopy_deleted: bool,
    /// How messages already on the destination are recognised without the ledger.
    pub identity: IdentityRule,
    /// The user's limits on bytes and messages per second (all connections together).
    pub limits: Arc<Limits>,
    /// Stops the copy at the next batch boundary.
    pub cancel: crate::Cancel,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            connections: 4,
            dry_run: false,
            max_size: None,
            since: None,
            before: None,
            skip_deleted: false,
            // 100 messages: on Dovecot a batch this size costs about half per
            // message of single APPENDs; 32 MiB bounds what one refused batch redoes.
            batch_messages: 100,
            batch_bytes: 32 << 20,
            plan: PlanOptions::default(),
            ledger: None,
            sync_deletes: false,
            recopy_deleted: false,
            identity: IdentityRule::Strict,
            limits: Arc::default(),
            cancel: crate::Cancel::default(),
        }
    }
}

/// Why the options leave a message out, if they do (shared by copy and verify).
pub(crate) fn skip_reason(m: &MessageMeta, opts: &CopyOptions) -> Option<&'static str> {
    let date = parse_internal_date(&m.internal_date);
    if opts.skip_deleted && m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted")) {
        Some("flagged \\Deleted (--skip-deleted)")
    } else if opts.max_size.is_some_and(|max| m.size > max) {
        Some("larger than --max-size")
    } else if opts.since.zip(date).is_some_and(|(s, d)| d < s) {
        Some("older than --since")
    } else if opts.before.zip(date).is_some_and(|(b, d)| d >= b) {
        Some("not before --before")
    } else {
        None
    }
}
