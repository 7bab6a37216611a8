//! The proxy's accounts, event log and deliveries on both engines: conditional state
//! changes (two proxies cannot both start one final pass), hashes updated in
//! place, events newest first.

use mailport_store::{AccountRow, DeliveryRow, EventRow, ServedBy, Store};

async fn exercise(store: Store) {
    let alice = AccountRow {
        login: "alice".into(),
        served_by: ServedBy::Source,
        password_hash: Some("$argon2id$v=19$one".into()),
        first_login_at: 10,
        last_login_at: 10,
        moved_at: None,
        following: false,
        detail: None,
        changed_at: None,
    };
    store.put_account("acme", &alice).await.unwrap();
    // A later login updates the hash and time, never the state or first login.
    let later = AccountRow {
        password_hash: Some("$argon2id$v=19$two".into()),
        first_login_at: 99,
        last_login_at: 20,
        served_by: ServedBy::Destination,
        ..alice.clone()
    };
    store.put_account("acme", &later).await.unwrap();
    let got = store.account("acme", "alice").await.unwrap().unwrap();
    assert_eq!(
        (
            got.served_by,
            got.first_login_at,
            got.last_login_at,
            got.password_hash.as_deref()
        ),
        (ServedBy::Source, 10, 20, Some("$argon2id$v=19$two"))
    );
    assert_eq!(store.account("acme", "bob").await.unwrap(), None);
    assert_eq!(store.account("other", "alice").await.unwrap(), None);

    // Only one of two proxies starts the final pass.
    let (a, b) = tokio::join!(
        store.set_served_by(
            "acme",
            "alice",
            ServedBy::Source,
            ServedBy::Moving,
            30,
            None
        ),
        store.set_served_by(
            "acme",
            "alice",
            ServedBy::Source,
            ServedBy::Moving,
            30,
            None
        ),
    );
    assert!(a.unwrap() ^ b.unwrap());
    let moving = store.account("acme", "alice").await.unwrap().unwrap();
    assert_eq!(moving.changed_at, Some(30), "when it began moving");
    // A failed final pass rolls back with its reason.
    assert!(store
        .set_served_by(
            "acme",
            "alice",
            ServedBy::Moving,
            ServedBy::Source,
            31,
            Some("verify found 2 missing")
        )
        .await
        .unwrap());
    assert_eq!(
        store
            .account("acme", "alice")
            .await
            .unwrap()
            .unwrap()
            .detail
            .as_deref(),
        Some("verify found 2 missing")
    );
    store
        .set_served_by(
            "acme",
            "alice",
            ServedBy::Source,
            ServedBy::Moving,
            40,
            None,
        )
        .await
        .unwrap();
    assert!(store
        .set_served_by(
            "acme",
            "alice",
            ServedBy::Moving,
            ServedBy::Destination,
            41,
            None
        )
        .await
        .unwrap());
    let moved = store.account("acme", "alice").await.unwrap().unwrap();
    assert_eq!(
        (
            moved.served_by,
            moved.moved_at,
            moved.following,
            moved.detail
        ),
        (ServedBy::Destination, Some(41), true, None)
    );
    assert_eq!(store.set_following("acme", None, false).await.unwrap(), 1);
    assert!(
        !store
            .account("acme", "alice")
            .await
            .unwrap()
            .unwrap()
            .following
    );
    assert_eq!(store.accounts("acme").await.unwrap().len(), 1);

    for (at, kind) in [(1, "login"), (2, "capture"), (3, "move")] {
        store
            .record_event(
                "acme",
                &EventRow {
                    at,
                    login: Some("alice".into()),
                    kind: kind.into(),
                    client: Some("127.0.0.1".into()),
                    outcome: "ok".into(),
                },
            )
            .await
            .unwrap();
    }
    store
        .record_event(
            "acme",
            &EventRow {
                at: 4,
                login: None,
                kind: "refusal".into(),
                client: None,
                outcome: "too many".into(),
            },
        )
        .await
        .unwrap();
    let kinds = |e: Vec<EventRow>| e.into_iter().map(|e| e.kind).collect::<Vec<_>>();
    assert_eq!(
        kinds(store.events("acme", Some("alice"), 2).await.unwrap()),
        ["move", "capture"]
    );
    assert_eq!(store.events("acme", None, 10).await.unwrap().len(), 4);

    // What the SMTP front passed on, oldest first, from a time on.
    for (at, recipient, server) in [
        (100, "alice@example.org", "new"),
        (200, "sales@example.org", "old"),
    ] {
        let d = DeliveryRow {
            at,
            sender: "".into(),
            recipient: recipient.into(),
            login: None,
            size: 1234,
            server: server.into(),
            why: "no mailbox".into(),
        };
        store.record_delivery("acme", &d).await.unwrap();
    }
    let all = store.deliveries("acme", 0).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].recipient, "alice@example.org");
    let late = store.deliveries("acme", 150).await.unwrap();
    assert_eq!((late.len(), late[0].server.as_str()), (1, "old"));
    assert!(store.deliveries("other", 0).await.unwrap().is_empty());

    // Counted by recipient, route and day.
    for at in [86_400 * 3 + 10, 86_400 * 3 + 20, 86_400 * 4] {
        let d = DeliveryRow {
            at,
            sender: "x@elsewhere.test".into(),
            recipient: "sales@example.org".into(),
            login: None,
            size: 100,
            server: "old".into(),
            why: "no mailbox".into(),
        };
        store.record_delivery("acme", &d).await.unwrap();
    }
    let counts = store.delivery_counts("acme", 86_400).await.unwrap();
    let seen: Vec<_> = counts
        .iter()
        .map(|c| (c.recipient.as_str(), c.day, c.messages, c.bytes, c.last_at))
        .collect();
    assert_eq!(
        seen,
        [
            ("sales@example.org", 3, 2, 200, 86_400 * 3 + 20),
            ("sales@example.org", 4, 1, 100, 86_400 * 4),
        ]
    );

    // Relayed to the old server after the account moved: only what came
    // after its move counts.
    let moved_at = 86_400 * 5;
    let moved = AccountRow {
        login: "carol".into(),
        served_by: ServedBy::Destination,
        password_hash: None,
        first_login_at: 1,
        last_login_at: 1,
        moved_at: Some(moved_at),
        following: true,
        detail: None,
        changed_at: None,
    };
    store.put_account("acme", &moved).await.unwrap();
    for (at, server) in [
        (moved_at - 5, "old"),
        (moved_at + 5, "old"),
        (moved_at + 9, "new"),
    ] {
        let d = DeliveryRow {
            at,
            sender: "x@elsewhere.test".into(),
            recipient: "carol@example.org".into(),
            login: Some("carol".into()),
            size: 100,
            server: server.into(),
            why: "not moved".into(),
        };
        store.record_delivery("acme", &d).await.unwrap();
    }
    assert_eq!(
        store.relayed_after_move("acme", 0).await.unwrap(),
        [("carol".to_string(), 1, moved_at + 5)]
    );
    assert!(store
        .relayed_after_move("acme", moved_at + 6)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(
        Store::open_sqlite(&dir.path().join("state.db"))
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let pg = mailport_testbed::postgres::Postgres::start()
        .unwrap_or_else(|e| panic!("PostgreSQL must start for this test: {e}"));
    exercise(Store::open(&pg.url()).await.unwrap()).await;
}
