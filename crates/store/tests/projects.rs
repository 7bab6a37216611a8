//! Projects, mailboxes, passes and leases on both engines: SQLite and a
//! private PostgreSQL. Many claimers at once never hold the same mailbox.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use mailport_store::{Finish, MailboxRow, MailboxState, PassRow, ProjectRow, Store};

fn mailbox(login: &str, size: i64) -> MailboxRow {
    MailboxRow {
        project: "acme".into(),
        login: login.into(),
        source_auth: "password".into(),
        source_secret: Some(format!("sealed:{login}")),
        destination_login: login.into(),
        destination_auth: "admin".into(),
        overrides: "{}".into(),
        state: MailboxState::NotStarted.as_str().into(),
        size_hint: size,
        ..Default::default()
    }
}

async fn exercise(store: Store) {
    store
        .create_project(&ProjectRow {
            name: "acme".into(),
            settings: "{\"from\":\"imaps://old\"}".into(),
            key_check: "sealed:check".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let again = store
        .create_project(&ProjectRow {
            name: "acme".into(),
            settings: "{}".into(),
            key_check: "x".into(),
            created_at: 2,
        })
        .await;
    assert!(again.unwrap_err().to_string().contains("exists already"));

    // 60 mailboxes; importing twice updates in place.
    let rows: Vec<MailboxRow> = (0..60)
        .map(|i| mailbox(&format!("user{i:02}@acme.example"), i))
        .collect();
    store.put_mailboxes(&rows).await.unwrap();
    store.put_mailboxes(&rows).await.unwrap();
    assert_eq!(store.mailboxes("acme").await.unwrap().len(), 60);
    let counts = store.projects().await.unwrap();
    assert_eq!(
        counts,
        vec![("acme".into(), vec![("not-started".into(), 60)])]
    );

    let all = [MailboxState::NotStarted];
    assert_eq!(store.queue("acme", &all, &[], "full").await.unwrap(), 60);

    // Eight claimers at once: every mailbox claimed exactly once, biggest first.
    let claimed = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (store, claimed) = (store.clone(), claimed.clone());
        tasks.push(tokio::spawn(async move {
            let owner = format!("worker-{w}");
            while let Some(m) = store.claim("acme", &owner, (100, 200), None).await.unwrap() {
                assert_eq!(m.lease_owner.as_deref(), Some(owner.as_str()));
                claimed.lock().unwrap().push((m.login.clone(), m.size_hint));
                let (ours, stop) = store.renew("acme", &m.login, &owner, 300).await.unwrap();
                assert!(ours && !stop);
                let done = Finish {
                    state: MailboxState::Completed,
                    error: None,
                    retryable: false,
                    not_before: 0,
                    size_hint: Some(m.size_hint + 1000),
                    good: true,
                };
                assert!(store.finish("acme", &m.login, &owner, &done).await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let claimed = claimed.lock().unwrap().clone();
    let unique: HashSet<_> = claimed.iter().map(|(l, _)| l.clone()).collect();
    assert_eq!(
        claimed.len(),
        60,
        "a mailbox was claimed twice or not at all"
    );
    assert_eq!(unique.len(), 60);
    let rows = store.mailboxes("acme").await.unwrap();
    assert!(rows
        .iter()
        .all(|m| m.state == "completed" && m.lease_owner.is_none()));
    assert!(rows
        .iter()
        .all(|m| m.size_hint >= 1000 && m.last_good_at.is_some()));

    // A dead worker's lease expires and another takes the mailbox over;
    // the dead one can no longer renew or finish it.
    store
        .queue(
            "acme",
            &[MailboxState::Completed],
            &["user59@acme.example".into()],
            "delta",
        )
        .await
        .unwrap();
    let m = store
        .claim("acme", "dead", (1000, 1100), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.login, "user59@acme.example");
    assert_eq!(m.pass.as_deref(), Some("delta"));
    assert!(store
        .claim("acme", "other", (1050, 1150), None)
        .await
        .unwrap()
        .is_none());
    let taken = store
        .claim("acme", "other", (1101, 1200), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.login, m.login);
    assert_eq!(
        store.renew("acme", &m.login, "dead", 1300).await.unwrap(),
        (false, false)
    );
    let failed = Finish {
        state: MailboxState::Failed,
        error: Some("login refused".into()),
        retryable: false,
        not_before: 0,
        size_hint: None,
        good: false,
    };
    assert!(!store
        .finish("acme", &m.login, "dead", &failed)
        .await
        .unwrap());
    // Stop is seen by the lease holder's next renewal.
    assert_eq!(store.request_stop("acme", &[]).await.unwrap(), 1);
    assert_eq!(
        store.renew("acme", &m.login, "other", 1300).await.unwrap(),
        (true, true)
    );
    assert!(store
        .finish("acme", &m.login, "other", &failed)
        .await
        .unwrap());
    let row = store.mailbox("acme", &m.login).await.unwrap().unwrap();
    assert_eq!(row.state().unwrap(), MailboxState::Failed);
    assert_eq!((row.attempts, row.stop_requested), (1, false));

    // New credentials make a mailbox that failed for them runnable again.
    let mut fixed = mailbox(&m.login, 0);
    fixed.source_secret = Some("sealed:new".into());
    store.put_mailboxes(&[fixed]).await.unwrap();
    let row = store.mailbox("acme", &m.login).await.unwrap().unwrap();
    assert_eq!(
        (row.state().unwrap(), row.error, row.attempts),
        (MailboxState::NotStarted, None, 0)
    );
    assert_eq!(row.size_hint, 1059, "the size seen stays");

    let pass = PassRow {
        project: "acme".into(),
        login: m.login.clone(),
        started_at: 1_700_000_000_000,
        kind: "full".into(),
        duration_ms: 1234,
        source_messages: 10,
        copied: 9,
        failed: 1,
        outcome: "failed".into(),
        ..Default::default()
    };
    store.record_pass(&pass).await.unwrap();
    assert_eq!(
        store.passes("acme", Some(&m.login)).await.unwrap(),
        vec![pass]
    );

    // A cap on running mailboxes holds across claimers at once.
    let all = [MailboxState::Completed, MailboxState::NotStarted];
    store.queue("acme", &all, &[], "delta").await.unwrap();
    let peak = Arc::new(Mutex::new((0usize, 0usize)));
    let mut tasks = Vec::new();
    for w in 0..6 {
        let (store, peak) = (store.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let owner = format!("capped-{w}");
            loop {
                let t = 5000;
                match store
                    .claim("acme", &owner, (t, t + 100), Some(2))
                    .await
                    .unwrap()
                {
                    Some(m) => {
                        {
                            let mut p = peak.lock().unwrap();
                            p.0 += 1;
                            p.1 = p.1.max(p.0);
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        peak.lock().unwrap().0 -= 1;
                        let done = Finish {
                            state: MailboxState::Completed,
                            error: None,
                            retryable: false,
                            not_before: 0,
                            size_hint: None,
                            good: true,
                        };
                        store.finish("acme", &m.login, &owner, &done).await.unwrap();
                    }
                    None => {
                        let left = store.mailboxes("acme").await.unwrap();
                        if !left.iter().any(|m| m.state == "queued") {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, most) = *peak.lock().unwrap();
    assert!(
        (1..=2).contains(&most),
        "{most} mailboxes ran at once under a cap of 2"
    );

    // A few mailboxes at a time (mailbox add, the proxy's first logins)
    // are found by their keys: an update in place and a new one.
    let before = store.mailboxes("acme").await.unwrap().len();
    let mut renamed = mailbox("user05@acme.example", 5);
    renamed.destination_login = "renamed@acme.example".into();
    store
        .put_mailboxes(&[renamed, mailbox("late@acme.example", 1)])
        .await
        .unwrap();
    assert_eq!(store.mailboxes("acme").await.unwrap().len(), before + 1);
    let got = store
        .mailbox("acme", "user05@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.destination_login, "renamed@acme.example");

    assert!(store.remove_mailbox("acme", &m.login).await.unwrap());
    assert!(store.passes("acme", None).await.unwrap().is_empty());
    store.delete_project("acme", "project:acme:").await.unwrap();
    assert!(store.project("acme").await.unwrap().is_none());
    assert!(store.mailboxes("acme").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("state.db"))
        .await
        .unwrap();
    exercise(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    let pg = mailport_testbed::postgres::Postgres::start()
        .unwrap_or_else(|e| panic!("PostgreSQL must start for this test: {e}"));
    exercise(Store::open(&pg.url()).await.unwrap()).await;
}

/// Many writers on one SQLite file at once, through two stores as two
/// processes would (`mailport run` and `mailport mailbox import` beside it),
/// each with transactions that read before they write (forgetting a folder
/// counts its rows first; importing mailboxes reads the old rows): none may
/// fail with "database is locked" (SQLite cannot turn a stale read
/// transaction into a write one).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_at_once_wait_their_turn_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open_sqlite(&path).await.unwrap();
    let other = Store::open_sqlite(&path).await.unwrap();
    store
        .create_project(&ProjectRow {
            name: "acme".into(),
            settings: "{}".into(),
            key_check: "x".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = if w % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            for round in 0..15 {
                let key = mailport_store::FolderKey {
                    pair: format!("pair-{w}"),
                    folder: "INBOX".into(),
                    uidvalidity: 1,
                };
                let entries: Vec<mailport_store::Entry> = (1..=20)
                    .map(|uid| mailport_store::Entry {
                        uid,
                        identity: format!("id-{uid}"),
                        size: 10,
                        flags: Vec::new(),
                        outcome: mailport_store::Outcome::Copied,
                        reason: None,
                        retryable: false,
                        dest_folder: Some("INBOX".into()),
                        dest_uidvalidity: Some(1),
                        dest_uid: Some(uid),
                    })
                    .collect();
                store.record(&key, &entries).await.unwrap();
                store
                    .forget_folder(&key.pair, "INBOX", "INBOX")
                    .await
                    .unwrap();
                store
                    .put_mailboxes(&[mailbox(&format!("w{w}r{round}"), 1)])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.mailboxes("acme").await.unwrap().len(), 8 * 15);
}
