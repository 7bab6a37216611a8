//! The engine's use of the ledger: what a pass can skip, which flags changed
//! on the source, which copied messages the source no longer has.

use std::collections::{HashMap, HashSet};

use mailport_mail::MessageMeta;
use mailport_store::{Entry, FolderKey, Outcome, Store};

/// The state store and the key of this mailbox pair in it.
#[derive(Clone)]
pub struct Ledger {
    pub store: Store,
    /// `source-url -> destination-url` (no credentials).
    pub pair: String,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("pair", &self.pair)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    pub fn key(&self, folder: &str, uidvalidity: u32) -> FolderKey {
        FolderKey {
            pair: self.pair.clone(),
            folder: folder.to_string(),
            uidvalidity,
        }
    }
}

/// Flags as compared and stored: sorted, without `\Recent` (never set by APPEND).
pub fn clean_flags(flags: &[String]) -> Vec<String> {
    let mut f: Vec<String> = flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .cloned()
        .collect();
    f.sort();
    f.dedup();
    f
}

/// A destination copy whose flags are to change.
#[derive(Debug, Clone)]
pub struct FlagUpdate {
    /// Its ledger entry; `flags` as the destination copy has them now.
    pub entry: Entry,
    /// As the copy is to have them.
    pub flags: Vec<String>,
    /// What the ledger records as carried once the change is made: the
    /// source's flags. Flags only the destination has are not in it, so a
    /// later pass never takes them for flags the source removed.
    pub baseline: Vec<String>,
}

/// A source message the ledger records as on the destination.
#[derive(Debug, Clone)]
pub struct Done {
    pub meta: MessageMeta,
    pub entry: Entry,
}

/// A folder's source messages sorted against the ledger.
#[derive(Debug, Default)]
pub struct Known {
    /// Messages the ledger says are on the destination: believed only
    /// while the destination backs it (module `backing`).
    pub done: Vec<Done>,
    /// Copied earlier and deleted on the destination by its user since:
    /// left alone unless they are to be copied again.
    pub deleted_on_destination: u64,
    /// Messages a previous run was appending when it died (in `rest`): a
    /// copy of one found on the destination is that run's.
    pub in_flight: HashSet<u32>,
    /// Messages the ledger does not know as done: to be decided this pass.
    pub rest: Vec<MessageMeta>,
    /// Copied by us, and gone from the source since (for `--sync-deletes`).
    pub gone: Vec<Entry>,
}

/// Sorts a folder's messages by what the ledger recorded for them.
/// `recopy_deleted`: messages deleted on the destination are decided again.
pub fn split(
    mut entries: HashMap<u32, Entry>,
    metas: Vec<MessageMeta>,
    recopy_deleted: bool,
) -> Known {
    let mut k = Known::default();
    for m in metas {
        match entries.remove(&m.uid) {
            Some(e) if e.outcome == Outcome::InFlight => {
                k.in_flight.insert(m.uid);
                k.rest.push(m);
            }
            Some(e) if e.outcome.is_done() => k.done.push(Done { meta: m, entry: e }),
            Some(e) if e.outcome == Outcome::DeletedOnDestination && !recopy_deleted => {
                k.deleted_on_destination += 1;
            }
            _ => k.rest.push(m),
        }
    }
    k.gone = entries
        .into_values()
        .filter(|e| e.outcome == Outcome::Copied && e.dest_uid.is_some())
        .collect();
    k.gone.sort_by_key(|e| e.uid);
    k
}

/// A ledger entry for a source message decided without copying.
pub fn settled(
    m: &MessageMeta,
    identity: String,
    outcome: Outcome,
    reason: Option<String>,
) -> Entry {
    Entry {
        uid: m.uid,
        identity,
        size: m.size,
        flags: clean_flags(&m.flags),
        outcome,
        reason,
        retryable: false,
        dest_folder: None,
        dest_uidvalidity: None,
        dest_uid: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: u32, flags: &[&str]) -> MessageMeta {
        MessageMeta {
            seq: uid,
            uid,
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internal_date: "01-Jan-2020 00:00:00 +0000".into(),
            size: 10,
            headers: None,
        }
    }

    #[test]
    fn splits_done_deleted_new_and_gone() {
        let mut entries = HashMap::new();
        for (uid, outcome, flags) in [
            (1, Outcome::Copied, vec!["\\Seen"]),
            (2, Outcome::Copied, vec![]),
            (3, Outcome::Failed, vec![]),
            (4, Outcome::AlreadyPresent, vec![]),
            (5, Outcome::Copied, vec![]),
            (7, Outcome::InFlight, vec![]),
            (8, Outcome::DeletedOnDestination, vec![]),
        ] {
            let mut e = settled(&meta(uid, &flags), format!("id{uid}"), outcome, None);
            e.dest_uid = Some(uid + 100);
            entries.insert(uid, e);
        }
        let metas = || {
            vec![
                meta(1, &["\\Seen", "\\Recent"]),
                meta(2, &["\\Flagged"]),
                meta(3, &[]),
                meta(4, &[]),
                meta(6, &[]),
                meta(8, &[]),
            ]
        };
        let k = split(entries.clone(), metas(), false);
        let done: Vec<u32> = k.done.iter().map(|d| d.meta.uid).collect();
        assert_eq!(done, vec![1, 2, 4]);
        assert_eq!(k.done[1].entry.identity, "id2");
        assert_eq!(k.deleted_on_destination, 1);
        assert!(k.in_flight.is_empty());
        assert_eq!(k.rest.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![3, 6]);
        assert_eq!(k.gone.iter().map(|e| e.uid).collect::<Vec<_>>(), vec![5]);
        // Asked to, messages deleted on the destination are decided again.
        let k = split(entries, metas(), true);
        assert_eq!(k.deleted_on_destination, 0);
        assert_eq!(
            k.rest.iter().map(|m| m.uid).collect::<Vec<_>>(),
            vec![3, 6, 8]
        );
    }
}
