//! The same store code on both engines: SQLite and a private PostgreSQL.

use mailport_store::{Entry, FolderKey, Outcome, Store};

fn entry(uid: u32, outcome: Outcome) -> Entry {
    Entry {
        uid,
        identity: format!("mid:<{uid}@example>|date:x|size:1"),
        size: 1234,
        flags: vec!["\\Seen".into()],
        outcome,
        reason: None,
        retryable: false,
        dest_folder: Some("INBOX".into()),
        dest_uidvalidity: Some(99),
        dest_uid: Some(uid),
    }
}

async fn exercise(store: Store) {
    let key = FolderKey {
        pair: "imaps://a@old -> imaps://a@new".into(),
        folder: "Work/Ünïcode 日本".into(),
        uidvalidity: 4_000_000_000,
    };
    let batch: Vec<Entry> = (1..=50).map(|u| entry(u, Outcome::Copied)).collect();
    store.record(&key, &batch).await.unwrap();
    let mut changed = entry(7, Outcome::Failed);
    changed.reason = Some("destination refused it [OVERQUOTA]: quota exceeded".into());
    changed.retryable = true;
    store.record(&key, &[changed.clone()]).await.unwrap();
    let got = store.entries(&key).await.unwrap();
    assert_eq!(got.len(), 50);
    assert_eq!(got[&7], changed);
    assert_eq!(got[&8], entry(8, Outcome::Copied));
    store.forget(&key, &[1, 2]).await.unwrap();
    // Stable UIDs for keyed messages: the same key keeps its UID, new keys
    // come after the largest, another folder counts on its own.
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let first = store
        .uids_for_keys(&key.pair, "INBOX", &keys(&["a", "b", "c"]))
        .await
        .unwrap();
    assert_eq!(first, vec![1, 2, 3]);
    let second = store
        .uids_for_keys(&key.pair, "INBOX", &keys(&["d", "c", "a"]))
        .await
        .unwrap();
    assert_eq!(second, vec![4, 3, 1]);
    let other = store
        .uids_for_keys(&key.pair, "Other", &keys(&["d"]))
        .await
        .unwrap();
    assert_eq!(other, vec![1]);
    assert_eq!(store.entries(&key).await.unwrap().len(), 48);
    let st = mailport_store::FolderState {
        uidvalidity: 4_000_000_000,
        highest_modseq: 1 << 40,
        uidnext: None,
        messages: 48,
        complete: true,
    };
    store
        .set_folder_state(&key.pair, &key.folder, &st)
        .await
        .unwrap();
    assert_eq!(
        store.folder_state(&key.pair, &key.folder).await.unwrap(),
        Some(st)
    );

    // A big batch spans several INSERT statements; a uid given twice counts
    // as its last entry (PostgreSQL refuses one upsert touching a row twice).
    let big = FolderKey {
        folder: "Archive".into(),
        ..key
    };
    let mut many: Vec<Entry> = (1..=1234).map(|u| entry(u, Outcome::Copied)).collect();
    many.push(changed.clone());
    store.record(&big, &many).await.unwrap();
    let got = store.entries(&big).await.unwrap();
    assert_eq!(got.len(), 1234);
    assert_eq!(got[&7], changed);
    assert_eq!(got[&1234], entry(1234, Outcome::Copied));
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(
        Store::open_sqlite(&dir.path().join("state.db"))
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn postgres() {
    let pg = mailport_testbed::postgres::Postgres::start()
        .unwrap_or_else(|e| panic!("PostgreSQL must start for this test: {e}"));
    exercise(Store::open(&pg.url()).await.unwrap()).await;
    // Opening again runs no migration twice.
    exercise(Store::open(&pg.url()).await.unwrap()).await;
}

/// A worker meeting a store that a newer mailport migrated refuses it in
/// one line instead of writing rows that version does not expect.
#[tokio::test]
async fn a_store_written_by_a_newer_mailport_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(Store::open_sqlite(&path).await.unwrap());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let e = Store::open_sqlite(&path).await.err().unwrap().to_string();
    assert!(e.contains("newer mailport") && e.contains("99"), "{e}");
    assert!(e.contains("upgrade mailport"), "{e}");
}
