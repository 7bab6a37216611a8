//! Batches: streaming `UID FETCH` bodies into (MULTI)APPEND, with the
//! write-ahead ledger intents, refusals retried message by message, and the
//! destination pushing back.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use mailport_imap::{uidset, BodyStart};
use mailport_mail::MessageMeta;
use mailport_store::{Entry, FolderKey, Outcome};

use crate::error::MailboxError;
use crate::ledger::{self, Ledger};
use crate::progress::EventKind;
use crate::share::{SharedFolder, Tally};
use crate::source::SourceSession;
use crate::throttle::Backoff;

use super::connect::Pair;
use super::folder::write_ledger;
use super::run::Ctx;
use crate::error::Side;

/// Bytes moved per read/write while streaming a body.
const CHUNK: usize = 64 << 10;

/// Waits in a row after which a batch the destination keeps pushing back fails.
const PUSHBACK_ATTEMPTS: u32 = 8;

/// Copies a folder's batches until none is left, taking them from `shared`
/// one at a time so that other workers can take some too.
pub(super) async fn run_batches(
    p: &mut Pair,
    shared: &SharedFolder,
    ledger: Option<(&Ledger, &FolderKey)>,
    ctx: &Ctx,
) -> Tally {
    let index = shared.index;
    let folder = &ctx.plan.folders[index];
    let multiappend = p.dst.has_capability("MULTIAPPEND");
    let mut tally = Tally::default();
    // Batches only this worker may copy: the next one, whose FETCH may
    // already be on the wire, and single retries of a refused batch.
    let mut mine: VecDeque<Vec<MessageMeta>> = VecDeque::new();
    let mut buf = vec![0u8; CHUNK];
    // True when the FETCH for the front batch was already sent (pipelining).
    let mut prefetched = false;
    let mut pushbacks = Backoff::new(Duration::from_secs(1), Duration::from_secs(120));
    loop {
        if ctx.opts.cancel.is_cancelled() {
            // Between batches: the last one is confirmed and recorded.
            let left: u64 = mine.iter().map(|b| b.len() as u64).sum();
            tally.failed.push((crate::cancel::INTERRUPTED.into(), left));
            tally.interrupted = true;
            break;
        }
        let Some(b) = mine.pop_front().or_else(|| shared.pop()) else {
            break;
        };
        if mine.is_empty() {
            mine.extend(shared.pop());
        }
        let step = Step {
            batch: &b,
            fetch_sent: prefetched,
            next: mine.front().map(Vec::as_slice),
            multiappend,
        };
        if let Some((l, key)) = ledger {
            // Write-ahead: a run that dies before the verdict leaves these
            // behind, and the next run knows to let the destination settle.
            let intents: Vec<Entry> = b
                .iter()
                .map(|m| ledger::settled(m, String::new(), Outcome::InFlight, None))
                .collect();
            tally.unrecorded |= !write_ledger(l, key, &intents, &ctx.tell).await;
        }
        let out = copy_batch(p, index, step, &mut buf, ctx).await;
        if let Some((l, key)) = ledger {
            tally.unrecorded |= !write_ledger(l, key, &out.records, &ctx.tell).await;
        }
        tally.appended.extend(
            out.records
                .iter()
                .filter(|e| e.outcome == Outcome::Copied)
                .filter_map(|e| Some((e.dest_uid?, e.size))),
        );
        for e in out.records.iter().filter(|e| e.outcome == Outcome::Failed) {
            ctx.tell.event(EventKind::MessageRefused {
                folder: folder.source.clone(),
                uid: e.uid,
                reason: e.reason.clone().unwrap_or_default(),
            });
        }
        prefetched = out.next_fetch_sent;
        tally.batches += 1;
        tally.copied += out.copied;
        tally.bytes += out.copied_bytes;
        tally.failed.extend(out.failed);
        // Retried one by one, right after the batch whose FETCH is already
        // running, so that the order stays close to the source's.
        let at = usize::from(prefetched).min(mine.len());
        for m in out.retry_singly.into_iter().rev() {
            mine.insert(at, vec![m]);
        }
        if let Some((suggested, why)) = out.pushback {
            if pushbacks.attempts() >= PUSHBACK_ATTEMPTS {
                let reason = format!("the destination kept pushing back: {why}");
                tally.failed.push((reason, out.pushed_back.len() as u64));
            } else {
                let wait = pushbacks.next(suggested);
                ctx.tell.event(EventKind::PushedBack {
                    folder: folder.destination.clone(),
                    why: why.to_string(),
                    wait,
                });
                tokio::time::sleep(wait).await;
                mine.insert(at, out.pushed_back);
            }
        } else if out.copied > 0 {
            pushbacks = Backoff::new(Duration::from_secs(1), Duration::from_secs(120));
        }
        if let Some(reason) = out.broken {
            let left: u64 = mine.iter().map(|b| b.len() as u64).sum();
            tally.failed.push((reason.clone(), left));
            tally.broken = Some(reason);
            break;
        }
    }
    tally
}

#[derive(Default)]
struct BatchOutcome {
    copied: u64,
    copied_bytes: u64,
    /// Reason -> count.
    failed: Vec<(String, u64)>,
    retry_singly: Vec<MessageMeta>,
    /// The destination pushed back (throttled): try these again after a
    /// wait (the server's suggestion, if any), with the server's words.
    pushed_back: Vec<MessageMeta>,
    pushback: Option<(Option<Duration>, String)>,
    /// The connections broke; reason for the messages not done.
    broken: Option<String>,
    /// The FETCH for the next batch has been sent.
    next_fetch_sent: bool,
    /// Ledger entries for the messages this batch settled.
    records: Vec<Entry>,
}

/// A message written into the open APPEND command, awaiting the verdict.
struct Pending {
    uid: u32,
    len: u64,
    identity: String,
}

/// Collects a message's header block from the first body chunks.
#[derive(Default)]
struct HeaderTap {
    bytes: Vec<u8>,
    done: bool,
}

impl HeaderTap {
    /// Bodies are streamed; the header (for the message's identity) is kept
    /// up to its end or 256 KiB, whichever comes first.
    fn feed(&mut self, chunk: &[u8]) {
        if self.done {
            return;
        }
        let from = self.bytes.len().saturating_sub(3);
        self.bytes.extend_from_slice(chunk);
        let end = self.bytes[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| from + i + 4)
            .or_else(|| {
                self.bytes[from..]
                    .windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|i| from + i + 2)
            });
        if let Some(end) = end {
            self.bytes.truncate(end);
            self.done = true;
        } else if self.bytes.len() > 256 << 10 {
            self.done = true;
        }
    }
}

/// One batch to copy, and what pipelining knows about its neighbours.
struct Step<'a> {
    batch: &'a [MessageMeta],
    /// Its FETCH was sent while the previous batch was being committed.
    fetch_sent: bool,
    /// The batch after it, whose FETCH may be sent early.
    next: Option<&'a [MessageMeta]>,
    multiappend: bool,
}

fn flags_for_append(m: &MessageMeta) -> Vec<String> {
    m.flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .cloned()
        .collect()
}

/// Streams one batch: `UID FETCH set (BODY.PEEK[])` into one APPEND command
/// (MULTIAPPEND) or one APPEND per message. Once the source has sent the
/// whole batch, the next batch's FETCH goes out before waiting for the
/// destination to commit, so the two servers work at the same time.
async fn copy_batch(
    p: &mut Pair,
    index: usize,
    step: Step<'_>,
    buf: &mut [u8],
    ctx: &Ctx,
) -> BatchOutcome {
    let mut b = Batch::new(step.batch);
    match b.stream(p, index, &step, buf, ctx).await {
        Ok(()) => b.count_vanished(),
        Err((side, e)) => b.broken(side, &e),
    }
    b.out
}

/// A session failure that ends the batch: the side, and its error.
type Broken = (Side, MailboxError);

/// One batch on its way: which messages are settled, which are written
/// into the APPEND command open now, and the outcome so far.
struct Batch<'a> {
    by_uid: HashMap<u32, &'a MessageMeta>,
    by_seq: HashMap<u32, u32>,
    uids: Vec<u32>,
    settled: HashSet<u32>,
    /// Messages written into the APPEND command that is open now.
    pending: Vec<Pending>,
    open: bool,
    out: BatchOutcome,
}

impl<'a> Batch<'a> {
    fn new(batch: &'a [MessageMeta]) -> Batch<'a> {
        Batch {
            by_uid: batch.iter().map(|m| (m.uid, m)).collect(),
            by_seq: batch.iter().map(|m| (m.seq, m.uid)).collect(),
            uids: batch.iter().map(|m| m.uid).collect(),
            settled: HashSet::new(),
            pending: Vec::new(),
            open: false,
            out: BatchOutcome::default(),
        }
    }

    async fn stream(
        &mut self,
        p: &mut Pair,
        index: usize,
        step: &Step<'_>,
        buf: &mut [u8],
        ctx: &Ctx,
    ) -> Result<(), Broken> {
        let src = |e| (Side::Source, e);
        let dst = |e| (Side::Destination, e);
        let folder = &ctx.plan.folders[index];
        if !step.fetch_sent {
            let set = uidset::compress(&self.uids);
            p.src.body_fetch_start(&set).await.map_err(src)?;
        }
        while let Some(body) = p.src.body_next().await.map_err(src)? {
            let Some(meta) = self.wanted(&body) else {
                // Not one we asked for (or a repeat): read past it.
                drain(&mut p.src, buf).await.map_err(src)?;
                continue;
            };
            if body.len > body_limit(meta.size) {
                // A server announcing far more than the message's size is broken or
                // hostile: do not read it, and do not trust this connection further.
                return Err(src(MailboxError::Imap(mailport_imap::Error::Malformed(
                    format!(
                        "the source announced {} bytes for UID {} whose size is {} bytes",
                        body.len, meta.uid, meta.size
                    ),
                ))));
            }
            ctx.opts.limits.message().await;
            if !self.open {
                p.dst
                    .append_start(&folder.destination_wire)
                    .await
                    .map_err(dst)?;
                self.open = true;
            }
            let identity = match append(p, meta, body.len, buf, index, ctx).await? {
                Ok(identity) => identity,
                Err(refusal) => {
                    // A refused literal ends the whole command.
                    self.open = false;
                    self.pending.push(Pending {
                        uid: meta.uid,
                        len: body.len,
                        identity: String::new(),
                    });
                    self.refused(&refusal);
                    drain(&mut p.src, buf).await.map_err(src)?;
                    continue;
                }
            };
            self.pending.push(Pending {
                uid: meta.uid,
                len: body.len,
                identity,
            });
            if !step.multiappend {
                self.open = false;
                self.finish(p, index, ctx).await.map_err(dst)?;
            }
        }
        if let Some(next) = step.next {
            let next_uids: Vec<u32> = next.iter().map(|m| m.uid).collect();
            let set = uidset::compress(&next_uids);
            p.src.body_fetch_start(&set).await.map_err(src)?;
            self.out.next_fetch_sent = true;
        }
        if self.open {
            self.finish(p, index, ctx).await.map_err(dst)?;
        }
        Ok(())
    }

    /// The message a FETCH response carries, if this batch asked for it and
    /// has not settled it yet.
    fn wanted(&self, body: &BodyStart) -> Option<&'a MessageMeta> {
        let uid = body.uid.or_else(|| self.by_seq.get(&body.seq).copied())?;
        self.by_uid
            .get(&uid)
            .copied()
            .filter(|m| !self.settled.contains(&m.uid))
    }

    /// The connection to `side` broke: what is not settled fails with it.
    fn broken(&mut self, side: Side, e: &MailboxError) {
        let reason = match e.is_local() {
            true => format!("the {side} could not be read: {e}"),
            false => format!("connection to the {side} lost: {e}"),
        };
        let left = self.unsettled();
        self.out.failed.push((reason.clone(), left));
        self.out.broken = Some(reason);
    }

    fn unsettled(&self) -> u64 {
        self.uids
            .iter()
            .filter(|u| !self.settled.contains(u))
            .count() as u64
    }

    fn count_vanished(&mut self) {
        let vanished = self.unsettled();
        if vanished > 0 {
            self.out.failed.push((
                "message vanished from the source during the copy".into(),
                vanished,
            ));
        }
    }

    /// Ends the open APPEND; on success the pending messages are copied, on
    /// a refusal they fail or are retried singly. Errs only when the
    /// connection broke.
    async fn finish(&mut self, p: &mut Pair, index: usize, ctx: &Ctx) -> Result<(), MailboxError> {
        match p.dst.append_finish().await {
            Ok(appenduid) => {
                let n = self.pending.len() as u64;
                // APPENDUID lists the new UIDs in the order of the messages.
                let dest_uids = appenduid.filter(|a| a.uids.len() == self.pending.len());
                for (i, pm) in self.pending.drain(..).enumerate() {
                    self.settled.insert(pm.uid);
                    self.out.copied += 1;
                    self.out.copied_bytes += pm.len;
                    if let Some(m) = self.by_uid.get(&pm.uid) {
                        let mut e = ledger::settled(m, pm.identity, Outcome::Copied, None);
                        e.dest_folder = Some(ctx.plan.folders[index].destination.clone());
                        e.dest_uidvalidity = dest_uids.as_ref().map(|a| a.uidvalidity);
                        e.dest_uid = dest_uids.as_ref().map(|a| a.uids[i]);
                        self.out.records.push(e);
                    }
                }
                ctx.progress.messages(index, n);
                Ok(())
            }
            Err(e) if !e.breaks_connection() => {
                self.refused(&e);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The destination refused an APPEND command: a single message fails
    /// with the server's reason; a batch is retried message by message; a
    /// server pushing back gets the same messages again after a wait.
    fn refused(&mut self, e: &MailboxError) {
        let pending: Vec<Pending> = self.pending.drain(..).collect();
        let metas = pending.iter().filter_map(|pm| self.by_uid.get(&pm.uid));
        let metas: Vec<MessageMeta> = metas.map(|m| (*m).clone()).collect();
        self.settled.extend(pending.iter().map(|pm| pm.uid));
        if let Some(suggested) = e.pushback() {
            self.out.pushed_back.extend(metas);
            self.out.pushback = Some((suggested, e.to_string()));
            return;
        }
        if pending.len() > 1 {
            self.out.retry_singly.extend(metas);
            return;
        }
        let reason = match e {
            MailboxError::Imap(mailport_imap::Error::No { text, code, .. }) => match code {
                Some(c) => format!("destination refused it [{c}]: {text}"),
                None => format!("destination refused it: {text}"),
            },
            other => format!("destination refused it: {other}"),
        };
        for pm in pending {
            self.out.failed.push((reason.clone(), 1));
            if let Some(m) = self.by_uid.get(&pm.uid) {
                let why = Some(reason.clone());
                let mut entry = ledger::settled(m, pm.identity, Outcome::Failed, why);
                entry.retryable = e.is_transient();
                self.out.records.push(entry);
            }
        }
    }
}

/// Writes one message into the open APPEND; its identity (from the header
/// streamed by). `Ok(Err)`: the destination refused this message alone (the
/// literal, or a Maildir that cannot be written mid-way: a full disk).
async fn append(
    p: &mut Pair,
    meta: &MessageMeta,
    len: u64,
    buf: &mut [u8],
    index: usize,
    ctx: &Ctx,
) -> Result<Result<String, MailboxError>, Broken> {
    let started = p
        .dst
        .append_message(&flags_for_append(meta), Some(&meta.internal_date), len)
        .await;
    match started {
        Ok(()) => {}
        Err(e) if !e.breaks_connection() => return Ok(Err(e)),
        Err(e) => return Err((Side::Destination, e)),
    }
    match stream_body(p, buf, index, ctx).await {
        Ok(tap) => Ok(Ok(ctx.opts.identity.key(&tap.bytes, meta.size))),
        Err((Side::Destination, e)) if !e.breaks_connection() => Ok(Err(e)),
        Err(broken) => Err(broken),
    }
}

/// Streams the current message's body from the source into the open
/// APPEND; its header block for the identity. Errs with the side that
/// failed (the destination may refuse mid-way without breaking).
async fn stream_body(
    p: &mut Pair,
    buf: &mut [u8],
    index: usize,
    ctx: &Ctx,
) -> Result<HeaderTap, (Side, MailboxError)> {
    let mut tap = HeaderTap::default();
    loop {
        let n = match p.src.body_read(buf).await {
            Ok(0) => return Ok(tap),
            Ok(n) => n,
            Err(e) => return Err((Side::Source, e)),
        };
        tap.feed(&buf[..n]);
        p.dst
            .append_write(&buf[..n])
            .await
            .map_err(|e| (Side::Destination, e))?;
        ctx.progress.bytes(index, n as u64);
        ctx.opts.limits.bytes(n as u64).await;
    }
}

/// The most body bytes accepted for a message of RFC822.SIZE `size`: servers
/// differ a little in how they count line ends, never by this much.
fn body_limit(size: u64) -> u64 {
    size.saturating_mul(2).saturating_add(1 << 20)
}

async fn drain(src: &mut SourceSession, buf: &mut [u8]) -> Result<(), MailboxError> {
    while src.body_read(buf).await? > 0 {}
    Ok(())
}

/// The messages in order, cut into batches of at most `max_messages`
/// messages and `max_bytes` bytes (a larger message is a batch of its own).
pub(super) fn into_batches(
    msgs: Vec<MessageMeta>,
    max_messages: usize,
    max_bytes: u64,
) -> Vec<Vec<MessageMeta>> {
    let mut out: Vec<Vec<MessageMeta>> = Vec::new();
    let mut bytes = 0;
    for m in msgs {
        let full = out
            .last()
            .is_none_or(|b| b.len() >= max_messages.max(1) || bytes + m.size > max_bytes);
        if full {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += m.size;
        out.last_mut().expect("pushed above").push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::identity;

    fn meta(uid: u32, size: u64, flags: &[&str], date: &str) -> MessageMeta {
        MessageMeta {
            seq: uid,
            uid,
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internal_date: date.into(),
            size,
            headers: None,
        }
    }

    #[test]
    fn header_tap_finds_the_end_across_chunks() {
        let mut t = HeaderTap::default();
        t.feed(b"Subject: a\r\nMessage-ID: <x@y>\r");
        assert!(!t.done);
        t.feed(b"\n\r\nbody body\r\n\r\nmore");
        assert!(t.done);
        assert_eq!(t.bytes, b"Subject: a\r\nMessage-ID: <x@y>\r\n\r\n");
        let mut lf = HeaderTap::default();
        lf.feed(b"Subject: b\n\nbody");
        assert_eq!(lf.bytes, b"Subject: b\n\n");
        assert_eq!(
            identity(&t.bytes, 5),
            identity(b"Message-ID: <x@y>\r\nSubject: a\r\n\r\n", 5)
        );
    }

    #[test]
    fn body_limit_allows_line_end_differences_only() {
        assert!(body_limit(1000) >= 1100);
        assert!(body_limit(25 << 20) < 60 << 20);
        assert_eq!(body_limit(u64::MAX), u64::MAX);
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let msgs: Vec<_> = (1..=7)
            .map(|u| meta(u, 10, &[], "01-Jan-2020 00:00:00 +0000"))
            .collect();
        let b = into_batches(msgs.clone(), 3, 1000);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
        let b = into_batches(msgs, 100, 25);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 2, 1]);
        let big = vec![meta(1, 500, &[], "x"), meta(2, 5, &[], "x")];
        assert_eq!(into_batches(big, 100, 100).len(), 2);
    }
}
