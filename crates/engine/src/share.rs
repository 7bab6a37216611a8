//! Work sharing between copy workers.
//!
//! Folders go to workers one at a time, but mailboxes are lopsided: INBOX
//! often holds most of the bytes, and one folder on one connection pair runs
//! at the speed of a single connection. So a folder with several batches
//! left is put on a [`Board`]; a worker with no folder left takes batches
//! from it on its own connections. The folder's owner waits for its helpers
//! before it finishes the folder (flags, deletions, folder state), so a
//! folder's report and ledger are complete when the folder ends.
//!
//! The price: a shared folder's messages arrive on the destination in
//! about, not exactly, the source's order (dates are kept; `--connections 1`
//! keeps the order exactly).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mailport_mail::MessageMeta;

/// A folder is worth helping with while this many batches wait: a helper
/// pays for an EXAMINE (and perhaps a login) before its first batch.
const WORTH_HELPING: usize = 2;

/// What copy workers share: folders not started yet and folders open for help.
pub(crate) struct Board {
    inner: Mutex<BoardState>,
}

struct BoardState {
    /// Folder indexes not yet taken by a worker.
    queue: VecDeque<usize>,
    /// Folders whose batches any worker may take.
    open: Vec<Arc<SharedFolder>>,
    /// Folders taken but not yet open or finished: they may still open.
    preparing: usize,
    /// Workers still running.
    workers: usize,
}

/// What a worker with nothing of its own does next.
pub(crate) enum Next {
    /// Help with this folder's batches (already registered as a helper).
    Help(Helping),
    /// Nothing now, but a folder being prepared may open: ask again soon.
    Wait,
    Done,
}

/// Counts a folder as preparing until it opens or its owner is done with it.
pub(crate) struct Preparing<'a> {
    board: &'a Board,
    active: bool,
}

impl Preparing<'_> {
    /// The folder opened or will not: stop counting it.
    pub(crate) fn done(&mut self) {
        if std::mem::take(&mut self.active) {
            self.board.lock().preparing -= 1;
        }
    }
}

impl Drop for Preparing<'_> {
    fn drop(&mut self) {
        self.done();
    }
}

impl Board {
    pub(crate) fn new(folders: usize) -> Board {
        Board {
            inner: Mutex::new(BoardState {
                queue: (0..folders).collect(),
                open: Vec::new(),
                preparing: 0,
                workers: 1,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BoardState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next folder to own, counted as preparing until the guard says otherwise.
    pub(crate) fn take_folder(&self) -> Option<(usize, Preparing<'_>)> {
        let mut b = self.lock();
        let index = b.queue.pop_front()?;
        b.preparing += 1;
        Some((
            index,
            Preparing {
                board: self,
                active: true,
            },
        ))
    }

    /// For a worker whose own folders are done: the open folder with the
    /// most batches waiting, or whether to wait for one.
    pub(crate) fn next_help(&self) -> Next {
        let b = self.lock();
        if !b.queue.is_empty() {
            // Callers take folders first; a folder put back is theirs again.
            return Next::Wait;
        }
        let best = b
            .open
            .iter()
            .map(|f| (f.waiting(), f))
            .filter(|(n, _)| *n >= WORTH_HELPING)
            .max_by_key(|(n, _)| *n)
            .map(|(_, f)| f.clone());
        if let Some(f) = best {
            if f.join() {
                return Next::Help(Helping {
                    folder: f,
                    left: false,
                });
            }
        }
        if b.preparing > 0 || !b.open.is_empty() {
            Next::Wait
        } else {
            Next::Done
        }
    }

    pub(crate) fn set_workers(&self, n: usize) {
        self.lock().workers = n;
    }

    /// A worker stops early (the server refused it a connection); refused
    /// for the last one, which must finish the queue, connection or not.
    pub(crate) fn retire(&self) -> bool {
        let mut b = self.lock();
        if b.workers > 1 {
            b.workers -= 1;
            true
        } else {
            false
        }
    }

    /// A folder its worker could not start goes to the front again.
    pub(crate) fn put_back(&self, index: usize) {
        self.lock().queue.push_front(index);
    }

    /// Offers the folder's batches to idle workers until the guard closes
    /// it (or is dropped: a worker that panics must not leave the others
    /// waiting for a folder nobody finishes).
    pub(crate) fn open(&self, folder: &Arc<SharedFolder>) -> Open<'_> {
        self.lock().open.push(folder.clone());
        Open {
            board: self,
            folder: folder.clone(),
            closed: false,
        }
    }

    fn close(&self, folder: &Arc<SharedFolder>) -> Vec<Vec<MessageMeta>> {
        self.lock().open.retain(|f| !Arc::ptr_eq(f, folder));
        folder.close()
    }

    /// How long an idle worker waits before asking again. Short: the last
    /// waiting worker holds up the end of a run by up to this much (a delta
    /// pass with nothing to do takes about 0.1 s in all), and a wake-up costs
    /// next to nothing.
    pub(crate) const POLL: Duration = Duration::from_millis(10);
}

/// A folder open for helpers; see [`Board::open`].
pub(crate) struct Open<'a> {
    board: &'a Board,
    folder: Arc<SharedFolder>,
    closed: bool,
}

impl Open<'_> {
    /// No more helpers for this folder; what no one took yet is returned.
    pub(crate) fn close(mut self) -> Vec<Vec<MessageMeta>> {
        self.closed = true;
        self.board.close(&self.folder)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if !self.closed {
            self.board.close(&self.folder);
        }
    }
}

/// A worker helping with a folder. Leaving reports what it did; dropped
/// without leaving (the worker panicked), it leaves as broken, so the owner
/// neither waits forever nor trusts the folder complete.
pub(crate) struct Helping {
    folder: Arc<SharedFolder>,
    left: bool,
}

impl Helping {
    pub(crate) fn folder(&self) -> &SharedFolder {
        &self.folder
    }

    pub(crate) fn leave(mut self, t: Tally) {
        self.left = true;
        self.folder.leave(t);
    }
}

impl Drop for Helping {
    fn drop(&mut self) {
        if !self.left {
            self.folder.leave(Tally {
                broken: Some("a copy worker stopped unexpectedly".into()),
                ..Tally::default()
            });
        }
    }
}

/// Results of a folder's batches copied by helpers.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) copied: u64,
    pub(crate) bytes: u64,
    pub(crate) failed: Vec<(String, u64)>,
    /// Copies the destination numbered (APPENDUID): (its UID, the source's size).
    pub(crate) appended: Vec<(u32, u64)>,
    /// Batches taken.
    pub(crate) batches: u64,
    /// Helpers that took at least one batch.
    pub(crate) helpers: u64,
    /// The connections broke mid-batch (why): the folder needs another pass.
    pub(crate) broken: Option<String>,
    /// The copy was stopped (Ctrl-C) before every batch was taken.
    pub(crate) interrupted: bool,
    /// A ledger write failed: the folder is not taken as finished.
    pub(crate) unrecorded: bool,
}

/// One folder's batches, taken by its owner and its helpers.
pub(crate) struct SharedFolder {
    pub(crate) index: usize,
    /// The source folder's UIDVALIDITY when the batches were planned: a
    /// helper that finds another one must not fetch by these UIDs.
    pub(crate) uidvalidity: u32,
    state: Mutex<FolderState>,
    idle: tokio::sync::Notify,
}

struct FolderState {
    batches: VecDeque<Vec<MessageMeta>>,
    closed: bool,
    helpers: usize,
    tally: Tally,
}

impl SharedFolder {
    pub(crate) fn new(index: usize, uidvalidity: u32, batches: Vec<Vec<MessageMeta>>) -> Self {
        SharedFolder {
            index,
            uidvalidity,
            state: Mutex::new(FolderState {
                batches: batches.into(),
                closed: false,
                helpers: 0,
                tally: Tally::default(),
            }),
            idle: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FolderState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn pop(&self) -> Option<Vec<MessageMeta>> {
        self.lock().batches.pop_front()
    }

    pub(crate) fn waiting(&self) -> usize {
        self.lock().batches.len()
    }

    fn join(&self) -> bool {
        let mut s = self.lock();
        if s.closed {
            return false;
        }
        s.helpers += 1;
        true
    }

    fn close(&self) -> Vec<Vec<MessageMeta>> {
        let mut s = self.lock();
        s.closed = true;
        s.batches.drain(..).collect()
    }

    /// A helper is done; what it copied goes into the folder's tally.
    fn leave(&self, t: Tally) {
        let mut s = self.lock();
        s.tally.copied += t.copied;
        s.tally.bytes += t.bytes;
        s.tally.failed.extend(t.failed);
        s.tally.appended.extend(t.appended);
        s.tally.batches += t.batches;
        s.tally.helpers += u64::from(t.batches > 0);
        s.tally.interrupted |= t.interrupted;
        s.tally.unrecorded |= t.unrecorded;
        if s.tally.broken.is_none() {
            s.tally.broken = t.broken;
        }
        s.helpers -= 1;
        if s.helpers == 0 {
            self.idle.notify_waiters();
        }
    }

    /// Waits until no helper is working on the folder (call after closing it).
    pub(crate) async fn helpers_done(&self) -> Tally {
        loop {
            let notified = self.idle.notified();
            {
                let mut s = self.lock();
                if s.helpers == 0 {
                    return std::mem::take(&mut s.tally);
                }
            }
            // `notified` was created before the check: no wake-up is lost,
            // and the timeout is only a belt to the braces.
            let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(n: usize) -> Vec<Vec<MessageMeta>> {
        (0..n)
            .map(|i| {
                vec![MessageMeta {
                    uid: i as u32 + 1,
                    ..Default::default()
                }]
            })
            .collect()
    }

    #[test]
    fn idle_workers_wait_while_a_folder_is_preparing_then_help() {
        let board = Board::new(1);
        let (index, mut preparing) = board.take_folder().expect("one folder");
        assert!(board.take_folder().is_none());
        assert!(matches!(board.next_help(), Next::Wait));
        let f = Arc::new(SharedFolder::new(index, 7, batches(3)));
        let open = board.open(&f);
        preparing.done();
        let Next::Help(h) = board.next_help() else {
            panic!("an open folder with 3 batches is worth helping");
        };
        assert_eq!(h.folder().index, 0);
        assert_eq!(h.folder().pop().map(|b| b[0].uid), Some(1));
        // Two left: a second helper joins; after one more pop, not worth it.
        let Next::Help(second) = board.next_help() else {
            panic!("two batches are worth a second helper");
        };
        f.pop();
        assert!(matches!(board.next_help(), Next::Wait));
        let left = open.close();
        assert_eq!(left.len(), 1);
        assert!(matches!(board.next_help(), Next::Done));
        h.leave(Tally::default());
        second.leave(Tally::default());
    }

    /// A worker that panics (its guards dropped without a word) leaves
    /// neither the other workers waiting for its folder nor the owner
    /// waiting for it, and the folder is not taken as complete.
    #[tokio::test]
    async fn a_worker_that_panics_holds_up_nobody() {
        let board = Board::new(1);
        let (index, mut preparing) = board.take_folder().expect("one folder");
        let f = Arc::new(SharedFolder::new(index, 7, batches(3)));
        let owner = board.open(&f);
        preparing.done();
        let Next::Help(helper) = board.next_help() else {
            panic!("worth helping");
        };
        // The helper "panics": dropped without leaving.
        drop(helper);
        // The owner "panics" too: its folder closes for the idle workers.
        drop(owner);
        assert!(matches!(board.next_help(), Next::Done));
        let t = tokio::time::timeout(Duration::from_secs(5), f.helpers_done())
            .await
            .expect("the owner does not wait for a helper that is gone");
        assert_eq!(
            t.broken.as_deref(),
            Some("a copy worker stopped unexpectedly")
        );
    }

    #[tokio::test]
    async fn the_owner_waits_for_helpers_and_gets_their_tally() {
        let f = Arc::new(SharedFolder::new(0, 1, batches(4)));
        assert!(f.join());
        let b = f.pop().expect("a batch");
        let helper = {
            let f = f.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                f.leave(Tally {
                    copied: b.len() as u64,
                    bytes: 10,
                    batches: 1,
                    failed: vec![("x".into(), 1)],
                    broken: Some("cut".into()),
                    ..Default::default()
                });
            })
        };
        assert_eq!(f.close().len(), 3);
        let t = f.helpers_done().await;
        helper.await.expect("helper ran");
        assert_eq!((t.copied, t.bytes, t.helpers), (1, 10, 1));
        assert_eq!(t.broken.as_deref(), Some("cut"));
        assert_eq!(t.failed, vec![("x".to_string(), 1)]);
        // A closed folder takes no new helpers.
        assert!(!f.join());
    }

    #[test]
    fn a_dropped_guard_stops_counting_the_folder_as_preparing() {
        let board = Board::new(1);
        {
            let _p = board.take_folder().expect("one folder");
            assert!(matches!(board.next_help(), Next::Wait));
        }
        assert!(matches!(board.next_help(), Next::Done));
    }
}
