//! Delta passes with the ledger, on real Dovecot: new messages, flag changes,
//! deletions (opt-in), and a source folder whose UIDVALIDITY changed.

mod common;

use std::sync::Arc;

use mailport_engine::{copy, Connector, CopyOptions, Ledger, NoProgress, Report, Store};
use mailport_testbed::session::{self, Session, Snapshot};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions};

fn connector(d: &Dovecot) -> Connector {
    common::connector(d, &d.imap_url("alice"))
}

struct Pair {
    src: Dovecot,
    dst: Dovecot,
    ledger: Ledger,
    _state: tempfile::TempDir,
}

impl Pair {
    async fn new(corpus: &Corpus) -> Pair {
        let src = Dovecot::start(DovecotOptions::default()).expect("source Dovecot must start");
        let dst =
            Dovecot::start(DovecotOptions::default()).expect("destination Dovecot must start");
        let mut c = login(&src).await;
        session::load(&mut c, corpus).await.unwrap();
        let state = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&state.path().join("state.db"))
            .await
            .unwrap();
        let ledger = Ledger {
            store,
            pair: "src -> dst".into(),
        };
        Pair {
            src,
            dst,
            ledger,
            _state: state,
        }
    }

    async fn copy(&self, sync_deletes: bool) -> Report {
        let opts = CopyOptions {
            ledger: Some(self.ledger.clone()),
            sync_deletes,
            ..Default::default()
        };
        let r = copy(
            connector(&self.src),
            connector(&self.dst),
            opts,
            Arc::new(NoProgress),
        )
        .await
        .unwrap();
        assert!(r.is_clean(), "{:#?}", r.folders);
        for f in &r.folders {
            assert!(f.adds_up(), "totals do not add up for {}: {f:?}", f.source);
        }
        r
    }

    async fn snapshots(&self) -> (Snapshot, Snapshot) {
        let s = session::snapshot(&mut login(&self.src).await)
            .await
            .unwrap();
        let d = session::snapshot(&mut login(&self.dst).await)
            .await
            .unwrap();
        (s, d)
    }
}

async fn login(d: &Dovecot) -> Session {
    session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap()
}

fn assert_same(src: &Snapshot, dst: &Snapshot, folders: &[&str]) {
    for f in folders {
        let mut a = src.folders[*f].clone();
        let mut b = dst.folders.get(*f).cloned().unwrap_or_default();
        a.sort();
        b.sort();
        assert_eq!(a, b, "folder {f} differs");
    }
}

fn corpus() -> Corpus {
    Corpus::generate(&CorpusOptions {
        inbox_messages: 20,
        large_attachment: 100_000,
        seed: 31,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_pass_copies_new_carries_flags_and_deletes_only_when_asked() {
    let corpus = corpus();
    let pair = Pair::new(&corpus).await;
    let first = pair.copy(false).await;
    assert_eq!(first.totals.copied as usize, corpus.message_count());

    // Changes on the source: 3 new messages, flags changed on 6, 2 expunged.
    let mut c = login(&pair.src).await;
    let extra = Corpus::generate(&CorpusOptions {
        inbox_messages: 3,
        large_attachment: 0,
        seed: 77,
    });
    let new_msgs: Vec<_> = extra.folders[0].messages.iter().take(3).cloned().collect();
    for m in &new_msgs {
        c.append_start(b"INBOX").await.unwrap();
        c.append_message(&m.flags, Some(&m.internal_date), m.raw.len() as u64)
            .await
            .unwrap();
        c.append_write(&m.raw).await.unwrap();
        c.append_finish().await.unwrap();
    }
    // Another tool put the first of them on the destination already: the
    // delta pass must notice the destination changed and not copy it twice.
    let mut d = login(&pair.dst).await;
    let m = &new_msgs[0];
    d.append_start(b"INBOX").await.unwrap();
    d.append_message(&m.flags, Some(&m.internal_date), m.raw.len() as u64)
        .await
        .unwrap();
    d.append_write(&m.raw).await.unwrap();
    d.append_finish().await.unwrap();
    // The user already reads mail on the destination and marks it: marks
    // the source never had must survive the flags carried below.
    let marked = d.select(b"INBOX", false).await.unwrap().exists as usize;
    d.command(b"UID STORE 1:* +FLAGS ($UserMark)")
        .await
        .unwrap();
    c.select(b"INBOX", false).await.unwrap();
    c.command(b"UID STORE 1 FLAGS (\\Answered $Label9)")
        .await
        .unwrap();
    c.command(b"UID STORE 2 FLAGS ()").await.unwrap();
    // Four messages changed to the same flags (carried in one STORE).
    c.command(b"UID STORE 3:6 FLAGS (\\Seen \\Flagged)")
        .await
        .unwrap();
    c.select(b"Work", false).await.unwrap();
    c.command(b"UID STORE 1:2 +FLAGS (\\Deleted)")
        .await
        .unwrap();
    c.command(b"UID EXPUNGE 1:2").await.unwrap();

    let second = pair.copy(false).await;
    assert_eq!(second.totals.copied, 2, "{:#?}", second.folders);
    let inbox = second.folders.iter().find(|f| f.source == "INBOX").unwrap();
    assert_eq!(
        inbox.already_present,
        inbox.source_messages - 2,
        "{inbox:?}"
    );
    let flagged: u64 = second.folders.iter().map(|f| f.flags_updated).sum();
    assert_eq!(flagged, 6);
    assert_eq!(second.folders.iter().map(|f| f.deleted).sum::<u64>(), 0);
    let (s, mut d) = pair.snapshots().await;
    assert_eq!(without_user_marks(&mut d), marked, "user marks lost");
    assert_same(&s, &d, &["INBOX", "Work/Projects", "Entwürfe"]);
    assert_eq!(
        d.folders["Work"].len(),
        s.folders["Work"].len() + 2,
        "without --sync-deletes nothing is deleted"
    );

    let third = pair.copy(true).await;
    assert_eq!(third.folders.iter().map(|f| f.deleted).sum::<u64>(), 2);
    assert_eq!(third.totals.copied, 0);
    let (s, mut d) = pair.snapshots().await;
    assert_eq!(without_user_marks(&mut d), marked, "user marks lost");
    let all: Vec<&str> = s.folders.keys().map(String::as_str).collect();
    assert_same(&s, &d, &all);

    // Nothing new: everything is known to the ledger, and with CONDSTORE
    // (Dovecot has it) no folder needs reading.
    let idle = pair.copy(true).await;
    for f in &idle.folders {
        assert!(
            f.unchanged,
            "{} was read again although nothing changed",
            f.source
        );
    }
    assert_eq!(idle.totals.copied, 0);
    assert_eq!(idle.totals.already_present, idle.totals.source_messages);
    assert_eq!(
        idle.folders
            .iter()
            .map(|f| f.flags_updated + f.deleted)
            .sum::<u64>(),
        0
    );
    let mut again = pair.snapshots().await.1;
    assert_eq!(without_user_marks(&mut again), marked);
    assert_eq!(again, d);
}

/// Removes the `$UserMark` the user set on the destination INBOX (never the
/// source) and says on how many messages it was.
fn without_user_marks(d: &mut Snapshot) -> usize {
    let mut n = 0;
    for m in d.folders.get_mut("INBOX").unwrap() {
        let before = m.flags.len();
        m.flags.retain(|f| f != "$UserMark");
        n += before - m.flags.len();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidvalidity_change_is_reidentified_not_copied_again() {
    let corpus = corpus();
    let pair = Pair::new(&corpus).await;
    pair.copy(false).await;
    let (_, before) = pair.snapshots().await;

    // Rebuild a folder on the source: same messages, new UIDVALIDITY.
    let mut c = login(&pair.src).await;
    let old = c.select(b"Work/Projects/2024", true).await.unwrap();
    c.create(b"Rebuilt").await.unwrap();
    c.command(b"UID COPY 1:* Rebuilt").await.unwrap();
    c.command(b"SELECT INBOX").await.unwrap();
    c.command(b"DELETE Work/Projects/2024").await.unwrap();
    c.command(b"RENAME Rebuilt Work/Projects/2024")
        .await
        .unwrap();
    let new = c.select(b"Work/Projects/2024", true).await.unwrap();
    assert_ne!(
        old.uidvalidity, new.uidvalidity,
        "the test needs a new UIDVALIDITY"
    );

    let r = pair.copy(false).await;
    assert_eq!(r.totals.copied, 0, "{:#?}", r.folders);
    let work = r
        .folders
        .iter()
        .find(|f| f.source == "Work/Projects/2024")
        .unwrap();
    assert!(work.source_messages > 0);
    assert_eq!(work.already_present, work.source_messages);
    assert_eq!(pair.snapshots().await.1, before);
}
