//! A mailbox whose mail is all in one folder: idle workers share its batches,
//! and every message still arrives exactly once.

mod common;

use std::sync::Arc;

use mailport_engine::{copy, CopyOptions, Ledger, NoProgress, Store};
use mailport_testbed::corpus::BulkOptions;
use mailport_testbed::session::{self, Session};
use mailport_testbed::{Corpus, Dovecot, DovecotOptions};

async fn login(d: &Dovecot) -> Session {
    session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_big_folder_is_shared_between_connections_exactly_once() {
    let corpus = Corpus::bulk(&BulkOptions {
        messages: 400,
        folders: 1,
        min_size: 2_000,
        max_size: 20_000,
        seed: 11,
    });
    let src = Dovecot::start(DovecotOptions::default()).expect("source Dovecot must start");
    let dst = Dovecot::start(DovecotOptions::default()).expect("destination Dovecot must start");
    session::load(&mut login(&src).await, &corpus)
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let ledger = Ledger {
        store: Store::open_sqlite(&state.path().join("state.db"))
            .await
            .unwrap(),
        pair: "src -> dst".into(),
    };
    let run = || async {
        let opts = CopyOptions {
            connections: 3,
            // Many small batches: the owner cannot finish them all before
            // the other workers have logged in.
            batch_messages: 2,
            ledger: Some(ledger.clone()),
            ..Default::default()
        };
        let src_url = src.imap_url("alice");
        let dst_url = dst.imap_url("alice");
        copy(
            common::connector(&src, &src_url),
            common::connector(&dst, &dst_url),
            opts,
            Arc::new(NoProgress),
        )
        .await
        .unwrap()
    };

    let first = run().await;
    let inbox = first
        .folders
        .iter()
        .find(|f| f.source == "INBOX")
        .expect("INBOX copied");
    assert!(inbox.adds_up(), "{inbox:?}");
    assert_eq!(inbox.copied, 400, "{inbox:?}");
    assert!(
        inbox.helpers >= 1,
        "no other connection took a batch of a 200-batch folder: {inbox:?}"
    );
    let s = session::snapshot(&mut login(&src).await).await.unwrap();
    let d = session::snapshot(&mut login(&dst).await).await.unwrap();
    assert_eq!(s.differences(&d, &[]), Vec::<String>::new());

    // The ledger has every message the helpers copied: nothing again.
    let second = run().await;
    assert_eq!(second.totals.copied, 0, "{:?}", second.folders);
    assert_eq!(second.totals.already_present, 400);
    assert_eq!(session::snapshot(&mut login(&dst).await).await.unwrap(), d);
}
