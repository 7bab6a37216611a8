//! Whether the destination still holds what the ledger says, and which
//! source messages are on it already.
//!
//! The ledger is believed only while the destination backs it:
//! - a destination folder unchanged since this tool last finished it (same
//!   UIDVALIDITY, UIDNEXT and message count) holds everything recorded;
//! - otherwise every recorded copy is looked up by its destination UID:
//!   there, it holds; gone under the same UIDVALIDITY, its user deleted it
//!   (reported, and copied again only when asked); with another
//!   UIDVALIDITY, or no UID recorded, it is searched by identity among the
//!   destination messages no other copy accounts for, and copied again when
//!   it is not there;
//! - a destination folder this run had to create holds nothing: the copy
//!   forgets what the ledger said about it before it starts.
//!
//! Messages new to the ledger are matched by identity against the same
//! unclaimed destination messages; a match records its destination UID, so
//! that later passes carry its flag changes and deletions, and it gets the
//! flags the source has and it lacks (flags only it has may be its user's
//! marks, and stay).

use std::collections::{HashMap, HashSet, VecDeque};

use mailport_imap::uidset;

use mailport_mail::MessageMeta;
use mailport_store::{Entry, FolderState, Outcome};

use super::connect::Pair;
use super::options::{skip_reason, CopyOptions};
use crate::destination::DestinationSession;
use crate::error::MailboxError;
use crate::fingerprint;
use crate::identity::{IdentityRule, HEADER_FIELDS};
use crate::ledger::{self, clean_flags, Done, FlagUpdate, Known};
use crate::plan::FolderPlan;
use crate::report::FolderReport;

/// UIDs per FETCH of scattered messages: servers cap command lines
/// (Dovecot at 64 KiB).
const UIDS_PER_FETCH: usize = 1000;

/// A destination message no recorded copy accounts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DestCopy {
    pub uid: u32,
    pub flags: Vec<String>,
}

/// Unclaimed destination messages by identity; each vouches for one source
/// message (the same message twice in a folder is two).
#[derive(Debug, Default)]
pub(crate) struct Pool {
    by_identity: HashMap<String, VecDeque<u32>>,
    /// By Message-ID and Date only: copies a server may have rewritten
    /// (their size differs), confirmed by content before they count.
    by_loose: HashMap<String, Vec<u32>>,
    copies: HashMap<u32, DestCopy>,
    taken: HashSet<u32>,
}

impl Pool {
    pub(crate) fn new(metas: &[MessageMeta], opts: &CopyOptions) -> Pool {
        let mut pool = Pool::default();
        let mut sorted: Vec<&MessageMeta> = metas.iter().collect();
        sorted.sort_by_key(|m| m.uid);
        for m in sorted {
            let headers = m.headers.as_deref().unwrap_or_default();
            let id = opts.identity.key(headers, m.size);
            pool.by_identity.entry(id).or_default().push_back(m.uid);
            let loose = IdentityRule::MessageId.key(headers, m.size);
            pool.by_loose.entry(loose).or_default().push(m.uid);
            pool.copies.insert(
                m.uid,
                DestCopy {
                    uid: m.uid,
                    flags: clean_flags(&m.flags),
                },
            );
        }
        pool
    }

    /// The first unclaimed destination copy of a message with this identity.
    pub(crate) fn take(&mut self, identity: &str) -> Option<DestCopy> {
        let queue = self.by_identity.get_mut(identity)?;
        while let Some(uid) = queue.pop_front() {
            if self.taken.insert(uid) {
                return self.copies.get(&uid).cloned();
            }
        }
        None
    }

    /// That destination copy, unless already claimed.
    pub(crate) fn take_uid(&mut self, uid: u32) -> Option<DestCopy> {
        match self.taken.insert(uid) {
            true => self.copies.get(&uid).cloned(),
            false => None,
        }
    }

    fn has(&self, identity: &str) -> bool {
        self.by_identity
            .get(identity)
            .is_some_and(|q| q.iter().any(|u| !self.taken.contains(u)))
    }

    /// Unclaimed copies with the same Message-ID and Date as a source
    /// message that has no exact match: perhaps rewritten by the server.
    fn rewritten_candidates(&self, m: &MessageMeta, opts: &CopyOptions) -> Vec<u32> {
        let Some(headers) = m.headers.as_deref() else {
            return Vec::new();
        };
        if self.has(&opts.identity.key(headers, m.size)) {
            return Vec::new();
        }
        let loose = IdentityRule::MessageId.key(headers, m.size);
        self.by_loose
            .get(&loose)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|u| !self.taken.contains(u))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The ledger's done messages checked against the destination folder.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// Their recorded copy is there.
    pub trusted: Vec<Done>,
    /// Their recorded copy is gone, the folder is the same: deleted there.
    pub deleted: Vec<Done>,
    /// Nothing shows which destination message is theirs: found by identity.
    pub unverified: Vec<Done>,
    /// Destination messages no trusted copy accounts for.
    pub unclaimed: Vec<u32>,
}

/// Checks recorded copies against the destination folder's messages
/// (UIDVALIDITY `uidvalidity`, UIDs and flags in `dest`).
pub(crate) fn check(
    done: Vec<Done>,
    destination: &str,
    uidvalidity: u32,
    dest: &[MessageMeta],
    recopy_deleted: bool,
) -> Checked {
    let mut unclaimed: HashSet<u32> = dest.iter().map(|m| m.uid).collect();
    let mut c = Checked::default();
    for d in done {
        // A copy recorded in another folder (the mapping changed since) says
        // nothing about this one's UIDs.
        let here = d.entry.dest_folder.as_deref() == Some(destination);
        match (d.entry.dest_uid, d.entry.dest_uidvalidity) {
            (Some(uid), Some(uv)) if here && uv == uidvalidity => {
                if unclaimed.remove(&uid) {
                    c.trusted.push(d);
                } else if recopy_deleted {
                    c.unverified.push(d);
                } else {
                    c.deleted.push(d);
                }
            }
            _ => c.unverified.push(d),
        }
    }
    c.unclaimed = unclaimed.into_iter().collect();
    c.unclaimed.sort_unstable();
    c
}

/// What a folder pass does with its source messages.
#[derive(Debug, Default)]
pub(crate) struct Sorted {
    /// In UID order.
    pub to_copy: Vec<MessageMeta>,
    /// Destination copies whose flags are to become the source's.
    pub flag_updates: Vec<FlagUpdate>,
}

/// Sorts a folder's source messages against the ledger (`known`) and the
/// destination: counts in `report` what is there already, skipped or
/// deleted on the destination, puts their ledger entries in `records`, and
/// returns what to copy and which flags to carry. The destination folder
/// is left selected. Errors name what was being done.
pub(crate) async fn sort(
    p: &mut Pair,
    folder: &FolderPlan,
    source_uidvalidity: u32,
    known: Known,
    opts: &CopyOptions,
    report: &mut FolderReport,
    records: &mut Vec<Entry>,
) -> Result<Sorted, (&'static str, MailboxError)> {
    let Known {
        done,
        in_flight,
        mut rest,
        ..
    } = known;
    let mut checked = Checked {
        trusted: done,
        ..Default::default()
    };
    let mut pool = Pool::default();
    let mut rewritten = HashMap::new();
    let mut dest_uidvalidity = None;
    let readable = folder.exists_on_destination || !opts.dry_run;
    if readable && !(rest.is_empty() && checked.trusted.is_empty()) {
        if !in_flight.is_empty() {
            settle(&mut p.dst, &folder.destination_wire)
                .await
                .map_err(|e| ("waiting for the destination folder to settle", e))?;
        }
        let before = match in_flight.is_empty() {
            true => remembered(opts, folder, source_uidvalidity).await,
            false => None,
        };
        let st = p
            .dst
            .select(&folder.destination_wire)
            .await
            .map_err(|e| ("opening the destination folder", e))?;
        dest_uidvalidity = Some(st.uidvalidity);
        if !before.is_some_and(|b| same_destination(&b, &st)) {
            let dest = match st.exists {
                0 => Vec::new(),
                _ => p
                    .dst
                    .fetch_meta("1:*", &[])
                    .await
                    .map_err(|e| ("reading the destination folder", e))?,
            };
            checked = check(
                checked.trusted,
                &folder.destination,
                st.uidvalidity,
                &dest,
                opts.recopy_deleted,
            );
            let to_match = rest.len() + checked.unverified.len();
            if !checked.unclaimed.is_empty() && to_match > 0 {
                let heads = dest_headers(&mut p.dst, &checked.unclaimed, dest.len())
                    .await
                    .map_err(|e| ("reading the destination folder", e))?;
                pool = Pool::new(&heads, opts);
                let dest_by_seq: HashMap<u32, u32> = heads.iter().map(|m| (m.seq, m.uid)).collect();
                let mut uids: Vec<u32> = rest.iter().map(|m| m.uid).collect();
                uids.extend(checked.unverified.iter().map(|d| d.meta.uid));
                let mut heads = source_headers(p, &uids)
                    .await
                    .map_err(|e| ("reading the source folder", e))?;
                for m in rest.iter_mut() {
                    if let Some(h) = heads.remove(&m.uid) {
                        *m = h;
                    }
                }
                for d in checked.unverified.iter_mut() {
                    if let Some(h) = heads.remove(&d.meta.uid) {
                        d.meta = h;
                    }
                }
                let metas = rest
                    .iter()
                    .chain(checked.unverified.iter().map(|d| &d.meta));
                rewritten = confirm_rewritten(p, &pool, metas, &dest_by_seq, opts)
                    .await
                    .map_err(|e| ("comparing copies the destination changed", e))?;
            }
        }
    }

    Ok(decide(
        Seen {
            checked,
            rest,
            in_flight,
            pool,
            rewritten,
            dest_uidvalidity,
        },
        folder,
        opts,
        report,
        records,
    ))
}

/// What was read of both sides for a folder: the ledger's copies checked,
/// the new messages, the unclaimed destination messages by identity.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub checked: Checked,
    pub rest: Vec<MessageMeta>,
    /// Of `rest`, those a run that died was appending.
    pub in_flight: HashSet<u32>,
    pub pool: Pool,
    /// Source UID -> destination UID of a copy whose bytes differ only in
    /// line endings (the server rewrote it).
    pub rewritten: HashMap<u32, u32>,
    pub dest_uidvalidity: Option<u32>,
}

/// Decides every message of `seen` (see [`sort`]).
pub(crate) fn decide(
    seen: Seen,
    folder: &FolderPlan,
    opts: &CopyOptions,
    report: &mut FolderReport,
    records: &mut Vec<Entry>,
) -> Sorted {
    let Seen {
        checked,
        rest,
        in_flight,
        mut pool,
        rewritten,
        dest_uidvalidity,
    } = seen;
    // An exact match first, else a copy the server rewrote.
    let mut find = |m: &MessageMeta, id: &str, report: &mut FolderReport| {
        pool.take(id).or_else(|| {
            let c = pool.take_uid(*rewritten.get(&m.uid)?)?;
            report.changed_by_destination += 1;
            Some(c)
        })
    };
    let mut out = Sorted::default();
    report.already_present += checked.trusted.len() as u64;
    for d in checked.trusted {
        let now = clean_flags(&d.meta.flags);
        if now != d.entry.flags {
            out.flag_updates.push(FlagUpdate {
                entry: d.entry,
                flags: now.clone(),
                baseline: now,
            });
        }
    }
    for d in checked.deleted {
        report.deleted_on_destination += 1;
        records.push(Entry {
            outcome: Outcome::DeletedOnDestination,
            ..d.entry
        });
    }
    // Recorded as carried: the flags both sides have (certainly in step);
    // the copy's flags as they are go into the update's `before`.
    let found = |m: &MessageMeta, id: String, outcome: Outcome, c: &DestCopy| Entry {
        dest_folder: Some(folder.destination.clone()),
        dest_uidvalidity,
        dest_uid: Some(c.uid),
        flags: clean_flags(&m.flags)
            .into_iter()
            .filter(|f| c.flags.contains(f))
            .collect(),
        ..ledger::settled(m, id, outcome, None)
    };
    for d in checked.unverified {
        let id = opts
            .identity
            .key(d.meta.headers.as_deref().unwrap_or_default(), d.meta.size);
        match find(&d.meta, &id, report) {
            Some(c) => {
                report.already_present += 1;
                let entry = found(&d.meta, id, d.entry.outcome, &c);
                out.flag_updates.extend(resync(&d.meta, &entry, &c));
                records.push(entry);
            }
            None => out.to_copy.push(d.meta),
        }
    }
    for m in rest {
        let id = m.headers.as_ref().map(|h| opts.identity.key(h, m.size));
        if let Some(reason) = skip_reason(&m, opts) {
            report.skip(reason);
            let id = id.unwrap_or_default();
            records.push(ledger::settled(
                &m,
                id,
                Outcome::Skipped,
                Some(reason.into()),
            ));
        } else if let Some(c) = id.as_deref().and_then(|i| find(&m, i, report)) {
            report.already_present += 1;
            // The copy a run that died made is this tool's (--sync-deletes
            // may remove it); anything else found is not.
            let outcome = match in_flight.contains(&m.uid) {
                true => Outcome::Copied,
                false => Outcome::AlreadyPresent,
            };
            let entry = found(&m, id.unwrap_or_default(), outcome, &c);
            out.flag_updates.extend(resync(&m, &entry, &c));
            records.push(entry);
        } else {
            out.to_copy.push(m);
        }
    }
    out.to_copy.sort_by_key(|m| m.uid);
    out
}

/// Source messages without an exact match whose Message-ID and Date match
/// unclaimed destination copies: both read whole, paired where the bytes
/// differ only in line endings. Returns source UID -> destination UID.
async fn confirm_rewritten<'a>(
    p: &mut Pair,
    pool: &Pool,
    metas: impl Iterator<Item = &'a MessageMeta>,
    dest_by_seq: &HashMap<u32, u32>,
    opts: &CopyOptions,
) -> Result<HashMap<u32, u32>, MailboxError> {
    let mut src_by_seq = HashMap::new();
    let candidates: Vec<(u32, Vec<u32>)> = metas
        .inspect(|m| {
            src_by_seq.insert(m.seq, m.uid);
        })
        .map(|m| (m.uid, pool.rewritten_candidates(m, opts)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let mut out = HashMap::new();
    if candidates.is_empty() {
        return Ok(out);
    }
    let mut src_uids: Vec<u32> = candidates.iter().map(|(u, _)| *u).collect();
    let mut dst_uids: Vec<u32> = candidates.iter().flat_map(|(_, c)| c.clone()).collect();
    src_uids.sort_unstable();
    dst_uids.sort_unstable();
    dst_uids.dedup();
    // Servers that name the UID after the body literal are matched by sequence number.
    let mut src = HashMap::new();
    for part in src_uids.chunks(UIDS_PER_FETCH) {
        src.extend(fingerprint::read(&mut p.src, &uidset::compress(part), &src_by_seq).await?);
    }
    let mut dst = HashMap::new();
    for part in dst_uids.chunks(UIDS_PER_FETCH) {
        dst.extend(fingerprint::read(&mut p.dst, &uidset::compress(part), dest_by_seq).await?);
    }
    let mut used = HashSet::new();
    for (uid, cands) in candidates {
        let Some(s) = src.get(&uid) else { continue };
        let hit = cands
            .into_iter()
            .find(|d| !used.contains(d) && dst.get(d).is_some_and(|f| f.lines == s.lines));
        if let Some(d) = hit {
            used.insert(d);
            out.insert(uid, d);
        }
    }
    Ok(out)
}

/// A destination copy found by identity gets the flags the source has and
/// it lacks. Flags only it has stay: they may be its user's marks (it was
/// put there by another run or tool, and may be read there already).
fn resync(source: &MessageMeta, found: &Entry, copy: &DestCopy) -> Option<FlagUpdate> {
    let wanted = clean_flags(&source.flags);
    let mut flags = copy.flags.clone();
    flags.extend(wanted.iter().cloned());
    let flags = clean_flags(&flags);
    (flags != copy.flags).then(|| FlagUpdate {
        entry: Entry {
            flags: copy.flags.clone(),
            ..found.clone()
        },
        flags,
        baseline: wanted,
    })
}

/// Header fields of these destination messages (of `total` in the folder).
async fn dest_headers(
    dst: &mut DestinationSession,
    uids: &[u32],
    total: usize,
) -> Result<Vec<MessageMeta>, MailboxError> {
    if uids.len() == total {
        return dst.fetch_meta("1:*", HEADER_FIELDS).await;
    }
    let mut out = Vec::with_capacity(uids.len());
    for part in uids.chunks(UIDS_PER_FETCH) {
        out.extend(
            dst.fetch_meta(&uidset::compress(part), HEADER_FIELDS)
                .await?,
        );
    }
    Ok(out)
}

/// Header fields of these source messages, by UID.
async fn source_headers(
    p: &mut Pair,
    uids: &[u32],
) -> Result<HashMap<u32, MessageMeta>, MailboxError> {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    let mut out = HashMap::with_capacity(uids.len());
    for part in sorted.chunks(UIDS_PER_FETCH) {
        for m in p
            .src
            .fetch_meta(&uidset::compress(part), HEADER_FIELDS)
            .await?
        {
            out.insert(m.uid, m);
        }
    }
    Ok(out)
}

/// How many of the copies just made (destination UID, source size) the
/// destination stores with another size: it rewrote their bytes (line
/// endings, headers). A Maildir destination is written byte for byte.
pub(crate) async fn count_changed(
    dst: &mut DestinationSession,
    folder: &FolderPlan,
    appended: &[(u32, u64)],
) -> Result<u64, MailboxError> {
    if appended.is_empty() || matches!(dst, DestinationSession::Maildir(_)) {
        return Ok(0);
    }
    dst.select(&folder.destination_wire).await?;
    let sizes: HashMap<u32, u64> = appended.iter().copied().collect();
    let mut uids: Vec<u32> = sizes.keys().copied().collect();
    uids.sort_unstable();
    let mut changed = 0;
    for part in uids.chunks(UIDS_PER_FETCH) {
        for m in dst.fetch_meta(&uidset::compress(part), &[]).await? {
            changed += u64::from(sizes.get(&m.uid).is_some_and(|s| *s != m.size));
        }
    }
    Ok(changed)
}

/// Where the destination folder's state is kept. It holds for the ledger
/// entries of one source UIDVALIDITY: a rebuilt source folder has none and
/// reads the destination.
pub(crate) fn destination_key(folder: &FolderPlan, source_uidvalidity: u32) -> String {
    mailport_store::destination_state_key(&folder.destination, source_uidvalidity)
}

/// The destination folder as this tool last finished it, if it did.
pub(crate) async fn remembered(
    opts: &CopyOptions,
    folder: &FolderPlan,
    source_uidvalidity: u32,
) -> Option<FolderState> {
    let l = opts.ledger.as_ref()?;
    l.store
        .folder_state(&l.pair, &destination_key(folder, source_uidvalidity))
        .await
        .ok()
        .flatten()
}

/// The destination folder is as this tool left it: nothing added, removed
/// or rebuilt since.
pub(crate) fn same_destination(before: &FolderState, now: &mailport_imap::MailboxStatus) -> bool {
    before.complete
        && before.uidvalidity == now.uidvalidity
        && before.uidnext.is_some()
        && before.uidnext == now.uidnext
        && before.messages == now.exists
}

/// After a run died mid-APPEND, the destination may still be committing
/// that batch (the server had every byte): wait until the folder's UIDNEXT
/// and message count stay the same for a second (at most ten seconds).
async fn settle(dst: &mut DestinationSession, wire: &[u8]) -> Result<(), MailboxError> {
    let mut last = None;
    for _ in 0..10 {
        let st = dst.select(wire).await?;
        let now = (st.uidnext, st.exists);
        if last == Some(now) {
            return Ok(());
        }
        last = Some(now);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: u32) -> MessageMeta {
        MessageMeta {
            seq: uid,
            uid,
            flags: Vec::new(),
            internal_date: "01-Jan-2020 00:00:00 +0000".into(),
            size: 10,
            headers: None,
        }
    }

    fn done(uid: u32, dest: Option<(u32, u32)>) -> Done {
        let m = meta(uid);
        let mut entry = ledger::settled(&m, format!("id{uid}"), Outcome::Copied, None);
        entry.dest_folder = Some("INBOX".into());
        entry.dest_uidvalidity = dest.map(|d| d.0);
        entry.dest_uid = dest.map(|d| d.1);
        Done { meta: m, entry }
    }

    fn uids(v: &[Done]) -> Vec<u32> {
        v.iter().map(|d| d.meta.uid).collect()
    }

    #[test]
    fn recorded_copies_are_believed_only_where_the_destination_has_them() {
        let dest: Vec<MessageMeta> = [101, 102, 104, 200].into_iter().map(meta).collect();
        let recorded = || {
            vec![
                done(1, Some((7, 101))),
                done(2, Some((7, 102))),
                // Its copy 103 is gone from the same folder: deleted there.
                done(3, Some((7, 103))),
                done(4, Some((7, 104))),
                // Recorded under another UIDVALIDITY, or with no UID.
                done(5, Some((6, 105))),
                done(6, None),
            ]
        };
        let c = check(recorded(), "INBOX", 7, &dest, false);
        assert_eq!(uids(&c.trusted), vec![1, 2, 4]);
        assert_eq!(uids(&c.deleted), vec![3]);
        assert_eq!(uids(&c.unverified), vec![5, 6]);
        assert_eq!(c.unclaimed, vec![200]);
        // Asked to copy deleted ones again, they are decided again.
        let c = check(recorded(), "INBOX", 7, &dest, true);
        assert_eq!(uids(&c.unverified), vec![3, 5, 6]);
        // A rebuilt folder (new UIDVALIDITY) vouches for nothing recorded.
        let c = check(recorded(), "INBOX", 8, &dest, false);
        assert!(c.trusted.is_empty() && c.deleted.is_empty());
        assert_eq!(c.unverified.len(), 6);
        assert_eq!(c.unclaimed, vec![101, 102, 104, 200]);
        // Recorded in another destination folder (the mapping changed):
        // nothing is believed or called deleted here.
        let c = check(recorded(), "Archive", 7, &dest, false);
        assert!(c.trusted.is_empty() && c.deleted.is_empty());
        assert_eq!(c.unverified.len(), 6);
    }

    #[test]
    fn each_destination_copy_vouches_for_one_message() {
        let mut twice = meta(5);
        twice.headers = Some(b"Message-ID: <a@b>\r\n\r\n".to_vec());
        let mut again = twice.clone();
        again.uid = 9;
        again.flags = vec!["\\Seen".into()];
        let opts = CopyOptions::default();
        let mut pool = Pool::new(&[again, twice.clone()], &opts);
        let id = opts.identity.key(twice.headers.as_deref().unwrap(), 10);
        assert_eq!(pool.take(&id).map(|c| c.uid), Some(5));
        assert_eq!(
            pool.take(&id),
            Some(DestCopy {
                uid: 9,
                flags: vec!["\\Seen".into()]
            })
        );
        assert_eq!(pool.take(&id), None);
    }
}
