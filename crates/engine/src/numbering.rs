//! UIDs for stores without UIDs of their own (Maildir, mbox, POP3): stable
//! per message key with a state file, positions otherwise, and a
//! UIDVALIDITY that changes whenever the folder does.

use std::collections::HashMap;

use mailport_imap::{uidset, MailboxStatus};

use crate::error::MailboxError;
use crate::ledger::Ledger;

/// The UIDs of a folder of a store without UIDs of its own. With a state
/// file they are stable (kept per message key) and UIDVALIDITY is the
/// folder's generation (a Maildir directory made again gets another);
/// without one they are positions, and UIDVALIDITY a hash of all keys, so
/// that they are never mistaken for another session's.
pub(crate) struct Numbering {
    /// Ascending.
    uids: Vec<u32>,
    index: HashMap<u32, usize>,
    uidvalidity: u32,
}

impl Numbering {
    /// Numbers the messages (given in the store's order with their keys)
    /// and returns them in UID order.
    /// `generation`: the UIDVALIDITY of stable UIDs (a Maildir folder's
    /// changes when the folder is made again).
    pub(crate) async fn assign<T>(
        ids: Option<&Ledger>,
        folder: &str,
        keys: &[String],
        messages: Vec<T>,
        generation: u32,
    ) -> Result<(Numbering, Vec<T>), MailboxError> {
        let (uids, uidvalidity) = match ids {
            Some(l) => {
                let uids = l
                    .store
                    .uids_for_keys(&l.pair, folder, keys)
                    .await
                    .map_err(MailboxError::State)?;
                (uids, generation)
            }
            None => ((1..=keys.len() as u32).collect(), uidvalidity(keys)),
        };
        let mut numbered: Vec<(u32, T)> = uids.into_iter().zip(messages).collect();
        numbered.sort_by_key(|(u, _)| *u);
        let (uids, messages): (Vec<u32>, Vec<T>) = numbered.into_iter().unzip();
        let index = uids.iter().enumerate().map(|(i, u)| (*u, i)).collect();
        Ok((
            Numbering {
                uids,
                index,
                uidvalidity,
            },
            messages,
        ))
    }

    pub(crate) fn status(&self) -> MailboxStatus {
        MailboxStatus {
            exists: self.uids.len() as u32,
            uidvalidity: self.uidvalidity,
            uidnext: Some(self.uids.last().map_or(1, |u| u + 1)),
            permanent_flags: Vec::new(),
            highest_modseq: None,
        }
    }

    /// Position of `uid` in UID order.
    pub(crate) fn index(&self, uid: u32) -> Result<usize, MailboxError> {
        self.index
            .get(&uid)
            .copied()
            .ok_or_else(|| MailboxError::Internal(format!("no message with UID {uid}")))
    }

    /// The existing UIDs of a UID set, ascending.
    pub(crate) fn select(&self, set: &str) -> Result<Vec<u32>, MailboxError> {
        if set == "1:*" {
            return Ok(self.uids.clone());
        }
        let wanted = uidset::expand(set)
            .ok_or_else(|| MailboxError::Internal(format!("bad UID set {set:?}")))?;
        Ok(wanted
            .into_iter()
            .filter(|u| self.index.contains_key(u))
            .collect())
    }
}

/// FNV-1a over the keys in order, never 0 (RFC 3501: UIDVALIDITY is non-zero).
pub(crate) fn uidvalidity(keys: &[String]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for k in keys {
        for b in k.bytes().chain(std::iter::once(0)) {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_change_to_a_folder_changes_its_uidvalidity() {
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = uidvalidity(&keys(&["a", "b", "c"]));
        assert_eq!(base, uidvalidity(&keys(&["a", "b", "c"])));
        for changed in [
            keys(&["a", "b", "c", "d"]),
            keys(&["a", "c"]),
            keys(&["a", "c", "b"]),
            keys(&["ab", "c"]),
        ] {
            assert_ne!(base, uidvalidity(&changed), "{changed:?}");
        }
        assert_ne!(uidvalidity(&[]), 0);
    }
}
